# Flash Sales Dashboard. `make run` and `make test` each work on a fresh machine by themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.stamp-runtime
DEV_STAMP := $(VENV)/.stamp-dev
PIP_FLAGS ?= --disable-pip-version-check --quiet
# Test processes (pytest-xdist): each takes whole test files, so a file's fixtures are built once.
TEST_WORKERS ?= 2

.PHONY: help run test lint bench bench-import chromium venv deps dev-deps clean distclean

help:
	@echo "make run     start the dashboard (http://localhost:8501) and the scheduler; Ctrl-C stops both"
	@echo "make test    lint, then every test (unit, integration, pages, e2e in headless Chromium)"
	@echo "make lint    ruff check"
	@echo "make bench   page render benchmark (scale S); make bench-import: 1M leads from CSV"
	@echo "make clean   remove caches and test screenshots (distclean: the virtualenv too; data/ is kept)"

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the pins change.
$(RUNTIME_STAMP): requirements.txt | $(PY)
	$(PY) -m pip install $(PIP_FLAGS) -r requirements.txt
	@touch $@

$(DEV_STAMP): requirements-dev.txt $(RUNTIME_STAMP)
	$(PY) -m pip install $(PIP_FLAGS) -r requirements-dev.txt
	@touch $@

venv: $(PY)
deps: $(RUNTIME_STAMP)
dev-deps: $(DEV_STAMP)

run: $(RUNTIME_STAMP)
	@bash scripts/run.sh

# Debian's chromium for the browser tests (never `playwright install`: it downloads a browser of its own).
chromium:
	@bash scripts/ensure-chromium.sh

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .

# Lint and tests both run, so one report shows everything; either failing fails the target.
test: $(DEV_STAMP) chromium
	@status=0; \
	echo "== ruff check ."; $(VENV)/bin/ruff check . || status=1; \
	echo "== pytest"; $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile || status=1; \
	exit $$status

bench: $(RUNTIME_STAMP)
	$(PY) -m benchmarks.pages --scale S

bench-import: $(RUNTIME_STAMP)
	$(PY) -m benchmarks.imports --rows 1000000

clean:
	rm -rf .pytest_cache .ruff_cache tests/e2e/screenshots
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
