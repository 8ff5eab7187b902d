# Fresh machine: `make install` then `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The development data beside the checkout when it is there; else the code downloads the pinned public
# files into ./data once (and says where to put them when offline).
ifneq ($(wildcard ../shared/data/projects.json),)
export TAGGER_DATA_DIR ?= $(abspath ../shared/data)
endif
# Likewise the development copies of pretrained encoders (configs/hybrid.yaml's MiniLM), found by hub id there.
ifneq ($(wildcard ../shared/models),)
export TAGGER_MODELS_DIR ?= $(abspath ../shared/models)
endif

.PHONY: help install test test-fast test-model-env lint format help-copies fit tune mlflow-ui dashboard bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

install: ## create .venv with the CPU build of torch and the package (editable, with dev tools and optuna-dashboard)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install "torch==2.13.0"  # the CPU build; unpinned torch could pull a multi-GB CUDA build
	$(BIN)/pip install -e ".[dev,dashboard]"

# The suite runs on every core (pytest-xdist; work stealing evens out the long worker-pool tests).
PARALLEL := -n auto --dist worksteal
test: ## the whole suite, slow end-to-end tests included (what CI runs; data: ../shared/data, else ./data)
	$(BIN)/python -m pytest $(PARALLEL)

test-fast: ## the edit loop: every test but the slow and integration ones
	$(BIN)/python -m pytest $(PARALLEL) -m "not slow and not integration"

test-model-env: ## a logged model loads in a fresh virtualenv built from its own requirements.txt (pip, ~100 s)
	$(BIN)/python -m pytest -m model_env

lint: ## ruff lint and format check
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

help-copies: ## record again the --help that tagger and tagger-baseline answer without Lightning (after an option change)
	$(BIN)/python -c "from tagger import baseline, cli; cli.KEPT.write(cli.run); baseline.KEPT.write(baseline.run)"

fit: ## train the seed CNN on the data in TAGGER_DATA_DIR
	$(BIN)/python -m tagger.cli fit --config configs/cnn.yaml

tune: ## a 50-trial study, default search space (converged linear family or Adam-trained networks), 5-fold CV (studies/tagger/)
	$(BIN)/python -m tagger.tune --n-trials 50

mlflow-ui: ## MLflow UI on the embedded store, at http://127.0.0.1:5000
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

STORAGE ?= optuna.journal
dashboard: ## optuna-dashboard on the study storage (STORAGE=optuna.journal), at http://127.0.0.1:8080
	$(BIN)/optuna-dashboard --host 127.0.0.1 --port 8080 $(STORAGE)

bench: ## reference vs fast char-CNN, train epoch and inference, float32 and bf16
	$(BIN)/python benchmarks/bench_cnn.py

clean: ## remove what the commands write by default (logs, checkpoints, studies, baselines, MLflow and Optuna stores)
	rm -rf lightning_logs studies baselines mlruns mlflow.db optuna.journal optuna.journal.lock
