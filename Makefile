# Two commands for a newcomer: `make run` (the main job on bundled sample data, offline)
# and `make test` (lint, types, the whole suite). Both install first, quickly when nothing changed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# `make run` sends demo content to demo subscribers through the outbox only; links in it
# are signed with this key unless MORNINGPOST_SECRET_KEY is already set.
SAMPLE_SECRET_KEY ?= sample-run-key-not-for-production

.PHONY: install run test lint typecheck bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed; set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: install
	MORNINGPOST_SECRET_KEY="$${MORNINGPOST_SECRET_KEY:-$(SAMPLE_SECRET_KEY)}" $(BIN)/morningpost run --sample

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

bench: install
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache var
