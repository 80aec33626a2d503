"""The GRPO module trains on question-answer tasks (data.kind=qa) with the math_answer reward."""

import csv
import json

import pytest
import torch

from rpt.config import load_config
from rpt.train.qa_data import QASource
from rpt.train.run import train
from tests.fixtures import GSM8K

QUESTIONS = [{"question": f"What is {a} plus {b}?", "answer": f"{a} + {b} = {a + b}\n#### {a + b}"}
             for a in range(1, 7) for b in range(1, 4)]  # 18 questions


def qa_file(path, rows=QUESTIONS):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def columns(metrics_csv):
    with open(metrics_csv, newline="") as f:
        return set(next(csv.reader(f)))


def test_held_out_and_train_questions_are_disjoint_and_sized(tmp_path):
    cfg = load_config(["data.kind=qa", f"data.path={qa_file(tmp_path / 'q.jsonl')}", "trainer.val_tasks=5",
                       "data.qa.train_size=8"])
    data = QASource(cfg, tokenizer=None)
    data.setup()
    train_rows = data.stream.draw(8)
    train_questions = {t.question for t in data.tasks(train_rows)}
    held_out = {t.question for t in data.val_tasks}
    assert len(held_out) == 5 and len(train_questions) == 8 and not held_out & train_questions
    assert {t.question for t in data.tasks(data.stream.draw(8))} == train_questions  # the next pass: the same 8


def test_test_path_gives_the_held_out_questions(tmp_path):
    test = qa_file(tmp_path / "test.jsonl", QUESTIONS[:3])
    cfg = load_config(["data.kind=qa", f"data.path={qa_file(tmp_path / 'q.jsonl')}", f"data.qa.test_path={test}",
                       "trainer.val_tasks=10"])
    data = QASource(cfg, tokenizer=None)
    data.setup()
    assert [t.question for t in data.val_tasks] == [r["question"] for r in QUESTIONS[:3]]
    assert len(data.stream.rows) == len(QUESTIONS)


def test_two_qa_steps_log_reward_and_held_out_accuracy_but_no_next_token_accuracy(train_args, tmp_path):
    torch.set_num_threads(1)
    args = train_args("data.kind=qa", f"data.path={qa_file(tmp_path / 'q.jsonl')}", "reward=math_answer",
                      "reward.marker=null", "sampling.max_tokens=3", "trainer.val_every=2", "trainer.val_tasks=4")
    result = train(load_config(args))
    names = columns(result.metrics_csv)
    assert {"train/reward", "train/accuracy", "val/reward", "val/accuracy", "train/loss"} <= names
    assert "val/ntp_acc" not in names
    assert 0.0 <= result.final_metrics["val/accuracy"] <= 1.0


@pytest.mark.slow
def test_rlvr_gsm8k_trains_a_tiny_model_on_the_shared_gsm8k(train_args, tmp_path):
    """experiment=rlvr_gsm8k on the GSM8K files in ../shared: a few steps, held-out accuracy before and after."""
    torch.set_num_threads(2)
    args = train_args("experiment=rlvr_gsm8k", f"data.path={GSM8K / 'train.jsonl'}",
                      f"data.qa.test_path={GSM8K / 'test.jsonl'}", "data.max_documents=64",
                      "prompt.template=direct", "prompt.chat=false", "reward.marker='####'",
                      "sampling.max_tokens=16", "trainer.max_steps=3", "trainer.val_every=3",
                      "trainer.val_tasks=16", "trainer.ckpt_every=0")
    result = train(load_config(args))
    with open(result.metrics_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    val_steps = [float(r["step"]) for r in rows if r.get("val/accuracy")]
    assert val_steps == [0.0, 3.0]  # before training and after the last step
    assert sum(1 for r in rows if r.get("train/reward")) == 3
    assert (result.run_dir / "checkpoints" / "last.ckpt").exists()


def test_paper_rl_reads_skywork_records_into_256_train_and_200_held_out_questions(tmp_path):
    """experiment=paper_rl on a local file in Skywork-OR1-RL-Data's schema (the hub name when online)."""
    rows = [{"prompt": [{"role": "user", "content": f"What is {i} squared?"}],
             "reward_model": {"ground_truth": json.dumps([str(i * i)]), "style": "rule"}} for i in range(500)]
    cfg = load_config(["experiment=paper_rl", f"data.path={qa_file(tmp_path / 'skywork.jsonl', rows)}"])
    assert cfg.trainer.max_steps * cfg.trainer.prompts_per_step == 15 * 256  # 15 epochs of 256 questions, batch 64
    data = QASource(cfg, tokenizer=None)
    data.setup()
    train_questions = data.tasks(data.stream.draw(256))
    assert len({t.question for t in train_questions}) == 256 and len(data.val_tasks) == 200
    assert not {t.question for t in train_questions} & {t.question for t in data.val_tasks}
    task = train_questions[0]
    assert task.references == (str(int(task.question.split()[2]) ** 2),)


def test_qa_run_resumes_where_it_stopped(train_args, tmp_path, pretrained_dir):
    """k steps + resume + k steps on questions ends with the weights of 2k straight steps (which moved)."""
    from safetensors.torch import load_file

    from rpt.export import export

    torch.set_num_threads(1)
    common = ("data.kind=qa", f"data.path={qa_file(tmp_path / 'q.jsonl')}", "sampling.max_tokens=3",
              "reward.name=tests.train.fake_rewards.SpaceReward", "trainer.val_tasks=4")  # a reward with signal
    straight = train(load_config(train_args(*common, "trainer.max_steps=2", run="straight")))
    train(load_config(train_args(*common, "trainer.max_steps=1", run="resumed")))
    resumed = train(load_config(train_args(*common, "trainer.max_steps=2", "run.resume=last", run="resumed")))
    a = load_file(export(straight.run_dir, tmp_path / "a") / "model.safetensors")
    b = load_file(export(resumed.run_dir, tmp_path / "b") / "model.safetensors")
    start = load_file(pretrained_dir / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], start[k]) for k in a)
