"""The README's results table from `soundtransform evaluate` reports.

    python benchmarks/results_table.py "LABEL=REPORT_DIR[:MODEL[:PHRASES_DIR]]" ...

Each argument is one row: a label, the folder of an evaluate report
(``report.json``), optionally an exported model (name or path; its size is
read from its newest version, or the version the path names; empty for none;
``slow`` for Slow, sized by its perceptual classifier), and optionally the
output folder of ``benchmarks/evaluate_phrases.sh`` for the same model (with
no model, ``LABEL=REPORT_DIR::PHRASES_DIR``: that folder's unconverted
inputs, the baseline row).  Prints a Markdown table: share judged target,
share judged source, pitch within 50 cents, median pitch error, log-spectral
distance to the nearest natural target note, share of 2-s phrase windows
judged target, phrase notes within 50 cents, model size, and the seconds
``soundtransform convert`` took for the notes and for the phrases
(``convert_seconds``, written by the evaluate scripts beside ``report/``).

The reports come from ``benchmarks/evaluate_model.sh MODEL`` (a shipped
model on the held-out test flutes, ``OUT/report``), ``evaluate_phrases.sh``
(its phrases, ``OUT``) and ``benchmarks/evaluate_baseline.sh`` (the
unconverted input).
"""

import json
import os
import sys

from soundtransform import registry


def _pct(value):
    return "-" if value is None else f"{100 * value:.1f} %"


def _model_size(model):
    if not model:
        return "-"
    if model == "slow":  # no model of its own: the perceptual classifier it optimises against
        classifier = os.path.join(registry.models_dir(), "classifiers", "perceptual.keras")
        return f"{os.path.getsize(classifier) / 1e6:.1f} MB (its classifier)"
    path = model if os.path.isdir(model) else os.path.join(registry.models_dir(), model)
    versions = sorted((int(v) for v in os.listdir(path) if v.isdigit()), reverse=True) if os.path.isdir(path) else []
    if versions:
        path = os.path.join(path, str(versions[0]))
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
    return f"{total / 1e6:.1f} MB"


def _report(folder):
    """The ``report.json`` of an evaluate report folder, or a one-line error."""
    path = os.path.join(folder, "report.json")
    if not os.path.isfile(path):
        raise SystemExit(f"error: no report.json in {folder}; run soundtransform evaluate (or an evaluate script) first")
    with open(path) as f:
        return json.load(f)


def _seconds(folder):
    """The ``convert_seconds`` an evaluate script left in `folder` (or its parent), as text."""
    for path in (os.path.join(folder, "convert_seconds"), os.path.join(folder, os.pardir, "convert_seconds")):
        if os.path.isfile(path):
            return f"{float(open(path).read()):.1f} s"
    return "-"


def _phrases(folder, inputs=False):
    """(windows judged target, notes within 50 cents, convert seconds) of an evaluate_phrases.sh folder.

    ``inputs``: the figures of its unconverted inputs instead, and no convert time.
    """
    if not folder:
        return ["-", "-", "-"]
    report = _report(os.path.join(folder, "report"))["phrases"]
    if report is None:
        raise SystemExit(f"error: {folder}/report has no phrase figures (inputs without a JSON?)")
    figures = report["input" if inputs else "generated"]
    return [f"{_pct(figures['windows']['as_target'])} of {figures['windows']['windows']}",
            _pct(figures["pitch"]["within_50_cents"]), "-" if inputs else _seconds(folder)]


def row(spec):
    label, _, rest = spec.partition("=")
    report_dir, _, rest = rest.partition(":")
    model, _, phrases_dir = rest.partition(":")
    report = _report(report_dir)
    consistency, pitch = report["consistency"], report["pitch"]
    lsd = report["log_spectral_distance"]
    windows, phrase_pitch, phrase_seconds = _phrases(phrases_dir, inputs=not model)
    cells = [label, _pct(consistency["as_target"]), _pct(consistency["as_source"]), _pct(pitch["within_50_cents"]),
             "-" if pitch["median_abs_cents"] is None else f"{pitch['median_abs_cents']:.0f}",
             "-" if lsd.get("mean_db") is None else f"{lsd['mean_db']:.2f} dB", windows, phrase_pitch,
             _model_size(model), _seconds(report_dir), phrase_seconds]
    return "| " + " | ".join(cells) + " |", consistency["judge_accuracy_on_natural_targets"]


def main(specs):
    if not specs or specs[0] in ("-h", "--help"):
        sys.exit(__doc__)
    print("| method | judged target | judged source | pitch within 50 cents | median pitch error (cents) "
          "| LSD to nearest target note | phrase windows judged target | phrase notes within 50 cents "
          "| model size | convert: notes | convert: phrases |")
    print("|" + " --- |" * 11)
    natural = set()
    for spec in specs:
        line, judge_on_targets = row(spec)
        natural.add(round(judge_on_targets, 3))
        print(line)
    print(f"\nThe judge recognises {', '.join(_pct(v) for v in sorted(natural))} of the natural target notes.")


if __name__ == "__main__":
    main(sys.argv[1:])
