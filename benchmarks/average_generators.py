"""Export the weighted mean of two exported generators of one architecture (a "model soup").

Two fine-tunes of the same start often sit in one basin of the loss, so the
mean of their weights can keep some of what each learned.  The mean is
exported as a new version of ``--name`` under ``--base-dir`` (default
``out/soups``, so nothing shipped is touched), with the export settings
(phase, overlap, input size) of the first model and both sources recorded.

    python benchmarks/average_generators.py MODEL_A MODEL_B --name NAME [--weight 0.5] [--base-dir DIR]

e.g. python benchmarks/average_generators.py exported_models/cgan_flute_to_keyboard/6 \\
         exported_models/cgan_flute_to_keyboard_notes/1 \\
         --name cgan_soup --base-dir out/soups
``--weight`` is the share of MODEL_A (1 gives MODEL_A itself).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from soundtransform import export  # noqa: E402
from soundtransform.errors import SoundTransformError  # noqa: E402


def exported_generator(model):
    """The version folder, generator and metadata of an exported model name or folder."""
    version_dir = export.find_version(model)
    path = os.path.join(version_dir, "assets", export.GENERATOR_ASSET)
    if not os.path.isfile(path):
        raise SystemExit(f"error: {version_dir} was exported without its generator ({export.GENERATOR_ASSET})")
    with open(os.path.join(version_dir, "assets", "soundtransform.json"), encoding="utf-8") as f:
        return version_dir, export.load_generator(path), json.load(f)


def shown(path):
    """``path`` relative to the working folder when it lies inside it (no machine's paths in metadata)."""
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_a")
    parser.add_argument("model_b")
    parser.add_argument("--name", required=True)
    parser.add_argument("--weight", type=float, default=0.5, help="share of MODEL_A, in [0, 1]")
    parser.add_argument("--base-dir", default="out/soups")
    args = parser.parse_args(argv)
    if not 0.0 <= args.weight <= 1.0:
        parser.error(f"--weight must be in [0, 1], not {args.weight}")
    try:
        dir_a, gen_a, meta_a = exported_generator(args.model_a)
        dir_b, gen_b, meta_b = exported_generator(args.model_b)
    except SoundTransformError as e:
        raise SystemExit(f"error: {e}") from None
    shapes_a = [tuple(w.shape) for w in gen_a.weights]
    if shapes_a != [tuple(w.shape) for w in gen_b.weights]:
        raise SystemExit(f"error: {dir_a} and {dir_b} are different architectures; only the same one can be averaged")
    gen_a.set_weights([args.weight * a + (1.0 - args.weight) * b
                       for a, b in zip(gen_a.get_weights(), gen_b.get_weights())])
    keep = ("method", "source", "target", "preset", "freq_bins", "frames", "config", "training_data")
    metadata = {k: meta_a[k] for k in keep if k in meta_a}
    metadata["averaged_from"] = {shown(dir_a): args.weight, shown(dir_b): 1.0 - args.weight}
    version_dir = export.export_generator(
        gen_a, args.name, metadata, base_dir=args.base_dir, phase=meta_a.get("phase", "source"),
        n_iter=meta_a.get("n_iter", 32), overlap=meta_a.get("overlap"),
        upper_bins=meta_a.get("upper_bins", export.DEFAULT_UPPER_BINS))
    print(version_dir)


if __name__ == "__main__":
    main()
