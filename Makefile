# Two commands for a newcomer: `make run` and `make test`. Each sets up what is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)

.PHONY: run test setup setup-test lint bench screenshots clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# The designer's front end (TypeScript, React Flow), bundled by Vite into static/build/.
static/build/.stamp: frontend/package.json frontend/package-lock.json frontend/vite.config.ts \
		frontend/tsconfig.json saga/sagaboard-v1.schema.json $(shell find frontend/src -type f)
	@scripts/system-deps.sh run
	cd frontend && npm ci --no-audit --no-fund && npm run build
	@touch $@

setup: $(STAMP) static/build/.stamp
	@scripts/system-deps.sh run

setup-test: $(STAMP) static/build/.stamp
	@scripts/system-deps.sh test

# One process: HTTP and WebSockets, an in-process Celery worker and beat, demo traffic.
HOST ?= 127.0.0.1
PORT ?= 8000

run: setup
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py sagaboard demo
	exec $(BIN)/python manage.py sagaboard serve --host $(HOST) --port $(PORT)

test: setup-test lint
	scripts/test.sh

# The README's screenshots, taken again by the browser tests that show those pages.
screenshots: setup-test
	SAGABOARD_DOCS_SCREENSHOTS=1 scripts/test.sh tests/browser

# Lint: style, the floors of the house (import-linter: pyproject.toml), types of every app.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy saga common designer engine demo sagaboard

clean:
	rm -rf $(VENV) var/staticfiles
