#!/usr/bin/env bash
# Probe every finished run of scripts/methods_compare.sh's TAG (logistic, 100 % of the labels,
# beside the random-init twin of the same seed) and summarise it as a markdown table.
#   scripts/methods_probe.sh TAG     (e.g. knee64, pmnist64, or "chest64-image chest64-patient")
set -euo pipefail
export MEDAUG_DATA_DIR=${MEDAUG_DATA_DIR:-../shared/data}
M=.venv/bin/medaug
D=docs/methods
NAME=${TAG_NAME:-${1// /+}}
runs=()
for tag in $1; do
  for run in runs/methods-$tag-*/; do
    run=${run%/}
    [[ $run == *-probe ]] && continue
    grep -q '"finished"' "$run/run.json" 2>/dev/null && runs+=(-e "$run")
  done
done
out=runs/methods-$NAME-probe
rm -rf "$out"
$M probe "${runs[@]}" --label-fractions 1 --probes logistic --out "$out" > "$D/${NAME}_probe.txt" 2>&1
for f in evaluation.json metrics.csv comparisons.csv; do cp "$out/$f" "$D/${NAME}_probe_$f"; done
.venv/bin/python scripts/methods_table.py "$out" > "$D/${NAME}_table.md"
cat "$D/${NAME}_table.md"
