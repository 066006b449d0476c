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

# The main job on the default dataset (PneumoniaMNIST): summary, augmentation preview, then a
# demo study (configs/demo-study.yaml, started afresh each time: SimCLR and BYOL under crop+flip,
# crop+blur and crop+flip+blur, 1 seed, random-init and supervised references) and its report
# with label-efficiency curves and Grad-CAM panels; prints the report's path.
demo: $(STAMP)
	$(MEDAUG) data summary --data pneumoniamnist
	$(MEDAUG) augment preview --data pneumoniamnist --size 28 --images 8 \
		--ops "crop+rotate+flip+blur+chessboard+erase+intensity" --out out/demo/augment_preview.png
	rm -rf out/demo/study
	$(MEDAUG) study run --config configs/demo-study.yaml --out out/demo/study
	$(MEDAUG) study report out/demo/study

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
