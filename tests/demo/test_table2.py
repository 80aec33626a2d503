"""`rpt demo table2`: ledger questions from the demo's generator, RLVR from each start, the table from the runs' logs."""

import csv
import json
import math
import re

import numpy as np
import pytest
import torch

from rpt.cli import main
from rpt.config import load_config
from rpt.errors import RptError
from rpt.recipes.demo.corpus import generate_corpus
from rpt.recipes.demo.table2 import format_table2, ledger_questions, run_table2, table2_result

LINE = re.compile(r"^Ledger of (\w+)\.\n\1 adds \w+: (\d+(?: \+ \d+)*) =$")


def test_questions_are_the_first_line_of_new_ledgers_up_to_the_sum():
    questions = ledger_questions(50, seed=1)
    assert ledger_questions(50, seed=1) == questions  # seeded
    assert questions != ledger_questions(50, seed=0)  # another seed, other ledgers
    for q in questions:
        match = LINE.match(q["question"])
        assert match, q["question"]
        assert q["answer"] == str(sum(int(x) for x in match.group(2).split(" + ")))  # the sum, computed here
    assert len({q["question"] for q in questions}) > 40


def test_the_question_seed_must_differ_from_the_corpus_seed(tmp_path):
    cfg = load_config(["experiment=demo_rlvr", f"demo.dir={tmp_path}", "demo.table2.question_seed=0"])
    with pytest.raises(RptError, match="must differ from demo.seed"):
        run_table2(cfg)


def test_missing_start_models_are_named_before_anything_runs(tmp_path):
    (tmp_path / "pretrained").mkdir()
    cfg = load_config(["experiment=demo_rlvr", f"demo.dir={tmp_path}"])
    with pytest.raises(RptError, match=r"rpt=.*rpt_policy, ntp=.*ntp/policy"):
        run_table2(cfg)
    assert not (tmp_path / "table2").exists()


def write_metrics(run_dir, before, after, steps):
    """A Lightning-style sparse metrics.csv: validation rows at 0 and `steps`, train rows between."""
    run_dir.mkdir(parents=True)
    rows = [{"step": 0, "val/accuracy": before}]
    rows += [{"step": s, "train/reward": 0.5} for s in range(1, steps + 1)]
    rows.append({"step": steps, "val/accuracy": after})
    with (run_dir / "metrics.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["step", "train/reward", "val/accuracy"])
        writer.writeheader()
        writer.writerows(rows)
    return run_dir


def test_the_table_is_each_runs_step_0_and_last_val_accuracy_with_t_intervals_over_seeds(tmp_path):
    cfg = load_config(["experiment=demo_rlvr", f"demo.dir={tmp_path}", "trainer.max_steps=4", "demo.table2.seeds=3"])
    before, after = [0.2, 0.3, 0.4], [0.5, 0.5, 0.8]
    runs = {"rpt": [write_metrics(tmp_path / f"s{k}", b, a, 4) for k, (b, a) in enumerate(zip(before, after))],
            "ntp": [write_metrics(tmp_path / "one", 0.1, 0.1, 4)]}
    result = table2_result(cfg, runs)
    row = result["rows"]["rpt"]
    assert row["per_seed"] == {"before": before, "after": after, "change": pytest.approx([0.3, 0.2, 0.4])}
    t975 = 4.302652729911275  # Student t, 2 degrees of freedom
    assert row["change"]["mean"] == pytest.approx(0.3)
    assert row["change"]["ci95"] == pytest.approx([0.3 - t975 * 0.1 / math.sqrt(3), 0.3 + t975 * 0.1 / math.sqrt(3)])
    assert row["after"]["mean"] == pytest.approx(0.6) and row["after"]["ci95"][1] == pytest.approx(0.6 + t975 * 0.1)
    assert result["rows"]["ntp"]["change"]["mean"] == 0 and math.isnan(result["rows"]["ntp"]["change"]["ci95"][0])
    table = format_table2(result)
    assert f"| rpt | `{tmp_path}/rpt_policy` | 30.0 [5.2, 54.8] | 60.0 [17.0, 100.0] | +30.0 [+5.2, +54.8] |" in table
    assert f"| ntp | `{tmp_path}/ntp/policy` | 10.0 | 10.0 | +0.0 |" in table


def test_a_run_without_validation_at_its_last_step_is_refused(tmp_path):
    cfg = load_config(["experiment=demo_rlvr", f"demo.dir={tmp_path}", "trainer.max_steps=5"])
    with pytest.raises(RptError, match="no val/accuracy at step 0 and step 5"):
        table2_result(cfg, {"rpt": [write_metrics(tmp_path / "r", 0.1, 0.2, 4)]})


def tiny_demo(demo_dir):
    """A demo-like folder: a tiny model pre-trained on demo ledgers (long enough to answer a few of the
    questions), then trained on for two more short budgets, one model folder after each."""
    from rpt.recipes.demo.pretrain import pretrain
    from rpt.recipes.demo.tiny import tiny_qwen2, train_tokenizer

    texts = [r["text"] for r in generate_corpus(64, seed=0)]
    tokenizer = train_tokenizer(texts, vocab_size=300)
    documents = [np.asarray(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    model = tiny_qwen2(len(tokenizer), hidden_size=32, layers=1, heads=1)
    for name, steps in (("pretrained", 100), ("rpt_policy", 10), ("ntp/policy", 10)):
        pretrain(model, documents, tokenizer.pad_token_id, steps=steps, batch_size=16, lr=1e-2, seed=0)
        model.save_pretrained(demo_dir / name)
        tokenizer.save_pretrained(demo_dir / name)


def val_accuracy(metrics_csv):
    with metrics_csv.open(newline="") as f:
        return {int(float(r["step"])): float(r["val/accuracy"]) for r in csv.DictReader(f) if r.get("val/accuracy")}


@pytest.mark.slow
def test_table2_end_to_end_on_a_tiny_demo_folder(tmp_path, capsys):
    torch.set_num_threads(1)
    demo_dir = tmp_path / "demo"
    tiny_demo(demo_dir)
    argv = ["demo", "table2", f"demo.dir={demo_dir}", "demo.table2.questions=60", "demo.table2.seeds=2",
            "trainer.max_steps=2", "trainer.prompts_per_step=8", "sampling.n=4", "trainer.val_tasks=20",
            "logger.wandb.mode=disabled"]
    assert main(argv) == 0
    out = demo_dir / "table2"
    questions = [json.loads(line) for line in (out / "questions.jsonl").read_text().splitlines()]
    assert questions == ledger_questions(60, seed=1)
    result = json.loads((out / "table2.json").read_text())
    assert list(result["rows"]) == ["pretrained", "rpt", "ntp"]
    logged = []
    for name, row in result["rows"].items():
        assert row["model"] == str(demo_dir / {"pretrained": "pretrained", "rpt": "rpt_policy", "ntp": "ntp/policy"}[name])
        for k, run in enumerate(row["runs"]):
            assert run == str(out / "runs" / name / f"seed-{k}")
            config = (out / "runs" / name / f"seed-{k}" / "config.yaml").read_text()
            assert f"policy: {row['model']}" in config and "name: math_answer" in config
            accuracy = val_accuracy(out / "runs" / name / f"seed-{k}" / "metrics.csv")
            assert sorted(accuracy) == [0, 2]  # before training and after the last step
            assert row["per_seed"]["before"][k] == accuracy[0] and row["per_seed"]["after"][k] == accuracy[2]
            logged += [accuracy[0], accuracy[2]]
        mean = np.mean(row["per_seed"]["after"]) - np.mean(row["per_seed"]["before"])
        assert row["change"]["mean"] == pytest.approx(mean)
        assert f"| {name} | `{row['model']}` | {100 * np.mean(row['per_seed']['before']):.1f} [" in (out / "table2.md").read_text()
    assert any(value > 0 for value in logged)  # the ledger questions are answerable: the numbers are not all 0
    assert "Tiny-scale Table 2" in capsys.readouterr().out
