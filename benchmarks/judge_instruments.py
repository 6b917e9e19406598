"""How often the judge recognises each instrument of a family, split by split.

A translation model trained on one target instrument can at best be judged
as often as that instrument's own notes are, so this table is how the cgan's
target instrument was chosen (README, "Results on held-out instruments").

    python benchmarks/judge_instruments.py /work/data/sf [--family keyboard] [--judge PATH]
"""

import argparse
import collections

import numpy as np

from soundtransform import audio, data, evaluate


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", help="NSynth-layout dataset")
    parser.add_argument("--family", default="keyboard")
    parser.add_argument("--judge", default=None, help="judge .keras [default: the shipped one]")
    args = parser.parse_args()
    judge = evaluate.load_judge(args.judge)
    index = data.FAMILIES.index(args.family)
    print(f"| split | instrument | notes | judged {args.family} | most common other answer |")
    print("| --- | --- | --- | --- | --- |")
    for split in data.SPLITS:
        by_instrument = collections.defaultdict(list)
        for note in data.select(data.read_split(args.data, split), families=[args.family]):
            by_instrument[note.instrument_str].append(note)
        for name, notes in sorted(by_instrument.items()):
            answers = np.argmax(evaluate.classify_waveforms([audio.load(n.path) for n in notes], judge), axis=1)
            others = collections.Counter(data.FAMILIES[a] for a in answers if a != index).most_common(1)
            other = f"{others[0][0]} ({others[0][1]})" if others else "-"
            print(f"| {split} | {name} | {len(notes)} | {100 * np.mean(answers == index):.1f} % | {other} |",
                  flush=True)


if __name__ == "__main__":
    main()
