# Canary: every target creates .venv itself, so a fresh clone needs only Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench install clean histories browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/canary up --scenario

# Three pytest-xdist workers, a module per worker: about five minutes on two cores instead of
# fourteen in one process (`make test PYTEST_ARGS=--durations=10` runs it serially).
PYTEST_ARGS ?= -n 3 --dist loadfile --durations=10

test: $(STAMP) lint browser
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check canary workflows activities starter sandbox worker.py tests bench
	$(BIN)/mypy

# Headless Chromium for tests/browser/ (the report dashboard, the docs, the chat page and the Home tab
# in a real browser):
# Debian's chromium, installed with apt-get when missing (as root, or with passwordless sudo).
# Where it cannot be installed, this target fails and says how to install it.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	  else echo "chromium is missing and cannot be installed here (not root, no sudo):" \
	    "run 'apt-get install chromium' as root" >&2; exit 1; fi; \
	  if ! command -v apt-get >/dev/null 2>&1; then \
	    echo "chromium is missing and there is no apt-get: install Chromium" >&2; exit 1; fi; \
	  echo "installing chromium (apt-get) for the browser tests"; \
	  { $$sudo apt-get update -qq && \
	    $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } || { \
	    echo "could not install chromium" >&2; exit 1; }; }

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .canary

histories: $(STAMP)
	$(BIN)/python -m tests.record_histories
