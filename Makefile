# Two commands for a newcomer: `make run` (the main job on bundled sample data, offline)
# and `make test` (lint, types, the whole suite). Both install first, quickly when nothing changed.
# `make install` installs the exact versions of requirements-dev.lock (with their hashes),
# then the project itself; `make lock` regenerates both lock files from pyproject.toml.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# uv resolves the lock files (pip installs them); pinned so a re-lock is repeatable.
UV_VERSION ?= 0.13.9
# Universal locks (markers for other platforms) for Python 3.11+, with the hashes of every
# file PyPI has for each pin. uv keeps the current pins unless LOCK_ARGS=--upgrade.
LOCK = $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --index-url https://pypi.org/simple --custom-compile-command "make lock" \
	--quiet $(LOCK_ARGS)

.PHONY: install lock run test lint typecheck bench clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements-dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed; set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

lock: $(STAMP)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(LOCK) --extra postgres -o requirements.lock
	$(LOCK) --extra postgres --extra dev -o requirements-dev.lock

# The sample run works in DATA_DIR/sample/ (its own store, the outbox, its own key): it never
# touches an operator's real store, archive or issues, whatever .env says.
run: install
	$(BIN)/morningpost run --sample

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
