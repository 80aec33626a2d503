"""benchmarks/gpu_check.sh --cpu-smoke: the GPU check's own logic (assets, run, phase table, plan) on a tiny model."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_check_runs_on_cpu_and_writes_its_table():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--cpu-smoke"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = Path("/tmp/gpu_check_smoke.md").read_text()
    for row in ("| time/rollout |", "| time/logprobs |", "| time/update |", "| whole step |", "`rpt plan` training-step peak"):
        assert row in report, row
    step_row = next(line for line in report.splitlines() if line.startswith("| whole step |"))
    assert [c.strip() for c in step_row.split("|")][1:-1][0] == "whole step" and len(step_row.split("|")) == 6  # 2 steps + mean
