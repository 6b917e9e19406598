#!/usr/bin/env bash
# Rebuild the shipped models from rendered SoundFont data, each with its recipe (recipes/NAME.toml).
#
#   bash recipes/train_shipped.sh DATA_DIR [RECIPE ...]     (default: every recipe in recipes/)
#
# Renders what the recipes need into DATA_DIR (an interrupted render resumes), then trains each
# recipe into $RUNS/NAME (default runs/; a rerun keeps the finished stages) and exports it into
# $MODELS (default exported_models/, as the next version of each model).
# The recipes choose epochs with the judges and Faster trains against the perceptual classifier, all
# read from exported_models/classifiers: to rebuild those too, run recipes/train_classifiers.sh first
# (with the same RUNS, the perceptual recipe then trains once).  docs/training.md lists each
# recipe's training time.
set -euo pipefail
DATA=${1:?usage: bash recipes/train_shipped.sh DATA_DIR [RECIPE ...]}
shift
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs}
MODELS=${MODELS:-exported_models}

soundtransform data render --out "$DATA"
soundtransform data render --out "$DATA" --kind phrases --melodies 64 --families flute,keyboard
soundtransform data render --out "$DATA" --kind phrases --melodies 4  # every family: the phrase judge's

for recipe in ${*:-recipes/*.toml}; do
  name=$(basename "$recipe" .toml)
  soundtransform train --recipe "$recipe" --data "$DATA" --run-dir "$RUNS/$name" --models-dir "$MODELS"
done
