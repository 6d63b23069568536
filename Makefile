# Two commands for a newcomer: `make run` and `make test`. Each sets up what is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One virtualenv, a stamp per purpose and state of the pins: `make run` installs what
# running needs (the base dependencies, the production topology's included), `make test`
# and `make lint` add the test and lint tools (the dev extra) to it.
DEPS := $(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
RUN_STAMP := $(VENV)/.installed-run-$(DEPS)
DEV_STAMP := $(VENV)/.installed-dev-$(DEPS)
# Bytecode is compiled as modules are first imported rather than all of it up front:
# compiling every installed module took most of the install's time.
PIP_INSTALL := $(BIN)/python -m pip install -q --no-compile -c constraints.txt

.PHONY: run test setup setup-test lint bench screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

# The dev extra holds the base dependencies too: `make run` after it installs nothing.
$(DEV_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@ $(RUN_STAMP)

# The designer's front end (TypeScript, React Flow), bundled by Vite into static/build/.
# Vite only bundles; the type check (tsc) is lint's, as mypy is for the Python.
static/build/.stamp: frontend/package.json frontend/package-lock.json frontend/vite.config.ts \
		frontend/tsconfig.json saga/sagaboard-v1.schema.json $(shell find frontend/src -type f)
	@scripts/system-deps.sh run
	cd frontend && npm ci --no-audit --no-fund && npx --no vite build
	@touch $@

setup: $(RUN_STAMP) static/build/.stamp
	@scripts/system-deps.sh run

setup-test: $(DEV_STAMP) static/build/.stamp
	@scripts/system-deps.sh test

# One process: HTTP and WebSockets, an in-process Celery worker and beat, demo traffic.
HOST ?= 127.0.0.1
PORT ?= 8000

# Migrating and creating the demo in the serving process spares two starts of Django.
run: setup
	exec $(BIN)/python manage.py sagaboard serve --setup --host $(HOST) --port $(PORT)

test: setup-test lint
	scripts/test.sh

# The README's screenshots, taken again by the browser tests that show those pages.
screenshots: setup-test
	SAGABOARD_DOCS_SCREENSHOTS=1 scripts/test.sh tests/browser

# Lint: style, the floors of the house (import-linter: pyproject.toml), types of every app
# and of the front end.
lint: $(DEV_STAMP) static/build/.stamp
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy saga common designer engine demo sagaboard
	cd frontend && npm run typecheck

clean:
	rm -rf $(VENV) var/staticfiles
