"""Leave one SoundFont out: how well a judge recipe recognises flutes and keyboards of a SoundFont it never heard.

    python benchmarks/judge_loso.py DATA_DIR    # robust recipe: --features robust --augment 1 --hidden 64 --l2 0.0001
    python benchmarks/judge_loso.py DATA_DIR --features timbre --augment 0 --hidden 0 --l2 0.01   # shipped judge's

DATA_DIR is a rendered dataset of both SoundFonts (``soundtransform data
render``; every family, as the judge hears them all).  For each SoundFont, a
judge of the given recipe is trained on every note of the other one (all
splits, all families, plus ``--augment`` recording-like copies of each,
`recording.augment`) and judges the held-out SoundFont's natural flutes and
keyboards, clean and under the recording-like test condition (a small room
and a noise floor 30-40 dB below the peak, `recording.degrade`).  Prints the
table of the shares judged right; ``--json`` also writes them.  Features are
cached in ``--cache``.
"""

import argparse
import json

from soundtransform.evaluate import judge_validation
from soundtransform.fileio import write_text
from soundtransform.timbre_judge import FEATURE_SETS, TimbreJudge

AUGMENT_SEED, TEST_SEED = 1, 2  # the augmented copies and the degraded test notes draw different rooms and noise


def loso(data_dir, cache, features="robust", augment=1, hidden=64, l2=1e-4, seed=1, progress=True):
    """`judge_validation.leave_one_soundfont_out` of one judge recipe; the features computed or read from ``cache``."""
    clean = judge_validation.note_features(data_dir, cache, features, "clean", 0, progress)
    degraded = judge_validation.note_features(data_dir, cache, features, "room-noise", TEST_SEED, progress)
    augmented = judge_validation.note_features(data_dir, cache, features, "augment", AUGMENT_SEED, progress) \
        if augment else None
    return judge_validation.leave_one_soundfont_out(
        lambda: TimbreJudge(l2=l2, features=features, hidden=hidden), clean, {"clean": clean, "room-noise": degraded},
        augmented=augmented, fit_kwargs={"seed": seed}, progress=progress)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--cache", default="runs/judge-features")
    parser.add_argument("--features", choices=tuple(FEATURE_SETS), default="robust")
    parser.add_argument("--augment", type=int, choices=(0, 1), default=1, help="recording-like copies of each note")
    parser.add_argument("--hidden", type=int, default=64, help="hidden units (0: logistic regression)")
    parser.add_argument("--l2", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    result = loso(args.data_dir, args.cache, args.features, args.augment, args.hidden, args.l2, args.seed)
    print(f"judge: {args.features} features, hidden {args.hidden}, l2 {args.l2:g}, augment {args.augment}\n")
    print(judge_validation.table(result))
    if args.json:
        write_text(args.json, json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
