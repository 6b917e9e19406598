#!/usr/bin/env bash
# Rebuild the shipped classifiers: perceptual.keras (Slow's and Faster's feature space), judge.keras
# and phrase_judge.keras (the independent judges), into $MODELS/classifiers (default exported_models/).
#
#   bash recipes/train_classifiers.sh DATA_DIR
#
# Renders what they need into DATA_DIR (every family's notes, 4 melodies of every instrument; an
# interrupted render resumes), then:
# perceptual:   recipes/perceptual.toml into $RUNS/perceptual (default runs/; the best validated
#               epoch is kept), measured on the test split by recipes/measure_classifier.py, which
#               also draws docs/confusion_matrix.png.
# judge:        recipes/train_judge.py: a logistic regression on timbre statistics, trained on
#               train+valid (instruments the perceptual classifier never heard), its L2 weight
#               chosen on valid first.
# phrase_judge: the same model trained also on every note of the phrases of every family; it judges
#               windows of phrases note by note (soundtransform/timbre_judge.py).
# None sees the test split in training: its instruments are unseen by all three.  The trainings run
# one after the other, niced.
set -euo pipefail
DATA=${1:?usage: bash recipes/train_classifiers.sh DATA_DIR}
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs}
MODELS=${MODELS:-exported_models}

soundtransform data render --out "$DATA"
soundtransform data render --out "$DATA" --kind phrases --melodies 4

start=$(date +%s)
nice -n 10 soundtransform train --recipe recipes/perceptual.toml --data "$DATA" --run-dir "$RUNS/perceptual" \
  --models-dir "$MODELS"
seconds=$(( $(date +%s) - start ))
nice -n 10 python recipes/measure_classifier.py "$MODELS/classifiers/perceptual.keras" "$DATA" \
  --training-seconds "$seconds" --confusion docs/confusion_matrix.png
nice -n 10 python recipes/train_judge.py "$DATA" --cache "$RUNS/judge-features" --out "$MODELS/classifiers"
nice -n 10 python recipes/train_judge.py "$DATA" --cache "$RUNS/judge-features" --out "$MODELS/classifiers" --unit note
