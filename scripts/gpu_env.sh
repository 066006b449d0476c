# Sourced by the GPU check scripts: install the carried wheels (.whl/) beside the machine's
# torch, put the source tree on PYTHONPATH, send caches to /tmp, and make the output folder.
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
