"""Measure a trained classifier on the test split and ship it to exported_models/classifiers/.

    python benchmarks/ship_classifier.py RUN_DIR ROLE DATA_DIR TRAIN_SECONDS "TRAINING COMMAND" [CONFUSION.png]

Writes ``exported_models/classifiers/ROLE.keras`` (a copy of RUN_DIR/classifier.keras)
and ``ROLE.json`` beside it: families, input size, the best validation accuracy
of training, accuracy on the test split (instruments neither classifier heard;
whole notes, windows averaged as `evaluate.classify_waveforms` does), per-family
test accuracy, confusion matrix, training time and command.
"""

import json
import os
import shutil
import sys

from soundtransform import data, evaluate, plot
from soundtransform.fileio import atomic_path, write_text
from soundtransform.methods import classifier as method


def main(run_dir, role, data_dir, seconds, command, confusion_png=None):
    path = os.path.join(run_dir, "classifier.keras")
    model = method.load_classifier(path)
    run = json.load(open(os.path.join(run_dir, "classifier.json")))
    config = run["config"]
    result = {
        "role": role,
        "families": list(data.FAMILIES),
        "input_size": list(model.spectrogram_shape[:2]),
        "width": model.width,
        "dense_units": model.dense_units,
        "parameters": int(model.count_params()),
        "seed": config["seed"],
        "train_splits": config.get("train_splits", "train"),
        "epochs_run": config["epochs"],
        "best_epoch": run.get("best_epoch"),
        "training_seconds": float(seconds),
        "training_command": command,
    }
    for split in ("test",):
        notes = data.read_split(data_dir, split)
        scores = evaluate.family_accuracy(notes, model, progress=True)
        result[f"{split}_accuracy"] = scores["accuracy"]
        if split == "test":
            result["test_per_family"] = scores["per_family"]
            result["test_confusion"] = scores["confusion"]
            if confusion_png:
                plot.save_confusion_matrix(
                    confusion_png, scores["confusion"],
                    title=f"{role} classifier, test split (unseen instruments): {scores['accuracy']:.1%}")
        print(f"{role} {split} accuracy: {scores['accuracy']:.3f}", flush=True)
    target = method.default_path(role)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with atomic_path(target, suffix=".keras") as tmp:
        shutil.copyfile(path, tmp)
    write_text(target.replace(".keras", ".json"), json.dumps(result, indent=1))
    print(f"shipped {target} ({os.path.getsize(target) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main(*sys.argv[1:])
