# syncd: `make demo` and `make test` work from a fresh clone; each makes or reuses .venv first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: help install demo test test-deep test-unit test-integration test-acceptance lint format bench bench-startup bench-intents soak intent-migration schema-doc dbt-sources webhook-schemas reference-data clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "syncd needs Python 3.11 or newer (PYTHON=$(PYTHON))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The bench extra (dlt, the peer `make bench` measures syncd against): only for the benchmark.
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

install: $(STAMP) ## Create or update the virtualenv (.venv) with syncd and its dev tools

demo: $(STAMP) ## Run syncd end to end in a throwaway dir (own sandbox + embedded PostgreSQL), ~10 s
	$(BIN)/syncd demo

test: $(STAMP) ## Run the whole test suite (unit, integration, acceptance)
	$(BIN)/pytest

DEEP_MINUTES ?= 20
test-deep: $(STAMP) ## Stateful property tests at length: random examples under every profile for DEEP_MINUTES (20)
	HYPOTHESIS_PROFILE=deep SYNCD_DEEP_MINUTES=$(DEEP_MINUTES) $(BIN)/pytest tests/integration/sync/test_stateful.py \
		-s --timeout=0 -p no:cacheprovider

test-unit: $(STAMP) ## Only the unit ring (no I/O)
	$(BIN)/pytest -m unit

test-integration: $(STAMP) ## Only the integration ring (real PostgreSQL, sandbox over loopback)
	$(BIN)/pytest -m integration

test-acceptance: $(STAMP) ## Only the acceptance ring (the syncd command as a user runs it)
	$(BIN)/pytest -m acceptance

lint: $(STAMP) ## ruff (lint and format check) and mypy --strict on syncd/
	$(BIN)/ruff check syncd tests migrations
	$(BIN)/ruff format --check syncd tests migrations
	$(BIN)/mypy

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix syncd tests migrations
	$(BIN)/ruff format syncd tests migrations

bench: $(BENCH_STAMP) ## syncd vs dlt vs a COPY anchor on a 20,000-event sandbox, judged by issue 12's targets (BENCH_ARGS="--events N ...")
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

intent-migration: $(STAMP) ## After changing syncd/intent_kinds.py: the migration that freezes the new trigger check (TITLE="...")
	$(BIN)/python -m syncd.db.intent_check "$(TITLE)"

bench-startup: $(STAMP) ## Time `syncd --help` and `syncd version` (median of 5) against the 0.3 s target; `make bench` includes it
	$(BIN)/python -m benchmarks.startup $(BENCH_ARGS)

bench-intents: $(STAMP) ## Benchmark write-back: 1,000 notes intents via syncd replay, --follow latency (BENCH_ARGS="--intents N ...")
	$(BIN)/python -m benchmarks.intents $(BENCH_ARGS)

soak: $(STAMP) ## Soak `syncd run` for minutes against a faulty sandbox, intents arriving (SOAK_ARGS="--minutes N ..."; not in `make test`)
	$(BIN)/python -m benchmarks.soak $(SOAK_ARGS)

schema-doc: $(STAMP) ## Regenerate docs/schema.md from the MetaData
	$(BIN)/python -m syncd.db.schema_doc > docs/schema.md

dbt-sources: $(STAMP) ## Regenerate docs/dbt/sources.yml (the mirror as a dbt source) from the MetaData
	@mkdir -p docs/dbt
	$(BIN)/python -m syncd.db.dbt_sources > docs/dbt/sources.yml

webhook-schemas: $(STAMP) ## Regenerate docs/webhook-schemas/ (JSON Schemas of the webhook payloads)
	$(BIN)/python -m syncd.webhook_schemas docs/webhook-schemas

reference-data: $(STAMP) ## Regenerate tests/data/api_reference.json from the API reference text (REFERENCE=path/to/000_ef00f9208c72b086.txt)
	$(BIN)/python -m tests.reference $(REFERENCE)

clean: ## Remove the virtualenv and caches (not your data dir)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
