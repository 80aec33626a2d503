# Two commands on a fresh machine: `make demo` (the embedded CPU demo) and `make test`.
# Both create ./.venv on first use. Machines without an NVIDIA GPU get the CPU build of torch
# first (a bare `torch` requirement would pull a multi-GB CUDA build).
VENV ?= .venv
PYTHON ?= python3
CPU_TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: demo test install
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	if ! command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/python -m pip install -q "$(CPU_TORCH)"; fi
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

demo: install
	$(BIN)/rpt demo

test: install
	$(BIN)/python -m pytest
