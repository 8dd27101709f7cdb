# One-command set-up: `make demo` and `make test` create .venv, install, then run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU wheel of torch 2.13.0 is on local disk; an unpinned torch would pull a multi-GB CUDA build.
TORCH_PIN := torch==2.13.0
# The MONAI Label server of `monai-despeckle label`, pinned and installed --no-deps (see the file).
LABEL_REQUIREMENTS := requirements/label.txt

.PHONY: venv demo test lint clean

$(STAMP): pyproject.toml setup.py Makefile $(LABEL_REQUIREMENTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_PIN)"
	$(BIN)/python -m pip install --quiet -e ".[dev]" "$(TORCH_PIN)"
	$(BIN)/python -m pip install --quiet --no-deps -r $(LABEL_REQUIREMENTS)
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/monai-despeckle demo --out demo_output

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) demo_output .pytest_cache .mypy_cache
