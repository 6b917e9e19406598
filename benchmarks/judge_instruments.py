"""How often the shipped judge calls each instrument's own natural notes by their family.

The ceiling of a model that imitates one instrument note for note (Faster's
``target_instruments``, the cgan's chosen target) is the share of that
instrument's own notes the judge recognises.  Prints, per instrument of a
family in a split, the share judged as the family, what the rest were
called, and the same per octave (MIDI 48-59 is octave 3).

Usage::

    python benchmarks/judge_instruments.py --data DATA [--split train] [--family keyboard]
"""

import argparse
import collections
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="an NSynth-layout dataset folder")
    parser.add_argument("--split", default="train", choices=["train", "valid", "test"])
    parser.add_argument("--family", default="keyboard")
    args = parser.parse_args()

    from soundtransform import audio, data, evaluate

    notes = data.select(data.read_split(args.data, args.split), families=[args.family])
    if not notes:
        raise SystemExit(f"error: no {args.family} notes in split {args.split!r} of {args.data}")
    judge = evaluate.load_judge()
    by_instrument = collections.defaultdict(list)
    for note in notes:
        by_instrument[note.instrument_str].append(note)
    print(f"| {args.family} instrument ({args.split}) | notes | judged {args.family} | the rest | by octave |")
    print("| --- | --- | --- | --- | --- |")
    for name in sorted(by_instrument):
        group = sorted(by_instrument[name], key=lambda n: (n.pitch, n.velocity))
        probabilities = judge.classify([audio.load(n.path) for n in group])
        called = [judge.families[i] for i in probabilities.argmax(axis=1)]
        hits = sum(c == args.family for c in called)
        rest = collections.Counter(c for c in called if c != args.family)
        octaves = collections.defaultdict(lambda: [0, 0])
        for note, c in zip(group, called):
            octaves[note.pitch // 12 - 1][0] += c == args.family
            octaves[note.pitch // 12 - 1][1] += 1
        print(f"| {name} | {len(group)} | {100 * hits / len(group):.1f} % | "
              f"{', '.join(f'{k} {v}' for k, v in rest.most_common()) or '-'} | "
              f"{' '.join(f'{o}: {a}/{b}' for o, (a, b) in sorted(octaves.items()))} |")


if __name__ == "__main__":
    main()
