"""How often the judge calls a model's conversions of one split the target family, judge only.

`evaluate_model.sh` and `evaluate_phrases.sh` measure the held-out test
split with every figure.  This asks narrower questions fast, on any split:

- does a model fit its own *training* sounds (``--split train``), or does it
  lose the target only on unseen instruments?
- which level should inputs be converted at (``--levels``, each one the
  export's ``input_peak_db``), and does the mean of the outputs converted at
  several levels help (``--mean``)?
- does another inversion help (``--phase griffin-lim``)?

Notes are judged whole by the shipped judge, phrase windows (``--phrases N``:
the first N melodies of each source instrument) note by note by the shipped
phrase judge, as `soundtransform evaluate` does.  Prints one line per level
(and per mean): the share judged target, by velocity (notes) and by
instrument.

Usage::

    python benchmarks/judge_conversions.py cyclegan_flute_to_keyboard --data DATA --split train \
        --levels=-22,-19,-16 --mean=-22,-16
    python benchmarks/judge_conversions.py cgan_flute_to_keyboard --data DATA --split train --phrases 16
"""

import argparse
import collections
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def converters(model, levels, phase=None):
    """``{label: Converter}``: the model as exported, or rebuilt from its generator at each level
    (and with ``phase``, the inversion, if given)."""
    from soundtransform import convert, export, registry

    if not levels and phase is None:
        return {"as exported": convert.load_model(model)}
    path, settings = model, {}
    if not (os.path.isfile(model) or os.path.isfile(os.path.join(model, "config.json"))):
        version_dir = registry.find_version(model)
        metadata = registry.read_metadata(version_dir)
        import tempfile

        from soundtransform.training import runs

        # The export's generator as a .keras file, to wrap in the pipeline with other settings.
        path = os.path.join(tempfile.mkdtemp(), "generator.keras")
        runs.load_exported_generator(version_dir).save(path)
        settings = {k: metadata[k] for k in export.EXPORT_SETTINGS if k in metadata}
    if phase is not None:
        settings["phase"] = phase
    if not levels:
        return {f"phase {settings['phase']}": convert.load_model(path, **settings)}
    settings.pop("input_peak_db", None)
    return {f"level {level:g}": convert.load_model(path, **settings, input_peak_db=level) for level in levels}


def judged(waveforms, target, note_lists=None):
    """For each waveform, the judge's verdicts: one for a note, one per 2-s window for a phrase."""
    from soundtransform import audio, data, evaluate, phrases

    waveforms = [audio.as_written(y) for y in waveforms]
    if note_lists is None:
        return [[data.FAMILIES[i]] for i in np.argmax(evaluate.classify_waveforms(waveforms), axis=1)]
    judge = evaluate.load_phrase_judge()
    return evaluate.window_consistency(waveforms, target, judge, note_lists=note_lists)["predicted"]


def summary(label, verdicts, groups, target):
    """One line: the share judged target, then by each grouping (``{name: [group of each item]}``)."""
    hits = [[v == target for v in each] for each in verdicts]
    total = sum(map(len, hits))
    line = f"{label}: {100 * sum(map(sum, hits)) / total:5.1f} % of {total} judged {target}"
    for name, keys in groups.items():
        by = collections.defaultdict(lambda: [0, 0])
        for key, each in zip(keys, hits):
            by[key][0] += sum(each)
            by[key][1] += len(each)
        line += f"; {name} " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in sorted(by.items()))
    missed = collections.Counter(v for each in verdicts for v in each if v != target)
    return line + "; the rest: " + (", ".join(f"{k} {n}" for k, n in missed.most_common(4)) or "-")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an exported model's name or NAME/VERSION folder, a .keras generator "
                                      "or a run folder")
    parser.add_argument("--data", required=True, help="an NSynth-layout dataset folder")
    parser.add_argument("--split", default="train", choices=["train", "valid", "test"])
    parser.add_argument("--source", default="flute")
    parser.add_argument("--target", default="keyboard")
    parser.add_argument("--levels", default="", help="comma-separated input peak levels, dBFS, written --levels=-19,-13 (default: the "
                                                      "model's own setting)")
    parser.add_argument("--mean", action="append", default=[],
                        help="comma-separated levels (of --levels) whose outputs are averaged, written --mean=-19,-13; "
                             "repeatable")
    parser.add_argument("--phase", choices=["source", "griffin-lim"], default=None,
                        help="invert with this phase instead of the model's own setting")
    parser.add_argument("--phrases", type=int, default=0, metavar="N",
                        help="judge the windows of the first N phrases of each instrument instead of notes")
    args = parser.parse_args()

    from soundtransform import audio, data, phrases
    from soundtransform.errors import SoundTransformError

    try:
        levels = [float(x) for x in args.levels.split(",") if x.strip()]
        means = [[float(x) for x in m.split(",")] for m in args.mean]
    except ValueError:
        raise SystemExit("error: --levels and --mean take comma-separated numbers, e.g. -19,-13") from None
    if any(level not in levels for m in means for level in m):
        raise SystemExit("error: every level of --mean must be one of --levels")
    if args.phrases:
        by_instrument = collections.defaultdict(list)
        for phrase in phrases.read_phrases(args.data, args.split, families=[args.source]):
            by_instrument[phrase.instrument_str].append(phrase)
        chosen = [p for name in sorted(by_instrument) for p in by_instrument[name][:args.phrases]]
        paths, note_lists = [p.path for p in chosen], [p.notes for p in chosen]
        groups = {"by instrument": [p.instrument_str[-3:] for p in chosen]}
    else:
        notes = sorted(data.select(data.read_split(args.data, args.split), families=[args.source]),
                       key=lambda n: n.note_str)
        paths, note_lists = [n.path for n in notes], None
        groups = {"by velocity": [n.velocity for n in notes],
                  "by instrument": [n.instrument_str[-3:] for n in notes]}
    if not paths:
        raise SystemExit(f"error: no {args.source} {'phrases' if args.phrases else 'notes'} in split "
                         f"{args.split!r} of {args.data}")
    try:
        inputs = [audio.load(p) for p in paths]
        outputs = {}
        for label, converter in converters(args.model, levels, args.phase).items():
            outputs[label] = [converter.convert(y) for y in inputs]
            print(summary(label, judged(outputs[label], args.target, note_lists), groups, args.target),
                  flush=True)
        for m in means:
            mean = [np.mean(each, axis=0) for each in zip(*(outputs[f"level {level:g}"] for level in m))]
            label = "mean of levels " + ", ".join(f"{level:g}" for level in m)
            print(summary(label, judged(mean, args.target, note_lists), groups, args.target), flush=True)
    except SoundTransformError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
