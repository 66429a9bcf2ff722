# Every target sets itself up: a fresh clone needs only `make run` or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export TOOLS_DIR ?= $(HOME)/.cache/artifact-store
export PATH := $(CURDIR)/$(BIN):$(TOOLS_DIR)/bin:$(PATH)

.PHONY: run test test-auth test-fast conformance conformance-tools clients lint venv clean bench bench-tools
.PHONY: bench-smoke-tools
.PHONY: scaleout-tools s3-tools test-scaleout browser

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

run: venv
	$(BIN)/artifact-store serve

test: venv conformance-tools clients bench-smoke-tools scaleout-tools browser lint
	$(BIN)/python -m pytest -q

# Authentication, authorization and TLS: unit, HTTP matrix, real clients, both conformance suites.
test-auth: venv conformance-tools clients
	$(BIN)/python -m pytest -q tests/auth

test-fast: venv
	$(BIN)/python -m pytest -q -m "not clients and not conformance"

conformance-tools:
	bash conformance/build.sh

conformance: venv conformance-tools
	bash conformance/run.sh

clients:
	bash scripts/setup-clients.sh

# Debian's chromium, which tests/ui drive with Playwright (installed with the venv).
browser:
	bash scripts/setup-browser.sh

# The servers the scale-out tests start on 127.0.0.1: PostgreSQL, nginx, buildah (Debian), SeaweedFS.
scaleout-tools: s3-tools
	bash scripts/setup-scaleout.sh

# Two replicas behind nginx on PostgreSQL and S3: flows, both conformance suites, faults, deploy/.
test-scaleout: venv conformance-tools clients scaleout-tools
	$(BIN)/python -m pytest -q tests/scaleout

# SeaweedFS (`weed`), the S3-compatible server of tests/storage; built once, minutes on 2 cores.
s3-tools:
	bash scripts/setup-s3.sh

# What the smoke run of the harness in `make test` needs: Debian packages, seconds.
bench-smoke-tools:
	bash bench/setup-peers.sh --quick

# Every peer and load tool of `make bench`, built once into TOOLS_DIR (~15 minutes cold).
bench-tools:
	bash bench/setup-peers.sh

# The full side-by-side run of docs/benchmarks.md (about 15 minutes); not part of `test`.
bench: venv clients bench-tools
	$(BIN)/python -m bench --update-docs

LINTED := registry storage manifests tests bench conformance

lint: venv
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) conformance/results
