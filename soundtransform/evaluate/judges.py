"""Judges: loading them, and the family probabilities and features they give waveforms of any length.

A judge is a `timbre_judge.TimbreJudge` (the shipped ``judge.keras`` and
``phrase_judge.keras``) or any ``.keras`` VGG-19 classifier.  A VGG
classifier hears a waveform window by window: it is cut into windows of the
classifier's input width, the last window aligned with the end of the clip; a
clip shorter than one window is padded with silence.  The probabilities (or
features) of the windows are averaged.
"""

import os
import sys

import numpy as np

from soundtransform import audio, data
from soundtransform.errors import DataError

FEATURE_LAYER = "fc1"


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


def is_timbre_judge(model):
    """Whether ``model`` is a `TimbreJudge` (which hears waveforms itself) rather than a VGG classifier."""
    from soundtransform.timbre_judge import TimbreJudge

    return isinstance(model, TimbreJudge)


def judge_window_seconds(model):
    """Length of the windows a judge itself classifies, s; None if it does not say.

    A VGG-19 classifier's input width (``spectrogram_shape``), or a module-level
    ``WINDOW_SAMPLES`` of the judge's own module (the timbre judge's 4 s).
    """
    shape = getattr(model, "spectrogram_shape", None)
    if shape is not None:
        return audio.frames_to_samples(int(shape[1])) / audio.SAMPLE_RATE
    samples = getattr(sys.modules.get(type(model).__module__), "WINDOW_SAMPLES", None)
    return float(samples) / audio.SAMPLE_RATE if samples else None


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
    if is_timbre_judge(model):
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
    if is_timbre_judge(model):
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
    """Audio files named directly or found (not recursively, `audio.list_audio`) in the named folders.

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
            found = audio.list_audio(path)
            if not found:
                raise DataError(f"folder {path} holds no audio files ({', '.join(audio.AUDIO_EXTENSIONS)})")
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
