# The two commands the README starts with: `make drill` and `make test`.
# Each installs what it needs first (scripts/setup.sh is idempotent).

PYTHON := .venv/bin/python
ALLURE := .tools/node/node_modules/.bin/allure
PYTEST_FLAGS ?=

.PHONY: setup drill test lint clean

setup:
	bash scripts/setup.sh

## Every drill against the embedded sandbox, then the Allure HTML report.
drill:
	bash scripts/setup.sh --report
	rm -rf reports/allure-results reports/allure-report reports/latest
	$(PYTHON) -m pytest -m drill --alluredir reports/allure-results $(PYTEST_FLAGS); status=$$?; \
	$(ALLURE) generate reports/allure-results --output reports/allure-report \
		--report-name "Calendar Assistant DR drills" >/dev/null \
		&& echo "HTML report: reports/allure-report/index.html"; \
	exit $$status

## The framework's own tests (unit and on real servers), the drills, and the linters.
test:
	bash scripts/setup.sh
	$(MAKE) --no-print-directory lint
	$(PYTHON) -m pytest $(PYTEST_FLAGS)

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

clean:
	rm -rf reports/allure-results reports/allure-report reports/latest .drill
