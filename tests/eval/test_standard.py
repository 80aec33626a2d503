"""Standard-mode accuracy equals a plain transformers computation on the same positions."""

import json

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from rpt.cli import main
from rpt.config import load_config
from rpt.data.corpus import tokenize_corpus
from rpt.eval.evaluate import build_eval_set
from rpt.models import load_tokenizer
from rpt.proxy import load_entropies


def overrides(tiny_model_dir, corpus_jsonl, tmp_path, *extra):
    return [f"model.policy={tiny_model_dir}", f"model.proxy={tiny_model_dir}", f"data.path={corpus_jsonl}",
            "data.val_fraction=0.5", f"data.cache_dir={tmp_path / 'cache'}", f"data.scores={tmp_path / 'scores'}",
            f"run.dir={tmp_path / 'run'}", *extra]


def reference_correct(model_dir, corpus, rows, max_context):
    """Argmax of the logits of one plain forward per document (or per truncated context)."""
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    whole_document = {}
    correct = []
    with torch.no_grad():
        for doc, position in rows:
            ids = torch.as_tensor(corpus.token_ids[doc])
            if position <= max_context:  # one forward per document gives every such position
                if doc not in whole_document:
                    whole_document[doc] = model(ids[None]).logits[0].argmax(dim=-1)
                predicted = whole_document[doc][position - 1]
            else:
                predicted = model(ids[None, position - max_context : position]).logits[0, -1].argmax()
            correct.append(int(predicted) == int(ids[position]))
    return np.asarray(correct)


@pytest.mark.parametrize("max_context", [1024, 6])
def test_standard_accuracy_matches_plain_transformers(capsys, trained_model_dir, corpus_jsonl, tmp_path, max_context):
    args = overrides(trained_model_dir, corpus_jsonl, tmp_path, f"data.max_context_tokens={max_context}",
                     "eval.max_positions=150", "eval.batch_size=16", "score.stride=8")
    assert main(["score", *args]) == 0
    cfg = load_config(args)
    corpus = tokenize_corpus(cfg.data, load_tokenizer(str(trained_model_dir)))
    rows = [(t.doc_id, t.position) for t in build_eval_set(cfg, corpus).tasks]  # the sampled held-out positions
    entropy = np.asarray([load_entropies(cfg.data.scores, corpus)[d][p] for d, p in rows])
    # thresholds at the entropy quartiles, so every bucket holds a different, non-empty share
    q1, q2, q3 = np.quantile(entropy, [0.25, 0.5, 0.75])
    buckets = f"eval.buckets={{easy: {q1}, medium: {q2}, hard: {q3}}}"
    assert main(["eval", *args, buckets]) == 0
    assert "| hard (H > " in capsys.readouterr().out

    result = json.loads((tmp_path / "run" / "eval.json").read_text())
    correct = reference_correct(trained_model_dir, corpus, rows, max_context)
    assert 0 < correct.sum() < len(correct), "a constant outcome would not test much"
    got = result["models"][trained_model_dir.name]["buckets"]
    for name, threshold in [("all", -np.inf), ("easy", q1), ("medium", q2), ("hard", q3)]:
        mask = entropy > threshold
        assert got[name]["n"] == mask.sum()
        assert got[name]["accuracy"] == correct[mask].sum() / mask.sum()


def test_two_models_are_compared_per_bucket(tiny_model_dir, corpus_jsonl, tmp_path):
    from tests.fixtures import tiny_qwen2

    other = tmp_path / "other"
    load_tokenizer(str(tiny_model_dir)).save_pretrained(other)
    tiny_qwen2(len(load_tokenizer(str(tiny_model_dir))), seed=1).save_pretrained(other)
    args = overrides(tiny_model_dir, corpus_jsonl, tmp_path, f"eval.models=[{tiny_model_dir},{other}]")
    assert main(["score", *args]) == 0
    assert main(["eval", *args]) == 0
    result = json.loads((tmp_path / "run" / "eval.json").read_text())
    first, second = (result["models"][m]["buckets"] for m in (tiny_model_dir.name, "other"))
    assert result["comparison"]["first"] == tiny_model_dir.name and result["comparison"]["second"] == "other"
    for bucket, diff in result["comparison"]["buckets"].items():
        if first[bucket]["n"]:
            assert diff["difference"] == pytest.approx(second[bucket]["accuracy"] - first[bucket]["accuracy"])


def test_eval_without_scores_reports_all_only(capsys, tiny_model_dir, corpus_jsonl, tmp_path):
    args = [a for a in overrides(tiny_model_dir, corpus_jsonl, tmp_path) if not a.startswith("data.scores")]
    assert main(["eval", *args]) == 0
    result = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert list(result["models"][tiny_model_dir.name]["buckets"]) == ["all"]


def test_buckets_come_from_the_difficulty_model_and_every_output_says_which(capsys, tiny_model_dir, corpus_jsonl, tmp_path):
    args = overrides(tiny_model_dir, corpus_jsonl, tmp_path)
    assert main(["score", *args]) == 0  # the scores are the tiny model's entropies
    capsys.readouterr()
    assert main(["eval", *args, "eval.difficulty_model=org/another-14b"]) == 2
    assert "must come from eval.difficulty_model='org/another-14b'" in capsys.readouterr().err
    assert main(["eval", *[a for a in args if not a.startswith("data.scores")], "eval.difficulty_model=org/another-14b"]) == 2
    assert "score the corpus with it" in capsys.readouterr().err

    assert main(["eval", *args, f"eval.difficulty_model={tiny_model_dir}"]) == 0
    result = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert result["difficulty"]["model"].startswith(f"{tiny_model_dir}@")
    assert f"Buckets: top-16 entropy of `{result['difficulty']['model']}`" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "run"), "logger.wandb.mode=disabled"]) == 0
    assert f"Buckets: top-16 entropy of `{result['difficulty']['model']}`" in (tmp_path / "run" / "report.md").read_text()


def test_paper_preset_defines_buckets_by_the_14b_model():
    cfg = load_config(["experiment=paper_14b"])
    assert cfg.eval.difficulty_model == "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B" == cfg.model.policy
    assert cfg.model.proxy == "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"  # training positions: the 1.5B proxy
