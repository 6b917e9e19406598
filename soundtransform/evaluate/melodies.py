"""Melodies judged note by note: note pitch, onset timing and F1, and the family heard window by window.

A phrase's notes come from the phrase JSON beside its input
(`phrases.notes_beside`) or, for a recording without one, from `find_notes`.
The median pYIN f0 over the middle half of each note must be within 50 cents
of the note's MIDI pitch; librosa's onset detector must find an onset within
50 ms of each note's onset (notes in the first 50 ms left out), and the onset
F1 pairs written and detected onsets one to one within 50 ms (`onset_f1`, as
mir_eval's ``onset.f_measure`` does); each note's attack and decay come from
`dynamics`; and each consecutive window of 2 s (`PHRASE_WINDOW_SECONDS`) is
classified on its own by the judge of phrases (`judges.load_phrase_judge`: the shipped
``phrase_judge.keras`` judges a window note by note,
`timbre_judge.TimbreJudge.classify_windows`).

A judge that takes windows whole gets windows of its own length if that is
longer: a piece shorter than its window would be padded with silence, and
silence after 2 s of flute reads as a decaying keyboard note (the 4-s note
judge called 70 % of the 2-s windows of unconverted test flute phrases
keyboard, 1 % of their 4-s windows).
"""

import numpy as np

from soundtransform import audio, data, phrases
from soundtransform.evaluate.dynamics import note_dynamics
from soundtransform.evaluate.judges import classify_waveforms, judge_window_seconds, load_judge
from soundtransform.evaluate.pitch import F0_MAX, F0_MIN, PITCH_TOLERANCE_CENTS

PHRASE_WINDOW_SECONDS = 2.0  # phrases are judged window by window, at least this long
ONSET_TOLERANCE_MS = 50.0
PHRASE_HOP = 128  # samples (8 ms): pYIN and onset frames on phrases


# ------------------------------------------------------------------- pitch


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
    f, voiced, _ = librosa.pyin(y, fmin=F0_MIN, fmax=F0_MAX, sr=audio.SAMPLE_RATE, frame_length=1024,
                                hop_length=PHRASE_HOP, resolution=0.2)
    times = librosa.times_like(f, sr=audio.SAMPLE_RATE, hop_length=PHRASE_HOP)
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


# ------------------------------------------------------------------ onsets


def detected_onsets(y):
    """Onset times (s) librosa's spectral-flux detector finds in ``y``: 8 ms hops, every peak, no backtracking.

    The detector whose onsets are measured (`onset_timing`) and that finds
    the notes of a recording (`find_notes`): librosa's peak picking as it is,
    each onset at its peak.  `convert.note_bounds`, which cuts a clip into
    notes for conversion, is another detector on purpose: it keeps only
    strong onsets, moves them back to the energy minimum before them and
    joins short pieces, so a conversion never cuts a steady tone; a
    measurement keeps every onset librosa hears.

    Parameters
    ----------
    y : np.ndarray [shape=(samples,)], 16 kHz

    Returns
    -------
    np.ndarray [shape=(onsets,)], s; empty for a clip under 1024 samples
    """
    import librosa

    y = np.asarray(y, np.float32)
    if y.size < 1024:
        return np.zeros(0)
    return librosa.onset.onset_detect(y=y, sr=audio.SAMPLE_RATE, hop_length=PHRASE_HOP, units="time",
                                      backtrack=False)


def find_notes(y):
    """The notes of a recording that has no phrase JSON, found in the audio itself.

    Onsets come from the detector `onset_timing` uses (`detected_onsets`:
    librosa's spectral flux, 8 ms hops, no backtracking), plus the start of
    the clip; each note lasts until the next onset, the last one until the
    end.  A note's pitch is its median pYIN f0 over its middle half
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

    librosa's spectral-flux onset detector (`detected_onsets`: 8 ms hops, no
    backtracking) runs on each phrase; every written onset is matched to the
    nearest detected one.  Notes that start within the first 50 ms have no
    attack to detect against (the clip starts there) and are left out.

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


def match_onsets(reference, estimated, tolerance=ONSET_TOLERANCE_MS / 1000.0):
    """Pairs of reference and estimated onsets within ``tolerance`` s, each onset in at most one pair.

    One sweep through both sorted lists, pairing the earliest unpaired
    onsets that lie within the window: on a line, with one window for every
    pair, this pairs as many onsets as the bipartite matching of mir_eval's
    ``onset.f_measure`` does (Raffel et al. 2014).

    Returns
    -------
    list of (i, j): indices into the sorted ``reference`` and ``estimated``
    """
    reference, estimated = np.sort(np.asarray(reference, float)), np.sort(np.asarray(estimated, float))
    pairs, i, j = [], 0, 0
    while i < reference.size and j < estimated.size:
        if abs(reference[i] - estimated[j]) <= tolerance:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif estimated[j] < reference[i]:
            j += 1
        else:
            i += 1
    return pairs


def onset_f1(waveforms, note_lists, tolerance_ms=ONSET_TOLERANCE_MS):
    """Onset F-measure of the detected onsets against the phrases' written ones, pooled over phrases.

    Each written onset may be matched by one detected onset within
    ``tolerance_ms`` and each detected one may match one written onset
    (`match_onsets`).  Onsets in the first ``tolerance_ms`` of a clip are
    left out on both sides: the clip starts there, so no attack is heard.

    Returns
    -------
    dict: ``notes`` (written onsets), ``detected``, ``matched``,
    ``precision`` (matched / detected), ``recall`` (matched / notes) and
    ``f1`` (their harmonic mean); None where undefined.
    """
    tolerance = tolerance_ms / 1000.0
    written_total = detected_total = matched = 0
    for y, notes in zip(waveforms, note_lists):
        written = [n["onset"] for n in notes if n["onset"] >= tolerance]
        detected = [t for t in detected_onsets(y) if t >= tolerance]
        written_total += len(written)
        detected_total += len(detected)
        matched += len(match_onsets(written, detected, tolerance))
    precision = matched / detected_total if detected_total else None
    recall = matched / written_total if written_total else None
    f1 = (2.0 * matched / (written_total + detected_total)) if written_total + detected_total else None
    return {"notes": written_total, "detected": detected_total, "matched": matched, "precision": precision,
            "recall": recall, "f1": f1}


# ----------------------------------------------------------------- windows


def phrase_windows(y, seconds=PHRASE_WINDOW_SECONDS):
    """Consecutive ``seconds``-long pieces of a waveform, the last one ending with it.

    Returns
    -------
    list of np.ndarray [shape=(seconds * 16000,)]; a shorter clip is one piece.
    """
    y = np.asarray(y, np.float32)
    size = int(round(seconds * audio.SAMPLE_RATE))
    return [y[s:s + size] for s in phrases.window_starts(y.size, size)]


def phrase_window_seconds(model, window_seconds=None):
    """The windows phrases are judged in: ``window_seconds``, else 2 s (`PHRASE_WINDOW_SECONDS`), or the
    judge's own window if that is longer and it judges windows whole."""
    if window_seconds:
        return float(window_seconds)
    if getattr(model, "unit", "window") == "note":
        return PHRASE_WINDOW_SECONDS
    return float(max(PHRASE_WINDOW_SECONDS, judge_window_seconds(model) or 0.0))


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


def phrase_figures(waveforms, note_lists, target, classifier=None, seconds=PHRASE_WINDOW_SECONDS, progress=False):
    """Note pitch, onset timing and F1, attack and decay of each note, and window classification of phrases."""
    return {"pitch": note_pitch_accuracy(waveforms, note_lists),
            "onsets": onset_timing(waveforms, note_lists), "onset_f1": onset_f1(waveforms, note_lists),
            "dynamics": note_dynamics(waveforms, note_lists),
            "windows": window_consistency(waveforms, target, classifier, seconds, progress, note_lists)}
