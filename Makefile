# The two commands a newcomer runs: `make demo` and `make test`. Each sets itself up.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
MEDAUG := $(VENV)/bin/medaug
# The shared real data beside the project's root, when there is one.
ifneq ($(wildcard ../shared/data),)
export MEDAUG_DATA_DIR ?= $(abspath ../shared/data)
endif

.PHONY: install demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The main job on the default dataset (PneumoniaMNIST): summary, cache, augmentation preview,
# a short SimCLR pretraining run (started afresh each time), then its probes beside random init
# and a Grad-CAM panel of both with their faithfulness.
demo: $(STAMP)
	$(MEDAUG) data summary --data pneumoniamnist
	$(MEDAUG) prepare --data pneumoniamnist --size 28
	$(MEDAUG) augment preview --data pneumoniamnist --size 28 --images 8 \
		--ops "crop+rotate+flip+blur+chessboard+erase+intensity" --out out/demo/augment_preview.png
	rm -rf out/demo/pretrain-simclr
	$(MEDAUG) pretrain --data pneumoniamnist --size 28 --method simclr --epochs 2 \
		--batch-size 128 --out out/demo/pretrain-simclr
	$(MEDAUG) probe -e out/demo/pretrain-simclr --label-fractions 0.1,1 --seeds 2 \
		--out out/demo/probe
	$(MEDAUG) explain --runs out/demo/pretrain-simclr random:resnet18@0 --images 6 \
		--layer layer2 --faithfulness-images 64 --out out/demo/explain

# The whole suite, slow tests included (CI runs exactly this).
test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests

bench: $(STAMP)
	$(MEDAUG) bench augment
	$(MEDAUG) bench train

clean:
	rm -rf .medaug-cache out .pytest_cache
