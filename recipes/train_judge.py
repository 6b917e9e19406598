"""Train, measure and ship the independent judge (`soundtransform.timbre_judge`).

    python recipes/train_judge.py DATA_DIR [--cache DIR] [--out exported_models/classifiers]
        [--features timbre] [--hidden 0] [--augment 0]      # judge.keras, as shipped
    python recipes/train_judge.py DATA_DIR --features robust --hidden 64 --augment 1   # robust to a room and noise
    python recipes/train_judge.py DATA_DIR --unit note    # phrase_judge.keras

DATA_DIR holds notes of every family from both SoundFonts (FluidR3_GM and
TimGM6mb; ``soundtransform data render``).

1. Judge features (``--features``) of every note of the train, valid and test
   splits, and of ``--augment`` recording-like copies of each
   (`evaluate.recording.augment`: a small room, a noise floor, EQ, level, a
   microphone), cached as ``.npz`` in ``--cache``, so a rerun takes seconds.
2. The L2 weight is chosen on the valid split (trained on train only, with
   its copies).
3. The judge is retrained with it on train + valid and their copies: test
   instruments stay unheard, as for every model here.
4. Accuracy, per-family accuracy and the confusion matrix on the test split
   go into ``OUT/judge.json`` beside ``OUT/judge.keras``, with the same
   recipe's leave-one-SoundFont-out figures
   (`evaluate.judge_validation.leave_one_soundfont_out`: trained on one
   SoundFont, the other's flutes and keyboards judged clean and in a small
   room with a noise floor).

With ``--unit note`` the judge of phrases: the same model, trained on the notes
and on every note of the rendered phrases of every family (``data render
--kind phrases --melodies 4``), each note from its onset to the next
(`timbre_judge.note_segments`); it judges phrase windows note by note.  Its
JSON adds the share of 2-s windows of the test split's natural phrases that it
judges as their own family, per family.  Prints the valid accuracy of each L2
weight, then the test accuracy (and the phrase windows' shares).
"""

import argparse
import json
import os
import time

import numpy as np

from soundtransform import audio, data, evaluate, phrases
from soundtransform.evaluate import judge_validation
from soundtransform.fileio import atomic_path, write_text
from soundtransform.timbre_judge import FEATURE_SETS, UNITS, TimbreJudge, note_segments, segment_features

L2_CHOICES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
SHIPPED_RECIPES = {"window": {"features": "timbre", "hidden": 0, "augment": 0},
                   "note": {"features": "timbre", "hidden": 0, "augment": 0}}
AUGMENT_SEED, TEST_SEED = 1, 2  # as benchmarks/judge_loso.py: copies and degraded test notes differ


def split_features(notes, copies, split):
    """Features and labels of one split's notes, then of their augmented copies (if any)."""
    keep = notes["splits"] == split
    x, y = notes["features"][keep], notes["labels"][keep]
    if copies is not None:
        x, y = np.concatenate([x, copies["features"][keep]]), np.concatenate([y, copies["labels"][keep]])
    return x, y


def phrase_features(data_dir, split, cache, feature_set="timbre"):
    """Features and labels of every note of every phrase of a split (all families)."""
    path = os.path.join(cache, f"{feature_set}-phrase-notes-{split}.npz")
    if os.path.exists(path):
        saved = np.load(path)
        return saved["features"], saved["labels"]
    pieces, labels = [], []
    for p in phrases.read_phrases(data_dir, split):
        y = audio.load(p.path)
        for a, b in note_segments(y.size, phrases.notes_beside(p.path)):
            pieces.append(y[a:b])
            labels.append(data.FAMILIES.index(p.family))
    features = segment_features(pieces, progress=True, desc=f"{split} phrase notes", feature_set=feature_set)
    labels = np.array(labels, int)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, features=features, labels=labels)
    return features, labels


def phrase_windows_judged(judge, data_dir, split="test"):
    """Per family: the share of 2-s windows of the split's natural phrases judged as that family."""
    judged = {}
    for family in data.FAMILIES:
        found = phrases.read_phrases(data_dir, split, families=[family])
        if not found:
            continue
        waveforms = [audio.load(p.path) for p in found]
        result = evaluate.window_consistency(waveforms, family, judge,
                                             note_lists=[phrases.notes_beside(p.path) for p in found])
        judged[family] = {"phrases": len(found), **result}
    return judged


def accuracy(model, features, labels):
    return float(np.mean(np.argmax(model.probabilities(features), axis=1) == labels))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", help="an NSynth-layout dataset (with phrases of every family for --unit note)")
    parser.add_argument("--cache", default="runs/judge-features")
    parser.add_argument("--out", default="exported_models/classifiers")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--unit", choices=UNITS, default="window",
                        help="window: the judge of notes (judge.keras); note: the judge of phrases (phrase_judge.keras)")
    parser.add_argument("--features", choices=tuple(FEATURE_SETS), default=None,
                        help="feature set [default: the shipped judge's, timbre]")
    parser.add_argument("--hidden", type=int, default=None,
                        help="hidden units, 0: logistic regression [default: the shipped judge's, 0]")
    parser.add_argument("--augment", type=int, choices=(0, 1), default=None,
                        help="recording-like copies of each training note [default: the shipped judge's, 0]")
    parser.add_argument("--no-loso", action="store_true", help="skip the leave-one-SoundFont-out figures")
    args = parser.parse_args()
    name = "judge" if args.unit == "window" else "phrase_judge"
    for key, value in SHIPPED_RECIPES[args.unit].items():  # what rebuilds the shipped judge of this unit
        if getattr(args, key) is None:
            setattr(args, key, value)
    os.makedirs(args.cache, exist_ok=True)

    start = time.time()
    notes = judge_validation.note_features(args.data_dir, args.cache, args.features, "clean", 0)
    copies = judge_validation.note_features(args.data_dir, args.cache, args.features, "augment", AUGMENT_SEED) \
        if args.augment else None
    (x_train, y_train), (x_valid, y_valid) = (split_features(notes, copies, s) for s in ("train", "valid"))
    x_test, y_test = split_features(notes, None, "test")
    x_score, y_score = split_features(notes, None, "valid")  # what chooses L2: the valid notes as rendered
    if args.unit == "note":
        note_counts = {}
        for split in ("train", "valid", "test"):
            x, y = phrase_features(args.data_dir, split, args.cache, args.features)
            note_counts[split] = int(len(y))
            if split == "train":
                x_train, y_train = np.concatenate([x_train, x]), np.concatenate([y_train, y])
            elif split == "valid":
                x_valid, y_valid = np.concatenate([x_valid, x]), np.concatenate([y_valid, y])
                x_score, y_score = np.concatenate([x_score, x]), np.concatenate([y_score, y])
            else:
                x_test, y_test = np.concatenate([x_test, x]), np.concatenate([y_test, y])
    feature_seconds = time.time() - start

    start = time.time()
    scores = {}
    for l2 in L2_CHOICES:
        model = TimbreJudge(l2=l2, unit=args.unit, features=args.features, hidden=args.hidden)
        model.fit_features(x_train, y_train, seed=args.seed)
        scores[l2] = accuracy(model, x_score, y_score)
        print(f"l2 {l2:g}: valid accuracy {scores[l2]:.3f}")
    best = max(scores, key=scores.get)
    judge = TimbreJudge(l2=best, unit=args.unit, features=args.features, hidden=args.hidden)
    judge.fit_features(np.concatenate([x_train, x_valid]), np.concatenate([y_train, y_valid]), seed=args.seed)
    train_seconds = time.time() - start

    loso = None
    if args.unit == "window" and not args.no_loso:
        degraded = judge_validation.note_features(args.data_dir, args.cache, args.features, "room-noise", TEST_SEED)
        loso = judge_validation.leave_one_soundfont_out(
            lambda: TimbreJudge(l2=best, features=args.features, hidden=args.hidden), notes,
            {"clean": notes, "room-noise": degraded}, augmented=copies, fit_kwargs={"seed": args.seed})

    predicted = np.argmax(judge.probabilities(x_test), axis=1)
    n = len(data.FAMILIES)
    confusion = np.zeros((n, n), int)
    np.add.at(confusion, (y_test, predicted), 1)
    per_family = {f: float(confusion[i, i] / max(confusion[i].sum(), 1)) for i, f in enumerate(data.FAMILIES)}
    os.makedirs(args.out, exist_ok=True)
    with atomic_path(os.path.join(args.out, f"{name}.keras")) as tmp:
        judge.save(tmp)
    result = {
        "role": name,
        "unit": args.unit,
        "kind": "timbre features + " + (f"one {args.hidden}-unit hidden layer" if args.hidden else
                                         "logistic regression") + " (soundtransform.timbre_judge)",
        "families": list(data.FAMILIES),
        "window_seconds": audio.NOTE_SECONDS,
        "features": args.features,
        "n_features": int(x_train.shape[1]),
        "hidden": args.hidden,
        "augment": f"{args.augment} recording-like cop{'y' if args.augment == 1 else 'ies'} of each note "
                   "(soundtransform.evaluate.recording.augment)" if args.augment else "none",
        "l2": best,
        "valid_accuracy_by_l2": {f"{k:g}": v for k, v in scores.items()},
        "seed": args.seed,
        "train_splits": "train+valid",
        "train_notes": int(len(y_train) + len(y_valid)),
        "soundfonts": sorted(set(notes["soundfonts"])),
        "feature_seconds": round(feature_seconds, 1),
        "training_seconds": round(train_seconds, 1),
        "training_command": "python recipes/train_judge.py DATA"
                            + (" --unit note" if args.unit == "note" else "")
                            + f" --features {args.features} --hidden {args.hidden} --augment {args.augment}",
        "test_accuracy": float(np.mean(predicted == y_test)),
        "test_per_family": per_family,
        "test_confusion": confusion.tolist(),
    }
    if loso is not None:
        result["leave_one_soundfont_out"] = loso
    if args.unit == "note":
        result["phrase_notes"] = note_counts
        result["test_phrase_windows_judged_own_family"] = phrase_windows_judged(judge, args.data_dir)
    write_text(os.path.join(args.out, f"{name}.json"), json.dumps(result, indent=1) + "\n")
    print(f"{name} test accuracy {result['test_accuracy']:.3f}; keyboard {per_family['keyboard']:.2f}, "
          f"flute {per_family['flute']:.2f}; l2 {best:g}; shipped {args.out}/{name}.keras")
    if loso is not None:
        print(judge_validation.table(loso))
    for family, r in result.get("test_phrase_windows_judged_own_family", {}).items():
        print(f"  {family}: {r['as_target']:.1%} of {r['windows']} test phrase windows judged {family}")


if __name__ == "__main__":
    main()
