# RGB-T tracking suite. `make help` lists the targets.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export WANDB_MODE ?= offline
export PYTHONUNBUFFERED := 1

.DEFAULT_GOAL := help

help: ## list the targets
	@if [ -t 1 ]; then on='\033[36m'; off='\033[0m'; else on=''; off=''; fi; \
	grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*?## "}; {printf "  %s%-12s%s %s\n", on, $$1, off, $$2}'

# a stamp file (not .venv/bin/python, a symlink whose target touch would change)
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with its test extras

train: $(STAMP) ## train the default variant (CMC*) on the embedded synthetic benchmark, CPU
	$(BIN)/python -m src.train

pretrain: $(STAMP) ## retrain the shipped single-modal starting point (checkpoints/single_synthetic_cpu.pt)
	$(BIN)/python -m src.train experiment=pretrain

test: $(STAMP) ## run the fast tests (< 10 min on 2 CPU cores)
	$(BIN)/python -m pytest -q

test-full: $(STAMP) ## run every test, the slow ones too
	$(BIN)/python -m pytest -q -m ''

lint: $(STAMP) ## ruff check
	$(BIN)/ruff check src tests scripts

realcheck: $(STAMP) ## track a folder of real sequences: make realcheck REAL=DIR [CKPT=...] (default: make train's)
	@test -n "$(REAL)" || { echo "make realcheck REAL=DIR: a folder with one sub-folder per real sequence"; exit 2; }
	$(BIN)/python -m src.realcheck real=$(REAL) $(if $(CKPT),ckpt_path=$(CKPT))

ablate: $(STAMP) ## the whole study on the embedded default: 7 variants, TSF on/off, baselines, comparison
	$(BIN)/python scripts/ablate.py

data: $(STAMP) ## generate the embedded synthetic RGB-T benchmark under data/
	$(BIN)/python -m src.data.synthetic

bench: $(STAMP) ## run the benchmark scripts (figures go in BENCHMARKS.md)
	$(BIN)/python scripts/bench_model.py
	$(BIN)/python scripts/bench_data.py
	$(BIN)/python scripts/bench_tracker.py
	$(BIN)/python scripts/bench_metrics.py
	$(BIN)/python scripts/bench_train_step.py
	$(BIN)/python scripts/bench_export.py
	$(BIN)/python scripts/bench_long_sequence.py
	$(BIN)/python scripts/bench_benchmark_time.py

gpu-check: $(STAMP) ## on a machine with a CUDA GPU: tracking FPS, a training step, DDP, GPU/CPU agreement
	$(BIN)/python scripts/gpu_check.py

# The VOT toolkit in an environment of its own (opencv, numba: ~700 MB; requirements-vot.txt), and the vot-trax
# package alone in a folder the tracker processes (this project's interpreter) put on their path
VOT_VENV := .vot-venv
VOT_STAMP := $(VOT_VENV)/.installed
VOT_WS ?= logs/vot/workspace
VOT_SEQUENCES ?= 4
VOT_FRAMES ?= null
VOT_TRACKERS ?= kcf_rgbt
comma := ,
empty :=
space := $(empty) $(empty)

$(VOT_STAMP): requirements-vot.txt
	$(PY) -m venv $(VOT_VENV)
	$(VOT_VENV)/bin/pip install -q --upgrade pip
	$(VOT_VENV)/bin/pip install -q -r requirements-vot.txt
	mkdir -p $(VOT_VENV)/trax-path
	ln -sfn "$$($(VOT_VENV)/bin/python -c 'import os, trax; print(os.path.dirname(trax.__file__))')" \
		$(VOT_VENV)/trax-path/trax
	@touch $(VOT_STAMP)

vot: $(STAMP) $(VOT_STAMP) ## VOT-RGBT protocol, VOT toolkit: [VOT_SEQUENCES=4 VOT_FRAMES=N CKPT=...] (docs/vot.md)
	rm -rf $(VOT_WS)
	$(BIN)/python -m src.vot workspace $(VOT_WS) limit_sequences=$(VOT_SEQUENCES) max_frames=$(VOT_FRAMES) \
		'trackers=[$(subst $(space),$(comma),$(VOT_TRACKERS))]' $(if $(CKPT),ckpt_path=$(CKPT))
	cd $(VOT_WS) && $(CURDIR)/$(VOT_VENV)/bin/vot evaluate --workspace . ours $(VOT_TRACKERS)
	cd $(VOT_WS) && $(CURDIR)/$(VOT_VENV)/bin/vot analysis --workspace . --format json --name make-vot
	cd $(VOT_WS) && $(CURDIR)/$(VOT_VENV)/bin/vot report --workspace . --format html --name make-vot
	$(BIN)/python -m src.vot summary $(VOT_WS)

clean: ## remove outputs (keeps .venv and data/)
	rm -rf logs outputs multirun wandb .pytest_cache

.PHONY: help install train pretrain test test-full lint realcheck ablate data bench gpu-check vot clean
