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

clean: ## remove outputs (keeps .venv and data/)
	rm -rf logs outputs multirun wandb .pytest_cache

.PHONY: help install train pretrain test test-full lint realcheck ablate data bench gpu-check clean
