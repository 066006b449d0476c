#!/usr/bin/env bash
# The search against scripts/knee_study.sh's grid: the same space, Optuna's TPE sampler with
# 4 combinations x CLAHE levels per method (of the grid's 10), seeds as steps and the median
# pruner after 2 trials of a method, no supervised reference; then the comparison with the
# grid (compute, winner).
set -euo pipefail
OUT=${1:-studies/knee-search}
GRID=${2:-studies/knee}
"$(dirname "$0")/knee_study.sh" "$OUT" --search --budget 4 --pruner-startup 2 \
    --supervised-epochs 0  # the last --supervised-epochs wins
if [ -f "$GRID/trials.csv" ]; then
    medaug study report "$OUT" --grid "$GRID" --no-followup
fi
