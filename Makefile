# The two commands the README starts with: `make drill` and `make test`.
# Each installs what it needs first (scripts/setup.sh is idempotent).

PYTHON := .venv/bin/python
ALLURE := .tools/node/node_modules/.bin/allure
PYTEST_FLAGS ?=

.PHONY: setup drill report test lint clean

setup:
	bash scripts/setup.sh

## Every drill against the embedded sandbox, then the Allure HTML report (one file).
drill:
	bash scripts/setup.sh --report
	rm -rf reports/allure-results
	$(PYTHON) -m chaos.cli run -m drill --alluredir reports/allure-results $(PYTEST_FLAGS); status=$$?; \
	$(MAKE) --no-print-directory report; \
	exit $$status

## The Allure report of the last run: a single HTML file, with the history of earlier runs.
report:
	rm -rf reports/allure-report
	$(ALLURE) awesome reports/allure-results --single-file --output reports/allure-report \
		--history-path reports/allure-history.jsonl --report-name "Calendar Assistant DR drills" >/dev/null \
		&& echo "HTML report: $(CURDIR)/reports/allure-report/index.html" \
		&& echo "compliance report: $(CURDIR)/reports/latest/compliance.html"

## The framework's own tests (unit and on real servers), the drills, and the linters.
test:
	bash scripts/setup.sh
	$(MAKE) --no-print-directory lint
	$(PYTHON) -m pytest $(PYTEST_FLAGS)
	$(PYTHON) bench/outage_truth.py --check --outages 2 --quiet 10

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

clean:
	rm -rf reports/allure-results reports/allure-report reports/latest .drill
	find reports -mindepth 1 -maxdepth 1 -type d -name '20*' -exec rm -rf {} +
