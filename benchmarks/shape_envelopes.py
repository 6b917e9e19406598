"""Reshape each converted note's envelope after the inversion: a faster attack, optionally a steeper decay.

An experiment, not part of `convert` (docs/history.md, "Twenty-sixth
session").  The inversion with the source's phase spreads a note's onset
over the 32-ms analysis window, so converted notes reach their peak 30-40 ms
after the onset where natural keyboards take about 10.  For each note of
each converted file (the notes that `convert.note_bounds` finds in the
unconverted input of the same name), the part before its peak (within its
first 150 ms) is lifted towards a straight rise that reaches the peak after
``--attack-ms``, by at most ``--max-gain-db``; with ``--decay-db D`` the
note then falls D dB more every 150 ms after the peak, for at most 450 ms.
Judge the folder it writes with ``soundtransform evaluate``.

Usage::

    python benchmarks/shape_envelopes.py out/eval-phrases-cgan_flute_to_keyboard_phrases/converted \\
        /work/data/sf2/nsynth-test/phrases out/shaped --attack-ms 10 --max-gain-db 12 --decay-db 3
"""

import argparse
import glob
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

LOOK_SECONDS = 0.15  # the peak is sought this far after a note's start
DECAY_SECONDS = 0.15  # --decay-db is per this much time
DECAY_LIMIT = 3  # ... for at most this many of them
RMS_SAMPLES = 160  # 10-ms level
SMOOTH_SAMPLES = 80  # the gain curve is smoothed over 5 ms


def envelope_gain(y, bounds, sample_rate, attack_ms, max_gain_db, decay_db):
    """The gain curve (one value a sample) that reshapes each note of `y` between `bounds`."""
    y = np.asarray(y, np.float64)
    level = np.sqrt(np.convolve(y ** 2, np.ones(RMS_SAMPLES) / RMS_SAMPLES, "same")) + 1e-9
    gain = np.ones_like(y)
    rise = max(int(attack_ms * sample_rate / 1000), 1)
    for start, end in bounds:
        look = min(end, start + int(LOOK_SECONDS * sample_rate))
        if look - start < 2 * RMS_SAMPLES:
            continue
        peak = start + int(np.argmax(level[start:look]))
        if peak - start > rise:
            wanted = level[peak] * np.clip(np.arange(peak - start) / rise, 0.0, 1.0)
            gain[start:peak] = np.clip(wanted / level[start:peak], 1.0, 10 ** (max_gain_db / 20))
        if decay_db > 0:
            after = np.clip(np.arange(end - peak) / (DECAY_SECONDS * sample_rate), 0.0, DECAY_LIMIT)
            gain[peak:end] *= 10 ** (-decay_db * after / 20)
    return np.convolve(gain, np.ones(SMOOTH_SAMPLES) / SMOOTH_SAMPLES, "same")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("converted", help="folder of converted audio files")
    parser.add_argument("inputs", help="folder of the unconverted inputs, same file names")
    parser.add_argument("out", help="folder for the reshaped files")
    parser.add_argument("--attack-ms", type=float, default=10.0)
    parser.add_argument("--max-gain-db", type=float, default=12.0)
    parser.add_argument("--decay-db", type=float, default=0.0)
    args = parser.parse_args()

    from soundtransform import audio, convert

    paths = sorted(glob.glob(os.path.join(args.converted, "*.wav")))
    if not paths:
        raise SystemExit(f"error: no .wav files in {args.converted}")
    os.makedirs(args.out, exist_ok=True)
    for path in paths:
        name = os.path.basename(path)
        source = os.path.join(args.inputs, name)
        if not os.path.isfile(source):
            raise SystemExit(f"error: no input {name} in {args.inputs}")
        y = audio.load(path)
        gain = envelope_gain(y, convert.note_bounds(audio.load(source)), audio.SAMPLE_RATE,
                             args.attack_ms, args.max_gain_db, args.decay_db)
        audio.save(os.path.join(args.out, name), (y * gain).astype(np.float32))
    print(f"reshaped {len(paths)} files into {args.out}")


if __name__ == "__main__":
    main()
