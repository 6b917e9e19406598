"""Train, measure and ship the independent judge (`soundtransform.timbre_judge`).

    python recipes/train_judge.py DATA_DIR [--cache DIR] [--out exported_models/classifiers]
    python recipes/train_judge.py DATA_DIR --unit note    # phrase_judge.keras

1. Timbre features of every note of the train, valid and test splits (cached
   as ``.npz`` in ``--cache``, so a rerun takes seconds).
2. The L2 weight is chosen on the valid split (trained on train only).
3. The judge is retrained with it on train + valid: test instruments stay
   unheard, as for every model here.
4. Accuracy, per-family accuracy and the confusion matrix on the test split
   go into ``OUT/judge.json`` beside ``OUT/judge.keras``.

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
from soundtransform.fileio import atomic_path, write_text
from soundtransform.timbre_judge import UNITS, TimbreJudge, note_segments, segment_features, timbre_features

L2_CHOICES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)


def split_features(data_dir, split, cache):
    path = os.path.join(cache, f"timbre-{split}.npz")
    if os.path.exists(path):
        saved = np.load(path)
        return saved["features"], saved["labels"]
    notes = data.read_split(data_dir, split)
    waveforms = [audio.load(n.path) for n in notes]
    features, _ = timbre_features(waveforms, progress=True, desc=f"{split} features")
    labels = np.array([data.FAMILIES.index(n.family) for n in notes])
    os.makedirs(cache, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, features=features, labels=labels)
    return features, labels


def phrase_features(data_dir, split, cache):
    """Features and labels of every note of every phrase of a split (all families)."""
    path = os.path.join(cache, f"timbre-phrase-notes-{split}.npz")
    if os.path.exists(path):
        saved = np.load(path)
        return saved["features"], saved["labels"]
    pieces, labels = [], []
    for p in phrases.read_phrases(data_dir, split):
        y = audio.load(p.path)
        for a, b in note_segments(y.size, phrases.notes_beside(p.path)):
            pieces.append(y[a:b])
            labels.append(data.FAMILIES.index(p.family))
    features = segment_features(pieces, progress=True, desc=f"{split} phrase notes")
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
    args = parser.parse_args()
    name = "judge" if args.unit == "window" else "phrase_judge"
    os.makedirs(args.cache, exist_ok=True)

    start = time.time()
    (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = (
        split_features(args.data_dir, s, args.cache) for s in ("train", "valid", "test"))
    if args.unit == "note":
        note_counts = {}
        for split in ("train", "valid", "test"):
            x, y = phrase_features(args.data_dir, split, args.cache)
            note_counts[split] = int(len(y))
            if split == "train":
                x_train, y_train = np.concatenate([x_train, x]), np.concatenate([y_train, y])
            elif split == "valid":
                x_valid, y_valid = np.concatenate([x_valid, x]), np.concatenate([y_valid, y])
            else:
                x_test, y_test = np.concatenate([x_test, x]), np.concatenate([y_test, y])
    feature_seconds = time.time() - start

    start = time.time()
    scores = {}
    for l2 in L2_CHOICES:
        model = TimbreJudge(l2=l2, unit=args.unit)
        model.fit_features(x_train, y_train, seed=args.seed)
        scores[l2] = accuracy(model, x_valid, y_valid)
        print(f"l2 {l2:g}: valid accuracy {scores[l2]:.3f}")
    best = max(scores, key=scores.get)
    judge = TimbreJudge(l2=best, unit=args.unit)
    judge.fit_features(np.concatenate([x_train, x_valid]), np.concatenate([y_train, y_valid]), seed=args.seed)
    train_seconds = time.time() - start

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
        "kind": "timbre features + logistic regression (soundtransform.timbre_judge)",
        "families": list(data.FAMILIES),
        "window_seconds": audio.NOTE_SECONDS,
        "features": int(x_train.shape[1]),
        "l2": best,
        "valid_accuracy_by_l2": {f"{k:g}": v for k, v in scores.items()},
        "seed": args.seed,
        "train_splits": "train+valid",
        "train_notes": int(len(y_train) + len(y_valid)),
        "feature_seconds": round(feature_seconds, 1),
        "training_seconds": round(train_seconds, 1),
        "training_command": "python recipes/train_judge.py DATA"
                            + (" --unit note" if args.unit == "note" else ""),
        "test_accuracy": float(np.mean(predicted == y_test)),
        "test_per_family": per_family,
        "test_confusion": confusion.tolist(),
    }
    if args.unit == "note":
        result["phrase_notes"] = note_counts
        result["test_phrase_windows_judged_own_family"] = phrase_windows_judged(judge, args.data_dir)
    write_text(os.path.join(args.out, f"{name}.json"), json.dumps(result, indent=1) + "\n")
    print(f"{name} test accuracy {result['test_accuracy']:.3f}; keyboard {per_family['keyboard']:.2f}, "
          f"flute {per_family['flute']:.2f}; l2 {best:g}; shipped {args.out}/{name}.keras")
    for family, r in result.get("test_phrase_windows_judged_own_family", {}).items():
        print(f"  {family}: {r['as_target']:.1%} of {r['windows']} test phrase windows judged {family}")


if __name__ == "__main__":
    main()
