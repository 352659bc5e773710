# One task runner. Every target creates or reuses the environment in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev
ARGS ?=

.PHONY: env demo test test-fast lint bench clean

# `make demo` installs only what echolens needs to run; tests, lint and benchmarks add the
# development tools on top (the demo on a fresh clone skips their download).
env: $(DEV)

$(RUNTIME): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(RUNTIME)

$(DEV): $(RUNTIME)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(DEV)

demo: $(RUNTIME)
	$(BIN)/echolens demo $(ARGS)

test: $(DEV)
	$(BIN)/pytest -q $(ARGS)

test-fast: $(DEV)
	$(BIN)/pytest -q -m 'not slow' $(ARGS)

lint: $(DEV)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src

bench: $(DEV)
	$(BIN)/python benchmarks/run.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
