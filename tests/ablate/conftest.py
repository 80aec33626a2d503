"""The tiny pre-trained policy and short-run overrides of the training tests, plus its entropy scores."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.train.conftest import pretrained_dir, train_args  # noqa: F401  (fixtures shared with tests/train)


@pytest.fixture
def scored_args(train_args, pretrained_dir, tmp_path):  # noqa: F811
    """train_args with the policy's own entropy scores, so filters and eval buckets have something to use."""
    from rpt.config import load_config
    from rpt.proxy.score import run_score

    scores = tmp_path / "scores"
    run_score(load_config(train_args(f"model.proxy={pretrained_dir}", f"data.scores={scores}", "score.dtype=float32")))

    def build(*extra: str, run: str = "ablation") -> list[str]:
        return train_args(f"data.scores={scores}", "eval.dtype=float32", "eval.buckets={easy:0.1,hard:0.3}",
                          *extra, run=run)

    return build


def files_under(path: Path) -> dict[str, float]:
    """Every file under `path` with its modification time."""
    return {str(p.relative_to(path)): p.stat().st_mtime_ns for p in path.rglob("*") if p.is_file()}
