# Panel: one command runs the product (make run), one passes the tests (make test).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench install clean fake-server browser

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) scripts/first_run.py
	$(VENV)/bin/uvicorn backend.panel.asgi:application --host 127.0.0.1 --port 8000

test: $(STAMP) browser
	$(VENV)/bin/pytest -q

# The browser tests (tests/browser) drive Debian's Chromium; browsers cannot be downloaded here,
# so install the distribution's package when it is missing (CI runs as root).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the browser tests..."; \
		apt-get update -qq >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	}

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP)
	$(PY) bench/run.py

fake-server: $(STAMP)
	$(PY) -m tests.fakes.server --port 8900

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
