"""Export the weighted mean of two exported generators of one architecture (a "model soup").

Two fine-tunes of the same start often sit in one basin of the loss, so the
mean of their weights can keep some of what each learned.  The mean is
exported as a new version of ``--name`` under ``--base-dir`` (default
``out/soups``, so nothing shipped is touched), with the export settings
(phase, overlap, input size) of the first model and both sources recorded.

    python benchmarks/average_generators.py MODEL_A MODEL_B --name NAME [--weight 0.5] [--base-dir DIR]
        [--valid DATA_DIR [--weights 0,0.25,0.5,0.75,1] [--select-notes 128]]

e.g. python benchmarks/average_generators.py exported_models/cgan_flute_to_keyboard/6 \\
         exported_models/cgan_flute_to_keyboard_notes/1 \\
         --name cgan_soup --base-dir out/soups
``--weight`` is the share of MODEL_A (1 gives MODEL_A itself).  With
``--valid DATA_DIR`` each of ``--weights`` is scored instead as training
selects its epochs (`cgan.validation_waveforms` with ``train_on=both``: up to
``--select-notes`` valid-split notes of the source family and as many
phrase windows, judged by the shipped judges), the table is printed, and the
best weight's mean is exported: the weight is chosen on the valid split's
instruments, never on the test split's.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from soundtransform import export  # noqa: E402
from soundtransform.errors import SoundTransformError  # noqa: E402


def exported_generator(model):
    """The version folder, generator and metadata of an exported model name or folder."""
    version_dir = export.find_version(model)
    path = os.path.join(version_dir, "assets", export.GENERATOR_ASSET)
    if not os.path.isfile(path):
        raise SystemExit(f"error: {version_dir} was exported without its generator ({export.GENERATOR_ASSET})")
    return version_dir, export.load_generator(path), export.read_metadata(version_dir)


def shown(path):
    """``path`` relative to the working folder when it lies inside it (no machine's paths in metadata)."""
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative


def best_on_valid(mix, weights, root, metadata, select_notes):
    """The weight among ``weights`` whose mix the judges like best on ``root``'s valid split; prints each."""
    from soundtransform.callbacks import SelectByJudge
    from soundtransform.methods import cgan

    config = {"train_on": "both", "select_notes": select_notes, "frames": metadata["frames"],
              "source_instruments": "all"}
    waveforms, note_lists = cgan.validation_waveforms(root, metadata["source"], config, with_notes=True)
    scorer = SelectByJudge(waveforms, metadata["target"], None, None, None, metadata["freq_bins"],
                           metadata["frames"], phase=metadata.get("phase", "source"), note_lists=note_lists)
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
        dir_a, gen_a, meta_a = exported_generator(args.model_a)
        dir_b, gen_b, _ = exported_generator(args.model_b)
    except SoundTransformError as e:
        raise SystemExit(f"error: {e}") from None
    shapes_a = [tuple(w.shape) for w in gen_a.weights]
    if shapes_a != [tuple(w.shape) for w in gen_b.weights]:
        raise SystemExit(f"error: {dir_a} and {dir_b} are different architectures; only the same one can be averaged")
    weights_a, weights_b = gen_a.get_weights(), gen_b.get_weights()

    def mix(weight):
        gen_a.set_weights([weight * a + (1.0 - weight) * b for a, b in zip(weights_a, weights_b)])
        return gen_a

    weight = weights[0]
    if args.valid:
        try:
            weight = best_on_valid(mix, weights, args.valid, meta_a, args.select_notes)
        except SoundTransformError as e:
            raise SystemExit(f"error: {e}") from None
    mix(weight)
    keep = ("method", "source", "target", "preset", "freq_bins", "frames", "config", "training_data")
    metadata = {k: meta_a[k] for k in keep if k in meta_a}
    metadata["averaged_from"] = {shown(dir_a): weight, shown(dir_b): 1.0 - weight}
    version_dir = export.export_generator(
        gen_a, args.name, metadata, base_dir=args.base_dir, phase=meta_a.get("phase", "source"),
        n_iter=meta_a.get("n_iter", 32), overlap=meta_a.get("overlap"),
        upper_bins=meta_a.get("upper_bins", export.DEFAULT_UPPER_BINS),
        input_peak_db=meta_a.get("input_peak_db", export.DEFAULT_INPUT_PEAK_DB))
    print(version_dir)


if __name__ == "__main__":
    main()
