#!/usr/bin/env bash
# Convert the held-out phrases of one family (test split: instruments never seen in
# training) with an exported model and judge them note by note against their JSON
# (pitch within 50 cents, onsets within 50 ms) and window by window (2-s windows
# judged target), next to the unconverted phrases.  Render the phrases first:
#   soundtransform data render --out DATA_DIR --kind phrases --melodies 16 --families flute,keyboard
# Only the first $MELODIES melodies (default 16: m0000-m0015) of each instrument are judged, so
# the figures stay comparable when more melodies are rendered for training.
#
#   [MELODIES=N] [WHOLE=1] [DEGRADE=1] bash benchmarks/evaluate_phrases.sh MODEL DATA_DIR [OUT_DIR] [SOURCE] [TARGET]
# Phrases are converted as `soundtransform convert` converts them, note by note; WHOLE=1 converts each
# whole (`--whole`).  DEGRADE=1 also judges the conversions of the phrases in a small room with a noise
# floor 30-40 dB below their peak (`soundtransform evaluate --degrade room-noise`).
#
# e.g. bash benchmarks/evaluate_phrases.sh cgan_flute_to_keyboard data
# MODEL "slow" runs Slow style transfer towards one style sound instead of a model:
#   STYLE=keyboard_note.wav bash benchmarks/evaluate_phrases.sh slow data
# Writes OUT_DIR (default out/eval-phrases-MODEL): converted/, convert_seconds and the evaluate report
# in report/ (phrase figures for the converted and the unconverted phrases); prints the convert time
# and evaluate's summary.
set -euo pipefail
MODEL=${1:?usage: evaluate_phrases.sh MODEL DATA_DIR [OUT_DIR] [SOURCE] [TARGET]}
DATA=${2:?usage: evaluate_phrases.sh MODEL DATA_DIR [OUT_DIR] [SOURCE] [TARGET]}
OUT=${3:-out/eval-phrases-$(basename "$MODEL")}
SOURCE=${4:-flute}
TARGET=${5:-keyboard}
MELODIES=${MELODIES:-16}
[[ $MELODIES =~ ^[0-9]+$ ]] || { echo "MELODIES must be a whole number, not '$MELODIES'" >&2; exit 2; }
shopt -s nullglob
cd "$(dirname "$0")/.."
IN=$(mktemp -d)
trap 'rm -rf "$IN"' EXIT
for f in "$DATA"/nsynth-test/phrases/"$SOURCE"_*-m[0-9][0-9][0-9][0-9].wav; do
  melody=${f##*-m}
  ((10#${melody%.wav} < 10#$MELODIES)) || continue
  ln -s "$(realpath "$f")" "$IN/"
  ln -s "$(realpath "${f%.wav}.json")" "$IN/"
done
if [ -z "$(ls -A "$IN")" ]; then
  echo "no test-split $SOURCE phrases m0000-m$(printf %04d $((10#$MELODIES - 1))) in $DATA; render them first" >&2
  exit 1
fi
mkdir -p "$OUT"
if [ "$MODEL" = slow ]; then
  [ -n "${STYLE:-}" ] || { echo "MODEL slow needs STYLE=a style sound (e.g. a keyboard note)" >&2; exit 2; }
  CONVERT=(--method slow --style "$STYLE")
else
  CONVERT=(--model "$MODEL")
fi
start=$(date +%s.%N)
soundtransform convert "$IN" "$OUT/converted" "${CONVERT[@]}" ${WHOLE:+--whole} --overwrite
seconds=$(echo "$(date +%s.%N) - $start" | bc)
echo "$seconds" > "$OUT/convert_seconds"  # read by benchmarks/results_table.py
echo "convert took $seconds s for $(ls "$IN"/*.wav | wc -l) phrases"
soundtransform evaluate "$OUT/converted" --inputs "$IN" --source "$SOURCE" --target "$TARGET" \
  --data "$DATA" --split test --out "$OUT/report" \
  ${DEGRADE:+--degrade room-noise --model "$MODEL"} ${WHOLE:+--whole}
