# One-command set-up and checks. Every target is idempotent and works on a fresh Debian machine as root.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# prometheus brings promtool and systemd brings systemd-analyze: the tests check deploy/ and systemd/ with them.
# chromium (Debian's, /usr/bin/chromium): the browser check plays HLS in hls.js and DASH in dash.js
# (tests/test_browser_playback.py; playwright drives this Chromium and never downloads a browser).
APT_PACKAGES := ffmpeg fonts-noto-cjk fonts-dejavu-core espeak-ng prometheus systemd chromium
STAMP := $(VENV)/.setup-stamp
# hls.js and dash.js at the versions package-lock.json pins, into tests/player/node_modules (git-ignored).
PLAYER := tests/player

.PHONY: setup demo test lint typecheck unit bench bench-stages drill clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile $(PLAYER)/package.json $(PLAYER)/package-lock.json
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,ml]'
	npm ci --prefix $(PLAYER) --no-audit --no-fund --loglevel=error
	touch $(STAMP)

demo: setup
	$(VENV)/bin/cinealert demo

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: setup
	$(VENV)/bin/mypy

unit: setup
	$(VENV)/bin/pytest -q

test: lint typecheck unit

# The operator's figures (latency, floor, baseline, throughput, memory, scale) -> bench/results.json + a table.
bench: setup
	$(PY) bench/suite.py

# Fault drills (SIGKILL, broker restart, disk full, hostile stream) -> bench/drill.json + a table.
drill: setup
	$(PY) bench/drill.py

# Per-stage micro-benchmarks; each script prints its own table (see the docstring at its top).
BENCHES := bench_cap bench_route bench_render bench_broadcast bench_daemon bench_ml
bench-stages: setup
	@for b in $(BENCHES); do echo "== $$b"; $(PY) bench/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache $(PLAYER)/node_modules
