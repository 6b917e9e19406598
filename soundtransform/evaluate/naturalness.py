"""How natural generated sounds are: spectral distance to real notes, and separation in a judge's feature space.

Log-spectral distance
    ``sqrt(mean_f (dB_a - dB_b) ** 2)`` per frame, averaged over frames, on the
    full 0-8 kHz image (dB re full scale, -80 dB floor), between an output and
    the nearest natural target note of the same MIDI pitch.
Separation
    Silhouettes of the generated, source and target groups, and a linear probe
    telling generated from natural sounds, in the judge's feature space.
"""

import numpy as np

from soundtransform import audio
from soundtransform.plot import image_to_db


def db_image(y):
    """dB spectrogram of one note window of a waveform.

    Parameters
    ----------
    y : np.ndarray [shape=(samples,)], 16 kHz; cut or padded to one image window

    Returns
    -------
    np.ndarray [shape=(N_FREQ, IMAGE_FRAMES)], dB re full scale, -80 dB floor
    """
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
        by_pitch.setdefault(pitch, []).append(db_image(y))
    distances = []
    for y, pitch in tqdm(list(zip(outputs, pitches)), desc="spectral distance", disable=not progress, leave=False):
        if pitch not in by_pitch:
            continue
        image = db_image(y)
        distances.append(min(log_spectral_distance(image, t) for t in by_pitch[pitch]))
    if not distances:
        return {"compared": 0, "mean_db": None, "median_db": None}
    return {"compared": len(distances), "mean_db": float(np.mean(distances)),
            "median_db": float(np.median(distances))}


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
