"""How often the judge recognises each instrument of a family, split by split.

A translation model trained on one target instrument can at best be judged
as often as that instrument's own notes are, so this table is how the cgan's
target instrument was chosen (README, "Results on held-out instruments").
``--by-pitch`` adds the share in each band of six semitones: the judge's
ceiling for a translation of a note at that pitch.

    python benchmarks/judge_instruments.py /work/data/sf [--family keyboard] [--judge PATH]
        [--split train] [--instruments keyboard_acoustic_002,...] [--by-pitch]
"""

import argparse
import collections

import numpy as np

from soundtransform import audio, data, evaluate

BAND = 6  # semitones a pitch band spans in --by-pitch


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", help="NSynth-layout dataset")
    parser.add_argument("--family", default="keyboard")
    parser.add_argument("--judge", default=None, help="judge .keras [default: the shipped one]")
    parser.add_argument("--split", choices=data.SPLITS, action="append",
                        help="only this split (repeatable) [default: every split]")
    parser.add_argument("--instruments", default=None, help="comma-separated instrument names [default: all]")
    parser.add_argument("--by-pitch", action="store_true", help=f"add the share per band of {BAND} semitones")
    args = parser.parse_args()
    judge = evaluate.load_judge(args.judge)
    index = data.FAMILIES.index(args.family)
    wanted = set(args.instruments.split(",")) if args.instruments else None
    tables = {}  # split -> instrument -> notes, read before anything is judged
    for split in args.split or data.SPLITS:
        tables[split] = collections.defaultdict(list)
        for note in data.select(data.read_split(args.data, split), families=[args.family]):
            if wanted is None or note.instrument_str in wanted:
                tables[split][note.instrument_str].append(note)
    missing = (wanted or set()) - {name for by_instrument in tables.values() for name in by_instrument}
    if missing:
        parser.error(f"no {args.family} notes of {', '.join(sorted(missing))} in {args.data}")
    print(f"| split | instrument | notes | judged {args.family} | most common other answer |"
          + (" by pitch band (MIDI from: share, notes) |" if args.by_pitch else ""))
    print("| --- | --- | --- | --- | --- |" + (" --- |" if args.by_pitch else ""))
    for split, by_instrument in tables.items():
        for name, notes in sorted(by_instrument.items()):
            answers = np.argmax(evaluate.classify_waveforms([audio.load(n.path) for n in notes], judge), axis=1)
            others = collections.Counter(data.FAMILIES[a] for a in answers if a != index).most_common(1)
            other = f"{others[0][0]} ({others[0][1]})" if others else "-"
            row = f"| {split} | {name} | {len(notes)} | {100 * np.mean(answers == index):.1f} % | {other} |"
            if args.by_pitch:
                bands = collections.defaultdict(list)
                for note, answer in zip(notes, answers):
                    bands[note.pitch // BAND * BAND].append(answer == index)
                row += " " + ", ".join(f"{low}: {100 * np.mean(hits):.0f} % ({len(hits)})"
                                       for low, hits in sorted(bands.items())) + " |"
            print(row, flush=True)

if __name__ == "__main__":
    main()
