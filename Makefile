# Respectline: every set-up step the project needs, from a fresh clone.
# `make demo` runs the product's main job on embedded defaults, `make test` runs the tests.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install asterisk postgresql test unit e2e demo run bench lint typecheck clean

install: $(STAMP)

# Rebuilt only when the package metadata changes, so a second `make install` costs nothing.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@touch $@

asterisk:
	scripts/install-asterisk

# PostgreSQL's server programs: the store tests start a throw-away cluster of their own.
postgresql:
	scripts/install-postgresql

test: install asterisk postgresql
	scripts/run-pytest

unit: install postgresql
	scripts/run-pytest -m "not e2e"

e2e: install asterisk postgresql
	scripts/run-pytest tests/e2e

typecheck: install
	$(BIN)/mypy

demo: install asterisk
	$(BIN)/respectline demo --db sqlite:///var/demo.sqlite

run: install asterisk
	$(BIN)/respectline sandbox-run

bench: install
	$(BIN)/python bench/fastagi.py

bench-calls: install asterisk postgresql
	$(BIN)/python bench/calls.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache
