#!/usr/bin/env bash
# The knee study of docs/results/study.md on the CPU: SimCLR and BYOL at 64 px, CLAHE on and
# off, 3 seeds, 4 epochs, crop first in every trial, then flip, the original study's blur,
# flip+blur, the original study's chessboard, and its five ops at its strengths together
# (5 combinations x 2 methods x 2 CLAHE levels x 3 seeds = 60 trials: what fits about an hour
# of this 2-core CPU).
# Re-running continues; start it in several processes to share the work. Options after the
# folder go to `medaug study run` (scripts/knee_search.sh adds --search ...).
set -euo pipefail
OUT=${1:-studies/knee}
shift || true
SEED_BLUR="blur(sigma=0.875-1.75,kernel_size=3,p=0.2)"
SEED_CHESS="chessboard(cell=17.5,shift=4.375)"
medaug study run --data knee --size 64 --methods simclr,byol --base crop \
    --ops "flip(p=0.5),$SEED_BLUR,$SEED_CHESS,rotate(degrees=10),erase(area=0.01-0.1,aspect=0.5-2,p=0.3)" \
    --combos "flip,blur,flip+blur,chessboard,blur+rotate+flip+chessboard+erase" \
    --factor clahe=on,off --seeds 3 --epochs ${EPOCHS:-4} --batch-size 64 \
    --supervised-epochs ${SUP_EPOCHS:-4} --out "$OUT" "$@"
