# Forecast 2.0 — the commands the README names. Everything runs from the project's own .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FORECAST_HOME ?= $(CURDIR)/.forecast
export PREFECT_HOME ?= $(FORECAST_HOME)/prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120
DEMO := $(FORECAST_HOME)/demo

.PHONY: run test install infra-tools lambda-zip infra-apply image image-test lint typecheck check docs stop status ui bench lock clean

## install: create .venv with the exact versions of requirements.lock, then the project itself
install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

## run: start the local stack (MongoDB, and the Prefect server on PostgreSQL with basic auth),
## run the pipeline on generated demo inputs, print where to look
run: install
	mkdir -p $(PREFECT_HOME)
	$(BIN)/forecast setup
	$(BIN)/forecast demo --out $(DEMO)
	$(BIN)/forecast run --landing $(DEMO)
	@echo
	@echo "Documents: $(BIN)/python -c \"import pymongo; c = pymongo.MongoClient('mongodb://127.0.0.1:27018'); print(c.forecast_2_0.weather_measurements.count_documents({}))\""
	@echo "Reports:   $(FORECAST_HOME)/lake/reports/latest/pipeline_status.json"
	@echo "Runs and artifacts: http://127.0.0.1:4200/runs (make ui: how to sign in)"
	@echo "Stop the local MongoDB and Prefect server with: make stop"

## infra-tools: checkov in its own venv (.venv-infra): its pins conflict with prefect-aws's boto3
INFRA_VENV := .venv-infra
infra-tools: $(INFRA_VENV)/.installed
$(INFRA_VENV)/.installed: infra/requirements-checkov.lock
	test -x $(INFRA_VENV)/bin/python || $(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r infra/requirements-checkov.lock
	touch $@

## lambda-zip: the "no successful run" check's zip Terraform deploys; run it before terraform plan
## (reproducible: same source, same bytes; infra/build-lambda-zip.py, standard library only)
lambda-zip:
	$(PYTHON) infra/build-lambda-zip.py

## infra-apply: terraform apply of the whole stack against a moto server, read-back, destroy
## (about 4 minutes; .ci/run runs it after make test). Terraform uses infra/terraform.rc.
infra-apply: install
	$(BIN)/python -m pytest tests/infra/apply_against_moto.py

## image: build the flow-run image $(IMAGE) with podman (Docker where there is an engine) on
## BASE_IMAGE: by default a Debian-packaged stand-in made once with debootstrap; give
## BASE_IMAGE=python:3.11.7-slim-bookworm (the Dockerfile's default) where a registry is reachable
IMAGE ?= forecast-pipeline:local
BASE_IMAGE ?= localhost/forecast-base:bookworm
image:
	IMAGE=$(IMAGE) BASE_IMAGE=$(BASE_IMAGE) infra/image/build.sh

## image-test: run the image as the ECS worker would (prefect flow-run execute) against a local
## Prefect server, SecantusDB and a lake on moto S3; inspect its user, env and layers
image-test: install image
	FORECAST_TEST_IMAGE=$(IMAGE) FORECAST_TEST_BASE_IMAGE=$(BASE_IMAGE) $(BIN)/python -m pytest tests/infra/image_run.py

## system-deps: the Debian packages the test tiers need (chromium, postgresql), apt-installed
## only when missing (as root or through sudo), and terraform checked; .ci/run runs it too
.PHONY: system-deps fresh-check
system-deps:
	infra/system-deps.sh

## test: the whole suite (unit, flow, real-data, deployment and infrastructure tiers), one worker
## per core, each test file on one worker (its module fixtures shared); plain pytest runs serially
test: system-deps install infra-tools
	$(BIN)/python -m pytest -n auto --dist loadfile

## fresh-check: `make test` on a fresh machine: a git clone of HEAD (committed work only) in a
## throw-away podman container from the Debian base of `make image` (only Python), ../shared beside
## it read-only; prints the pytest summary and the times (infra/fresh-check.sh, about 10 minutes)
fresh-check:
	BASE_IMAGE=$(BASE_IMAGE) infra/fresh-check.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

docs: install
	$(BIN)/forecast docs --out docs/data-quality.md

stop: install
	$(BIN)/forecast stop

status: install
	$(BIN)/forecast status

## ui: the local Prefect server's UI (started if needed): its URL and how to sign in
ui: install
	$(BIN)/forecast ui

## bench: a month of 60 stations through forecast run vs the naive script (and at 10x for memory),
## then the parse/validate hot path (about 31 minutes here; BENCH_ARGS=--memory-scale 0 skips 10x);
## both always run, and it exits 1 when a target is missed
bench: install
	$(BIN)/python benchmarks/bench_month.py $(BENCH_ARGS); month=$$?; \
	$(BIN)/python benchmarks/bench_pipeline.py && exit $$month

## lock: re-resolve requirements.lock from pyproject.toml in a throw-away venv
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	.lockvenv/bin/python -m pip freeze --exclude-editable --all | grep -v -E '^(pip|setuptools|wheel)==' > requirements.lock
	rm -rf .lockvenv
	# the image's set: the project without its dev extra, at the versions just locked
	$(PYTHON) -m venv .lockvenv && .lockvenv/bin/python -m pip install --quiet --disable-pip-version-check \
	  --dry-run --ignore-installed -c requirements.lock . --report .lockvenv/report.json
	$(PYTHON) -c "import json; r = json.load(open('.lockvenv/report.json')); print('\n'.join(sorted((f\"{i['metadata']['name']}=={i['metadata']['version']}\" for i in r['install'] if i['metadata']['name'] != 'forecast-2-0'), key=str.lower)))" > requirements-runtime.lock
	rm -rf .lockvenv

clean:
	rm -rf $(VENV) build *.egg-info
