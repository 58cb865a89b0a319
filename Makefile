# The README's two commands: `make run` and `make test`. Each sets up .venv/
# first (once; again when pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
QUESTION ?= Combien de soldats nord-coréens ont été envoyés en Russie ?
export HF_HUB_OFFLINE := 1
export OMP_WAIT_POLICY := PASSIVE

.PHONY: setup run test lint bench clean chromium screenshot mutation

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
	$(BIN)/python app.py

ask: setup
	$(BIN)/bot ask "$(QUESTION)"

# The browser test drives Debian's Chromium (no browser download); as root
# we install it, otherwise we say how.
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  { echo "the browser test needs Chromium: sudo apt-get install chromium"; exit 1; }

# The benchmarks' quick mode is a crash test (it asserts nothing about time);
# its results go to a temporary folder, not over the committed full run.
test: setup chromium
	$(BIN)/python -m pytest
	$(BIN)/ruff check bot tests bench eval app.py
	$(BIN)/mypy
	out=$$(mktemp -d) && $(BIN)/python -m bench --quick --out "$$out" && rm -rf "$$out"

# The README's picture: the browser test, saving its screenshot over docs/screenshot.png.
screenshot: setup chromium
	$(BIN)/python -m pytest tests/test_browser.py --screenshot docs/screenshot.png

bench: setup
	$(BIN)/python -m bench

# Mutation testing (docs/mutation.md), not part of `make test`: mutmut mutates
# bot/cite.py, extractive.py, generate.py, index.py and pipeline.py (config in
# pyproject.toml) and runs the fast tests that reach each mutant, from scratch
# in mutants/ (ignored by git), one worker at nice 19 unless MUTATION_CHILDREN says.
MUTATION_CHILDREN ?= 1
mutation: setup
	$(BIN)/pip install --quiet -e ".[mutation]"
	rm -rf mutants && mkdir mutants
	nice -n 19 $(BIN)/mutmut run --max-children $(MUTATION_CHILDREN) > mutants/run.log 2>&1 || { tail -c 3000 mutants/run.log; exit 1; }
	@tail -c 300 mutants/run.log | tr '\r' '\n' | tail -3
	$(BIN)/python eval/mutation_report.py

clean:
	rm -rf $(VENV) index/*.faiss index/*.jsonl index/manifest.json
