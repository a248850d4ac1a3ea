# Two commands on a fresh clone:  `make repro` (the pipeline, sample mode)  and  `make test`.
# Both create .venv from the pinned lock files when it is missing or older than them.
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export PYTHONUNBUFFERED := 1

# Which torch build the venv gets: cuda where `nvidia-smi -L` lists a GPU, cpu elsewhere (CI, laptops:
# nothing of the CUDA build is downloaded there). Override with `make repro TORCH=cpu|cuda`.
TORCH ?= $(shell nvidia-smi -L 2>/dev/null | grep -q '^GPU [0-9]' && echo cuda || echo cpu)
ifeq ($(TORCH),cuda)
LOCK := requirements-cuda.lock
else ifeq ($(TORCH),cpu)
LOCK := requirements.lock
else
$(error TORCH must be cpu or cuda, not '$(TORCH)')
endif

.PHONY: repro test bench lock clean-venv gpu-check gpu-check-bundle

# Switching builds removes the installed torch first: pip counts 2.13.0+cpu as satisfying
# torch==2.13.0 and would keep the CPU build.
$(VENV)/.torch-$(TORCH):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	installed=$$($(BIN)/python -m pip show torch 2>/dev/null | sed -n 's/^Version: //p'); \
	case "$$installed" in ""|*+cpu) build=cpu ;; *) build=cuda ;; esac; \
	if [ -n "$$installed" ] && [ $$build != $(TORCH) ]; then $(BIN)/python -m pip uninstall --quiet --yes torch; fi
	rm -f $(VENV)/.torch-*
	touch $@

$(VENV)/.installed: $(LOCK) pyproject.toml $(VENV)/.torch-$(TORCH)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.lock
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements-test.lock
	touch $@

repro: $(VENV)/.installed
	dvc repro

# Two workers: most of the suite is single-threaded (dvc, stage start-up, the tiny random model).
# Whole files to a worker, so module fixtures are built once (xdist 3.8's xdist_group marks have
# no effect under pytest 9, which keeps node ids where xdist no longer writes its group suffix), in
# collection order (--no-loadscope-reorder): tests/conftest.py puts the files that need the shared
# reference run last, while the controller builds it in the background.
test: $(VENV)/.installed-test
	HF_HUB_OFFLINE=1 python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15

bench: $(VENV)/.installed-test
	HF_HUB_OFFLINE=1 python -m bench

# GPU self-check (bench/gpu_check.py): throughput, MFU, memory, decoding RTF -> bench/gpu.json and
# BENCHMARKS.md. Runs with whatever python is first on PATH (.venv's if there is one), so that an
# air-gapped CUDA box with torch + transformers + accelerate needs only gpu-check-bundle/ beside it.
gpu-check:
	HF_HUB_OFFLINE=1 python -m bench.gpu_check

# What gpu-check needs beyond torch/transformers/accelerate, for a box without network: pinned
# wheels (soundfile, soxr, cffi), whisper-small's config, tokenizer and feature extractor (no
# weights) and the embedded corpus as a zip, about 45 MB in all. BUNDLE_PYTHON=3.10 (say) fetches
# the wheels for another interpreter.
gpu-check-bundle: $(VENV)/.installed
	tools/gpu_check_bundle.sh

# Regenerate the hash-pinned lock files from requirements*.txt (needs the package registries).
lock:
	tools/lock.sh

clean-venv:
	rm -rf $(VENV)
