# Two set-up commands for a fresh machine: `make demo` and `make test` (each creates .venv).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-quick test-slow lint install install-dev

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
PYTEST := $(BIN)/pytest -n 2 --dist loadgroup

# What CI runs: every test but the slow group, then the Keras code's tests again under JAX.
test: lint
	$(PYTEST) -m "not slow"
	KERAS_BACKEND=jax $(PYTEST) -m "portable and not slow"

# The loop while editing: TensorFlow only, without the slow group and the README walk.
test-quick: install-dev
	$(PYTEST) -m "not slow and not walk"

# The slow group, under both backends.
test-slow: install-dev
	$(PYTEST) -m slow
	KERAS_BACKEND=jax $(PYTEST) -m "portable and slow"
