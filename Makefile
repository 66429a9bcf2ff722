# Every target sets itself up: a fresh clone needs only `make run` or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export TOOLS_DIR ?= $(HOME)/.cache/artifact-store
export PATH := $(CURDIR)/$(BIN):$(TOOLS_DIR)/bin:$(PATH)

.PHONY: run test test-fast conformance conformance-tools clients lint venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

run: venv
	$(BIN)/artifact-store serve

test: venv conformance-tools clients
	$(BIN)/python -m pytest -q

test-fast: venv
	$(BIN)/python -m pytest -q -m "not clients and not conformance"

conformance-tools:
	bash conformance/build.sh

conformance: venv conformance-tools
	bash conformance/run.sh

clients:
	bash scripts/setup-clients.sh

lint: venv
	$(BIN)/ruff check registry storage manifests tests
	$(BIN)/ruff format --check registry storage manifests tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) conformance/results
