#!/usr/bin/env bash
# Reruns every experiment in experiments/README.md, one after another, and rewrites its tables.
# About 4 hours on a 2-core CPU. Runs go to saved_models/experiments/;
# their metrics.json, config.yaml and run.json (command, seconds, machine) are kept in experiments/results/.
#   bash experiments/run_all.sh            (from the repository root, with keras-all installed)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=saved_models/experiments
ARIA=(--dataset aria --data-dir ../shared/data/aria-all)
CNMC=(--dataset c-nmc --data-dir ../shared/data/cnmc-sample)

run() {  # NAME keras-all ARGS...: run it, time it, keep its numbers
  local name=$1; shift
  local start; start=$(date +%s)
  "$@" --output "$OUT/$name"
  python experiments/results.py collect "$name" "$OUT/$name" $(( $(date +%s) - start )) "$*"
}

run c-nmc        keras-all train "${CNMC[@]}" --config experiments/c-nmc/base.yaml
run c-nmc-paper  keras-all train "${CNMC[@]}" --config experiments/c-nmc/base.yaml --protocol paper
run aria         keras-all train "${ARIA[@]}" --config experiments/aria/base.yaml
run aria-paper   keras-all train "${ARIA[@]}" --config experiments/aria/base.yaml --protocol paper
run aria-paper-no-copies keras-all train "${ARIA[@]}" --config experiments/aria/paper-no-copies.yaml
for ablation in no-pca gray rgb no-augment no-balance latency spike-wave recalibrated-bn \
    spike-wave-recalibrated-bn; do
  run "aria-$ablation" keras-all train "${ARIA[@]}" --config "experiments/aria/$ablation.yaml"
done
# a short search (2 folds, 5 epochs, 6 trials); its best widths then run as the base does (4 folds, 10 epochs)
keras-all tune "${ARIA[@]}" --config experiments/aria/base.yaml --max-trials 6 --folds 2 --epochs 5 \
    --output "$OUT/aria-tune"
{ echo "# The best widths of the search in $OUT/aria-tune, trained as the base is (4 folds, 10 epochs)."
  sed -e 's/^  folds: 2$/  folds: 4/' -e 's/^  epochs: 5$/  epochs: 10/' "$OUT/aria-tune/best_config.yaml"
} > experiments/aria/tuned.yaml
cp "$OUT/aria-tune/results.csv" experiments/results/aria-tune-results.csv
run aria-tuned   keras-all train "${ARIA[@]}" --config experiments/aria/tuned.yaml
# Issue 15: the small-data regime (130 images per class, 3 seeds), the shortcut check, and the chosen configuration
# on the whole set (3 seeds); every one of these runs fits the colour-histogram baseline by its own splits.
for seed in 0 1 2; do
  for small in rgb-first-spike rgb first-spike; do
    run "aria-small-$small-seed$seed" keras-all train "${ARIA[@]}" --config "experiments/aria-small/$small.yaml" \
        --seed "$seed"
  done
done
run aria-small-first-spike-paper-training-seed0 keras-all train "${ARIA[@]}" \
    --config experiments/aria-small/first-spike-paper-training.yaml --seed 0
run aria-small-rgb-first-spike-crop-seed0 keras-all train "${ARIA[@]}" --config experiments/aria-small/rgb-first-spike-crop.yaml \
    --seed 0
for seed in 0 1 2; do
  run "aria-rgb-first-spike-adaptive-seed$seed" keras-all train "${ARIA[@]}" \
      --config experiments/aria/rgb-first-spike-adaptive.yaml --seed "$seed"
done
python experiments/leak_split.py "$OUT/aria-paper" aria-paper
python experiments/leak_split.py "$OUT/c-nmc-paper" c-nmc-paper
python experiments/augmentation_shift.py "$OUT/aria" aria
python experiments/augmentation_shift.py "$OUT/aria-gray" aria-gray
python experiments/baselines.py "$OUT/aria" aria
python experiments/baselines.py "$OUT/c-nmc" c-nmc
python experiments/results.py tables
