"""`rpt export`: a run's policy as a Hugging Face folder, for eval, vLLM or the hub (used by train's
callers, `rpt eval` of checkpoints and the demo)."""

from __future__ import annotations

from pathlib import Path

from rpt.errors import RptError
from rpt.train.checkpoint import find_checkpoint


def export(source: str | Path, out_dir: str | Path, force: bool = False) -> Path:
    """Write the policy of a run (its newest checkpoint) or of one checkpoint as a Hugging Face folder.

    `out_dir` must be new or empty; `force` replaces an earlier export (a folder with its marker),
    never anything else. The run directory is never written.
    """
    from omegaconf import OmegaConf

    from rpt.parallel.checkpoint import export_checkpoint

    run_dir, checkpoint = find_checkpoint(source)
    config = run_dir / "config.yaml"
    if not config.exists():
        raise RptError(f"{config} not found: export needs the run directory the checkpoint was written in")
    policy = OmegaConf.load(config).model.policy
    return export_checkpoint(checkpoint, out_dir, policy=policy, prefix="policy.", force=force, protected=(run_dir,))
