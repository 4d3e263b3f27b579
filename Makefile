# Entry points: `make demo`, `make test`, `make bench`, `make lint`. Only python3 and make needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_PORT ?= 8000
# The demo runs on your machine with Django's debug pages; nothing else turns DEBUG on.
DEMO_ENV := DJANGO_DEBUG=1

.PHONY: install demo test test-fast bench reliability lint format browser java clean fuzz

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# A local .env with a random secret key, written once and never committed. DEBUG stays off
# unless asked for: `make demo` asks (DEMO_ENV below); a deployment never gets it by accident.
.env:
	$(PYTHON) -c "import secrets; print('DJANGO_SECRET_KEY=' + secrets.token_urlsafe(50))" > .env

install: $(STAMP) .env

# Chromium for the browser tests, from Debian's packages where we may install them.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || true; \
	  fi; }
	@if command -v chromium >/dev/null 2>&1; then echo "Chromium for the browser tests: $$(command -v chromium)"; \
	  else echo "!! Chromium is not installed: browser tests will be SKIPPED (apt-get install -y chromium)"; fi

# Java 17 (or newer) for the Spark tests and benchmark: pyspark runs Spark local in a JVM. From
# Debian's packages where we may install them; without it the Spark tests are skipped.
java:
	@major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }; \
	  m=$$(major 2>/dev/null); \
	  if { [ -z "$$m" ] || [ "$$m" -lt 17 ]; } && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y -qq openjdk-17-jre-headless >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless) >/dev/null 2>&1 || true; \
	    m=$$(major 2>/dev/null); \
	  fi; \
	  if [ -n "$$m" ] && [ "$$m" -ge 17 ]; then echo "Java $$m for the Spark tests: $$(command -v java)"; \
	  else echo "!! Java 17 is not installed: Spark tests will be SKIPPED (apt-get install -y openjdk-17-jre-headless)"; fi

demo: install
	mkdir -p var
	$(DEMO_ENV) $(PY) manage.py migrate --no-input
	$(DEMO_ENV) $(PY) manage.py collectstatic --no-input -v0
	$(DEMO_ENV) $(PY) manage.py load_demo --port $(DEMO_PORT)
	@echo "Starting web (http://127.0.0.1:$(DEMO_PORT)/), Celery worker and beat; Ctrl-C stops them."
	$(DEMO_ENV) DEMO_PORT=$(DEMO_PORT) $(VENV)/bin/honcho -f Procfile start

test: install browser java
	mkdir -p var
	$(PY) manage.py collectstatic --no-input -v0
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "!! pytest collected no tests: failing"; exit 1; fi; exit $$rc

bench: install java
	mkdir -p var
	$(PY) bench/run.py

# Load and fault figures (docs/reliability.md). Uses a private PostgreSQL cluster on port 5433
# (created on first use with pg_createcluster, as root; the shared server is never restarted)
# and Redis db 5 (RELIABILITY_REDIS); traffic to 127.0.0.1 only, each script under a hard limit.
RELIABILITY_REDIS ?= redis://127.0.0.1:6379/5
reliability: install
	mkdir -p var
	timeout 900 $(PY) bench/reliability/ingest_load.py --label load
	timeout 900 $(PY) bench/reliability/ingest_load.py --label retry --request-timeout 3
	timeout 900 $(PY) bench/reliability/ingest_load.py --label restart --restart-postgres-at 20
	timeout 2400 $(PY) bench/reliability/worker_kill.py --redis-url $(RELIABILITY_REDIS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf var/broker var/test-*.sqlite3* .pytest_cache

# Schemathesis over the whole API schema against a live local server (bounded examples).
fuzz: install
	mkdir -p var
	$(PY) scripts/fuzz_api.py $(FUZZ_ARGS)
