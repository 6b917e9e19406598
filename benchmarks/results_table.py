"""The README's results table from `soundtransform evaluate` reports.

    python benchmarks/results_table.py "LABEL=REPORT_DIR[:MODEL]" ...

Each argument is one row: a label, the folder of an evaluate report
(``report.json``) and, optionally, an exported model (name or path) whose size
and training figures are read from its metadata.  Prints a Markdown table:
share judged target, share judged source, pitch within 50 cents, median pitch
error, log-spectral distance to the nearest natural target note, model size.

The reports come from ``benchmarks/evaluate_model.sh MODEL`` (a shipped
model on the held-out test flutes) and ``benchmarks/evaluate_baseline.sh``
(the unconverted input).
"""

import json
import os
import sys

from soundtransform import export


def _pct(value):
    return "-" if value is None else f"{100 * value:.1f} %"


def _model_size(model):
    if not model:
        return "-"
    path = model if os.path.isdir(model) else os.path.join(export.models_dir(), model)
    versions = sorted((int(v) for v in os.listdir(path) if v.isdigit()), reverse=True) if os.path.isdir(path) else []
    if versions:
        path = os.path.join(path, str(versions[0]))
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
    return f"{total / 1e6:.1f} MB"


def row(spec):
    label, _, rest = spec.partition("=")
    report_dir, _, model = rest.partition(":")
    report = json.load(open(os.path.join(report_dir, "report.json")))
    consistency, pitch = report["consistency"], report["pitch"]
    lsd = report["log_spectral_distance"]
    cells = [label, _pct(consistency["as_target"]), _pct(consistency["as_source"]), _pct(pitch["within_50_cents"]),
             "-" if pitch["median_abs_cents"] is None else f"{pitch['median_abs_cents']:.0f}",
             "-" if lsd.get("mean_db") is None else f"{lsd['mean_db']:.2f} dB", _model_size(model)]
    return "| " + " | ".join(cells) + " |", consistency["judge_accuracy_on_natural_targets"]


def main(specs):
    if not specs:
        sys.exit(__doc__)
    print("| method | judged target | judged source | pitch within 50 cents | median pitch error (cents) "
          "| LSD to nearest target note | model size |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    natural = set()
    for spec in specs:
        line, judge_on_targets = row(spec)
        natural.add(round(judge_on_targets, 3))
        print(line)
    print(f"\nThe judge recognises {', '.join(_pct(v) for v in sorted(natural))} of the natural target notes.")


if __name__ == "__main__":
    main(sys.argv[1:])
