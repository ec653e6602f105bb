PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8787
DATA   ?= .local
RESET  ?=
CLI    := tools/appwrite-cli/node_modules/.bin/appwrite

.PHONY: venv cli run test test-js deploy-local lint bench clean

$(VENV)/.installed: requirements-dev.txt shared/pyproject.toml pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

## The pinned Appwrite CLI (npm appwrite-cli 12.0.1, package-lock.json) in tools/appwrite-cli; nothing global.
$(CLI): tools/appwrite-cli/package.json tools/appwrite-cli/package-lock.json
	cd tools/appwrite-cli && npm ci --no-audit --no-fund --ignore-scripts
	touch $@

cli: $(CLI)

## The local stack: tables from appwrite.json, the functions, events and schedules on 127.0.0.1:$(PORT).
## Data in $(DATA); RESET=1 starts with an empty database (refused while another stack uses $(DATA)).
run: venv
	$(PY) -m devstack run --port $(PORT) --data $(DATA)$(if $(filter-out 0 no false,$(RESET)), --reset)

## The whole test suite: the front end's JS tests (node's own runner, no dependency), then pytest; any failure fails
## (pytest's exit code 5, "no tests collected", too).
test: venv cli test-js
	$(PY) -m pytest

## The JS unit tests of web/ (tests/js/*.test.mjs): polling schedule, budget, retries, answers, rendering, drafts.
test-js:
	node --test tests/js/

## The real CLI pushes tables and functions to a blank local stack; the story then runs on the deployed build.
deploy-local: venv cli
	$(PY) -m pytest tests/test_deploy_local.py -s

lint: venv
	$(VENV)/bin/ruff check .

## Measurements quoted in docs/reliability.md (the stack benchmark takes about 20 minutes on 2 cores at its defaults).
bench: venv
	$(PY) -m bench.requests_per_operation
	$(PY) -m bench.scale
	$(PY) -m bench.importtime
	UPSTREAM_TIMEOUT_SECONDS=120 $(PY) -m bench.stack
	$(PY) -m bench.sweep

clean:
	rm -rf $(VENV) .local .pytest_cache .ruff_cache .hypothesis tools/appwrite-cli/node_modules
