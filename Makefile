# Two commands matter: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_WORKERS ?= 2

.PHONY: console-assets demo demo-emulator test test-unit lint typecheck check bench-plan bench-deliver bench-faults bench-urgent bench-roster bench-console clean install install-dev

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## Build the demo school and send an emergency closure through the whole pipeline.
demo: install
	$(BIN)/dispatcher db upgrade
	$(BIN)/dispatcher demo

## The same through the real Twilio, SendGrid and FCM SDKs, against the local provider emulator.
demo-emulator: install
	$(BIN)/dispatcher db upgrade
	$(BIN)/dispatcher demo --providers emulator

## Run the whole test suite (SQLite and PostgreSQL, real Redis), in parallel.
test: install-dev
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

## Only the tests that need no service (tests/unit/, marked `unit`): seconds, not minutes.
test-unit: install-dev
	$(BIN)/pytest -n $(PYTEST_WORKERS) -m unit

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: install-dev
	$(BIN)/mypy

check: lint typecheck test

bench-plan: install-dev
	$(BIN)/python bench/plan.py

bench-deliver: install-dev
	$(BIN)/python bench/deliver.py

## Faults mid-announcement (PostgreSQL, Redis, a worker, the providers): sent once, twice, never.
bench-faults: install-dev
	$(BIN)/python bench/faults.py

## An emergency closure while a big newsletter sends: urgent first on the rate limit.
bench-urgent: install-dev
	$(BIN)/python bench/urgent.py

## A trust's roster import on PostgreSQL, 10,000 and 100,000 rows: rows a second, peak memory.
bench-roster: install-dev
	$(BIN)/python bench/roster.py

## The console's pages and live progress with the 50-school trust and a 127,000-delivery send.
bench-console: install-dev
	$(BIN)/python bench/console.py

## Refresh the console's vendored govuk-frontend (pinned in the script; needs node and npm).
console-assets:
	bash scripts/refresh-govuk-frontend.sh

## Stop the demo's embedded Redis (it would outlive its folder), then remove what runs made.
clean:
	-test -x $(BIN)/dispatcher && $(BIN)/dispatcher redis stop
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
