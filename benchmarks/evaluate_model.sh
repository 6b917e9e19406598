#!/usr/bin/env bash
# Convert the held-out flute notes (test split: instruments never seen in training)
# with an exported model and judge the outputs with the independent judge classifier.
#
#   [WHOLE=1] [DEGRADE=1] bash benchmarks/evaluate_model.sh MODEL DATA_DIR [OUT_DIR] [SOURCE] [TARGET]
# Notes are converted as `soundtransform convert` converts them (note by note: one onset, one piece);
# WHOLE=1 converts each clip whole (`--whole`).  DEGRADE=1 also judges the conversions of the notes in a
# small room with a noise floor 30-40 dB below their peak (`soundtransform evaluate --degrade room-noise`).
#
# e.g. bash benchmarks/evaluate_model.sh cgan_flute_to_keyboard data
# Writes OUT_DIR (default out/eval-MODEL): converted/, convert_seconds and the evaluate report in
# report/; prints the convert time and evaluate's summary.
set -euo pipefail
MODEL=${1:?usage: evaluate_model.sh MODEL DATA_DIR [OUT_DIR] [SOURCE] [TARGET]}
DATA=${2:?usage: evaluate_model.sh MODEL DATA_DIR [OUT_DIR] [SOURCE] [TARGET]}
OUT=${3:-out/eval-$MODEL}
SOURCE=${4:-flute}
TARGET=${5:-keyboard}
cd "$(dirname "$0")/.."
IN=$(mktemp -d)
trap 'rm -rf "$IN"' EXIT
for f in "$DATA"/nsynth-test/audio/"$SOURCE"_*.wav; do ln -s "$(realpath "$f")" "$IN/"; done
mkdir -p "$OUT"
start=$(date +%s.%N)
soundtransform convert "$IN" "$OUT/converted" --model "$MODEL" ${WHOLE:+--whole} --overwrite
seconds=$(echo "$(date +%s.%N) - $start" | bc)
echo "$seconds" > "$OUT/convert_seconds"  # read by benchmarks/results_table.py
echo "convert took $seconds s for $(ls "$IN" | wc -l) notes"
soundtransform evaluate "$OUT/converted" --inputs "$IN" --source "$SOURCE" --target "$TARGET" \
  --data "$DATA" --split test --out "$OUT/report" \
  ${DEGRADE:+--degrade room-noise --model "$MODEL"} ${WHOLE:+--whole}
