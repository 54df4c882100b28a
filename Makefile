# Two set-up commands for a fresh machine: `make demo` and `make test` (each creates .venv).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-quick test-slow lint install install-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv installs what pip would, in parallel (30 s instead of 2 min here), compiling the bytecode as pip does; it
# reads pip's extra wheel folder (PIP_FIND_LINKS) where one is set.
UV := $(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS))

$(BIN)/uv: $(BIN)/python
	$(BIN)/python -m pip install --quiet uv

# Each installs again only when the package's settings change.
install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/.installed: $(BIN)/uv setup.cfg pyproject.toml
	$(UV) -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/uv setup.cfg pyproject.toml
	$(UV) -e ".[dev]"
	touch $@

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

# The loop while editing: TensorFlow only, in-process: without the slow group, the README walk and the tests
# that start the installed command.
test-quick: install-dev
	$(PYTEST) -m "not slow and not walk and not shell"

# The slow group, under both backends.
test-slow: install-dev
	$(PYTEST) -m slow
	KERAS_BACKEND=jax $(PYTEST) -m "portable and slow"
