#!/usr/bin/env bash
# Issue 4's PneumoniaMNIST evidence on a GPU: the MedMNIST v2 ResNet-18 (28) protocol for the
# supervised baseline (3x3 stem, no max-pool = resnet18-small; 100 epochs, batch 128, Adam
# lr 1e-3, no augmentation, best val AUC), SimCLR and BYOL pretraining of the same backbone,
# and their probes at 1%, 10% and 100% of the labels beside random init with the same seed.
# Needs .devdata/pneumoniamnist/pneumoniamnist.npz (a copy of the shared file, git-ignored)
# and the wheels of scripts/gpu_train_check.sh. Usage (repo root): bash scripts/gpu_eval_check.sh
source "$(dirname "$0")/gpu_env.sh" "${1:-out/gpu}"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$out/gpu.txt"
M="python3 -m medaug"
R=/tmp/runs
export OMP_NUM_THREADS=4  # three trainings share the machine's 16 cores and the GPU
timeout 330 $M supervised --data pneumoniamnist --size 28 --no-clahe --backbone resnet18-small \
    --ops none --epochs 100 --batch-size 128 --accelerator gpu --out $R/pm-supervised \
    > "$out/pm_supervised.txt" 2>&1 &
for m in simclr byol; do
    timeout 330 $M pretrain --data pneumoniamnist --size 28 --no-clahe --backbone resnet18-small \
        --method $m --epochs 100 --batch-size 256 --accelerator gpu --out $R/pm-$m \
        > "$out/pm_pretrain_$m.txt" 2>&1 &
done
wait
tail -3 "$out"/pm_*.txt
timeout 30 $M supervised --data pneumoniamnist --size 28 --no-clahe --backbone resnet18-small \
    --ops none --epochs 100 --batch-size 128 --accelerator gpu --threshold 0.5 \
    --out $R/pm-supervised 2>&1 | tee "$out/pm_supervised_t05.txt"
timeout 150 $M probe -e $R/pm-simclr -e $R/pm-byol --label-fractions 0.01,0.1,1 --seeds 3 \
    --out $R/pm-probe 2>&1 | tee "$out/pm_probe.txt"
$M compare $R/pm-supervised $R/pm-probe::pm-simclr 2>&1 | tee "$out/pm_compare.txt"
$M compare $R/pm-supervised $R/pm-probe::pm-byol 2>&1 | tee -a "$out/pm_compare.txt"
for d in pm-supervised pm-simclr pm-byol pm-probe; do
    mkdir -p "$out/$d"
    cp $R/$d/*.csv $R/$d/*.json "$out/$d/" 2>/dev/null
done
