"""Where phrase windows miss: the phrase judge note by note, by note length, and each note's attack.

`evaluate` judges a phrase window by its notes' segments (onset to the next
onset), weighted by their lengths.  This prints, for folders of phrases
(converted ones, or natural ones for comparison), the share of single note
segments judged as the target family by length, what the rest were called,
and the attack of the notes of 0.15-0.5 s: the time from the onset to the
loudest 10-ms frame, and the level 150 ms after it.  Notes come from the
phrase JSON of the same name in ``--phrases`` (a folder of the dataset).

Usage::

    python benchmarks/phrase_notes.py out/eval-phrases-cgan_flute_to_keyboard/converted \
        --phrases /work/data/sf2/nsynth-test/phrases
"""

import argparse
import collections
import glob
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

LENGTHS = ((0.0, 0.3), (0.3, 0.5), (0.5, 0.8), (0.8, 1.5), (1.5, float("inf")))  # s
FRAME = 160  # samples: 10-ms frames for the attack
STEP = 80


def attack(y, onset, offset, sample_rate):
    """(ms from the onset to the loudest frame, dB 150 ms after it re that frame) of one note."""
    lead = int(0.05 * sample_rate)
    a, b = int(onset * sample_rate), int(offset * sample_rate)
    piece = np.asarray(y[max(a - lead, 0):b], np.float64)
    rms = np.sqrt(np.convolve(piece ** 2, np.ones(FRAME) / FRAME, "valid")[::STEP]) + 1e-9
    db = 20.0 * np.log10(rms / rms.max())
    k = int(np.argmax(db))
    later = db[min(len(db) - 1, k + int(0.15 * sample_rate / STEP))]
    return (k * STEP - min(a, lead)) * 1000.0 / sample_rate, later


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="folders of phrase audio files")
    parser.add_argument("--phrases", required=True, help="the dataset's phrases folder with the JSON of each")
    parser.add_argument("--target", default="keyboard")
    args = parser.parse_args()

    from soundtransform import audio, evaluate, phrases, timbre_judge

    judge = evaluate.load_phrase_judge()
    for folder in args.folders:
        verdicts, lengths, attacks = [], [], []
        for path in sorted(glob.glob(os.path.join(folder, "*.wav"))):
            notes = phrases.notes_beside(os.path.join(args.phrases, os.path.basename(path)))
            if not notes:
                raise SystemExit(f"error: no phrase JSON for {os.path.basename(path)} in {args.phrases}")
            y = audio.load(path)
            segments = timbre_judge.note_segments(y.size, notes, 0, y.size)
            probabilities = judge.probabilities(timbre_judge.segment_features([y[a:b] for a, b in segments]))
            verdicts += [judge.families[i] for i in np.argmax(probabilities, axis=1)]
            lengths += [(b - a) / audio.SAMPLE_RATE for a, b in segments]
            attacks += [attack(y, n["onset"], n["offset"], audio.SAMPLE_RATE) for n in notes
                        if 0.15 <= n["offset"] - n["onset"] <= 0.5]
        if not verdicts:
            raise SystemExit(f"error: no audio files in {folder}")
        hits, lengths = np.array([v == args.target for v in verdicts]), np.array(lengths)
        by_length = []
        for lo, hi in LENGTHS:
            mask = (lengths >= lo) & (lengths < hi)
            by_length.append(f"{lo:g}-{hi:g} s {hits[mask].sum()}/{mask.sum()}")
        rest = collections.Counter(v for v in verdicts if v != args.target)
        times, levels = np.array(attacks).T if attacks else (np.zeros(1), np.zeros(1))
        print(f"{folder}: {100 * hits.mean():.1f} % of {len(hits)} notes judged {args.target}; "
              + ", ".join(by_length) + "; the rest: " + ", ".join(f"{k} {n}" for k, n in rest.most_common(4))
              + f"; attack of {len(attacks)} notes of 0.15-0.5 s: {np.median(times):.0f} ms to the peak, "
              f"{np.median(levels):.1f} dB 150 ms later (medians)")


if __name__ == "__main__":
    main()
