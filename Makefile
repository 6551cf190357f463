PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo dev test test-fast lint bench bench-scale bench-backfill bench-latency bench-connections validate clean browser compose-cli

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/revqb demo

# Dagster UI (webserver + daemon) on the local instance of ./dagster.yaml: SQLite under .revqb/dagster_home,
# no environment variable needed. Sensors and schedules start STOPPED unless REVQB_AUTOMATION=on.
dev: $(STAMP)
	$(BIN)/dg dev

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The definitions load (dg reads [tool.dg] in pyproject.toml and the instance of ./dagster.yaml).
validate: $(STAMP)
	$(BIN)/dg check defs

# Debian's Chromium and its matching chromedriver, for the browser tests (revqb_pipeline_tests/ui).
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; else \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends chromium chromium-driver; fi

# A compose CLI (Debian's docker-compose unless `docker compose` exists): the deploy tests run
# `docker compose config` on deploy/docker-compose*.yaml (no Docker daemon needed).
compose-cli:
	@if docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null; then :; else \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends docker-compose; fi

test: $(STAMP) browser compose-cli
	$(BIN)/ruff check .
	$(MAKE) validate
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

# Everything that starts no sandbox and no Dagster job (the `slow` marker); seconds, see the README.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -n 2 -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

# Issue 10's scale benchmark: a billing day of 1k and 10k invoices + the month (long; never part of `test`).
bench-scale: $(STAMP)
	$(BIN)/python -m benchmarks.scale $(SCALE_ARGS)

# Issue 10's backfill benchmark: 12 months of a 1,000-customer tenant as range runs (long; never part of `test`).
bench-backfill: $(STAMP)
	$(BIN)/python -m benchmarks.backfill $(BACKFILL_ARGS)

# Issue 14's real-time benchmark: bill in Rev.io -> invoice in QBO through webhooks and through polling (~6 min).
bench-latency: $(STAMP)
	$(BIN)/python -m benchmarks.webhook_latency $(LATENCY_ARGS)

# Issue 13's benchmark: three QBO realms in parallel vs one (~4.5 min with CONNECTIONS_ARGS="--invoices 200").
bench-connections: $(STAMP)
	$(BIN)/python -m benchmarks.connections $(CONNECTIONS_ARGS)

clean:
	rm -rf $(VENV) .revqb .pytest_cache .ruff_cache
