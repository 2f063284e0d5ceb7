# BankBridge developer entry points. `make dev` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test test-fast lint bench soak requirements package deploy clean install prism browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip<26.3"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## Start the whole local stack on 127.0.0.1 (Ctrl-C stops everything).
dev: $(STAMP)
	$(BIN)/python -m infra.local.stack

## Debian's Chromium for the console's browser tests (Playwright never downloads a browser).
browser:
	@test -x /usr/bin/chromium || { S=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$S apt-get update && $$S apt-get install -y chromium; } || \
	  echo "warning: chromium not installed; browser tests will skip (and fail under CI=true)"

## Stoplight Prism (npm) for the contract tests: mock servers from the official OpenAPI specs.
PRISM := .tools/prism/node_modules/.bin/prism
$(PRISM):
	npm install --prefix .tools/prism --no-audit --no-fund @stoplight/prism-cli@5

prism: $(PRISM)

## Lint, then run every test: unit, integration (moto), contract and end-to-end, on one
## pytest-xdist worker more than the cores (tests/conftest.py); a module, and all of tests/e2e (one
## local stack), stays on one worker.
## Bytecode is written even where the environment sets PYTHONDONTWRITEBYTECODE: each worker
## would otherwise parse, assertion-rewrite and compile every test module again; one collection
## first writes it, so the workers start warm on a fresh clone.
test: lint $(PRISM) browser
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest --collect-only -q >/dev/null || true
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n auto --dist loadfile

## The inner loop: the unit tests only (product, deployment tooling, local stack), without
## lint, Prism or the browser.
test-fast: $(STAMP)
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q tests/unit tests/infra/unit tests/local_stack/unit

## Ruff; mypy, strict on chalicelib/ and app.py; the lock is current and every dependency
## bounded (offline); the known-vulnerability audit of the lock and .venv, which skips with
## its reason when no advisory database answers.
## AUDIT_OSV_URL=<an OSV API's /v1/query> audits against it instead of PyPI's JSON API.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m mypy
	$(BIN)/python -m infra.aws.requirements --check
	$(BIN)/python -m infra.aws.audit $(if $(AUDIT_OSV_URL),--osv-url $(AUDIT_OSV_URL))

## Benchmarks, each figure beside its floor and goal (cold start, ack, worker, bank calls,
## fan-out, zip size, local stack hops); writes BENCHMARKS.md, fails naming missed goals.
## BENCH_ARGS="--only worker,fanout" re-measures some modules and keeps the others' figures.
bench: $(STAMP)
	$(BIN)/python -m tests.bench.run $(BENCH_ARGS)

## Reliability scenarios against the local stack (loopback, <= 20 min); writes RELIABILITY.md.
## SOAK_ARGS=--quick for a short run; SOAK_ARGS="--only bank-8s,fraud" for some scenarios.
soak: $(STAMP)
	$(BIN)/python -m tests.soak.run $(SOAK_ARGS)

## Re-lock requirements.txt (the hashed lock the zip ships) from pyproject.toml; UPGRADE=1 for newest.
requirements: $(STAMP)
	$(BIN)/python -m infra.aws.requirements --write $(if $(UPGRADE),--upgrade)

## Build the single SAM stack: Chalice's template merged with infra/aws/template.json.
package: $(STAMP)
	$(BIN)/python -m infra.aws.package --stage prod --out build/package

## Deploy or upgrade a stage (route (b) of docs/deployment.md): make deploy STAGE=prod [ALARM_EMAIL=ops@example.com]
## A release is never shipped unaudited: the vulnerability audit must reach its advisory source.
deploy: $(STAMP)
	@test -n "$(STAGE)" || { echo "usage: make deploy STAGE=<stage of .chalice/config.json> [ALARM_EMAIL=...]"; exit 2; }
	$(BIN)/python -m infra.aws.audit --require-source $(if $(AUDIT_OSV_URL),--osv-url $(AUDIT_OSV_URL))
	$(BIN)/python -m infra.aws.deploy --stage $(STAGE) $(if $(ALARM_EMAIL),--parameter AlarmEmail=$(ALARM_EMAIL))

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache .mypy_cache
