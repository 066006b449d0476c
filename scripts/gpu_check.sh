#!/usr/bin/env bash
# The GPU check, for a machine with CUDA and PyTorch but without medaug's other packages
# (kornia, pydicom travel as wheels in .whl/; a small real image set in .devdata/).
# Usage (repo root): bash scripts/gpu_check.sh OUT_DIR
# Where the GPU machine cannot install packages, prepare beside it (both ignored by git):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_17_x86_64 -d .whl \
#       kornia==0.9.0 kornia_rs==0.2.0 pydicom==3.0.2
#   a few real images laid out as $MEDAUG_DATA_DIR/chest_xray_pneumonia_224/chest_xray/...
#   in .devdata/ (40 per class and split were used for docs/bench/).
source "$(dirname "$0")/gpu_env.sh" "${1:-out/gpu}"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))" | tee -a "$out/gpu.txt"
python3 -m pytest -q -p no:cacheprovider tests/augment 2>&1 | tail -5 | tee "$out/pytest_augment.txt"
for b in 16 256; do
    python3 -m medaug.cli bench augment --data chest --images 160 --batch "$b" --device cuda \
        2>&1 | tee "$out/bench_augment_cuda_b$b.txt"
done
