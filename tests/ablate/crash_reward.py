"""A reward for the resume test: like ParityReward, but its third call raises once (a killed run)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.train.fake_rewards import ParityReward

CRASH_FLAG = "RPT_TEST_CRASHED"  # a file path: the crash happens only while it does not exist


class CrashOnceReward(ParityReward):
    calls = 0

    def __call__(self, answers, tasks, group_size):
        CrashOnceReward.calls += 1
        flag = Path(os.environ[CRASH_FLAG])
        if CrashOnceReward.calls == 3 and not flag.exists():
            flag.touch()
            raise RuntimeError("killed mid-run")
        return super().__call__(answers, tasks, group_size)
