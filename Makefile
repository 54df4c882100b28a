# Two set-up commands for a fresh machine: `make demo` and `make test` (each creates .venv).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint install install-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"

demo: install
	$(BIN)/keras-all demo

lint: install-dev
	$(BIN)/ruff check .

# Two pytest workers (pytest-xdist); the tests of the README walk's run share one worker (tests/conftest.py).
# The quick loop while editing: .venv/bin/pytest -m "not large" -n 2 --dist loadgroup
test: lint
	$(BIN)/pytest -n 2 --dist loadgroup
	KERAS_BACKEND=jax $(BIN)/pytest -n 2 --dist loadgroup -m portable
