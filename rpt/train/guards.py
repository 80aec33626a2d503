"""Stop a run at the first value that would poison it: a bad reward batch, a non-finite loss or gradient.

A reward plugin that returns NaN or 5.0, or a step whose loss or gradient norm is not finite,
would otherwise be logged, reach the optimizer and turn the weights into NaN, and the run would
die a step later somewhere unrelated (`torch.multinomial`). Both checks raise before
`optimizer.step()`, so the newest checkpoint on disk is the last good state.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist

from rpt.api import RewardResult
from rpt.errors import RptError
from rpt.parallel.collectives import global_sum


def checked_rewards(result: RewardResult, answers: Sequence[str | None], plugin: str) -> torch.Tensor:
    """The reward values as a float CPU vector, after checking: one per answer, finite, in [0, 1]."""
    values = torch.as_tensor(result.values).detach().float().cpu()
    if values.shape != (len(answers),):
        raise RptError(f"reward plugin {plugin!r} returned {tuple(values.shape)} values for {len(answers)} answers; "
                       "it must return one reward per answer")
    bad = ~(torch.isfinite(values) & (values >= 0) & (values <= 1))
    if bad.any():
        i = int(bad.nonzero()[0])
        raise RptError(f"reward plugin {plugin!r} returned {values[i].item()} for answer {i} ({answers[i]!r}); "
                       "rewards must be finite and in [0, 1]")
    return values


def check_finite_update(step: int, loss: torch.Tensor | float, grad_norm: torch.Tensor,
                        group: dist.ProcessGroup | None = None) -> None:
    """Raise before the optimizer step when the loss or the gradient norm is not finite on any rank
    of `group` (the data-parallel ranks): every rank stops together."""
    loss = torch.as_tensor(loss).detach().float().reshape(()).to(grad_norm.device)
    flags = torch.stack([~torch.isfinite(loss), ~torch.isfinite(grad_norm.detach().float().reshape(()))])
    flags = global_sum(flags.float(), group) > 0
    if flags.any():
        what = "loss" if flags[0] else "gradient norm"
        raise RptError(f"training stopped at step {step + 1}: non-finite {what} (loss {loss.item()}, grad norm "
                       f"{grad_norm.item()}); no update was applied, the newest checkpoint is the last good state")
