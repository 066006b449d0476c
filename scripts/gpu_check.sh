#!/usr/bin/env bash
# The GPU check, for a machine with CUDA and PyTorch but without medaug's other packages
# (kornia, pydicom travel as wheels in .whl/; a small real image set in .devdata/).
# Usage (repo root): bash scripts/gpu_check.sh OUT_DIR
set -uo pipefail
out=${1:-out/gpu}
mkdir -p "$out"
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src:$PWD/tests:${PYTHONPATH:-}" MEDAUG_DATA_DIR=${MEDAUG_DATA_DIR:-$PWD/.devdata}
export MEDAUG_CACHE_DIR=/tmp/medaug-cache PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))" | tee -a "$out/gpu.txt"
python3 -m pytest -q -p no:cacheprovider tests/augment 2>&1 | tail -5 | tee "$out/pytest_augment.txt"
for b in 16 256; do
    python3 -m medaug.cli bench augment --data chest --images 160 --batch "$b" --device cuda \
        2>&1 | tee "$out/bench_augment_cuda_b$b.txt"
done
