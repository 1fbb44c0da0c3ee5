# Two commands for a new user: `make demo` and `make test`. Both bootstrap .venv from pinned versions.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test venv clean-demo

venv: $(STAMP)

# torch is pinned to 2.13.0 (a CPU wheel here); everything else comes from requirements.lock.
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

demo: $(STAMP)
	$(BIN)/python -m study.demo search_spaces/smoke.yaml

# Two test processes (pytest-xdist), each test file whole in one of them (module fixtures run once).
test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=15

clean-demo:
	rm -rf results/smoke
