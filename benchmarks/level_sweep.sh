#!/usr/bin/env bash
# How an exported model's judged share depends on the level its inputs are converted at: the model is
# re-exported once per level (`soundtransform export NAME/VERSION --input-peak-db L`, "none" = each note
# as rendered) into a scratch folder, converts the held-out notes of one split, and is judged there.
#
#   [SPLIT=test|valid] bash benchmarks/level_sweep.sh MODEL_VERSION_DIR [DATA_DIR] [OUT_DIR] [LEVEL ...]
#
# e.g. bash benchmarks/level_sweep.sh exported_models/cyclegan_flute_to_keyboard/3 /work/data/sf2 out/levels \
#          none -29 -23 -19 -13 -7
# Prints one line per level: the share judged keyboard, and per velocity.
set -euo pipefail
MODEL=${1:?usage: level_sweep.sh MODEL_VERSION_DIR [DATA_DIR] [OUT_DIR] [LEVEL ...]}
DATA=${2:-/work/data/sf2}
OUT=${3:-out/levels-$(basename "$(dirname "$MODEL")")}
shift $(( $# < 3 ? $# : 3 ))
LEVELS=${*:-none -29 -23 -19 -13 -7}
SPLIT=${SPLIT:-test}
[ -f "$MODEL/saved_model.pb" ] || { echo "$MODEL is not an exported version folder (NAME/VERSION)" >&2; exit 2; }
MODEL=$(realpath "$MODEL")
cd "$(dirname "$0")/.."
SCRATCH=$(mktemp -d)
IN=$(mktemp -d)
trap 'rm -rf "$SCRATCH" "$IN"' EXIT
for f in "$DATA/nsynth-$SPLIT"/audio/flute_*.wav; do ln -s "$(realpath "$f")" "$IN/"; done
mkdir -p "$OUT"
for level in $LEVELS; do
  version=$(soundtransform export "$MODEL" --name "level$level" --models-dir "$SCRATCH" --input-peak-db "$level" \
    | sed 's/^exported //')
  mkdir -p "$OUT/$level"
  soundtransform convert "$IN" "$OUT/$level/converted" --model "$version" --overwrite > /dev/null
  soundtransform evaluate "$OUT/$level/converted" --inputs "$IN" --source flute --target keyboard --data "$DATA" \
    --split "$SPLIT" --out "$OUT/$level/report" > /dev/null
  python - "$OUT/$level/report/report.json" "$level" <<'PY'
import collections, json, sys
report = json.load(open(sys.argv[1]))
by = collections.defaultdict(lambda: [0, 0])
for f in report["per_file"]:
    velocity = f["file"].rsplit(".", 1)[0].rsplit("-", 1)[1]
    by[velocity][0] += f["predicted"] == "keyboard"
    by[velocity][1] += 1
print(f"input_peak_db {sys.argv[2]:>5}: {100 * report['consistency']['as_target']:.1f} % judged keyboard, "
      f"{100 * report['pitch']['within_50_cents']:.1f} % in pitch; by velocity "
      + ", ".join(f"{v}: {a}/{b}" for v, (a, b) in sorted(by.items())))
PY
done
