#!/usr/bin/env bash
# Multi-GAN settings the paper leaves open, measured on the CIFAR-10 subset of
# recipes/cifar10-resnet10-cpu/multigan.yaml. Reuses the original model, the retrained reference and the
# retain-set GAN of that recipe's run (run it first), so each variant costs one deletion request:
# the forget GAN, synthesis, fine-tuning and evaluation.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${BASE:-outputs/cifar10-resnet10-cpu/multigan}
OUT=${OUT:-outputs/cifar10-resnet10-cpu/variants}
RECIPE=recipes/cifar10-resnet10-cpu/multigan.yaml
COMMON=(--model_name_or_path "$BASE/original" --reference_model_path "$BASE/retrained"
        --retain_generator_path "$BASE/unlearned/generators/retain" --disable_tqdm true)
run() {  # name, extra options...
  local name=$1; shift
  if [ -f "$OUT/$name/unlearning_results.json" ]; then echo "== $name: done already"; return; fi
  echo "== $name: $*"
  hf-unlearn run "$RECIPE" "${COMMON[@]}" --output_dir "$OUT/$name" "$@"
}
run lr0.05-ep2-synth1000 --learning_rate 0.05
run lr0.02-ep2-synth1000 --learning_rate 0.02
run lr0.01-ep2-synth0    --learning_rate 0.01 --num_synthetic_retain 0 --num_synthetic_forget 0
run lr0.01-ep5-synth1000 --learning_rate 0.01 --num_train_epochs 5
run lr0.01-ep2-synth3000 --learning_rate 0.01 --num_synthetic_retain 3000 --num_synthetic_forget 3000
run lr0.05-ep2-synth0    --learning_rate 0.05 --num_synthetic_retain 0 --num_synthetic_forget 0
run lr0.05-ep3-synth1000 --learning_rate 0.05 --num_train_epochs 3
run lr0.1-ep2-synth1000  --learning_rate 0.1
run lr0.05-ep2-synth3000 --learning_rate 0.05 --num_synthetic_retain 3000 --num_synthetic_forget 3000
