"""Reasoning-mode eval, prompt-template comparison and pattern counts, through `rpt eval`."""

import json

import numpy as np
import pytest

from rpt.cli import main
from tests.fixtures import CORPUS, write_corpus


def overrides(model_dir, corpus_jsonl, tmp_path, *extra):
    return [f"model.policy={model_dir}", f"model.proxy={model_dir}", f"data.path={corpus_jsonl}",
            "data.val_fraction=0.25", f"data.cache_dir={tmp_path / 'cache'}", f"data.scores={tmp_path / 'scores'}",
            f"run.dir={tmp_path / 'run'}", "eval.max_positions=40", "eval.batch_size=20", "prompt.template=direct",
            "rollout=hf", *extra]


def read(tmp_path, name):
    return json.loads((tmp_path / "run" / name).read_text())


def test_greedy_one_token_reasoning_equals_standard_accuracy(trained_model_dir, tmp_path):
    """Greedy decoding of one token with the direct template is the argmax next token: both modes must agree.

    On ASCII text: a one-token answer that is part of a character decodes to "\ufffd" and scores 0
    as text (see docs/rewards.md), while standard mode compares its id."""
    ascii_corpus = write_corpus(tmp_path / "ascii.jsonl", [t for t in CORPUS if t.isascii()])
    args = overrides(trained_model_dir, ascii_corpus, tmp_path, "reward=first_token", "sampling.temperature=0",
                     "sampling.max_tokens=1", "eval.samples=1")
    assert main(["score", *args]) == 0
    assert main(["eval", *args, "eval.mode=standard"]) == 0
    standard = read(tmp_path, "eval.json")["models"][trained_model_dir.name]["buckets"]
    assert main(["eval", *args, "eval.mode=reasoning"]) == 0
    reasoning = read(tmp_path, "eval.json")["models"][trained_model_dir.name]["buckets"]
    assert 0 < standard["all"]["accuracy"] < 1
    for bucket in standard:
        assert reasoning[bucket]["n"] == standard[bucket]["n"]
        assert reasoning[bucket]["accuracy"] == pytest.approx(standard[bucket]["accuracy"])


def test_pass_at_1_is_the_mean_reward_of_the_recorded_samples(trained_model_dir, corpus_jsonl, tmp_path):
    args = overrides(trained_model_dir, corpus_jsonl, tmp_path, "reward=prefix_match", "sampling.temperature=1.0",
                     "sampling.max_tokens=3", "eval.samples=4", "eval.mode=reasoning", "eval.patterns=true",
                     f"eval.models=[{trained_model_dir},{trained_model_dir}]")
    assert main(["score", *args]) == 0
    assert main(["eval", *args]) == 0
    result = read(tmp_path, "eval.json")
    files = sorted((tmp_path / "run" / "responses").glob("*.jsonl"))
    assert len(files) == 2
    first = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert len(first) == 40 * 4
    per_task = np.asarray([s["reward"] for s in first]).reshape(40, 4).mean(axis=1)
    label = list(result["models"])[0]
    assert result["models"][label]["buckets"]["all"]["accuracy"] == pytest.approx(per_task.mean())
    # the same model and seeds twice: identical samples, so no difference and no pattern change
    assert result["comparison"]["buckets"]["all"]["difference"] == 0
    assert set(result["patterns"]["models"]) == set(result["models"])
    assert all(change in (0, None) for change in result["patterns"]["relative_change"].values())


def test_templates_table_reports_random_at_1_and_pass_at_k(capsys, trained_model_dir, corpus_jsonl, tmp_path):
    args = overrides(trained_model_dir, corpus_jsonl, tmp_path, "reward=prefix_match", "sampling.temperature=1.0",
                     "sampling.max_tokens=2", "eval.samples=3", "eval.templates=[direct,v0,reasoning]")
    assert main(["eval", *[a for a in args if not a.startswith("data.scores")]]) == 0
    out = capsys.readouterr().out
    assert "| template | Random@1 @ all | Pass@3 @ all |" in out
    assert "| v0 | " in out and "Buckets: no difficulty scores" in out
    result = read(tmp_path, "templates.json")
    assert list(result["templates"]) == ["direct", "v0", "reasoning"]
    for scores in result["templates"].values():
        assert scores["pass@k"]["all"]["accuracy"] >= scores["random@1"]["all"]["accuracy"]


@pytest.mark.parametrize("extra, message", [
    (["eval.patterns=true"], "needs eval.mode=reasoning"),
    (["eval.templates=[direkt]"], "unknown prompt template 'direkt'"),
    (["eval.mode=sampling"], "eval.mode must be one of standard, reasoning"),
])
def test_inconsistent_settings_are_one_line_errors(capsys, tiny_model_dir, corpus_jsonl, tmp_path, extra, message):
    assert main(["eval", *overrides(tiny_model_dir, corpus_jsonl, tmp_path, *extra)]) == 2
    assert message in capsys.readouterr().err


def test_a_bad_reward_batch_stops_reasoning_eval_with_one_line(capsys, trained_model_dir, corpus_jsonl, tmp_path):
    """The reward check sits in the one sampling round, so eval cannot average NaN into an accuracy."""
    args = overrides(trained_model_dir, corpus_jsonl, tmp_path, "reward.name=tests.train.fake_rewards.BadReward",
                     "sampling.max_tokens=1", "eval.samples=2", "eval.mode=reasoning")
    assert main(["score", *args]) == 0
    assert main(["eval", *args]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("rpt: error: reward plugin 'tests.train.fake_rewards.BadReward' returned nan")
