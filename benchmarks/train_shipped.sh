#!/usr/bin/env bash
# Reproduce the shipped models in exported_models/ from rendered SoundFont data, then judge them.
#
#   bash benchmarks/train_shipped.sh [DATA_DIR] [STEP ...]
#
# Steps, in order (default: all of them):
#   data         render FluidR3_GM + TimGM6mb notes (11 families) and phrases (16 melodies for
#                flute and keyboard, 4 for every other family)
#   classifiers  perceptual.keras (Slow and Faster's feature space), judge.keras (the judge) and
#                phrase_judge.keras (the judge of phrase windows)
#   faster       faster_flute_to_keyboard (v3, then v4: v3 fine-tuned with a banded energy constraint)
#   cgan         cgan_flute_to_keyboard (the default model of `convert`)
#   cyclegan     cyclegan_flute_to_keyboard and cyclegan_keyboard_to_flute (v1), then flute -> keyboard v2
#                (all 256 rows, pitch anchor), then v3 (v2's recipe averaged, continued with augmentation)
#   phrases      cgan_flute_to_keyboard_phrases: 48 more melodies (64) for flute and keyboard, then
#                the cgan run fine-tuned on them (init_from, energy constraint), then fine-tuned
#                again at a quarter of the learning rate with a weight average (v6, 8 epochs,
#                33 min); exported under its own name and as the default; then from that the notes
#                model cgan_flute_to_keyboard_notes (augmented inputs, 16 epochs, 40 min); then the
#                default v7, the mean of those two models' weights (a minute); then the phrases
#                model v3, v7 fine-tuned with a banded energy constraint (4 epochs, 20 min); after
#                `cgan`, whose run it starts from
#   faster-phrases  faster_flute_to_keyboard_phrases, after `phrases` (its 64 melodies)
#   cgan-back    cgan_keyboard_to_flute: the cgan the other way round, on notes and the phrase windows
#                of the 64 melodies (after `phrases`), 14 epochs, its best-judged epoch (twenty-sixth
#                session: 57 min, about 3.5 min an epoch idle)
#   evaluate     every shipped model on the held-out test notes and phrases (both directions)
#
# Each training is the `default` preset with the settings the shipped model was trained with;
# its run folder is $RUNS/NAME, so an interrupted step resumes when rerun.  New versions are
# exported into $MODELS (default: exported_models, next to the shipped versions).  Measured on
# the 2-core CPU of this project (docs/history.md, "Every method and direction at a glance"): data 1 min,
# faster 23 min (another training sharing the cores), cgan 26 min idle, cyclegan 52 min, evaluate 5-10 min a model.
# A real NSynth download works the same way: pass its folder as DATA_DIR and skip `data`.
# Level matching (twenty-fourth session): every export this code makes converts its inputs with their
# peak at -19 dBFS.  The shipped cgan_flute_to_keyboard v8, _notes v2, _phrases v4, faster v5, faster
# phrases v3 and cyclegan_flute_to_keyboard v4 are the earlier versions (trained as below, exported as
# rendered) exported again so: `soundtransform export exported_models/NAME/VERSION`.  Judge selection
# now scores the valid sounds at that level too, so a rerun may pick another epoch than the shipped one.
set -euo pipefail
DATA=$(realpath -m "${1:-/work/data/sf}")
shift || true
STEPS=${*:-data classifiers faster cgan cyclegan phrases faster-phrases cgan-back evaluate}
RUNS=${RUNS:-runs}
MODELS=${MODELS:-exported_models}
cd "$(dirname "$0")/.."

train() {  # RUN_NAME METHOD [OPTIONS...]
  local run=$1 method=$2
  shift 2
  soundtransform train --method "$method" --source flute --target keyboard --data "$DATA" \
    --run-dir "$RUNS/$run" --set export_dir="$MODELS" "$@"
}

latest() {  # NAME: the folder of the highest version of $MODELS/NAME
  local v
  v=$(ls "$MODELS/$1" | grep -E '^[0-9]+$' | sort -n | tail -1)
  echo "$MODELS/$1/$v"
}

for step in $STEPS; do
  echo "== $step"
  case $step in
    data)
      soundtransform data render --out "$DATA"
      soundtransform data render --out "$DATA" --kind phrases --melodies 16 --families flute,keyboard
      # 4 of those melodies with every instrument of every family: the phrase judge's training data.
      soundtransform data render --out "$DATA" --kind phrases --melodies 4
      ;;
    classifiers)
      bash benchmarks/train_classifiers.sh "$DATA"
      ;;
    faster)
      # v3 (fourteenth session): style and content terms against each flute's same-pitch note of
      # one keyboard, content at block1_conv2, 20 epochs. v2 was the same at block2_conv2 for 10 epochs;
      # v1 the bare preset (family-mean style, own content).
      train faster-default faster --set style_target=pitch --set content_target=pitch \
        --set target_instruments=keyboard_acoustic_130 --set content_layer=block1_conv2 --epochs 20 \
        --set select_by=last --set export_dir="$RUNS/faster-default-export"
      # v4 (nineteenth session, the shipped Faster): v3 fine-tuned 10 epochs with the energy
      # constraint band by band (64 mel bands, gamma 30) at learning rate 3e-4; its last epoch.
      # 8 min idle (the shipped run judged every epoch too, select_by=judge, and was exported
      # from its generator.keras, the last epoch).
      train faster-bands64 faster --set style_target=pitch --set content_target=pitch \
        --set target_instruments=keyboard_acoustic_130 --set content_layer=block1_conv2 \
        --set energy_bands=64 --set gamma=30 --set init_from="$RUNS/faster-default" \
        --set learning_rate=3e-4 --epochs 10 --set select_by=last --set export_dir="$RUNS/faster-bands64-export"
      soundtransform export "$RUNS/faster-bands64" --name faster_flute_to_keyboard --models-dir "$MODELS"
      ;;
    faster-phrases)
      # faster_flute_to_keyboard_phrases v1 (fifteenth session): Faster's recipe on notes and the
      # windows of the 64 melodies `phrases` renders; the epoch the judges like best on valid flutes
      # and phrase windows (19 of 20). 39 min with another training sharing the cores.
      train faster-phrases faster --set style_target=pitch --set content_target=pitch \
        --set target_instruments=keyboard_acoustic_130 --set content_layer=block1_conv2 --epochs 20 \
        --set train_on=both --set export_dir="$RUNS/faster-phrases-export"
      # v2 (nineteenth session, shipped): v1 fine-tuned 8 epochs with the energy constraint band by
      # band (64 mel bands, gamma 30) at learning rate 3e-4, its last epoch; 10 min idle.
      train faster-phrases-bands64 faster --set style_target=pitch --set content_target=pitch \
        --set target_instruments=keyboard_acoustic_130 --set content_layer=block1_conv2 --set train_on=both \
        --set energy_bands=64 --set gamma=30 --set init_from="$RUNS/faster-phrases" --set learning_rate=3e-4 \
        --epochs 8 --set select_by=last --set export_dir="$RUNS/faster-phrases-bands64-export"
      soundtransform export "$RUNS/faster-phrases-bands64" --name faster_flute_to_keyboard_phrases --models-dir "$MODELS"
      ;;
    cgan)
      # 20 epochs on notes and phrase windows (v4); the export is the epoch the judges like best
      # on valid-split flute notes and phrase windows.
      train cgan-default cgan --set train_on=both
      ;;
    cyclegan)
      # Shipped v1 predates judge selection (it exported its 6th epoch); keyboard -> flute is still v1.
      train cyclegan-default cyclegan --set select_by=last
      # cyclegan_flute_to_keyboard v2 (twentieth session): all 256 rows with the pitch anchor
      # (lambda_pitch=1), 9 epochs (run as 6, then resumed with --epochs 9), the flute -> keyboard
      # generator of its best-judged epoch (8). About 70 min.
      train cyclegan-256-pitch cyclegan --set freq_bins=256 --set lambda_pitch=1.0 --epochs 9 \
        --set export_dir="$RUNS/cyclegan-256-pitch-export"
      soundtransform export "$RUNS/cyclegan-256-pitch/generator_flute_to_keyboard_best.keras" \
        --name cyclegan_flute_to_keyboard --models-dir "$MODELS"
      # v3 (twenty-third session, shipped): the same recipe with a weight average (ema_decay=0.998) for
      # 16 epochs (72.1 % of test flutes), then a copy of that run continued 6 epochs with the flutes
      # augmented (gain +-6 dB, noise -70 to -50 dB; a resumed run may take new augmentation settings),
      # its last epoch (22): 78.4 %. About 2 h (16 x 5 min, then 6 x 5-6 min).
      train cyclegan-256-ema cyclegan --set freq_bins=256 --set lambda_pitch=1.0 --set ema_decay=0.998 \
        --epochs 16 --set export_dir="$RUNS/cyclegan-256-ema-export"
      [ -d "$RUNS/cyclegan-256-aug" ] || cp -r "$RUNS/cyclegan-256-ema" "$RUNS/cyclegan-256-aug"
      train cyclegan-256-aug cyclegan --epochs 22 --set augment_gain_db=6 --set augment_noise_db=-50 \
        --set export_dir="$RUNS/cyclegan-256-aug-export"
      soundtransform export "$RUNS/cyclegan-256-aug/generator_flute_to_keyboard.keras" \
        --name cyclegan_flute_to_keyboard --models-dir "$MODELS"
      ;;
    phrases)
      # Rendered after `cgan`: the shipped v4 trained on the first 16 melodies only.
      soundtransform data render --out "$DATA" --kind phrases --melodies 64 --families flute,keyboard
      train cgan-phrases cgan --set train_on=both --set init_from="$RUNS/cgan-default" \
        --set lambda_energy=1000 --epochs 10 --set export_dir="$RUNS/cgan-phrases-export"
      # The eighth session's default (cgan_flute_to_keyboard v6, cgan_flute_to_keyboard_phrases v2):
      # the same again at learning rate 5e-5 with an average of the generator's weights (decay 0.999),
      # its best-judged epoch (4 of 8).  The run before it was v5 and phrases v1.
      train cgan-phrases-ema cgan --set train_on=both --set init_from="$RUNS/cgan-phrases" \
        --set lambda_energy=1000 --set learning_rate=5e-5 --set ema_decay=0.999 --epochs 8 \
        --set export_dir="$RUNS/cgan-phrases-ema-export"
      soundtransform export "$RUNS/cgan-phrases-ema" --name cgan_flute_to_keyboard_phrases --models-dir "$MODELS"
      soundtransform export "$RUNS/cgan-phrases-ema" --name cgan_flute_to_keyboard --models-dir "$MODELS"
      # The ninth session's cgan_flute_to_keyboard_notes v1: v6 fine-tuned 16 epochs with augmented flute
      # inputs (gain +-6 dB, a noise floor of -70 to -50 dB): 90.5 % of test notes, 62.5 % of windows.
      train cgan-notes-aug cgan --set train_on=both --set init_from="$RUNS/cgan-phrases-ema" \
        --set lambda_energy=1000 --set learning_rate=5e-5 --set ema_decay=0.999 --epochs 16 \
        --set select_notes=128 --set augment_gain_db=6 --set augment_noise_db=-50 \
        --set export_dir="$RUNS/cgan-notes-aug-export"
      soundtransform export "$RUNS/cgan-notes-aug" --name cgan_flute_to_keyboard_notes --models-dir "$MODELS"
      # The tenth session's default (cgan_flute_to_keyboard v7): the mean of the weights of v6 (the
      # phrases model) and the notes model, half each: 88.7 % of test notes, 78.6 % of windows.
      python benchmarks/average_generators.py "$(latest cgan_flute_to_keyboard_phrases)" \
        "$(latest cgan_flute_to_keyboard_notes)" --weight 0.5 --name cgan_flute_to_keyboard --base-dir "$MODELS"
      # The twentieth session's cgan_flute_to_keyboard_phrases v3: v7 fine-tuned 4 epochs with the energy
      # constraint band by band (64 mel bands), its best-judged epoch (1): 83.3 % of test phrase windows
      # (v6 79.2 %), 86.0 % of test notes. About 4 min an epoch, idle.
      train cgan-bands64 cgan --set train_on=both --set init_from="$(latest cgan_flute_to_keyboard)" \
        --set lambda_energy=1000 --set energy_bands=64 --set learning_rate=5e-5 --set ema_decay=0.999 \
        --epochs 4 --set select_notes=64 --set export_dir="$RUNS/cgan-bands64-export"
      soundtransform export "$RUNS/cgan-bands64" --name cgan_flute_to_keyboard_phrases --models-dir "$MODELS"
      ;;
    cgan-back)
      soundtransform train --method cgan --source keyboard --target flute --data "$DATA" \
        --run-dir "$RUNS/cgan-back" --set train_on=both --epochs 14 --set export_dir="$MODELS"
      ;;
    evaluate)
      for model in faster_flute_to_keyboard faster_flute_to_keyboard_phrases cgan_flute_to_keyboard cgan_flute_to_keyboard_phrases \
          cgan_flute_to_keyboard_notes cyclegan_flute_to_keyboard; do
        bash benchmarks/evaluate_model.sh "$model" "$DATA" "out/eval-$model"
        bash benchmarks/evaluate_phrases.sh "$model" "$DATA" "out/eval-phrases-$model"
      done
      for model in cyclegan_keyboard_to_flute cgan_keyboard_to_flute; do
        bash benchmarks/evaluate_model.sh "$model" "$DATA" "out/eval-$model" keyboard flute
      done
      bash benchmarks/evaluate_phrases.sh cgan_keyboard_to_flute "$DATA" out/eval-phrases-cgan_keyboard_to_flute keyboard flute
      bash benchmarks/evaluate_baseline.sh "$DATA"
      bash benchmarks/evaluate_baseline.sh "$DATA" out/baseline-keyboard-flute keyboard flute
      ;;
    *)
      echo "unknown step $step; choose from: data classifiers faster cgan cyclegan phrases faster-phrases cgan-back evaluate" >&2
      exit 2
      ;;
  esac
done
