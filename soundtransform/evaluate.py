"""Judge any method's outputs: family classification, consistency, t-SNE, pitch, spectral distance.

Everything here works on plain folders of audio files, so the same numbers can
be computed for every method and for trivial baselines (the unconverted input).

Classification follows Liu, Delany & McKeever (2019, Sec. 4): a classifier of
NSynth's 11 families labels each generated sound, and the share labelled as
the target family is the method's *classifier consistency*.  The classifier
that judges must not be the one whose features drove the transfer (Slow and
Faster optimise against the VGG-19 ``perceptual`` one), so the default judge
is `timbre_judge.TimbreJudge` (``exported_models/classifiers/judge.keras``): a
logistic regression on timbre statistics, trained on other instruments, that
recognises unseen instruments far better than a second VGG-19 did (see its
module).  Any ``.keras`` VGG-19 classifier can be passed as the judge instead;
the t-SNE map uses the judge's own feature space (standardised timbre
statistics, or a VGG layer's activations).

Classifying a waveform of any length
    It is cut into windows of the judge's own length (4 s for the timbre
    judge; a VGG classifier's input width), the last window aligned with the
    end of the clip; a clip shorter than one window is padded with silence.
    The probabilities of the windows are averaged.
Pitch preservation
    pYIN (Mauch & Dixon 2014, ``librosa.pyin``) estimates f0 of output and
    input; the error is ``1200 log2(f0_out / f0_in)`` cents on the median f0 of
    the voiced frames of 0.1-1.6 s (the held part of a note).
Log-spectral distance
    ``sqrt(mean_f (dB_a - dB_b) ** 2)`` per frame, averaged over frames, on the
    full 0-8 kHz image (dB re full scale, -80 dB floor), between an output and
    the nearest natural target note of the same MIDI pitch.
Phrases
    When an input has a phrase JSON beside it (`phrases.notes_beside`), or
    with ``detect_notes`` the notes `find_notes` finds in it, its
    output is also judged note by note against those notes: the median pYIN f0
    over the middle half of each note must be within 50 cents of the note's
    MIDI pitch; librosa's onset detector must find an onset within 50 ms of each
    note's onset (notes in the first 50 ms left out); and each consecutive
    window of 2 s (`PHRASE_WINDOW_SECONDS`) is classified on its own by the
    judge of phrases (`load_phrase_judge`: the shipped ``phrase_judge.keras``
    judges a window note by note, `timbre_judge.TimbreJudge.classify_windows`).
    A judge that takes windows whole gets windows of its own length if that
    is longer: a piece shorter than its window would be padded with silence,
    and silence after 2 s of flute reads as a decaying keyboard note (the 4-s
    note judge called 70 % of the 2-s windows of unconverted test flute
    phrases keyboard, 1 % of their 4-s windows).  The unconverted inputs get
    the same figures, as the baseline.
"""

import json
import os

import numpy as np

from soundtransform import audio, data, phrases
from soundtransform.errors import DataError, ParameterError
from soundtransform.fileio import atomic_path, write_text

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
FEATURE_LAYER = "fc1"
PITCH_TOLERANCE_CENTS = 50.0
_F0_MIN, _F0_MAX = 65.4, 2093.0  # C2 .. C7, Hz
_PITCH_SECONDS = (0.1, 1.6)  # the sustained part of an NSynth-style note
PHRASE_WINDOW_SECONDS = 2.0  # phrases are judged window by window, at least this long
ONSET_TOLERANCE_MS = 50.0
_PHRASE_HOP = 128  # samples (8 ms): pYIN and onset frames on phrases


# ----------------------------------------------------------- classification


def load_judge(classifier=None, role="judge"):
    """The shipped judge (a `TimbreJudge`) or a classifier from a path.

    Parameters
    ----------
    classifier : str, TimbreJudge, VGG19AudioClassifier or None
        A ``.keras`` path (either kind), an already loaded model, or None for
        the shipped ``exported_models/classifiers/{role}.keras``.
    role : {"judge", "perceptual", "phrase_judge"}
    """
    from soundtransform import timbre_judge  # noqa: F401  (registers TimbreJudge for loading)
    from soundtransform.methods import classifier as classifier_method

    if classifier is None:
        classifier = classifier_method.default_path(role)
    if isinstance(classifier, (str, os.PathLike)):
        return classifier_method.load_classifier(os.fspath(classifier))
    return classifier


def _is_timbre_judge(model):
    from soundtransform.timbre_judge import TimbreJudge

    return isinstance(model, TimbreJudge)


def windows(y, freq_bins, frames):
    """Spectrogram-image windows of a waveform at a classifier's input size.

    Parameters
    ----------
    y : np.ndarray [shape=(samples,)], float32 at `audio.SAMPLE_RATE`
    freq_bins, frames : int
        The classifier's input image size.

    Returns
    -------
    np.ndarray [shape=(n_windows, freq_bins, frames, 1)], values in [-1, 1];
    windows start every ``frames`` frames, the last one ends with the clip.
    """
    image = audio.waveform_to_image(np.asarray(y, np.float32), freq_bins)[0].numpy()
    total = image.shape[1]
    if total <= frames:
        return np.pad(image, [(0, 0), (0, frames - total), (0, 0)], constant_values=-1.0)[None]
    starts = list(range(0, total - frames + 1, frames))
    if starts[-1] + frames < total:
        starts.append(total - frames)
    return np.stack([image[:, s:s + frames] for s in starts])


def _per_clip(waveforms, model, freq_bins, frames, batch_size, progress, desc, clips_per_call=64):
    """Run ``model`` on every window of every waveform; mean of the outputs per clip.

    Windows of up to ``clips_per_call`` clips go through one ``predict`` call,
    so short clips do not pay Keras' per-call overhead one by one.
    """
    from tqdm import tqdm

    out = []
    with tqdm(total=len(waveforms), desc=desc, unit="clip", disable=not progress, leave=False) as bar:
        for start in range(0, len(waveforms), clips_per_call):
            chunk = [windows(y, freq_bins, frames) for y in waveforms[start:start + clips_per_call]]
            predicted = model.predict(np.concatenate(chunk), batch_size=batch_size, verbose=0)
            ends = np.cumsum([len(c) for c in chunk])
            out.extend(np.mean(p, axis=0) for p in np.split(predicted, ends[:-1]))
            bar.update(len(chunk))
    return np.stack(out) if out else np.zeros((0, 0), np.float32)


def classify_waveforms(waveforms, classifier=None, batch_size=32, progress=False):
    """Family probabilities of waveforms of any length.

    Parameters
    ----------
    waveforms : list of np.ndarray [shape=(samples,)], float32 at 16 kHz
    classifier : str, TimbreJudge, VGG19AudioClassifier or None
        See `load_judge`; None is the shipped judge.

    Returns
    -------
    np.ndarray [shape=(len(waveforms), 11)], probabilities over `data.FAMILIES`,
    averaged over each clip's windows.
    """
    model = load_judge(classifier)
    if _is_timbre_judge(model):
        return model.classify(waveforms, progress=progress)
    freq_bins, frames = model.spectrogram_shape[:2]
    return _per_clip(waveforms, model, freq_bins, frames, batch_size, progress, "classify")


def embed_waveforms(waveforms, classifier=None, layer=FEATURE_LAYER, batch_size=32, progress=False):
    """Judge features of waveforms, averaged over windows.

    Returns
    -------
    np.ndarray [shape=(len(waveforms), features)]: a `TimbreJudge`'s
    standardised timbre statistics (``layer`` does not apply), or a VGG
    classifier's ``layer`` activations, conv layers averaged over frequency
    and time first (one value per channel).
    """
    import keras

    model = load_judge(classifier)
    if _is_timbre_judge(model):
        return model.embed(waveforms, progress=progress)
    freq_bins, frames = model.spectrogram_shape[:2]
    extractor = model.feature_extractor([layer])
    output = extractor.outputs[0]
    if len(output.shape) == 4:
        output = keras.layers.GlobalAveragePooling2D()(output)
    features = keras.Model(extractor.inputs, output)
    return _per_clip(waveforms, features, freq_bins, frames, batch_size, progress, f"features {layer}")


def top_families(probabilities, k=3):
    """``[(family, probability), ...]`` of the ``k`` most likely families of one clip."""
    order = np.argsort(probabilities)[::-1][:k]
    return [(data.FAMILIES[i], float(probabilities[i])) for i in order]


def audio_files(paths):
    """Audio files named directly or found (not recursively) in the named folders, sorted.

    Raises
    ------
    DataError
        A path does not exist, or a folder holds no audio files.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = []
    for path in map(os.fspath, paths):
        if os.path.isdir(path):
            found = sorted(
                os.path.join(path, name)
                for name in os.listdir(path)
                if name.lower().endswith(AUDIO_EXTENSIONS) and not name.startswith(".")
            )
            if not found:
                raise DataError(f"folder {path} holds no audio files ({', '.join(AUDIO_EXTENSIONS)})")
            files.extend(found)
        elif os.path.exists(path):
            files.append(path)
        else:
            raise DataError(f"no such file or folder: {path}")
    return files


def classify_files(paths, classifier=None, progress=False):
    """Family probabilities of audio files or folders of them.

    Returns
    -------
    files : list of str
    probabilities : np.ndarray [shape=(len(files), 11)]
    """
    files = audio_files(paths)
    model = load_judge(classifier)
    waveforms = [audio.load(f, require_sound=True) for f in files]
    return files, classify_waveforms(waveforms, model, progress=progress)


def family_accuracy(notes, classifier=None, progress=False):
    """Accuracy and confusion matrix of a classifier on labelled NSynth notes.

    Returns
    -------
    dict with ``accuracy`` (float), ``per_family`` (family -> accuracy) and
    ``confusion`` (``[11, 11]`` counts, rows true family, columns predicted).
    """
    from tqdm import tqdm

    model = load_judge(classifier)
    waveforms = [audio.load(n.path) for n in tqdm(notes, desc="load", disable=not progress, leave=False)]
    predicted = np.argmax(classify_waveforms(waveforms, model, progress=progress), axis=1)
    truth = np.array([n.family_id for n in notes])
    confusion = np.zeros((len(data.FAMILIES),) * 2, np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    per_family = {
        f: float(confusion[i, i] / confusion[i].sum()) for i, f in enumerate(data.FAMILIES) if confusion[i].sum()
    }
    return {"accuracy": float(np.mean(predicted == truth)), "per_family": per_family, "confusion": confusion.tolist()}


def save_confusion_matrix(path, confusion, title=None):
    """Draw a ``[11, 11]`` confusion matrix (row-normalised shares) into a PNG."""
    plt = _pyplot()
    confusion = np.asarray(confusion, np.float64)
    shares = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.6), constrained_layout=True)
    mesh = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(data.FAMILIES)), data.FAMILIES, rotation=60, ha="right")
    ax.set_yticks(range(len(data.FAMILIES)), data.FAMILIES)
    ax.set_xlabel("predicted family")
    ax.set_ylabel("true family")
    for i in range(len(data.FAMILIES)):
        for j in range(len(data.FAMILIES)):
            if confusion[i, j]:
                ax.text(j, i, f"{shares[i, j]:.2f}".lstrip("0"), ha="center", va="center", fontsize=6,
                        color="white" if shares[i, j] > 0.5 else "black")
    fig.colorbar(mesh, ax=ax, label="share of the true family")
    if title:
        ax.set_title(title)
    _save_png(fig, path)


# ------------------------------------------------------------------- pitch


def f0(y):
    """Median f0 of the voiced frames of the sustained part of a note, Hz (NaN if unvoiced).

    pYIN on ``_PITCH_SECONDS`` of ``y [shape=(samples,)]`` at 16 kHz, searched
    between C2 and C7 in 10-cent steps, 64 ms hops.
    """
    import librosa

    lo, hi = (int(s * audio.SAMPLE_RATE) for s in _PITCH_SECONDS)
    segment = np.asarray(y, np.float32)[lo:hi]
    if segment.size < 2048 or not np.any(segment):
        return float("nan")
    f, voiced, _ = librosa.pyin(segment, fmin=_F0_MIN, fmax=_F0_MAX, sr=audio.SAMPLE_RATE,
                                frame_length=2048, hop_length=1024)
    f = f[voiced & np.isfinite(f)]
    return float(np.median(f)) if f.size else float("nan")


def pitch_preservation(outputs, inputs, progress=False):
    """How well outputs keep their inputs' pitch.

    Parameters
    ----------
    outputs, inputs : list of np.ndarray [shape=(samples,)], paired, 16 kHz

    Returns
    -------
    dict: ``within_50_cents`` (share of pairs), ``median_abs_cents``,
    ``octave_errors`` (share off by a whole number of octaves, +-1 semitone),
    ``unvoiced_outputs`` (share with no f0), ``pairs`` (with an input f0).
    """
    from tqdm import tqdm

    cents, unvoiced = [], 0
    for out, inp in tqdm(list(zip(outputs, inputs)), desc="pitch (pyin)", unit="pair", disable=not progress,
                         leave=False):
        f_in = f0(inp)
        if not np.isfinite(f_in):
            continue
        f_out = f0(out)
        if not np.isfinite(f_out):
            unvoiced += 1
            continue
        cents.append(1200.0 * np.log2(f_out / f_in))
    pairs = len(cents) + unvoiced
    if not pairs:
        return {"pairs": 0, "within_50_cents": None, "median_abs_cents": None, "octave_errors": None,
                "unvoiced_outputs": None}
    cents = np.abs(np.array(cents))
    octave = (cents > 600.0) & (np.abs(cents - 1200.0 * np.round(cents / 1200.0)) <= 100.0)
    return {
        "pairs": pairs,
        "within_50_cents": float(np.sum(cents <= PITCH_TOLERANCE_CENTS) / pairs),
        "median_abs_cents": float(np.median(cents)) if cents.size else None,
        "octave_errors": float(np.sum(octave) / pairs),
        "unvoiced_outputs": float(unvoiced / pairs),
    }


# --------------------------------------------------------- spectral distance


def _db_image(y):
    """dB spectrogram ``[N_FREQ, frames]`` (re full scale, -80 dB floor) of one note window."""
    from soundtransform.plot import image_to_db

    y = audio.fit_length(y, audio.frames_to_samples(audio.IMAGE_FRAMES))
    return image_to_db(audio.waveform_to_image(y)[0].numpy())


def log_spectral_distance(a, b):
    """Log-spectral distance between two dB spectrograms ``[freq, frames]``, dB."""
    return float(np.mean(np.sqrt(np.mean((a - b) ** 2, axis=0))))


def nearest_target_distance(outputs, pitches, targets, progress=False):
    """Per output, the LSD to the nearest natural target note of the same pitch.

    Parameters
    ----------
    outputs : list of np.ndarray [shape=(samples,)]
    pitches : list of int or None, MIDI
    targets : list of (waveform, MIDI pitch)

    Returns
    -------
    dict: ``mean_db``, ``median_db`` and ``compared`` (outputs that had a
    target of their pitch).
    """
    from tqdm import tqdm

    by_pitch = {}
    for y, pitch in targets:
        by_pitch.setdefault(pitch, []).append(_db_image(y))
    distances = []
    for y, pitch in tqdm(list(zip(outputs, pitches)), desc="spectral distance", disable=not progress, leave=False):
        if pitch not in by_pitch:
            continue
        image = _db_image(y)
        distances.append(min(log_spectral_distance(image, t) for t in by_pitch[pitch]))
    if not distances:
        return {"compared": 0, "mean_db": None, "median_db": None}
    return {"compared": len(distances), "mean_db": float(np.mean(distances)),
            "median_db": float(np.median(distances))}


def _midi_pitch(path, y=None):
    """MIDI pitch from an NSynth note name, else from pYIN on ``y``, else None."""
    try:
        return data.parse_note_name(path).pitch
    except DataError:
        pass
    if y is None:
        return None
    f = f0(y)
    return int(round(69 + 12 * np.log2(f / 440.0))) if np.isfinite(f) else None


# ------------------------------------------------------------------ phrases


def note_f0s(y, notes):
    """Median f0 over the middle half of each note of a phrase, Hz (NaN where unvoiced).

    One pYIN pass (Mauch & Dixon 2014) over the whole phrase, C2..C7 in
    20-cent steps (fine enough for a 50-cent test, 4x faster than 10-cent
    steps), 64 ms frames every 8 ms; a note's value is the median of the voiced frames whose
    centres lie in ``[onset + d/4, offset - d/4]`` (``d`` the note's length),
    away from its attack and release.

    Parameters
    ----------
    y : np.ndarray [shape=(samples,)], 16 kHz
    notes : sequence of dict with ``onset``, ``offset`` (s)

    Returns
    -------
    np.ndarray [shape=(len(notes),)], Hz
    """
    import librosa

    y = np.asarray(y, np.float32)
    if y.size < 1024 or not np.any(y):
        return np.full(len(notes), np.nan)
    f, voiced, _ = librosa.pyin(y, fmin=_F0_MIN, fmax=_F0_MAX, sr=audio.SAMPLE_RATE, frame_length=1024,
                                hop_length=_PHRASE_HOP, resolution=0.2)
    times = librosa.times_like(f, sr=audio.SAMPLE_RATE, hop_length=_PHRASE_HOP)
    out = []
    for n in notes:
        quarter = (n["offset"] - n["onset"]) / 4
        keep = (times >= n["onset"] + quarter) & (times <= n["offset"] - quarter) & voiced & np.isfinite(f)
        out.append(float(np.median(f[keep])) if keep.any() else float("nan"))
    return np.array(out, np.float64)


def note_pitch_accuracy(waveforms, note_lists):
    """How many notes of phrases sound at their written pitch.

    Parameters
    ----------
    waveforms : list of np.ndarray [shape=(samples,)], 16 kHz
    note_lists : list of sequences of dict (``onset``, ``offset`` in s, ``pitch`` MIDI)

    Returns
    -------
    dict: ``notes``, ``within_50_cents`` (share of all notes; an unvoiced note
    counts as a miss), ``median_abs_cents`` (over voiced notes), ``unvoiced``
    (share of notes without f0).
    """
    cents, unvoiced = [], 0
    for y, notes in zip(waveforms, note_lists):
        for n, f in zip(notes, note_f0s(y, notes)):
            if not np.isfinite(f):
                unvoiced += 1
                continue
            cents.append(abs(1200.0 * np.log2(f / (440.0 * 2.0 ** ((n["pitch"] - 69) / 12.0)))))
    total = len(cents) + unvoiced
    if not total:
        return {"notes": 0, "within_50_cents": None, "median_abs_cents": None, "unvoiced": None}
    cents = np.array(cents)
    return {"notes": total, "within_50_cents": float(np.sum(cents <= PITCH_TOLERANCE_CENTS) / total),
            "median_abs_cents": float(np.median(cents)) if cents.size else None, "unvoiced": float(unvoiced / total)}


def detected_onsets(y):
    """Onset times (s) librosa's spectral-flux detector finds in ``y``: 8 ms hops, no backtracking."""
    import librosa

    y = np.asarray(y, np.float32)
    if y.size < 1024:
        return np.zeros(0)
    return librosa.onset.onset_detect(y=y, sr=audio.SAMPLE_RATE, hop_length=_PHRASE_HOP, units="time",
                                      backtrack=False)


def find_notes(y):
    """The notes of a recording that has no phrase JSON, found in the audio itself.

    Onsets come from the detector `onset_timing` uses (librosa's spectral
    flux, 8 ms hops, no backtracking), plus the start of the clip; each note
    lasts until the next onset, the last one until the end.  A note's pitch is its median pYIN f0 over its middle half
    (`note_f0s`) as a fractional MIDI number; unvoiced pieces (rests, noise)
    and pieces shorter than 50 ms are dropped.  The outputs of a
    time-aligned method are then judged against the notes of their inputs,
    as phrases with a JSON are against theirs.

    Parameters
    ----------
    y : np.ndarray [shape=(samples,)], 16 kHz

    Returns
    -------
    list of dict with ``onset``, ``offset`` (s) and ``pitch`` (MIDI, float)
    """
    y = np.asarray(y, np.float32)
    end = y.size / audio.SAMPLE_RATE
    onsets = sorted({0.0, *(float(t) for t in detected_onsets(y) if 0.0 < t < end)})
    bounds = [(a, b) for a, b in zip(onsets, onsets[1:] + [end]) if b - a >= ONSET_TOLERANCE_MS / 1000.0]
    notes = [{"onset": round(a, 4), "offset": round(b, 4)} for a, b in bounds]
    out = []
    for n, f in zip(notes, note_f0s(y, notes)):
        if np.isfinite(f) and f > 0:
            out.append({**n, "pitch": float(69.0 + 12.0 * np.log2(f / 440.0))})
    return out


def onset_timing(waveforms, note_lists):
    """How close detected onsets lie to the phrases' written note onsets.

    librosa's spectral-flux onset detector (8 ms hops, no backtracking) runs
    on each phrase; every written onset is matched to the nearest detected one.
    Notes that start within the first 50 ms have no attack to detect against
    (the clip starts there) and are left out.

    Returns
    -------
    dict: ``notes`` (written onsets judged), ``within_50_ms`` (share of them
    with a detected onset within `ONSET_TOLERANCE_MS`: recall),
    ``median_abs_ms`` (median distance to the nearest detected onset),
    ``detected_per_note`` (detected onsets per written note) and
    ``precision`` (share of detected onsets within 50 ms of a written one;
    spurious onsets lower it).
    """
    tolerance = ONSET_TOLERANCE_MS / 1000.0
    errors, detected_total, detected_matched = [], 0, 0
    for y, notes in zip(waveforms, note_lists):
        detected = detected_onsets(y)
        written = np.array([n["onset"] for n in notes if n["onset"] >= tolerance])
        detected_total += len(detected)
        if written.size:
            detected_matched += int(sum(np.min(np.abs(written - d)) <= tolerance for d in detected))
        for t in written:
            errors.append(1000.0 * float(np.min(np.abs(detected - t))) if len(detected) else np.inf)
    if not errors:
        return {"notes": 0, "within_50_ms": None, "median_abs_ms": None, "detected_per_note": None,
                "precision": None}
    errors = np.array(errors)
    return {"notes": len(errors), "within_50_ms": float(np.mean(errors <= ONSET_TOLERANCE_MS)),
            "median_abs_ms": float(np.median(errors)), "detected_per_note": float(detected_total / len(errors)),
            "precision": float(detected_matched / detected_total) if detected_total else None}


def phrase_windows(y, seconds=PHRASE_WINDOW_SECONDS):
    """Consecutive ``seconds``-long pieces of a waveform, the last one ending with it.

    Returns
    -------
    list of np.ndarray [shape=(seconds * 16000,)]; a shorter clip is one piece.
    """
    y = np.asarray(y, np.float32)
    size = int(round(seconds * audio.SAMPLE_RATE))
    return [y[s:s + size] for s in phrases.window_starts(y.size, size)]


def window_consistency(waveforms, target, classifier=None, seconds=PHRASE_WINDOW_SECONDS, progress=False,
                       note_lists=None):
    """Share of ``seconds``-long windows of the waveforms that the judge calls ``target``.

    A judge of phrases (`TimbreJudge` with ``unit="note"``) given
    ``note_lists`` (the notes of each waveform) judges each window note by
    note (`TimbreJudge.classify_windows`); any other judge, each window whole.

    Returns
    -------
    dict: ``windows`` (count), ``as_target`` (share), ``predicted`` (for each
    waveform, the family the judge gives each of its windows, in order).
    """
    model = load_judge(classifier)
    size = int(round(seconds * audio.SAMPLE_RATE))
    if getattr(model, "unit", "window") == "note" and note_lists is not None:
        from tqdm import tqdm

        probs = [model.classify_windows(y, notes, phrases.window_starts(np.asarray(y).size, size), size)
                 for y, notes in tqdm(list(zip(waveforms, note_lists)), desc="judge phrase windows",
                                      disable=not progress, leave=False)]
    else:
        split = [phrase_windows(y, seconds) for y in waveforms]
        pieces = [w for each in split for w in each]
        flat = classify_waveforms(pieces, model, progress=progress) if pieces else np.zeros((0, 1))
        probs = np.split(flat, np.cumsum([len(each) for each in split])[:-1]) if split else []
    predicted = [[data.FAMILIES[i] for i in np.argmax(p, axis=1)] for p in probs]
    verdicts = [family for each in predicted for family in each]
    if not verdicts:
        return {"windows": 0, "as_target": None, "predicted": predicted}
    return {"windows": len(verdicts), "as_target": float(np.mean([v == target for v in verdicts])),
            "predicted": predicted}


def judge_window_seconds(model):
    """Length of the windows a judge itself classifies, s; None if it does not say.

    A VGG-19 classifier's input width (``spectrogram_shape``), or a module-level
    ``WINDOW_SAMPLES`` of the judge's own module (the timbre judge's 4 s).
    """
    import sys

    shape = getattr(model, "spectrogram_shape", None)
    if shape is not None:
        return audio.frames_to_samples(int(shape[1])) / audio.SAMPLE_RATE
    samples = getattr(sys.modules.get(type(model).__module__), "WINDOW_SAMPLES", None)
    return float(samples) / audio.SAMPLE_RATE if samples else None


def phrase_figures(waveforms, note_lists, target, classifier=None, seconds=PHRASE_WINDOW_SECONDS, progress=False):
    """Note pitch, onset timing and window classification of phrases (see the module docstring)."""
    return {"pitch": note_pitch_accuracy(waveforms, note_lists), "onsets": onset_timing(waveforms, note_lists),
            "windows": window_consistency(waveforms, target, classifier, seconds, progress, note_lists)}


def _judge_name(phrase_judge, model, judge):
    """How a report names the judge of phrase windows (`load_phrase_judge`'s choice)."""
    if isinstance(phrase_judge, (str, os.PathLike)):
        return os.fspath(phrase_judge)
    if phrase_judge is not None:
        return getattr(model, "name", "phrase judge")
    if judge is not None:
        return "the judge (--judge)"
    if getattr(model, "unit", "window") == "note":
        return "shipped phrase_judge.keras (TimbreJudge, note by note)"
    return "shipped judge.keras (TimbreJudge, no phrase_judge.keras shipped)"


def load_phrase_judge(phrase_judge=None, judge=None):
    """The judge of phrase windows: ``phrase_judge``, else the shipped ``phrase_judge.keras``, else the note judge.

    A ``judge`` given without a ``phrase_judge`` judges the phrases too, so a
    user's own judge is never silently replaced.
    """
    from soundtransform.methods import classifier as classifier_method

    if phrase_judge is not None:
        return load_judge(phrase_judge)
    if judge is None and os.path.isfile(classifier_method.default_path("phrase_judge")):
        return load_judge(None, role="phrase_judge")
    return load_judge(judge)


def phrase_window_seconds(model, window_seconds=None):
    """The windows phrases are judged in: ``window_seconds``, else 2 s (`PHRASE_WINDOW_SECONDS`), or the
    judge's own window if that is longer and it judges windows whole."""
    if window_seconds:
        return float(window_seconds)
    if getattr(model, "unit", "window") == "note":
        return PHRASE_WINDOW_SECONDS
    return float(max(PHRASE_WINDOW_SECONDS, judge_window_seconds(model) or 0.0))


# ------------------------------------------------------------ feature space


def separation(features, groups, seed=0):
    """Do generated sounds form their own group in the classifier's feature space?

    Parameters
    ----------
    features : np.ndarray [shape=(n, d)]
    groups : np.ndarray [shape=(n,)] of str, ``"generated"``, ``"source"``, ``"target"``

    Returns
    -------
    dict: ``silhouette_groups`` (silhouette of the three groups, -1..1),
    ``silhouette_generated`` (generated vs natural), ``probe_accuracy``
    (5-fold balanced accuracy of a logistic regression telling generated
    from natural; 0.5 = indistinguishable, 1.0 = a group of their own).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import silhouette_score
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = np.asarray(features, np.float64)
    groups = np.asarray(groups)
    generated = groups == "generated"
    out = {"silhouette_groups": None, "silhouette_generated": None, "probe_accuracy": None}
    if len(set(groups)) > 1 and len(groups) > len(set(groups)):
        out["silhouette_groups"] = float(silhouette_score(features, groups))
    if 1 < generated.sum() < len(groups) - 1:
        out["silhouette_generated"] = float(silhouette_score(features, generated))
        folds = int(min(5, generated.sum(), (~generated).sum()))
        if folds >= 2:
            probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced"))
            cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
            out["probe_accuracy"] = float(np.mean(
                cross_val_score(probe, features, generated, cv=cv, scoring="balanced_accuracy")))
    return out


def save_tsne(path, features, groups, labels, seed=0, title=None):
    """t-SNE (van der Maaten & Hinton 2008) map of feature vectors, one colour per group, into a PNG."""
    from sklearn.manifold import TSNE

    features = np.asarray(features, np.float64)
    perplexity = float(max(2, min(30, (len(features) - 1) // 3)))
    xy = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5.2), constrained_layout=True)
    for group, marker in zip(("source", "target", "generated"), ("o", "s", "^")):
        mask = np.asarray(groups) == group
        if mask.any():
            ax.scatter(xy[mask, 0], xy[mask, 1], s=14, marker=marker, alpha=0.75, label=labels.get(group, group))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title or "t-SNE of classifier features")
    _save_png(fig, path)
    return xy


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_png(fig, path):
    plt = _pyplot()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------- evaluate


def _match(generated_files, input_dir):
    """Pair generated files with the input of the same file stem in ``input_dir``."""
    inputs = {os.path.splitext(os.path.basename(f))[0]: f for f in audio_files(input_dir)}
    pairs = [(g, inputs.get(os.path.splitext(os.path.basename(g))[0])) for g in generated_files]
    if not any(i for _, i in pairs):
        raise DataError(
            f"no generated file has an input of the same name in {input_dir} "
            f"(e.g. {os.path.basename(generated_files[0])})"
        )
    return pairs


def _target_notes(target, data_dir=None, split="test", target_dir=None):
    """Paths of the natural target notes: a folder, or one family of a dataset split."""
    if (data_dir is None) == (target_dir is None):
        raise ParameterError("give natural target notes as either a dataset (--data) or a folder (--target-dir)")
    if target_dir is not None:
        return audio_files(target_dir)
    return [n.path for n in data.load_notes(data_dir, split, families=[target])]


def evaluate(generated_dir, input_dir, source, target, out_dir, data_dir=None, split="test", target_dir=None,
             judge=None, layer=FEATURE_LAYER, seed=0, window_seconds=None, phrase_judge=None, detect_notes=False,
             progress=True):
    """Judge a folder of generated sounds against their inputs and natural target notes.

    Parameters
    ----------
    generated_dir : str
        The method's outputs; each is matched to the input of the same file
        name in ``input_dir``.
    input_dir : str
        The source sounds they came from (may hold more files).
    source, target : str
        NSynth families.
    out_dir : str
        Receives ``report.json``, ``report.md`` and ``tsne.png``.
    data_dir, split : str
        Natural target notes: the ``target`` family of an NSynth-layout split ...
    target_dir : str
        ... or a folder of them.
    judge : str, TimbreJudge or VGG19AudioClassifier, optional
        Default: the shipped judge, trained independently of the perceptual
        classifier that Slow and Faster use.
    window_seconds : float, optional
        Phrases only: the length of the windows judged one by one; default
        `phrase_window_seconds`.
    phrase_judge : str or TimbreJudge, optional
        Phrases only: the judge of their windows (`load_phrase_judge`);
        default the shipped ``phrase_judge.keras``, which judges a window note
        by note, unless ``judge`` is given.
    detect_notes : bool
        Also judge inputs without a phrase JSON as phrases, against the notes
        `find_notes` finds in each input (for a user's own recordings).
    layer : str
        A VGG judge's layer whose features the t-SNE map and separation use
        (a `TimbreJudge` uses its standardised timbre statistics).

    Returns
    -------
    dict, the report also written to ``report.json``.
    """
    from tqdm import tqdm

    for name, family in (("source", source), ("target", target)):
        if family not in data.FAMILIES:
            raise ParameterError(f"unknown {name} family {family!r}; choose from: {', '.join(data.FAMILIES)}")
    for name, folder in (("generated", generated_dir), ("input", input_dir)):
        if not os.path.isdir(folder):
            raise DataError(f"{name} folder {folder} does not exist or is not a folder")
    target_files = _target_notes(target, data_dir, split, target_dir)
    pairs = _match(audio_files(generated_dir), input_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise DataError(f"output {out_dir} is a file, expected a folder")
    os.makedirs(out_dir, exist_ok=True)
    model = load_judge(judge)
    # Loaded up front, so a bad --phrase-judge fails before the slow steps; a judge given judges phrases too.
    windows_judge = load_phrase_judge(phrase_judge, None if judge is None else model)

    def load_all(files, desc):
        return [audio.load(f, require_sound=True) for f in tqdm(files, desc=desc, disable=not progress, leave=False)]

    generated = load_all([g for g, _ in pairs], "load generated")
    matched = [(y, i) for y, (_, i) in zip(generated, pairs) if i]
    inputs = load_all([i for _, i in matched], "load inputs")
    targets = load_all(target_files, "load targets")

    # 1. Classifier consistency (Liu et al. 2019): what the judge hears.
    probs = classify_waveforms(generated, model, progress=progress)
    predicted = [data.FAMILIES[i] for i in np.argmax(probs, axis=1)]
    target_probs = classify_waveforms(targets, model, progress=progress)
    consistency = {
        "as_target": float(np.mean([p == target for p in predicted])),
        "as_source": float(np.mean([p == source for p in predicted])),
        "as_other": float(np.mean([p not in (source, target) for p in predicted])),
        "judge_accuracy_on_natural_targets": float(np.mean(np.argmax(target_probs, axis=1) == data.FAMILIES.index(target))),
    }
    # 2. Feature space: t-SNE map and whether generated sounds form their own group.
    feats = embed_waveforms(generated + inputs + targets, model, layer=layer, progress=progress)
    groups = np.array(["generated"] * len(generated) + ["source"] * len(inputs) + ["target"] * len(targets))
    space = separation(feats, groups, seed=seed)
    tsne_png = os.path.join(out_dir, "tsne.png")
    save_tsne(tsne_png, feats, groups, {"generated": f"generated ({source} -> {target})",
                                        "source": f"input {source}", "target": f"natural {target}"},
              seed=seed, title=f"t-SNE of judge features ({'timbre statistics' if _is_timbre_judge(model) else layer})")
    # 3. Pitch preservation against each output's own input.
    pitch = pitch_preservation([y for y, _ in matched], inputs, progress=progress)
    # 4. Log-spectral distance to the nearest natural target note of the same pitch.
    pitches = [_midi_pitch(i, y_in) for (_, i), y_in in zip(matched, inputs)]
    target_pitches = [_midi_pitch(f, y) for f, y in zip(target_files, targets)]
    lsd = nearest_target_distance([y for y, _ in matched], pitches, list(zip(targets, target_pitches)),
                                  progress=progress)
    # 5. Phrases: each note against the JSON beside its input; the unconverted input as baseline.
    note_lists = [phrases.notes_beside(i) for _, i in matched]
    written = sum(bool(n) for n in note_lists)
    if detect_notes:
        note_lists = [n or find_notes(y_in) for n, y_in in zip(note_lists, inputs)]
    phrase_items = [(y, y_in, n) for (y, _), y_in, n in zip(matched, inputs, note_lists) if n]
    phrase_report = None
    if phrase_items:
        lists = [n for _, _, n in phrase_items]
        own = judge_window_seconds(windows_judge)
        seconds = phrase_window_seconds(windows_judge, window_seconds)
        phrase_report = {
            "phrases": len(phrase_items),
            "notes_from": {"json": written, "detected": len(phrase_items) - written},
            "window_seconds": seconds,
            "judge_window_seconds": own,
            "phrase_judge": _judge_name(phrase_judge, windows_judge, judge),
            "judged_by": getattr(windows_judge, "unit", "window"),
            "files": [os.path.basename(i) for (_, i), n in zip(matched, note_lists) if n],
            "generated": phrase_figures([y for y, _, _ in phrase_items], lists, target, windows_judge, seconds,
                                        progress),
            "input": phrase_figures([y for _, y, _ in phrase_items], lists, target, windows_judge, seconds, progress),
        }

    report = {
        "generated_dir": os.path.abspath(generated_dir),
        "input_dir": os.path.abspath(input_dir),
        "source": source,
        "target": target,
        "targets": data_dir and f"{os.path.abspath(data_dir)} [{split}]" or os.path.abspath(target_dir),
        "judge": os.fspath(judge) if isinstance(judge, (str, os.PathLike)) else (
            "shipped judge.keras (TimbreJudge)" if judge is None else getattr(model, "name", "judge")),
        "counts": {"generated": len(generated), "matched_inputs": len(inputs), "natural_targets": len(targets)},
        "consistency": consistency,
        "feature_space": {"layer": "timbre statistics" if _is_timbre_judge(model) else layer, **space, "tsne_png": tsne_png},
        "pitch": pitch,
        "log_spectral_distance": lsd,
        "phrases": phrase_report,
        "per_file": [{"file": os.path.basename(g), "predicted": p, "p_target": float(pr[data.FAMILIES.index(target)])}
                     for (g, _), p, pr in zip(pairs, predicted, probs)],
    }
    write_text(os.path.join(out_dir, "report.json"), json.dumps(report, indent=1))
    write_text(os.path.join(out_dir, "report.md"), markdown(report))
    return report


def _fmt(value, spec=".2f"):
    return "n/a" if value is None else format(value, spec)


def markdown(report):
    """A short Markdown table of an `evaluate` report."""
    c, s, p, d = report["consistency"], report["feature_space"], report["pitch"], report["log_spectral_distance"]
    rows = [
        ("classified as target", _fmt(c["as_target"], ".1%")),
        ("classified as source", _fmt(c["as_source"], ".1%")),
        ("classified as another family", _fmt(c["as_other"], ".1%")),
        ("judge accuracy on natural targets", _fmt(c["judge_accuracy_on_natural_targets"], ".1%")),
        ("silhouette, generated vs natural", _fmt(s["silhouette_generated"])),
        ("silhouette, 3 groups", _fmt(s["silhouette_groups"])),
        ("linear probe generated vs natural (bal. acc.)", _fmt(s["probe_accuracy"], ".1%")),
        ("pitch within 50 cents", _fmt(p["within_50_cents"], ".1%")),
        ("median pitch error (cents)", _fmt(p["median_abs_cents"], ".1f")),
        ("octave errors", _fmt(p["octave_errors"], ".1%")),
        ("log-spectral distance to nearest target (dB)", _fmt(d["mean_db"], ".2f")),
    ]
    n = report["counts"]
    head = (f"{report['source']} -> {report['target']}: {n['generated']} generated, "
            f"{n['matched_inputs']} matched inputs, {n['natural_targets']} natural targets\n\n")
    table = head + "| metric | value |\n| --- | --- |\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)
    if report.get("phrases"):
        table += "\n" + _phrase_markdown(report["phrases"])
    return table


def _phrase_markdown(ph):
    """The phrase figures as a table: generated against the unconverted input."""
    g, i = ph["generated"], ph["input"]
    rows = [
        ("notes within 50 cents", "pitch", "within_50_cents", ".1%"),
        ("median note pitch error (cents)", "pitch", "median_abs_cents", ".1f"),
        ("unvoiced notes", "pitch", "unvoiced", ".1%"),
        ("onsets within 50 ms", "onsets", "within_50_ms", ".1%"),
        ("median onset error (ms)", "onsets", "median_abs_ms", ".1f"),
        ("detected onsets per note", "onsets", "detected_per_note", ".2f"),
        ("detected onsets within 50 ms of a note (precision)", "onsets", "precision", ".1%"),
        (f"{ph['window_seconds']:g}-s windows classified as target", "windows", "as_target", ".1%"),
    ]
    found = ph.get("notes_from", {}).get("detected", 0)
    source = (f" ({found} with notes found in the input, no JSON: the input's own pitch and onset figures "
              "are then near 100 % by construction)") if found else ""
    head = (f"{ph['phrases']} phrases{source}, {g['pitch']['notes']} notes "
            f"({g['onsets']['notes']} after the first 50 ms), "
            f"{g['windows']['windows']} windows of "
            f"{ph['window_seconds']:g} s, judged "
            + ("note by note" if ph.get("judged_by") == "note" else
               f"whole (the judge's own window: {_fmt(ph['judge_window_seconds'], '.2f')} s)")
            + f" by {ph.get('phrase_judge', 'the judge')}\n\n")
    return head + "| phrase metric | generated | unconverted input |\n| --- | --- | --- |\n" + "".join(
        f"| {name} | {_fmt(g[part][key], spec)} | {_fmt(i[part][key], spec)} |\n" for name, part, key, spec in rows)
