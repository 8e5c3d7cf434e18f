# Every target bootstraps .venv by itself: a fresh machine needs only python3 and make.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APPLYFLOW := $(VENV)/bin/applyflow
STAMP := $(VENV)/.installed-stamp
NAME ?=

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120

.PHONY: setup test lint demo server dashboard bench browser clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,openai,anthropic,ollama]'
	@touch $(STAMP)

setup: $(STAMP)

# Debian's Chromium for the dashboard browser tests (no browser download); needs root + apt.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found: install Debian's 'chromium' to run the browser tests"; fi; }

# Pytest's exit code 5 (no tests collected) is a failure here.
test: setup browser
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

demo: setup
	@mkdir -p .applyflow/prefect
	PREFECT_HOME=$${PREFECT_HOME:-$(CURDIR)/.applyflow/prefect} $(APPLYFLOW) demo

server: setup
	@mkdir -p .applyflow/prefect
	PREFECT_HOME=$(CURDIR)/.applyflow/prefect $(VENV)/bin/prefect server start --host 127.0.0.1 --port 4200

dashboard: setup
	$(APPLYFLOW) dashboard

bench: setup
	$(PY) -m bench $(NAME)

# The local Prefect server keeps its database in .applyflow/prefect: stop it before removing it.
clean:
	@test ! -x $(APPLYFLOW) || $(APPLYFLOW) server stop
	rm -rf $(VENV) .applyflow output .pytest_cache .ruff_cache
