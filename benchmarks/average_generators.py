"""Export the weighted mean of two exported generators of one architecture (a "model soup").

The averaging itself is `soundtransform.training.average` (a recipe's
``average`` stage uses it too); this script adds the choice of the weight on a
dataset's valid split.  The mean is exported as a new version of ``--name``
under ``--base-dir`` (default ``out/soups``, so nothing shipped is touched),
with the export settings (phase, overlap, input size) of the first model and
both sources recorded.

    python benchmarks/average_generators.py MODEL_A MODEL_B --name NAME [--weight 0.5] [--base-dir DIR]
        [--valid DATA_DIR [--weights 0,0.25,0.5,0.75,1] [--select-notes 128]]

e.g. python benchmarks/average_generators.py cgan_flute_to_keyboard out/models/my_finetune/1 \\
         --name cgan_soup --valid DATA
``--weight`` is the share of MODEL_A (1 gives MODEL_A itself).  With
``--valid DATA_DIR`` each of ``--weights`` is scored instead as training
selects its epochs (`training.selection.validation_waveforms` with ``train_on=both``: up to
``--select-notes`` valid-split notes of the source family and as many
phrase windows, judged by the shipped judges), the table is printed, and the
best weight's mean is exported: the weight is chosen on the valid split's
instruments, never on the test split's.  Prints the exported version folder.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from soundtransform import registry  # noqa: E402
from soundtransform.errors import SoundTransformError  # noqa: E402
from soundtransform.training import average  # noqa: E402


def best_on_valid(mix, weights, root, metadata, select_notes):
    """The weight among ``weights`` whose mix the judges like best on ``root``'s valid split; prints each."""
    from soundtransform.training.selection import SelectByJudge, validation_waveforms

    config = {"train_on": "both", "select_notes": select_notes, "frames": metadata["frames"]}
    waveforms, note_lists = validation_waveforms(root, metadata["source"], config, with_notes=True)
    scorer = SelectByJudge(waveforms, metadata["target"], None, None, None, metadata["freq_bins"],
                           metadata["frames"], phase=metadata.get("phase", "source"), note_lists=note_lists,
                           input_peak_db=metadata.get("input_peak_db"))
    is_note = np.array([n is None for n in note_lists])
    print(f"valid split of {root}: {is_note.sum()} notes, {(~is_note).sum()} phrase windows")
    print("| weight of MODEL_A | notes judged target | windows judged target | all | mean target probability |")
    print("| --- | --- | --- | --- | --- |")
    best = None
    for weight in weights:
        probabilities = scorer.probabilities(mix(weight))
        judged = np.argmax(probabilities, axis=1) == scorer.target_index
        score = (float(np.mean(judged)), float(np.mean(probabilities[:, scorer.target_index])))
        notes = f"{np.mean(judged[is_note]):.1%}" if is_note.any() else "-"
        windows = f"{np.mean(judged[~is_note]):.1%}" if (~is_note).any() else "-"
        print(f"| {weight:g} | {notes} | {windows} | {score[0]:.1%} | {score[1]:.3f} |", flush=True)
        if best is None or score > best[0]:
            best = (score, weight)
    print(f"best: weight {best[1]:g}")
    return best[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_a")
    parser.add_argument("model_b")
    parser.add_argument("--name", required=True)
    parser.add_argument("--weight", type=float, default=0.5, help="share of MODEL_A, in [0, 1]")
    parser.add_argument("--base-dir", default="out/soups")
    parser.add_argument("--valid", metavar="DATA_DIR", help="choose the weight on this dataset's valid split")
    parser.add_argument("--weights", default="0,0.25,0.5,0.75,1", help="the weights --valid scores")
    parser.add_argument("--select-notes", type=int, default=128, help="valid notes (and windows) --valid judges")
    args = parser.parse_args(argv)
    try:
        weights = [float(w) for w in args.weights.split(",")] if args.valid else [args.weight]
    except ValueError:
        parser.error(f"--weights must be numbers separated by commas, not {args.weights!r}")
    for w in weights:
        if not 0.0 <= w <= 1.0:
            parser.error(f"--weight must be in [0, 1], not {w}")
    if args.select_notes < 1:
        parser.error(f"--select-notes must be positive, not {args.select_notes}")
    try:
        models = [registry.find_version(m) for m in (args.model_a, args.model_b)]
        generators = [average.load_generator(m)[0] for m in models]
        average.check_same_architecture(generators, models)
        weight_lists = [g.get_weights() for g in generators]

        def mix(weight):
            generators[0].set_weights(average.weighted_mean(weight_lists, [weight, 1.0 - weight]))
            return generators[0]

        weight = weights[0]
        if args.valid:
            weight = best_on_valid(mix, weights, args.valid, registry.read_metadata(models[0]), args.select_notes)
        version_dir = average.export_average(models, [weight, 1.0 - weight], args.name, base_dir=args.base_dir,
                                             generator=mix(weight))
    except SoundTransformError as e:
        raise SystemExit(f"error: {e}") from None
    print(version_dir)


if __name__ == "__main__":
    main()
