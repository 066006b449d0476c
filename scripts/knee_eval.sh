#!/usr/bin/env bash
# Issue 4's knee evidence (2-core CPU): SimCLR and BYOL at 64 px for 30 epochs, probes at 1%,
# 10% and 100% of the labels (3 label subsets below 100%) beside the random-init encoder with
# the same seed, and the supervised baseline on the same splits with the same step budget.
set -euo pipefail
export MEDAUG_DATA_DIR=${MEDAUG_DATA_DIR:-../shared/data}
M=.venv/bin/medaug
D=docs/evaluate
for method in simclr byol; do
  [ -f runs/knee64-$method/run.json ] && grep -q '"finished"' runs/knee64-$method/run.json || \
    $M pretrain --data knee --size 64 --method $method --epochs 30 --out runs/knee64-$method \
      $( [ -f runs/knee64-$method/checkpoints/last.ckpt ] && echo --resume ) > $D/knee64_pretrain_$method.txt 2>&1
done
$M probe -e runs/knee64-simclr -e runs/knee64-byol -e imagenet:resnet18 \
  --label-fractions 0.01,0.1,1 --seeds 3 --out runs/knee64-probe > $D/knee64_probe.txt 2>&1
$M supervised --data knee --size 64 --epochs 30 --label-fractions 0.01,0.1,1 --seeds 3 \
  --out runs/knee64-supervised > $D/knee64_supervised.txt 2>&1
$M compare runs/knee64-supervised runs/knee64-probe::knee64-simclr > $D/knee64_compare.txt 2>&1
$M compare runs/knee64-supervised runs/knee64-probe::knee64-byol >> $D/knee64_compare.txt 2>&1
$M compare runs/knee64-probe::knee64-simclr runs/knee64-probe::knee64-byol >> $D/knee64_compare.txt 2>&1
for f in evaluation.json metrics.csv summary.csv comparisons.csv; do
  cp runs/knee64-probe/$f $D/knee64_probe_$f; cp runs/knee64-supervised/$f $D/knee64_supervised_$f 2>/dev/null || true
done
echo done
