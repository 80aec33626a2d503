"""`rpt eval mc`: zero-shot multiple choice (MMLU-Pro / SuperGPQA format), accuracy per category.

A question is a record with a question, a list of options, the answer (a letter, or an option index)
and a category (`eval.mc.*` names the fields). Two modes (`eval.mode`):
- `standard`: the prompt lists the options and ends with "Answer:"; the model's choice is the option
  whose letter (" A", " B", ...) has the highest log-likelihood as the continuation (summed over its
  tokens; prompt and continuation are tokenised apart and joined). Greedy, no sampling.
- `reasoning`: the model thinks and writes its letter in `\\boxed{}` (the QA reasoning template), sampled
  `eval.samples` times with `sampling.*` by the rollout plugin; a sample scores 1 when the letter is
  right; a question's score is the mean over samples (pass@1).
Output: RUN_DIR/mc.json (per model: per category and `all`, n, accuracy, 95% interval) and a table.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from rpt.errors import RptError
from rpt.eval.buckets import accuracy_with_ci

if TYPE_CHECKING:
    from omegaconf import DictConfig

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ANSWER_INSTRUCTION = "Write only the letter of the correct option as the final answer."
#: A boxed letter as models write it: "B", "(B)", "B.", "\text{B}", "B) text".
_LETTER = re.compile(r"^\s*(?:\\text\{\s*)?\(?([A-Z])\)?(?:[.):}\s]|$)")


@dataclass(frozen=True)
class MCQuestion:
    question: str
    options: tuple[str, ...]
    answer: int  # index of the correct option
    category: str


def read_questions(cfg: "DictConfig") -> list[MCQuestion]:
    """The questions of eval.mc.path (a .jsonl / .parquet file or a Hugging Face dataset), the first eval.mc.max_questions."""
    from rpt.data.qa import field_at, read_rows

    mc = cfg.eval.mc
    rows = read_rows(str(mc.path), mc.split, mc.subset)[: mc.max_questions]
    questions = []
    for i, row in enumerate(rows):
        where = f"{mc.path} record {i + 1}"
        options = tuple(str(o) for o in field_at(row, mc.options_field, where))
        if not 2 <= len(options) <= len(LETTERS):
            raise RptError(f"{where}: {len(options)} options; a question needs 2 to {len(LETTERS)}")
        category = str(field_at(row, mc.category_field, where)) if mc.category_field else "all"
        questions.append(MCQuestion(str(field_at(row, mc.question_field, where)), options,
                                    _answer_index(field_at(row, mc.answer_field, where), len(options), where), category))
    if not questions:
        raise RptError(f"no questions in {mc.path}")
    return questions


def render_mc(question: MCQuestion) -> str:
    """The question and its lettered options (`A. ...` one per line)."""
    lines = [f"Question: {question.question}", "Options:"]
    lines += [f"{LETTERS[i]}. {option}" for i, option in enumerate(question.options)]
    return "\n".join(lines)


def standard_choices(model: torch.nn.Module, tokenizer, questions: Sequence[MCQuestion], batch_size: int,
                     progress: bool = True) -> np.ndarray:
    """Index of the option whose letter continuation has the highest log-likelihood, per question."""
    from rpt.proxy.lm import last_logits

    rows = []  # (question, option, prompt + continuation ids, continuation length)
    for q, question in enumerate(questions):
        prompt = _ids(tokenizer, render_mc(question) + "\nAnswer:")
        for o in range(len(question.options)):
            continuation = _ids(tokenizer, f" {LETTERS[o]}")
            rows.append((q, o, np.asarray(prompt + continuation, dtype=np.int64), len(continuation)))
    scores = [np.full(len(question.options), -np.inf) for question in questions]
    with torch.inference_mode():
        for start in tqdm(range(0, len(rows), batch_size), desc="mc", unit="batch", disable=not progress):
            batch = rows[start : start + batch_size]
            keep = max(n for *_, n in batch) + 1
            logprobs = last_logits(model, [ids for _, _, ids, _ in batch], keep).float().log_softmax(-1).cpu()
            for row, (q, o, ids, n) in enumerate(batch):
                predicted = logprobs[row, keep - 1 - n : keep - 1]  # the positions that predict the continuation
                scores[q][o] = float(predicted.gather(1, torch.as_tensor(ids[-n:])[:, None]).sum())
    return np.asarray([int(np.argmax(s)) for s in scores])


def boxed_letter(answer: str | None) -> int | None:
    """The option index a boxed answer names ("B", "(B)", "B.", "\\text{B}"), or None."""
    match = _LETTER.match(answer) if answer is not None else None
    return LETTERS.index(match.group(1)) if match else None


def reasoning_scores(cfg: "DictConfig", model_name: str, model: torch.nn.Module, tokenizer,
                     questions: Sequence[MCQuestion]) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Per question the share of eval.samples sampled answers naming the right letter; and every sample."""
    from rpt.data.prompts import PromptFormat
    from rpt.data.qa import render_question
    from rpt.registry import build, plugin_context
    from rpt.sampling import sampling_params

    rollout = build("rollout", cfg.rollout)
    rollout.setup(plugin_context(cfg, tokenizer, model, next(model.parameters()).device, policy_path=model_name))
    s, k = cfg.sampling, cfg.eval.samples
    prompt = PromptFormat.from_config(cfg.prompt, tokenizer, template="rpt_reasoning")  # reads answers after </think>
    scores, samples = np.zeros((len(questions), k)), []
    for index, start in enumerate(range(0, len(questions), cfg.eval.batch_size)):
        batch = questions[start : start + cfg.eval.batch_size]
        prompts = [render_question(f"{render_mc(q)}\n\n{ANSWER_INSTRUCTION}", prompt.template, tokenizer, prompt.chat)
                   for q in batch]
        params = sampling_params(s, n=k, seed=s.seed + index)
        output = rollout.generate(prompts, params)
        for i, question in enumerate(batch):
            for j in range(k):
                text = output.texts[i * k + j]
                choice = boxed_letter(prompt.extract(text))
                scores[start + i, j] = float(choice == question.answer)
                samples.append({"question": start + i, "sample": j, "text": text,
                                "choice": None if choice is None else LETTERS[choice], "correct": bool(scores[start + i, j])})
    return scores.mean(axis=1), samples


def category_accuracy(values: np.ndarray, categories: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`all` and each category: n, accuracy and its 95% interval (Wilson for 0/1 scores, normal for means)."""
    categories = np.asarray(categories)
    groups = {"all": np.ones(len(values), dtype=bool)} | {c: categories == c for c in sorted(set(categories))}
    return {name: accuracy_with_ci(np.asarray(values, dtype=np.float64)[mask]).to_json() for name, mask in groups.items()}


def run_mc(cfg: "DictConfig") -> dict[str, Any]:
    """What `rpt eval mc` does: score each model on the questions, write RUN_DIR/mc.json, print a table."""
    from rpt.config import require
    from rpt.models import load_tokenizer
    from rpt.eval.evaluate import _policy, hf_folders, model_labels, write_json
    from rpt.eval.tables import markdown, percent
    from rpt.files import write_text_atomic
    from rpt.models import load_causal_lm

    require(cfg, "eval.mc.path")
    if cfg.eval.mode not in ("standard", "reasoning"):
        raise RptError(f"unknown eval.mode {cfg.eval.mode!r}; choose one of: standard, reasoning")
    questions = read_questions(cfg)
    run_dir = Path(cfg.run.dir).expanduser()
    result: dict[str, Any] = {"mode": cfg.eval.mode, "source": str(cfg.eval.mc.path), "n_questions": len(questions),
                              "models": {}}
    with tempfile.TemporaryDirectory(prefix="rpt-eval-") as exported:
        models = hf_folders(list(cfg.eval.models) or [_policy(cfg)], Path(exported))
        for label, (name, folder) in zip(model_labels([n for n, _ in models]), models):
            tokenizer = load_tokenizer(cfg.model.tokenizer or folder)
            model = load_causal_lm(folder, cfg.eval.dtype)
            if cfg.eval.mode == "standard":
                values = (standard_choices(model, tokenizer, questions, cfg.eval.batch_size)
                          == np.asarray([q.answer for q in questions])).astype(np.float64)
            else:
                values, samples = reasoning_scores(cfg, folder, model, tokenizer, questions)
                lines = "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples)
                (run_dir / "responses").mkdir(parents=True, exist_ok=True)
                write_text_atomic(run_dir / "responses" / f"mc-{Path(label).name}.jsonl", lines)
            result["models"][label] = {"path": name, "categories": category_accuracy(values, [q.category for q in questions])}
    write_json(run_dir / "mc.json", result)
    labels = list(result["models"])
    names = list(next(iter(result["models"].values()))["categories"])
    print(markdown(["category", "n", *labels],
                   [[c, str(result["models"][labels[0]]["categories"][c]["n"]),
                     *(percent(result["models"][m]["categories"][c]) for m in labels)] for c in names]))
    print(f"wrote {run_dir / 'mc.json'}")
    return result


def _answer_index(answer: Any, count: int, where: str) -> int:
    """An answer letter ("C") or an option index (2) as the index."""
    if isinstance(answer, (int, np.integer)) and not isinstance(answer, bool):
        index = int(answer)
    elif isinstance(answer, str) and len(answer.strip()) == 1 and answer.strip().upper() in LETTERS:
        index = LETTERS.index(answer.strip().upper())
    else:
        raise RptError(f"{where}: answer {answer!r} is neither an option letter nor an option index")
    if not 0 <= index < count:
        raise RptError(f"{where}: answer {answer!r} names no option (there are {count})")
    return index


def _ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])
