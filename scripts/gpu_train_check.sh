#!/usr/bin/env bash
# The pretraining GPU check: bench train on CUDA and two short runs with bf16 mixed precision.
# For a machine with CUDA, PyTorch and Lightning but without medaug's other packages; wheels
# travel in .whl/ (kornia, kornia_rs, pydicom, lightly) and the 64 px knee set as a MedMNIST-
# style .devdata/knee64.npz (both ignored by git). Prepare them beside it:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_17_x86_64 -d .whl \
#       kornia==0.9.0 kornia_rs==0.2.0 pydicom==3.0.2 lightly==1.6.0
#   .devdata/knee64.npz: {train,val,test}_{images,labels} from the knee cache at 64 px.
# Usage (repo root): bash scripts/gpu_train_check.sh OUT_DIR
source "$(dirname "$0")/gpu_env.sh" "${1:-out/gpu}"
knee="medmnist:$PWD/.devdata/knee64.npz"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$out/gpu.txt"
python3 -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__, torch.cuda.get_device_name(0))" | tee -a "$out/gpu.txt"
for b in 64 256; do
    timeout 150 python3 -m medaug bench train --data "$knee" --device cuda --batch "$b" \
        --steps 10 2>&1 | tee "$out/bench_train_cuda_b$b.txt"
done
for m in simclr byol; do
    timeout 150 python3 -m medaug pretrain --data "$knee" --no-clahe --method "$m" \
        --accelerator gpu --epochs 10 --batch-size 256 --out "/tmp/runs/$m" 2>&1 \
        | tee "$out/pretrain_$m.txt"
    cp "/tmp/runs/$m/metrics.csv" "$out/pretrain_${m}_metrics.csv"
    cp "/tmp/runs/$m/run.json" "$out/pretrain_${m}_run.json"
done
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/augment tests/methods \
    tests/train/test_pretrain.py 2>&1 | tail -5 | tee "$out/pytest_train.txt"
