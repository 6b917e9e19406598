"""How natural generated sounds are: spectral distance to real notes, and separation in a judge's feature space.

Log-spectral distance
    ``sqrt(mean_f (dB_a - dB_b) ** 2)`` per frame, averaged over frames, on the
    full 0-8 kHz image (dB re full scale, -80 dB floor), between an output and
    the nearest natural target note of the same MIDI pitch.
Separation
    Silhouettes of the generated, source and target groups, and a linear probe
    telling generated from natural sounds, in the judge's feature space.
Fréchet distance
    Between Gaussians fitted to two sets of judge embeddings (the FID of
    Heusel et al. 2017, with the judge's standardised timbre statistics in
    place of Inception features): ``|mu_a - mu_b|^2 + Tr(S_a + S_b -
    2 (S_a S_b)^(1/2))``.  A few hundred notes cannot estimate a covariance
    of a few hundred features, so each covariance is the Ledoit-Wolf
    shrinkage estimate (Ledoit & Wolf 2004), pulled toward a scaled identity
    as far as the sample size demands.  `frechet_naturalness` scores the
    generated notes against the natural notes of the target family and, for
    the range a real instrument scores, each natural instrument against the
    other instruments of the family, from as many notes.
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


def frechet_distance(a, b):
    """Fréchet distance between Gaussians fitted to two sets of embeddings (shrunk covariances).

    Parameters
    ----------
    a, b : np.ndarray [shape=(n_a, d) and (n_b, d)], each at least 2 rows

    Returns
    -------
    float, in squared embedding units (0 for identical distributions)
    """
    from scipy.linalg import sqrtm
    from sklearn.covariance import ledoit_wolf

    from soundtransform.errors import ParameterError

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ParameterError(f"Fréchet distance needs two sets [n >= 2, d] of the same d, got {a.shape} and {b.shape}")
    cov_a, cov_b = ledoit_wolf(a)[0], ledoit_wolf(b)[0]
    root = sqrtm(cov_a @ cov_b)
    trace = np.trace(cov_a) + np.trace(cov_b) - 2.0 * float(np.real(np.trace(root)))
    return float(np.sum((a.mean(axis=0) - b.mean(axis=0)) ** 2) + max(trace, 0.0))


def frechet_naturalness(generated, targets, instruments=None, draws=10, seed=0):
    """How far generated notes lie from natural ones in a judge's embedding, against real instruments.

    Parameters
    ----------
    generated : np.ndarray [shape=(n, d)], embeddings of the generated notes
    targets : np.ndarray [shape=(m, d)], embeddings of natural notes of the target family
    instruments : sequence of str, optional
        The instrument of each natural note; gives the range.
    draws : int
        Random subsets of the generated notes, each as large as one natural
        instrument's notes, averaged for ``generated_at_instrument_size``.

    Returns
    -------
    dict: ``generated`` (all generated notes against all natural ones);
    ``instruments`` (each natural instrument's notes against the other
    instruments' notes: what a real instrument scores), with its ``min``,
    ``median`` and ``max``; ``generated_at_instrument_size`` (generated
    subsets of a natural instrument's median note count against the same
    other instruments, averaged over instruments and draws: comparable with
    ``instruments``, since the distance grows as fewer notes estimate it).
    """
    generated, targets = np.asarray(generated, np.float64), np.asarray(targets, np.float64)
    out = {"generated": None, "instruments": {}, "min": None, "median": None, "max": None,
           "generated_at_instrument_size": None, "notes": {"generated": len(generated), "natural": len(targets)}}
    if len(generated) < 2 or len(targets) < 2:
        return out
    out["generated"] = frechet_distance(generated, targets)
    if instruments is None:
        return out
    instruments = np.asarray(instruments)
    names = sorted(set(instruments))
    if len(names) < 2:
        return out
    rng = np.random.default_rng(seed)
    sizes, matched = [], []
    for name in names:
        own, rest = targets[instruments == name], targets[instruments != name]
        if len(own) < 2 or len(rest) < 2:
            continue
        out["instruments"][name] = frechet_distance(own, rest)
        sizes.append(len(own))
    if not out["instruments"]:
        return out
    size = int(min(np.median(sizes), len(generated)))
    for name in out["instruments"]:
        rest = targets[instruments != name]
        for _ in range(draws):
            matched.append(frechet_distance(generated[rng.choice(len(generated), size, replace=False)], rest))
    scores = list(out["instruments"].values())
    out.update(min=float(np.min(scores)), median=float(np.median(scores)), max=float(np.max(scores)),
               generated_at_instrument_size=float(np.mean(matched)))
    return out
