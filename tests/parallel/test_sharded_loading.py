"""Sharded loading (meta device, each rank reading its slices) gives every rank the same shards as today's path.

Two ranks under torchrun, gloo: the tiny tied-embedding Qwen2, and an untied one with an odd
vocabulary (301 rows: uneven FSDP shards, a separate LM head), data- and tensor-parallel, with and
without activation checkpointing (which renames parameters). Peak host memory of both paths is in
benchmarks/bench_sharded_loading.py (results in benchmarks/results/sharded_loading.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.parallel.conftest import free_port

pytestmark = pytest.mark.distributed

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def untied_odd_model(tmp_path_factory) -> Path:
    from transformers import Qwen2Config, Qwen2ForCausalLM
    import torch

    torch.manual_seed(1)
    config = Qwen2Config(vocab_size=301, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    path = tmp_path_factory.mktemp("untied")
    Qwen2ForCausalLM(config).save_pretrained(path)
    return path


@pytest.mark.parametrize("model, dp, tp, checkpointing", [
    ("tied", 2, 1, False), ("untied", 2, 1, True), ("untied", 1, 2, False),
], ids=["tied-dp2", "untied-dp2-checkpointing", "untied-tp2"])
def test_two_ranks_hold_the_shards_of_todays_path(model, dp, tp, checkpointing, tiny_model_dir, untied_odd_model,
                                                  tmp_path):
    folder = tiny_model_dir if model == "tied" else untied_odd_model
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2", "--master-port", str(free_port()),
               "-m", "tests.parallel.sharded_load_worker", str(folder), str(tmp_path), str(dp), str(tp),
               "1" if checkpointing else "0"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for result in ranks:
        assert result["names"] and result["sharded"] and result["eval"]
        assert result["param_gap"] == 0 and result["buffer_gap"] == 0 and result["logits_gap"] == 0
        assert result["dtypes"] == ["torch.float32"]
    if model == "untied" and dp == 2:  # 301 rows over 2 ranks: 151 + 150, nothing padded in
        assert [r["local_shapes"]["model.embed_tokens.weight"] for r in ranks] == [[151, 64], [150, 64]]
        assert [r["local_shapes"]["lm_head.weight"] for r in ranks] == [[151, 64], [150, 64]]
