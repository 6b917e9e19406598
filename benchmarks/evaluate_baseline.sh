#!/usr/bin/env bash
# The unconverted-input baseline for flute -> keyboard on the test split: the flute test
# notes, untouched, judged as if a method had produced them.
#
#   bash benchmarks/evaluate_baseline.sh [DATA_DIR] [OUT_DIR]
set -euo pipefail
DATA=${1:-/work/data/sf}
OUT=${2:-out/baseline-flute-keyboard}
GEN=$(mktemp -d)
trap 'rm -rf "$GEN"' EXIT
cd "$(dirname "$0")/.."
for f in "$DATA"/nsynth-test/audio/flute_*.wav; do ln -s "$(realpath "$f")" "$GEN/"; done
start=$(date +%s)
nice -n 10 soundtransform evaluate "$GEN" --inputs "$DATA/nsynth-test/audio" --source flute --target keyboard \
  --data "$DATA" --split test --out "$OUT"
echo "evaluate took $(( $(date +%s) - start )) s"
