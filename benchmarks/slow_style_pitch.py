"""Slow with a real piano's note as the style, at another pitch than the content, as a user picks one.

Converts N held-out flute notes (test split, pitches spread over the range)
with Slow's default preset, each towards one note of a train-split acoustic
grand (default ``keyboard_acoustic_128``, TimGM6mb's Acoustic Grand) 3 to 12
semitones away from it where the grand has that note (else its nearest), with the style transposed to the content's pitch
(``style_pitch="match"``, the default) and as it is (``"keep"``).  Prints,
for each, the share of outputs within 50 cents of their input's pitch
(`evaluate.pitch`) and the share the shipped judge calls keyboard.

    nice -n 10 python benchmarks/slow_style_pitch.py --data DATA [--notes 12] [--style-instrument NAME]
"""

import argparse
import json
import time

import numpy as np

from soundtransform import audio, data
from soundtransform.evaluate.judges import classify_waveforms, load_judge
from soundtransform.evaluate.pitch import pitch_preservation

OFFSETS = (-7, 5, -12, 9, -3, 12, -5, 7, -9, 3, -10, 10)  # semitones from each flute to its style note


def pairs(root, count, style_instrument):
    """``[(flute note, style note), ...]``: ``count`` test flutes spread over the pitch range, each with the
    style instrument's note nearest to its pitch plus the next offset of `OFFSETS`."""
    flutes = sorted(data.select(data.read_split(root, "test"), families=["flute"]),
                    key=lambda n: (n.pitch, n.instrument_str))
    chosen = [flutes[i] for i in np.linspace(0, len(flutes) - 1, count).astype(int)]
    styles = {n.pitch: n for n in data.read_split(root, "train") if n.instrument_str == style_instrument}
    if not styles:
        raise SystemExit(f"no train-split notes of {style_instrument} in {root}")
    out = []
    for i, note in enumerate(chosen):
        wanted = note.pitch + OFFSETS[i % len(OFFSETS)]
        out.append((note, styles[min(styles, key=lambda p: (abs(p - wanted), p))]))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--notes", type=int, default=12)
    parser.add_argument("--style-instrument", default="keyboard_acoustic_128")
    args = parser.parse_args()
    from soundtransform.methods import slow

    chosen = pairs(args.data, args.notes, args.style_instrument)
    judge = load_judge(None)
    results = {}
    for style_pitch in ("match", "keep"):
        start = time.time()
        inputs = [audio.load(n.path) for n, _ in chosen]
        outputs = [slow.stylize(y, audio.load(s.path), progress=False, style_pitch=style_pitch)
                   for y, (_, s) in zip(inputs, chosen)]
        pitch = pitch_preservation(outputs, inputs)
        families = [data.FAMILIES[i] for i in np.argmax(classify_waveforms(outputs, judge), axis=1)]
        results[style_pitch] = {
            "notes": len(outputs), "within_50_cents": pitch["within_50_cents"],
            "median_abs_cents": pitch["median_abs_cents"],
            "judged_keyboard": float(np.mean([f == "keyboard" for f in families])),
            "seconds": round(time.time() - start, 1)}
        print(style_pitch, json.dumps(results[style_pitch]), flush=True)
    semitones = [abs(s.pitch - n.pitch) for n, s in chosen]
    print(f"style notes {min(semitones)}-{max(semitones)} semitones from their flute (median {np.median(semitones)})")


if __name__ == "__main__":
    main()
