# HITL Approvals. `make run` serves the app, `make test` runs every test.
# Every target sets itself up first (venv, dependencies, migrations).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
MANAGE := $(PY) manage.py

# Django 6 needs Python >= 3.12; the system python3 here is 3.11. Take $PYTHON
# if given, else the first interpreter found in this order.
define find_python
pyroot="$$(pyenv root 2>/dev/null || echo "$$HOME/.pyenv")"; \
for p in "$$PYTHON" "$$pyroot/versions/3.13.0/bin/python3.13" /usr/bin/python3.13 \
         "$$pyroot/versions/3.12.1/bin/python3.12" /usr/bin/python3.12 \
         "$$(command -v python3.13)" "$$(command -v python3.12)"; do \
  if [ -n "$$p" ] && [ -x "$$p" ] && \
     "$$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
    python="$$p"; break; \
  fi; \
done; \
if [ -z "$${python:-}" ]; then \
  echo "error: Python >= 3.12 not found (tried pyenv 3.13.0, /usr/bin/python3.13," \
       "pyenv 3.12.1, /usr/bin/python3.12). Install one, or run: make PYTHON=/path/to/python3.12+" >&2; \
  exit 1; \
fi
endef

# `make test` is embedded mode whatever the shell exports.
EMBEDDED_ENV := env -u DATABASE_URL -u REDIS_URL -u CELERY_BROKER_URL -u HITL_TEST_SERVICES

# Services used by `make test-services` (override with `make VAR=...`). Redis DB 1
# keeps test broadcasts away from a dev server on DB 0.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/hitl
TEST_REDIS_URL ?= redis://127.0.0.1:6379/1
SERVICES_ENV := env -u CELERY_BROKER_URL DATABASE_URL=$(TEST_DATABASE_URL) \
                REDIS_URL=$(TEST_REDIS_URL) HITL_TEST_SERVICES=1

# `make run PORT=8001` serves on another port.
PORT ?= 8000

.PHONY: setup run test test-services bench lint

$(PY):
	@$(find_python); echo "Creating $(VENV) with $$python"; "$$python" -m venv $(VENV)

# Reinstall only when requirements.txt is newer than the stamp.
$(VENV)/.installed: requirements.txt | $(PY)
	@echo "Installing requirements into $(VENV) ..."
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt \
	    > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@touch $@

setup: $(VENV)/.installed
	@$(MANAGE) migrate --noinput -v 0

# Embedded mode, whatever the shell exports. daphne is the server of both modes;
# with DEBUG on (the default) hitl_site.asgi also serves static files.
run: setup
	@$(EMBEDDED_ENV) $(MANAGE) migrate --noinput -v 0
	@if $(EMBEDDED_ENV) $(MANAGE) help seed_demo >/dev/null 2>&1; then \
	    $(EMBEDDED_ENV) $(MANAGE) seed_demo; fi
	@echo "Serving HITL Approvals on http://127.0.0.1:$(PORT)/ (Ctrl-C stops)"
	@# Links in mails point at this server unless HITL_BASE_URL says otherwise.
	@$(EMBEDDED_ENV) HITL_BASE_URL="$${HITL_BASE_URL:-http://127.0.0.1:$(PORT)}" $(VENV)/bin/daphne -b 127.0.0.1 -p $(PORT) hitl_site.asgi:application

test: setup
	$(EMBEDDED_ENV) $(VENV)/bin/pytest

# Starts no services: PostgreSQL and Redis must be running (.ci/run starts them).
test-services: setup
	$(SERVICES_ENV) $(VENV)/bin/pytest

bench: setup
	@if [ -f bench/run.py ]; then $(PY) bench/run.py; else echo "bench/run.py not written yet"; fi

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(MANAGE) makemigrations --check --dry-run
