"""Fault tests (slow stage): `rpt train` and `rpt score` killed with SIGKILL three times at random
points, one of them in the middle of a checkpoint write, and resumed each time, end bit-identical
to an uninterrupted run. Each session is a real `rpt` process; the data and models are made here."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.fixtures import write_corpus
from tests.proxy.test_score import word_problems

pytestmark = pytest.mark.slow

#: run `rpt` in a child process; with RPT_TEST_SLOW_SAVE set, every checkpoint write first leaves a
#: partial file and waits that many seconds, so a kill can land inside the write
CHILD = """
import os, sys, time
delay = float(os.environ.get("RPT_TEST_SLOW_SAVE", "0"))
if delay:
    import lightning.fabric.plugins.io.torch_io as torch_io
    real = torch_io._atomic_save
    def slow_save(checkpoint, filepath):
        with open(filepath, "wb") as f:
            f.write(b"partial")
        time.sleep(delay)
        real(checkpoint, filepath)
    torch_io._atomic_save = slow_save
from rpt.cli import main
sys.exit(main(sys.argv[1:]))
"""


def start(args: list[str], slow_save: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "RPT_TEST_SLOW_SAVE": str(slow_save), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", CHILD, *args], env=env, cwd=Path(__file__).parents[2],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_when(process: subprocess.Popen, ready, extra_seconds: float, timeout: float = 300) -> bool:
    """SIGKILL `process` `extra_seconds` after `ready()` turns true; False if it ended first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the process never got ready"
        time.sleep(0.005)
    time.sleep(extra_seconds)
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


def policy_weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]


def test_rpt_train_killed_three_times_resumes_to_the_same_weights(train_args, tmp_path):
    steps = 30  # long enough that no session ends before its kill, even on an idle machine
    common = [f"trainer.max_steps={steps}", "trainer.ckpt_every=1", "reward=proxy_prob", "reward.scorer=policy"]
    straight = start(["train", *train_args(*common, run="straight")])
    assert straight.wait() == 0

    rng = random.Random(0)
    run = tmp_path / "run"
    args = train_args(*common, run="run")
    ckpts = run / "checkpoints"

    def saved_one_more():
        have = len(list(ckpts.glob("step-*.ckpt")))
        return lambda: len(list(ckpts.glob("step-*.ckpt"))) > have

    def writing():
        return any(ckpts.glob(".step-*.tmp"))

    # 1: at a random point after the first checkpoint; 2: inside a checkpoint write; 3: random again
    lengthen = "a session finished before it could be killed: lengthen the run"
    assert kill_when(start(["train", *args]), saved_one_more(), rng.uniform(0, 0.3)), lengthen
    assert kill_when(start(["train", *args, "resume=last"], slow_save=2.0), writing, 0.2), lengthen
    assert list(ckpts.glob(".step-*.tmp")), "the second kill did not land inside a checkpoint write"
    assert kill_when(start(["train", *args, "resume=last"]), saved_one_more(), rng.uniform(0, 0.3)), lengthen
    assert start(["train", *args, "resume=last"]).wait() == 0

    a = policy_weights(tmp_path / "straight" / "checkpoints" / "last.ckpt")
    b = policy_weights(ckpts / "last.ckpt")
    assert (ckpts / "last.ckpt").resolve().name == f"step-{steps:06d}.ckpt"
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "weights differ from the uninterrupted run"


def test_rpt_score_killed_three_times_resumes_to_the_same_artifact(tiny_model_dir, tmp_path):
    corpus = write_corpus(tmp_path / "questions.jsonl", word_problems(64))
    args = ["score", f"model.proxy={tiny_model_dir}", f"data.path={corpus}", "data.max_context_tokens=32",
            "score.stride=32", "score.batch_tokens=160", f"data.cache_dir={tmp_path / 'cache'}"]
    assert start([*args, f"data.scores={tmp_path / 'clean'}"]).wait() == 0

    rng = random.Random(1)
    resumed = tmp_path / "resumed"
    progress = resumed / "progress.json"
    killed = [kill_when(start([*args, f"data.scores={resumed}"]), progress.exists, rng.uniform(0, 0.5)) for _ in range(3)]
    assert killed == [True, True, True], "scoring finished before it could be killed: lengthen the corpus"
    assert start([*args, f"data.scores={resumed}"]).wait() == 0
    for name in ("entropy.npy", "rank.npy", "prob.npy", "offsets.npy", "meta.json", "progress.json"):
        assert (tmp_path / "clean" / name).read_bytes() == (resumed / name).read_bytes(), name
