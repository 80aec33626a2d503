"""`rpt eval mc`: accuracy per category against choices computed with plain transformers forwards."""

import json

import numpy as np
import pytest
import torch
from scipy import stats
from transformers import AutoModelForCausalLM, AutoTokenizer

from rpt.cli import main
from rpt.config import load_config
from rpt.errors import RptError
from rpt.eval.mc import boxed_letter, run_mc

QUESTIONS = [
    ("How many legs has a cat?", ["4", "2", "3", "6"], "math"),
    ("12 + 7 = ?", ["19", "21", "18"], "math"),
    ("Which is a fruit?", ["apple", "car", "tax"], "math"),
    ("The dog ran where?", ["home", "sat", "mat", "out"], "law"),
    ("Tokens cost what?", ["money", "time"], "law"),
    ("Café au what?", ["lait", "the", "cat"], "law"),
]


def option_loglikelihood_choice(model, tokenizer, question, options):
    """The argmax option, each scored on its own: sum of log p(letter tokens | prompt), one forward per option."""
    prompt = f"Question: {question}\nOptions:\n" + "".join(f"{'ABCD'[i]}. {o}\n" for i, o in enumerate(options)) + "Answer:"
    scores = []
    for i in range(len(options)):
        context = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        letter = tokenizer(f" {'ABCD'[i]}", add_special_tokens=False)["input_ids"]
        ids = torch.tensor([context + letter])
        with torch.no_grad():
            logprobs = model(ids).logits[0].log_softmax(-1)
        scores.append(sum(float(logprobs[len(context) - 1 + k, t]) for k, t in enumerate(letter)))
    return int(np.argmax(scores))


def test_standard_mode_accuracy_per_category_matches_independent_forwards(tiny_model_dir, tmp_path):
    torch.set_num_threads(1)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    choices = [option_loglikelihood_choice(model, tokenizer, q, o) for q, o, _ in QUESTIONS]
    # answers chosen so that math has 2 of 3 right and law 1 of 3 (wrong = the next option)
    right = [True, True, False, True, False, False]
    rows = []
    for (q, options, category), choice, ok in zip(QUESTIONS, choices, right):
        answer = choice if ok else (choice + 1) % len(options)
        rows.append({"question": q, "options": options, "answer": "ABCD"[answer] if len(rows) % 2 else answer,
                     "category": category})  # letters and indices both name an option
    path = tmp_path / "mc.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    cfg = load_config([f"model.policy={tiny_model_dir}", f"eval.mc.path={path}", f"run.dir={tmp_path / 'out'}",
                       "eval.batch_size=5", "eval.dtype=float32"])
    result = run_mc(cfg)
    categories = result["models"][tiny_model_dir.name]["categories"]
    expected = {"all": (6, 3), "math": (3, 2), "law": (3, 1)}
    for name, (n, hits) in expected.items():
        ci = stats.binomtest(hits, n).proportion_ci(0.95, method="wilson")
        assert categories[name]["n"] == n
        assert categories[name]["accuracy"] == pytest.approx(hits / n)
        assert categories[name]["ci95"] == pytest.approx([ci.low, ci.high])
    assert json.loads((tmp_path / "out" / "mc.json").read_text())["models"][tiny_model_dir.name]["categories"] == categories


def test_reasoning_mode_scores_the_boxed_letter_of_each_sample(tiny_model_dir, tmp_path):
    rows = [{"question": "q1", "options": ["x", "y"], "answer": "A", "category": "c"},
            {"question": "q2", "options": ["x", "y"], "answer": "B", "category": "c"}]
    path = tmp_path / "mc.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = load_config([f"model.policy={tiny_model_dir}", f"eval.mc.path={path}", f"run.dir={tmp_path / 'out'}",
                       "eval.mode=reasoning", "eval.samples=3", "rollout.name=tests.eval.fake_rollout.FixedTexts",
                       "prompt.chat=false"])
    result = run_mc(cfg)
    # samples: boxed A, boxed (B), no box -> q1 (answer A): 1/3, q2 (answer B): 1/3
    assert result["models"][tiny_model_dir.name]["categories"]["c"]["accuracy"] == pytest.approx(1 / 3)
    saved = (tmp_path / "out" / "responses" / f"mc-{tiny_model_dir.name}.jsonl").read_text().splitlines()
    assert [json.loads(line)["choice"] for line in saved] == ["A", "B", None] * 2


@pytest.mark.parametrize("boxed,index", [("B", 1), ("(C)", 2), ("A.", 0), ("\\text{D}", 3), ("B) yes", 1),
                                         (" C", 2), ("Because", None), ("", None), (None, None), ("42", None)])
def test_boxed_letter(boxed, index):
    assert boxed_letter(boxed) == index


def test_cli_reports_a_bad_answer_in_one_line(tiny_model_dir, tmp_path, capsys):
    path = tmp_path / "mc.jsonl"
    path.write_text(json.dumps({"question": "q", "options": ["x", "y"], "answer": "E", "category": "c"}) + "\n")
    assert main(["eval", "mc", f"model.policy={tiny_model_dir}", f"eval.mc.path={path}"]) == 2
    assert "names no option" in capsys.readouterr().err


def test_mc_needs_a_question_set(tiny_model_dir):
    with pytest.raises(RptError, match="eval.mc.path"):
        run_mc(load_config([f"model.policy={tiny_model_dir}"]))
