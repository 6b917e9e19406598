"""Which phase to invert a time-aligned translation with: the source's, or Griffin-Lim's?

A perfect cGAN/CycleGAN output for a flute note is the magnitude of the paired
keyboard note (same pitch and velocity).  This inverts that ideal magnitude,
cut to the generator's ``freq_bins`` rows (rows above silent, as exported),
with (a) the flute's own phase, (b) 32 fast Griffin-Lim iterations from zero
phase, (c) 32 iterations started from the flute's phase, and reports the
spectral convergence ``||S - |STFT(y)|||_F / ||S||_F`` of each (lower is better).

Usage::

    nice -n 10 python benchmarks/bench_gan_phase.py --data /work/data/sf --notes 16
"""

import argparse
import json

import numpy as np
import tensorflow as tf

from soundtransform import audio, data
from soundtransform.training.pairing import family_notes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--source", default="flute")
    parser.add_argument("--target", default="keyboard")
    parser.add_argument("--notes", type=int, default=16)
    parser.add_argument("--freq-bins", type=int, default=128)
    parser.add_argument("--frames", type=int, default=256)
    args = parser.parse_args()

    targets = family_notes(args.data, "train", args.target, "one")
    sources = family_notes(args.data, "valid", args.source)
    pairs = data.pair_notes(sources, targets)
    pairs = [pairs[i] for i in np.linspace(0, len(pairs) - 1, args.notes).astype(int)]
    samples = audio.frames_to_samples(args.frames)
    scores = {"source phase": [], "griffin-lim (zero init)": [], "griffin-lim (source init)": []}
    for s, t in pairs:
        x = audio.fit_length(audio.load(s.path), samples)
        y = audio.fit_length(audio.load(t.path), samples)
        _, source_phase = audio.waveform_to_image(x)
        image, _ = audio.waveform_to_image(y, args.freq_bins)
        ideal = audio.image_to_magnitude(image)  # rows above freq_bins silent
        for name, kwargs in (("source phase", dict(phase="source", source_phase=source_phase)),
                             ("griffin-lim (zero init)", dict(phase="griffin-lim")),
                             ("griffin-lim (source init)", dict(phase="griffin-lim", source_phase=source_phase))):
            wave = audio.image_to_waveform(image, samples, **kwargs)
            scores[name].append(audio.spectral_convergence(ideal, wave))
    print(json.dumps({"pairs": len(pairs), "freq_bins": args.freq_bins, "frames": args.frames,
                      "spectral_convergence_mean": {k: round(float(np.mean(v)), 3) for k, v in scores.items()}},
                     indent=1))


if __name__ == "__main__":
    tf.get_logger().setLevel("ERROR")
    main()
