#!/usr/bin/env bash
# Issue 13's CPU evidence: every method under one recipe (64 px, no CLAHE, ResNet-18, ops
# crop+flip+rotate+intensity, batch 64, seed 0, EPOCHS epochs), then one logistic probe of all
# of them at 100 % of the labels beside the random-init twin of the same seed (paired
# differences with patient-level intervals in comparisons.csv).
#   scripts/methods_compare.sh DATA TAG EPOCHS POSITIVES METHOD...
# e.g. scripts/methods_compare.sh knee knee64 10 image simclr byol mocov3
# Runs resume when stopped; the probe reruns over every finished run of TAG.
set -euo pipefail
export MEDAUG_DATA_DIR=${MEDAUG_DATA_DIR:-../shared/data}
M=.venv/bin/medaug
DATA=$1 TAG=$2 EPOCHS=$3 POS=$4; shift 4
D=docs/methods
mkdir -p "$D" runs
for method in "$@"; do
  out=runs/methods-$TAG-$method
  extra=()
  [ "$method" = dino ] && extra=(--local-crops 4)   # DINO as published: multi-crop
  if [ -f "$out/run.json" ] && grep -q '"finished"' "$out/run.json"; then continue; fi
  resume=(); [ -f "$out/run.json" ] && resume=(--resume)
  start=$(date +%s)
  $M pretrain --data "$DATA" --size 64 --no-clahe --method "$method" --backbone resnet18 \
    --ops crop+flip+rotate+intensity --epochs "$EPOCHS" --batch-size 64 --seed 0 \
    --positives "$POS" "${extra[@]}" "${resume[@]}" --out "$out" > "$D/${TAG}_pretrain_$method.txt" 2>&1 \
    || echo "pretrain $method failed (exit $?)" >> "$D/${TAG}_pretrain_$method.txt"
  echo "wall seconds: $(( $(date +%s) - start ))" >> "$D/${TAG}_pretrain_$method.txt"
  [ -f "$out/training.csv" ] && cp "$out/training.csv" "$D/${TAG}_training_$method.csv"
done
echo "$TAG done"
