"""What the inversion costs a perfect conversion: natural target phrases resynthesised with another phase.

Every time-aligned export reuses the input's phase (``phase="source"``).  A
perfect flute -> keyboard model would output the keyboard's magnitudes of
the same melody; this resynthesises the natural test keyboard phrases from
their own magnitudes with (a) the phase of the flute playing the same
melody, (b) Griffin-Lim from random phases, and judges the phrase windows of
each as `evaluate` does (shipped phrase judge, note by note, 2-s windows).
Every third melody of the first 16, each keyboard with each flute.

Usage::

    python benchmarks/phase_oracle.py --data /work/data/sf2
"""

import argparse
import collections
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="an NSynth-layout dataset folder with test phrases")
    parser.add_argument("--source", default="flute")
    parser.add_argument("--target", default="keyboard")
    parser.add_argument("--iterations", default="32,100", help="Griffin-Lim iteration counts, comma-separated")
    args = parser.parse_args()

    import librosa

    from soundtransform import audio, evaluate, phrases

    by = collections.defaultdict(dict)
    for phrase in phrases.read_phrases(args.data, "test", families=[args.source, args.target]):
        by[phrase.family][(phrase.instrument_str, phrase.melody)] = phrase
    melodies = sorted({m for _, m in by[args.target]})[:16:3]
    pairs = [(t, s) for t in sorted(by[args.target].values(), key=lambda p: p.path) if t.melody in melodies
             for s in sorted(by[args.source].values(), key=lambda p: p.path) if s.melody == t.melody]
    if not pairs:
        raise SystemExit(f"error: no test phrases of both {args.source} and {args.target} in {args.data}")
    iterations = [int(n) for n in args.iterations.split(",") if n.strip()]
    outputs = collections.defaultdict(list)
    stft = dict(n_fft=audio.N_FFT, hop_length=audio.HOP_LENGTH)
    for target, source in pairs:
        t, s = audio.load(target.path), audio.load(source.path)
        n = min(t.size, s.size)
        t, s = t[:n], s[:n]
        magnitude = np.abs(librosa.stft(t, **stft))
        outputs["natural"].append(t)
        outputs[f"{args.source}'s phase"].append(
            librosa.istft(magnitude * np.exp(1j * np.angle(librosa.stft(s, **stft))), length=n,
                          hop_length=audio.HOP_LENGTH))
        for k in iterations:
            outputs[f"Griffin-Lim {k}, random start"].append(
                librosa.griffinlim(magnitude, n_iter=k, length=n, random_state=0, **stft))
    judge = evaluate.load_phrase_judge()
    notes = [target.notes for target, _ in pairs]
    for name, waveforms in outputs.items():
        result = evaluate.window_consistency([audio.as_written(y) for y in waveforms], args.target, judge,
                                             note_lists=notes)
        print(f"{args.target} magnitudes, {name}: {100 * result['as_target']:.1f} % of {result['windows']} "
              f"windows judged {args.target}")


if __name__ == "__main__":
    main()
