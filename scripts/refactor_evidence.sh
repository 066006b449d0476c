#!/usr/bin/env bash
# Issue 11's "same numbers before and after": the knee SimCLR pretraining of docs/pretrain/ for
# 3 epochs, its logistic/kNN probe beside random init, and the demo's explanation tables, run with
# the code tree in $1 (default: this checkout) into $2 (default: out/refactor-evidence).
#   bash scripts/refactor_evidence.sh /tmp/old out/evidence-old   # the code before the change
#   bash scripts/refactor_evidence.sh . out/evidence-new           # the code after it
set -euo pipefail
TREE=$(cd "${1:-.}" && pwd)
OUT=${2:-out/refactor-evidence}
export MEDAUG_DATA_DIR=${MEDAUG_DATA_DIR:-$(cd ../shared/data && pwd)}
export PYTHONPATH="$TREE/src"
M=".venv/bin/python -m medaug"
rm -rf "$OUT"; mkdir -p "$OUT"
$M pretrain --data knee --size 64 --method simclr --epochs 3 --out "$OUT/knee64-simclr" \
  > "$OUT/pretrain.txt" 2>&1
$M probe -e "$OUT/knee64-simclr" --data knee --size 64 --label-fractions 0.1,1 --seeds 2 \
  --out "$OUT/knee64-probe" > "$OUT/probe.txt" 2>&1
$M pretrain --data pneumoniamnist --size 28 --method simclr --epochs 2 --batch-size 128 \
  --out "$OUT/demo-simclr" > "$OUT/demo_pretrain.txt" 2>&1
$M explain --runs "$OUT/demo-simclr" random:resnet18@0 --data pneumoniamnist --size 28 \
  --images 6 --layer layer2 --faithfulness-images 64 --out "$OUT/demo-explain" \
  > "$OUT/explain.txt" 2>&1
echo "done: $OUT"
