#!/usr/bin/env bash
# The benchmark's own venv (.venv-bench): rpt plus TRL, the system `rpt bench` compares against.
# TRL is never a dependency of rpt; it lives only here. torch is installed first (the CPU build
# pinned like the Makefile's), so TRL's own requirement does not pull a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${BENCH_VENV:-.venv-bench}
PYTHON=${PYTHON:-python3}
BIN=$VENV/bin

if [ ! -f "$VENV/.installed" ]; then
    $PYTHON -m venv "$VENV"
    $BIN/python -m pip install -q --upgrade pip
    $BIN/python -m pip install -q "torch==2.13.0"
    $BIN/python -m pip freeze > "$VENV/torch-constraints.txt"
    $BIN/python -m pip install -q "trl" -c "$VENV/torch-constraints.txt"
    $BIN/python -m pip install -q -e ".[dev]" -c "$VENV/torch-constraints.txt"
    $BIN/python -c "import trl, rpt, torch; print('trl', trl.__version__, 'torch', torch.__version__)"
    touch "$VENV/.installed"
fi
