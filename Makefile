# Two commands: `make run` (set up, build the index, open the assistant) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)
PIP    := $(BIN)/python -m pip --disable-pip-version-check --quiet

.PHONY: setup index run test lint bench clean browser

setup: $(STAMP)

# torch first: the pinned CPU build lies on this machine's disk; anything else would pull CUDA.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[dev]'
	$(PIP) install --no-deps medspacy==1.3.1  # its spacy<3.8 pin is stale: see pyproject.toml
	rm -f $(VENV)/.installed-*
	touch $@

index: setup
	$(BIN)/assistant index build

run: index
	$(BIN)/assistant serve

# The browser tests drive Debian's chromium (Playwright cannot download a browser here).
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

lint: setup
	$(BIN)/ruff check assistant tests scripts
	$(BIN)/mypy assistant tests

test: lint browser
	$(BIN)/pytest

bench: index
	$(BIN)/assistant bench retrieval
	$(BIN)/assistant bench answers
	$(BIN)/assistant bench api
	$(BIN)/assistant bench facts

clean:
	rm -rf $(VENV) index/builds index/CURRENT index/.lock

# The eval report of every committed case set (docs/eval-report/ holds the latest committed one).
.PHONY: eval-report
eval-report: index
	$(BIN)/assistant eval evals/*.jsonl --report evals/report --thresholds evals/thresholds.json
