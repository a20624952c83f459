# albertZero: `make demo` and `make test` are the whole Quickstart; both run `make setup` first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
TORCH_VERSION := 2.13.0
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# Solution notebooks of the exercises (exercises/README.md); CI runs them like the chapters.
EXERCISES := $(sort $(wildcard exercises/[0-9][0-9]_*.ipynb))
NBVAL := --nbval-sanitize-with notebooks/sanitize.cfg
# Tests, the demo and the notebooks never touch the network.
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
	HF_HUB_DISABLE_PROGRESS_BARS=1

# torch's CPU build on a machine without an NVIDIA GPU: PyPI's Linux wheel of torch is the >1 GB CUDA build, so
# without `nvidia-smi` pip is pointed at PyTorch's CPU wheel index. It stays pip's configured index (TORCH_INDEX
# empty) with a GPU, or when a local wheel of this torch lies in $$PIP_FIND_LINKS (a wheelhouse, as on CI and the
# development machine, which cannot reach download.pytorch.org). Override: make setup TORCH_INDEX=URL (or empty).
CPU_TORCH_INDEX := https://download.pytorch.org/whl/cpu
LOCAL_TORCH := $(if $(PIP_FIND_LINKS),$(wildcard $(PIP_FIND_LINKS)/torch-$(TORCH_VERSION)*.whl))
TORCH_INDEX ?= $(if $(or $(shell command -v nvidia-smi 2>/dev/null),$(LOCAL_TORCH)),,$(CPU_TORCH_INDEX))

.PHONY: setup test demo lab notebooks assignments bench pretrain-tiny clean help

help:
	@echo "make demo  - run the offline re-init comparison on the embedded sample (writes runs/demo/)"
	@echo "make test  - run the test suite and every notebook (chapters and exercise solutions) under nbval"
	@echo "make setup - create .venv and install albertZero (idempotent)"
	@echo "make assignments - the exercises through nbgrader: release, autograding, feedback (runs/course/)"
	@echo "make lab | notebooks | bench | pretrain-tiny | clean"

# The stamp is keyed on pyproject.toml: setup reinstalls only when the dependencies change.
# torch is installed first and pinned here (not in pyproject.toml) so that pip takes the local build.
setup: $(STAMP)
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (albertZero)" >/dev/null
	@touch $(STAMP)

test: setup
	$(OFFLINE) MPLBACKEND=Agg TQDM_DISABLE=1 $(BIN)/python -m pytest tests --nbval $(NOTEBOOKS) $(EXERCISES) $(NBVAL)

demo: setup
	$(OFFLINE) MPLBACKEND=Agg $(BIN)/albertzero compare --profile smoke --output-dir runs/demo

lab: setup
	$(BIN)/jupyter lab notebooks/

notebooks: setup
	@test -n "$(NOTEBOOKS)" || { echo "make notebooks: no notebooks yet"; exit 1; }
	$(OFFLINE) MPLBACKEND=Agg TQDM_DISABLE=1 $(BIN)/python -m albertzero_utils.notebook_runs execute \
		$(NOTEBOOKS) $(EXERCISES)

# The exercises as an nbgrader course (docs/teaching.md): runs/course/release/ holds the student version,
# runs/course/feedback/ the feedback of two example submissions (the blank release and the solutions).
assignments: setup
	rm -rf runs/course
	$(OFFLINE) MPLBACKEND=Agg TQDM_DISABLE=1 PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/albertzero exercises --course runs/course

# Writes data/tiny-albert-pretrained/ (a pretrained tiny ALBERT; none is committed yet, see README) from data/pretrain/corpus.txt,
# at most an hour on 2 CPU cores; the model card (its README.md) is written from this run's own records.
PRETRAIN_RUN := runs/pretrain-tiny
pretrain-tiny: setup
	$(OFFLINE) $(BIN)/albertzero pretrain --profile tiny --output-dir $(PRETRAIN_RUN) --overwrite-output-dir
	$(BIN)/python -m albertzero_utils.model_card $(PRETRAIN_RUN) data/tiny-albert-pretrained

bench: setup
	$(OFFLINE) MPLBACKEND=Agg $(BIN)/python bench/run.py

clean:
	rm -rf runs/ .pytest_cache/ build/ dist/ *.egg-info
