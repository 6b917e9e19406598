#!/usr/bin/env bash
# Reproduce the shipped classifiers (exported_models/classifiers/{perceptual,judge,phrase_judge}.keras).
# The judge is no longer a VGG-19 (see soundtransform/timbre_judge.py for why):
# this script trains the perceptual VGG-19, then benchmarks/train_judge.py the judge.
#
#   bash benchmarks/train_classifiers.sh [DATA_DIR]   (default /work/data/sf: 11 families, NSynth layout)
#
# perceptual: the `default` classifier preset (seed 0), trained on the train split,
#             validated on valid; the best validated epoch is kept (early stop, patience 3).
# judge:      independent of it: a logistic regression on timbre statistics, trained on
#             train+valid (20 instruments the perceptual classifier never heard), its L2
#             weight chosen on valid first.
# phrase_judge: the judge's model trained also on every note of the phrases of every
#             family (render them first: data render --kind phrases --melodies 4); it
#             judges windows of phrases note by note (soundtransform/timbre_judge.py).
# None ever sees the test split (its instruments are unseen by both); ship_classifier.py
# measures both on it.  Trainings run one after the other, niced: the CPU is shared.
set -euo pipefail
DATA=${1:-/work/data/sf}
RUNS=${RUNS:-runs}
cd "$(dirname "$0")/.."

train() {  # ROLE EPOCHS [--set ...]
  local role=$1 epochs=$2; shift 2
  local cmd="soundtransform train --method classifier --data $DATA --run-dir $RUNS/classifier-$role --epochs $epochs $*"
  local start=$(date +%s)
  nice -n 10 $cmd
  local seconds=$(( $(date +%s) - start ))
  local png=""
  [ "$role" = perceptual ] && png=docs/confusion_matrix.png && mkdir -p docs
  nice -n 10 python benchmarks/ship_classifier.py "$RUNS/classifier-$role" "$role" "$DATA" "$seconds" "$cmd" $png
}

train perceptual 5
nice -n 10 python benchmarks/train_judge.py "$DATA" --cache "$RUNS/judge-features"
nice -n 10 python benchmarks/train_judge.py "$DATA" --cache "$RUNS/judge-features" --unit note
