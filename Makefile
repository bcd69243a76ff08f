# The two commands the README starts with: `make drill` and `make test`.
# Each installs what it needs first (scripts/setup.sh is idempotent).

PYTHON := .venv/bin/python
ALLURE := .tools/node/node_modules/.bin/allure
PYTEST_FLAGS ?=
# Runs one stage of `make test`, saying how long it took (reports/stages.log keeps a line per stage).
STAGE := bash scripts/stage.sh
TARGET ?= sandbox
SETUP_FLAGS := $(if $(filter docker,$(TARGET)),--docker,)$(if $(filter kubernetes,$(TARGET)),--kubernetes,)
# The local image set, loaded into the local cluster's containerd by `make cluster-up`.
CLUSTER_IMAGES := chaos-drill/calendar-assistant:1.0.0 chaos-drill/ferretdb:latest chaos-drill/redis:latest \
	chaos-drill/toxiproxy:latest chaos-drill/prometheus:latest

.PHONY: setup drill report test test-kubernetes lint clean cluster-up cluster-down

setup:
	bash scripts/setup.sh

## Every drill against the embedded sandbox (TARGET=docker: on containers; TARGET=kubernetes: on the local
## cluster, `make cluster-up` first), then the Allure HTML report.
drill:
	bash scripts/setup.sh --report $(SETUP_FLAGS)
	rm -rf reports/allure-results
	$(PYTHON) -m chaos.cli run -m drill --target=$(TARGET) --alluredir reports/allure-results $(PYTEST_FLAGS); status=$$?; \
	$(MAKE) --no-print-directory report; \
	exit $$status

## The Allure report of the last run: a single HTML file, with the history of earlier runs.
report:
	rm -rf reports/allure-report
	$(ALLURE) awesome reports/allure-results --single-file --output reports/allure-report \
		--history-path reports/allure-history.jsonl --report-name "Calendar Assistant DR drills" >/dev/null \
		&& echo "HTML report: $(CURDIR)/reports/allure-report/index.html" \
		&& echo "compliance report: $(CURDIR)/reports/latest/compliance.html"

## The framework's own tests (unit and on real servers), the drills on the sandbox, on Docker and on a local
## Kubernetes cluster (started for them and torn down after), the linters.
test:
	@rm -f reports/stages.log
	$(STAGE) setup bash scripts/setup.sh --report --docker --kubernetes
	$(STAGE) lint $(MAKE) --no-print-directory lint
	$(STAGE) pytest $(PYTHON) -m pytest -m "not kubernetes" --durations=30 $(PYTEST_FLAGS)
	$(STAGE) docker-drills $(PYTHON) -m chaos.cli run -m drill --target=docker
	$(STAGE) outage-truth $(PYTHON) bench/outage_truth.py --check --outages 2 --quiet 10
	$(STAGE) kubernetes bash scripts/k8s/cluster.sh run $(CLUSTER_IMAGES) -- $(MAKE) --no-print-directory test-kubernetes
	@cat reports/stages.log

## On a running local cluster: the Kubernetes target's tests and every drill on it.
test-kubernetes:
	$(PYTHON) -m pytest -m kubernetes $(PYTEST_FLAGS)
	$(PYTHON) -m chaos.cli run -m drill --target=kubernetes

## A local single-node Kubernetes cluster (built from the Go module proxy) with the local images loaded.
cluster-up:
	bash scripts/setup.sh --kubernetes
	bash scripts/k8s/cluster.sh up $(CLUSTER_IMAGES)

cluster-down:
	bash scripts/k8s/cluster.sh down

lint:
	.tools/bin/actionlint .github/workflows/dr-drill.yml
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	$(PYTHON) -m chaos.cli verify plan

clean:
	rm -rf reports/allure-results reports/allure-report reports/latest .drill
	find reports -mindepth 1 -maxdepth 1 -type d -name '20*' -exec rm -rf {} +
