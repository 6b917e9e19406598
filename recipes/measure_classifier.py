"""Measure an exported VGG-19 classifier on the test split and add the figures to its JSON.

    python recipes/measure_classifier.py CLASSIFIER.keras DATA_DIR [--training-seconds S] [--confusion PNG]

e.g. python recipes/measure_classifier.py exported_models/classifiers/perceptual.keras data \\
         --confusion docs/confusion_matrix.png

The test split's instruments are heard by no classifier in training.  Every test
note is judged whole, its windows averaged as `evaluate.classify_waveforms`
does.  ``CLASSIFIER.json`` beside the classifier (written by ``soundtransform
train --recipe``) keeps what it holds and gains: input size ``[freq_bins,
frames]``, width, dense units, parameters, test accuracy, per-family test
accuracy, the confusion matrix (``[11, 11]`` counts, rows the true family,
columns the predicted) and, if given, the training time in seconds.  Prints the
test accuracy.
"""

import argparse
import json
import os

from soundtransform import data, evaluate, plot
from soundtransform.fileio import write_text
from soundtransform.methods import classifier as method


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("classifier", help="an exported .keras classifier; its .json lies beside it")
    parser.add_argument("data_dir", help="an NSynth-layout dataset with a test split")
    parser.add_argument("--training-seconds", type=float, default=None, help="recorded as training_seconds")
    parser.add_argument("--confusion", default=None, metavar="PNG", help="also draw the confusion matrix here")
    args = parser.parse_args()

    model = method.load_classifier(args.classifier)
    json_path = os.path.splitext(args.classifier)[0] + ".json"
    result = {}
    if os.path.isfile(json_path):
        with open(json_path) as f:
            result = json.load(f)
    scores = evaluate.family_accuracy(data.read_split(args.data_dir, "test"), model, progress=True)
    result.update({
        "input_size": list(model.spectrogram_shape[:2]),
        "width": model.width,
        "dense_units": model.dense_units,
        "parameters": int(model.count_params()),
        "test_accuracy": scores["accuracy"],
        "test_per_family": scores["per_family"],
        "test_confusion": scores["confusion"],
    })
    if args.training_seconds is not None:
        result["training_seconds"] = args.training_seconds
    role = result.get("role", os.path.splitext(os.path.basename(args.classifier))[0])
    if args.confusion:
        os.makedirs(os.path.dirname(os.path.abspath(args.confusion)), exist_ok=True)
        plot.save_confusion_matrix(
            args.confusion, scores["confusion"],
            title=f"{role} classifier, test split (unseen instruments): {scores['accuracy']:.1%}")
    write_text(json_path, json.dumps(result, indent=1) + "\n")
    print(f"{role} test accuracy {scores['accuracy']:.3f}; wrote {json_path}")


if __name__ == "__main__":
    main()
