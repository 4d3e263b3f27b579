# Entry points: `make demo`, `make test`, `make bench`, `make lint`. Only python3 and make needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_PORT ?= 8000

.PHONY: install demo test test-fast bench lint format browser clean fuzz

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# A local .env with DEBUG on and a random secret key, written once and never committed.
.env:
	$(PYTHON) -c "import secrets; print('DJANGO_DEBUG=1'); print('DJANGO_SECRET_KEY=' + secrets.token_urlsafe(50))" > .env

install: $(STAMP) .env

# Chromium for the browser tests, from Debian's packages where we may install them.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || true; \
	  fi; }
	@if command -v chromium >/dev/null 2>&1; then echo "Chromium for the browser tests: $$(command -v chromium)"; \
	  else echo "!! Chromium is not installed: browser tests will be SKIPPED (apt-get install -y chromium)"; fi

demo: install
	mkdir -p var
	$(PY) manage.py migrate --no-input
	$(PY) manage.py collectstatic --no-input -v0
	$(PY) manage.py load_demo --port $(DEMO_PORT)
	@echo "Starting web (http://127.0.0.1:$(DEMO_PORT)/), Celery worker and beat; Ctrl-C stops them."
	DEMO_PORT=$(DEMO_PORT) $(VENV)/bin/honcho -f Procfile start

test: install browser
	mkdir -p var
	$(PY) manage.py collectstatic --no-input -v0
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "!! pytest collected no tests: failing"; exit 1; fi; exit $$rc

bench: install
	mkdir -p var
	$(PY) bench/run.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf var/broker var/test-*.sqlite3* .pytest_cache

# Schemathesis over the whole API schema against a live local server (bounded examples).
fuzz: install
	mkdir -p var
	$(PY) scripts/fuzz_api.py $(FUZZ_ARGS)
