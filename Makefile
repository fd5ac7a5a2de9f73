# Lodestar: `make demo` runs everything, `make test` tests everything. `make help` lists targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
SCALE ?= 1

.DEFAULT_GOAL := help
.PHONY: help install lock demo models world serve test test-all lint format bench live-bench fuzz clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(BIN)/activate: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $(BIN)/activate

install: $(BIN)/activate ## create .venv and install the locked dependencies (and Debian's chromium and CJK fonts for the console's browser test and screenshots)
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) \
		|| echo "could not install Debian's chromium (needs root): the console's browser test will be skipped"
	@fc-list :lang=zh 2>/dev/null | grep -q . || (apt-get update -qq && apt-get install -y -qq fonts-noto-cjk >/dev/null) \
		|| echo "could not install fonts-noto-cjk (needs root): Chinese shows as boxes in console screenshots"

lock: install ## recompile requirements.lock from requirements.in (versions only, no addresses)
	$(BIN)/uv pip compile --python-version 3.11 --no-header --quiet requirements.in -o requirements.lock

COLLUSION_DATA ?= ../shared/data/procurement/collusion
REPLAY_FROM ?= 2025-12-01
REPLAY_SPEED ?= 6
demo: install ## the main job: keys, demo world, models, the service on $(HOST):$(PORT), and the world's last month replayed into it
	$(BIN)/lodestar demo --scale $(SCALE) --until $(REPLAY_FROM)
	$(MAKE) --no-print-directory models
	LODESTAR_HOST=$(HOST) LODESTAR_PORT=$(PORT) $(BIN)/python -m serving demo-credentials
	LODESTAR_TOKEN=$$($(BIN)/python -m serving token --subject demo-replay --role integration) \
		$(BIN)/lodestar replay --from $(REPLAY_FROM) --speed $(REPLAY_SPEED) \
		--service-url http://$(HOST):$(PORT) --wait 600 2>&1 | sed -u 's/^/[replay] /' &
	$(BIN)/python -m serving run --host $(HOST) --port $(PORT)

MODEL_JOBS ?= 2
models: install ## snapshot the store; train, gate and register every model on it (two chains at once); score the store into alerts
	$(BIN)/lodestar models --jobs $(MODEL_JOBS) --collusion-data $(COLLUSION_DATA)

world: install ## only generate and ingest the demo world
	$(BIN)/lodestar demo --scale $(SCALE) --regenerate

serve: install ## only start the service on the existing store
	$(BIN)/python -m serving run --host $(HOST) --port $(PORT)

TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
# pytest's exit 5 (no test collected, e.g. a PYTEST_ARGS selection matching nothing) is said
# plainly and not a failure; every other status is passed through.
PYTEST_ARGS ?=
define run_pytest
	$(BIN)/python -m pytest $(1) $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest: no test was collected (exit 5)"; exit 0; fi; \
	exit $$status
endef

test: install ## the test suite (what CI runs), one worker process per core
	$(call run_pytest,-q -m "not slow" -n $(TEST_WORKERS))

test-all: install ## every test, including slow full-size runs
	$(call run_pytest,-q)

lint: install ## ruff (format check and lint) and mypy
	$(BIN)/ruff format --check core store ingest features models world lodestar training serving tests bench
	$(BIN)/ruff check core store ingest features models world lodestar training serving tests bench
	$(BIN)/mypy

format: install ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format core store ingest features models world lodestar training serving tests bench
	$(BIN)/ruff check --fix core store ingest features models world lodestar training serving tests bench

bench: install ## benchmarks; figures go to bench/RESULTS.md
	$(BIN)/python bench/ingest.py

LIVE_SCALE ?= 0.5
live-bench: install ## the living service under load: ingest to alert, champion swap, retrain, ingest rate, to bench/RESULTS.md
	$(BIN)/python bench/live.py --scale $(LIVE_SCALE)

FUZZ_CASES ?= 2000
FUZZ_SECONDS ?= 3600
fuzz: install ## long API fuzz run on a loopback server: cases, 5xx, schema violations and audit per route to bench/RESULTS.md
	$(BIN)/python bench/fuzz.py --cases $(FUZZ_CASES) --seconds $(FUZZ_SECONDS)

clean: ## remove the demo data (keeps the key file)
	rm -rf data
