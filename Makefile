# Two commands on a fresh clone:  `make repro` (the pipeline, sample mode)  and  `make test`.
# Both create .venv from the pinned lock files when it is missing or older than them.
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export PYTHONUNBUFFERED := 1

.PHONY: repro test bench lock clean-venv

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.lock
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements-test.lock
	touch $@

repro: $(VENV)/.installed
	dvc repro

test: $(VENV)/.installed-test
	HF_HUB_OFFLINE=1 python -m pytest -q

bench: $(VENV)/.installed-test
	HF_HUB_OFFLINE=1 python -m bench

# Regenerate the hash-pinned lock files from requirements*.txt (needs the package registries).
lock:
	tools/lock.sh

clean-venv:
	rm -rf $(VENV)
