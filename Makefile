# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.qagen-installed

.PHONY: demo test bench lint format clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

# The IQA metrics demo (~20 s), then QAGAN-SSIM trained for 4 minutes on Fashion-MNIST (else the built-in photos)
# (the qagan-ssim-demo preset), then runs/demo/report.html: a quick evaluation of the run (SWD,
# NIQE, GLCM on 64 images, as qagen eval) and one page with the IQA scores and maps, the loss
# curves, the sample grids, the evaluation and the quality maps (qagen.demo_page, the
# run-report renderer).
DEMO_MINUTES ?= 4
DEMO_EVAL_N ?= 64
# Fashion-MNIST (Debian's dataset-fashion-mnist, 32 px) when the package is installed, else the
# built-in photos; the page's title says which.
FMNIST := $(wildcard /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
DEMO_DATA := $(if $(FMNIST),--data fashion-mnist --set data.resolution=32,--data builtin)
DEMO_WHAT := $(if $(FMNIST),Fashion-MNIST (32 px),the built-in photos)
demo: $(STAMP)
	$(PY) -m qagen.demo --out runs/demo
	rm -rf runs/demo/train
	$(VENV)/bin/qagen train qagan-ssim $(DEMO_DATA) --preset demo --out runs/demo/train \
		--max-minutes $(DEMO_MINUTES) --no-report
	$(PY) -m qagen.demo_page runs/demo --run runs/demo/train \
		--evaluate swd,niqe,glcm --eval-n $(DEMO_EVAL_N) \
		--title "qagen demo: QAGAN-SSIM on $(DEMO_WHAT) ($(DEMO_MINUTES) min on this CPU)"

# One pytest-xdist worker per core (at most 4), one intra-op thread each (tests/conftest.py).
test: $(STAMP)
	$(PY) -m pytest -n auto --maxprocesses=4 tests

bench: $(STAMP)
	$(PY) benchmarks/iqa_speed.py

lint: $(STAMP)
	$(VENV)/bin/ruff check qagen tests benchmarks
	$(VENV)/bin/ruff format --check qagen tests benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff format qagen tests benchmarks
	$(VENV)/bin/ruff check --fix qagen tests benchmarks

clean:
	rm -rf runs .pytest_cache
