"""How far a judge generalises: trained on one SoundFont, tested on the other, clean and as if recorded.

A rendered dataset holds the instruments of two SoundFonts (FluidR3_GM and
TimGM6mb, `render.KNOWN_SOUNDFONTS`; a note's SoundFont is its instrument
number // 128).  Two SoundFonts sample their instruments differently, as two
recordings of real instruments do, so a judge that recognises the families of
one SoundFont after hearing only the other hears the family, not the samples.

`leave_one_soundfont_out` trains a judge on every note of one SoundFont (all
splits, all families; with an augmented copy of each note when given) and
reports, per held-out SoundFont and family, the share of its natural notes
judged as their own family: clean, and under the recording-like test
condition (`recording.degrade`: a small room and a noise floor 30-40 dB below
the peak).  `note_features` computes and caches the features it needs.
"""

import os

import numpy as np

from soundtransform import audio, data, render
from soundtransform.errors import DataError
from soundtransform.evaluate import recording
from soundtransform.fileio import atomic_path

SOUNDFONT_NAMES = {index: name for name, (index, _) in render.KNOWN_SOUNDFONTS.items()}
CONDITIONS = ("clean", "augment", "room-noise")  # augment: `recording.augment`, for training only
TESTED_FAMILIES = ("flute", "keyboard")
CHUNK = 256  # notes loaded at once


def soundfont_of(instrument):
    """The SoundFont an instrument number (``NNN``) was rendered from, by name."""
    index = int(instrument) // 128
    return SOUNDFONT_NAMES.get(index, f"soundfont{index}")


def _conditioned(waveforms, condition, seed, first):
    if condition == "augment":
        return [recording.augment(y, np.random.default_rng([seed, first + i])) for i, y in enumerate(waveforms)]
    if condition == "room-noise":
        return [recording.degrade(y, np.random.default_rng([seed, first + i])) for i, y in enumerate(waveforms)]
    return waveforms


def note_features(data_dir, cache, feature_set="robust", condition="clean", seed=0, progress=True):
    """Judge features of every note of every split of a dataset, under a condition; cached in ``cache``.

    Parameters
    ----------
    condition : {"clean", "augment", "room-noise"}
        The notes as rendered, through `recording.augment`, or through
        `recording.degrade`; note ``i`` (in name order over the splits) draws
        from ``np.random.default_rng([seed, i])``.

    Returns
    -------
    dict of np.ndarray: ``features`` [notes, FEATURE_SETS[feature_set]],
    ``labels`` (index in `data.FAMILIES`), ``instruments``, ``soundfonts``
    (names), ``names`` (note names), ``splits``.
    """
    from tqdm import tqdm

    from soundtransform.errors import check_choice
    from soundtransform.timbre_judge import FEATURE_SETS, timbre_features

    check_choice("condition", condition, CONDITIONS)
    by_split = [(split, n) for split in data.SPLITS for n in data.read_split(data_dir, split)]
    notes = [n for _, n in by_split]
    splits = np.array([split for split, _ in by_split])
    if not notes:
        raise DataError(f"{data_dir} holds no notes in any split ({', '.join(data.SPLITS)})")
    names = np.array([n.note_str for n in notes])
    size = FEATURE_SETS[feature_set]
    for name in [feature_set] + [f for f in FEATURE_SETS if f != feature_set]:
        # The "robust" set begins with the "timbre" one, so one computation serves both.
        path = os.path.join(cache, f"judge-{name}-{condition}-{seed}.npz")
        if os.path.exists(path):
            saved = dict(np.load(path))
            if saved["features"].shape[1] >= size and np.array_equal(saved["names"], names):
                return {**saved, "features": saved["features"][:, :size], "splits": splits}
    path = os.path.join(cache, f"judge-{feature_set}-{condition}-{seed}.npz")
    features = []
    for first in tqdm(range(0, len(notes), CHUNK), desc=f"{feature_set} features, {condition}",
                      disable=not progress, leave=False):
        waveforms = [audio.load(n.path) for n in notes[first:first + CHUNK]]
        features.append(timbre_features(_conditioned(waveforms, condition, seed, first),
                                        feature_set=feature_set)[0])
    out = {"features": np.concatenate(features), "labels": np.array([n.family_id for n in notes]),
           "instruments": np.array([n.instrument for n in notes]),
           "soundfonts": np.array([soundfont_of(n.instrument) for n in notes]), "names": names, "splits": splits}
    os.makedirs(cache, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **out)
    return out


def leave_one_soundfont_out(make_judge, clean, tests, augmented=None, families=TESTED_FAMILIES, fit_kwargs=None,
                            progress=True):
    """Train on each SoundFont but one; the share of the held-out one's notes judged as their family.

    Parameters
    ----------
    make_judge : callable
        ``() -> TimbreJudge`` (untrained) whose ``fit_features`` is called.
    clean : dict
        `note_features` of the clean notes: what each judge trains on.
    tests : dict of str -> dict
        Condition name -> `note_features` of the same notes under it
        (``{"clean": clean, "room-noise": ...}``): what is judged.
    augmented : dict, optional
        `note_features` of augmented copies, added to the training notes.
    families : sequence of str
        The families reported.
    fit_kwargs : dict, optional
        Passed to ``fit_features`` (epochs, seed ...).

    Returns
    -------
    dict: held-out SoundFont -> condition -> family -> ``{"notes": n,
    "judged_right": share}``, and under ``"trained_on"`` the SoundFonts each
    judge heard.
    """
    out = {}
    for held in sorted(set(clean["soundfonts"])):
        train = clean["soundfonts"] != held
        x, y = clean["features"][train], clean["labels"][train]
        if augmented is not None:
            x = np.concatenate([x, augmented["features"][train]])
            y = np.concatenate([y, augmented["labels"][train]])
        judge = make_judge()
        judge.fit_features(x, y, **(fit_kwargs or {}))
        result = {"trained_on": sorted(set(clean["soundfonts"][train])), "train_notes": int(len(y))}
        for condition, test in tests.items():
            predicted = np.argmax(judge.probabilities(test["features"]), axis=1)
            result[condition] = {}
            for family in families:
                index = data.FAMILIES.index(family)
                mask = (test["soundfonts"] == held) & (test["labels"] == index)
                if mask.any():
                    result[condition][family] = {"notes": int(mask.sum()),
                                                 "judged_right": float(np.mean(predicted[mask] == index))}
        if progress:
            print(f"held out {held}: " + "; ".join(
                f"{c} " + ", ".join(f"{f} {r['judged_right']:.1%}" for f, r in result[c].items()) for c in tests))
        out[held] = result
    return out


def table(loso):
    """The `leave_one_soundfont_out` result as a Markdown table."""
    conditions = [c for c in next(iter(loso.values())) if c not in ("trained_on", "train_notes")]
    rows = ["| held-out SoundFont | family | notes | " + " | ".join(conditions) + " |",
            "| --- | --- | --- | " + " | ".join("---" for _ in conditions) + " |"]
    for held, result in loso.items():
        for family in result[conditions[0]]:
            rows.append(f"| {held} | {family} | {result[conditions[0]][family]['notes']} | "
                        + " | ".join(f"{result[c][family]['judged_right']:.1%}" for c in conditions) + " |")
    return "\n".join(rows) + "\n"
