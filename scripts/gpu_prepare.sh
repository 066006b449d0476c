#!/usr/bin/env bash
# Prepare scripts/gpu_bench.sh's carry on the CPU machine (both paths are ignored by git):
#   .whl/     medaug's packages that the device machine lacks (it has torch, Lightning, typer,
#             rich, scikit-learn, OpenCV, pandas): py3.12 manylinux wheels, no dependencies;
#   .devdata/knee128.npz  the knee set at 128 px without CLAHE, as a MedMNIST-style file
#             ({train,val,test}_{images,labels}); the study's CLAHE factor is applied to it on
#             the device, and --size 64 resizes it there.
# Usage (repo root, MEDAUG_DATA_DIR set): bash scripts/gpu_prepare.sh
set -euo pipefail
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl kornia==0.9.0 kornia_rs==0.2.0 pydicom==3.0.2 lightly==1.6.0 optuna==5.0.0 \
    alembic Mako sqlalchemy greenlet colorlog
mkdir -p .devdata
.venv/bin/python scripts/export_npz.py knee 128 .devdata/knee128.npz
du -sh .whl .devdata
