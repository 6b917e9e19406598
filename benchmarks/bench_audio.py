"""Audio front-end figures (docs/experiments.md, "Data and audio front end"): render speed, round trip, Griffin-Lim.

Usage: python benchmarks/bench_audio.py [--data DIR]

Renders a few notes itself (FluidSynth) unless --data names an NSynth-layout
dataset, then measures on 20 test-split flute and keyboard notes and prints:
- render speed (x real time, including WAV writing; without --data only),
- source-phase round-trip SNR (dB),
- Griffin-Lim spectral convergence and time for 32 iterations on 4 s,
  in TensorFlow (tf.function) and, for comparison, librosa.
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from soundtransform import audio, data, render  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="existing NSynth-layout dataset")
    args = parser.parse_args()
    root = args.data
    if root is None:
        root = tempfile.mkdtemp()
        report = render.render_dataset(root, families=["flute", "keyboard", "reed", "string"],
                                       pitches=range(48, 85, 3), velocities=(100,), progress=False)
        print(f"render: {report['notes']} notes, {report['realtime_factor']:.0f}x real time")
    notes = data.select(data.read_split(root, "test"), families=["flute", "keyboard"])[:20]
    gl = tf.function(lambda m: audio.griffin_lim(m, audio.frames_to_samples(251), n_iter=32))
    snrs, conv, t_tf, t_lr = [], [], [], []
    for note in notes:
        y = audio.load(note.path)
        image, phase = audio.waveform_to_image(y)
        y2 = audio.image_to_waveform(image, len(y), phase="source", source_phase=phase).numpy()
        snrs.append(audio.snr_db(y, y2))
        mag = audio.image_to_magnitude(image)
        gl(mag)  # trace
        t0 = time.perf_counter()
        yg = gl(mag).numpy()
        t_tf.append(time.perf_counter() - t0)
        conv.append(audio.spectral_convergence(mag, yg))
        S = mag.numpy().T / (4.0 / audio.N_FFT)
        t0 = time.perf_counter()
        librosa.griffinlim(S, n_iter=32, hop_length=audio.HOP_LENGTH, n_fft=audio.N_FFT)
        t_lr.append(time.perf_counter() - t0)
    print(f"notes measured: {len(notes)} (test split, flute + keyboard)")
    print(f"source-phase round trip SNR: min {min(snrs):.1f} dB, median {np.median(snrs):.1f} dB")
    print(f"Griffin-Lim 32 iterations, 4 s: spectral convergence median {np.median(conv):.3f}, "
          f"max {max(conv):.3f}; TensorFlow {1000 * np.median(t_tf):.0f} ms, librosa {1000 * np.median(t_lr):.0f} ms")


if __name__ == "__main__":
    main()
