#!/usr/bin/env bash
# GPU check for issue 15: a few GRPO steps of a random Qwen2.5-1.5B-sized policy on one GPU, timed by
# phase, peak memory against `rpt plan` (see benchmarks/gpu_check.py). Writes benchmarks/results/gpu_check.md.
#
#   bash benchmarks/gpu_check.sh --fetch-wheels   # here, with network: the pure-Python wheels rpt needs
#                                                 # and a GPU image may lack, into .whl/ (git-ignored)
#   bash benchmarks/gpu_check.sh                  # on the GPU machine (no network): installs .whl/ if
#                                                 # present, then runs; about 3-5 minutes on one H100
#   bash benchmarks/gpu_check.sh --cpu-smoke      # anywhere: the same script on a tiny model, on CPU
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] && [ -z "${GPU_CHECK_SYSTEM_PYTHON:-}" ] && PYTHON=.venv/bin/python
WHEELS="hydra-core==1.3.2 omegaconf==2.3.0 antlr4-python3-runtime==4.9.3 setuptools==80.9.0"

if [ "${1:-}" = "--fetch-wheels" ]; then
    mkdir -p .whl
    EXCLUDE=$(git rev-parse --git-path info/exclude); mkdir -p "$(dirname "$EXCLUDE")"
    grep -qx '/.whl/' "$EXCLUDE" 2>/dev/null || echo '/.whl/' >> "$EXCLUDE"
    python3 -m pip download -q --no-deps -d .whl $WHEELS   # antlr4 4.9.3 is a source archive: fine, pure Python
    ls .whl
    exit 0
fi

# rpt is not installed on a bare GPU machine: install it (and .whl/'s packages) from this checkout,
# without network or build isolation, into a scratch folder on PYTHONPATH
if ! $PYTHON -c "import rpt.plugins, hydra" 2>/dev/null; then
    SITE=/tmp/gpu_check_site
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
    if [ -d .whl ]; then  # wheels first (a recent setuptools among them builds the rest)
        $PYTHON -m pip install -q --no-index --no-deps --target "$SITE" .whl/*.whl
    fi
    $PYTHON -m pip install -q --no-index --no-deps --no-build-isolation --target "$SITE" . $(ls .whl/*.tar.gz 2>/dev/null)
fi
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
if [ "${1:-}" = "--cpu-smoke" ]; then
    exec timeout 600 $PYTHON benchmarks/gpu_check.py --cpu-smoke --out /tmp/gpu_check_smoke.md
fi
exec timeout 480 $PYTHON benchmarks/gpu_check.py "$@"
