# The README's two commands: `make run` and `make test`. Each sets up .venv/
# first (once; again when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
QUESTION ?= Combien de soldats nord-coréens ont été envoyés en Russie ?
export HF_HUB_OFFLINE := 1
export OMP_WAIT_POLICY := PASSIVE

.PHONY: setup run test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "article-qa needs Python 3.11, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: this takes the CPU wheel; a bare "torch" would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

run: setup
	$(BIN)/bot ask "$(QUESTION)"

test: setup
	$(BIN)/python -m pytest
	$(BIN)/ruff check bot tests bench
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) index/*.faiss index/*.jsonl index/manifest.json
