#!/usr/bin/env bash
# The unconverted-input baseline for SOURCE -> TARGET (default flute -> keyboard) on the
# test split: the source test notes, untouched, judged as if a method had produced them.
#
#   bash benchmarks/evaluate_baseline.sh DATA_DIR [OUT_DIR] [SOURCE] [TARGET]
#
# Writes the evaluate report into OUT_DIR (default out/baseline-SOURCE-TARGET); prints evaluate's
# summary and how long it took.
set -euo pipefail
DATA=${1:?usage: evaluate_baseline.sh DATA_DIR [OUT_DIR] [SOURCE] [TARGET]}
SOURCE=${3:-flute}
TARGET=${4:-keyboard}
OUT=${2:-out/baseline-$SOURCE-$TARGET}
GEN=$(mktemp -d)
trap 'rm -rf "$GEN"' EXIT
cd "$(dirname "$0")/.."
for f in "$DATA"/nsynth-test/audio/"$SOURCE"_*.wav; do ln -s "$(realpath "$f")" "$GEN/"; done
start=$(date +%s)
nice -n 10 soundtransform evaluate "$GEN" --inputs "$DATA/nsynth-test/audio" --source "$SOURCE" --target "$TARGET" \
  --data "$DATA" --split test --out "$OUT"
echo "evaluate took $(( $(date +%s) - start )) s"
