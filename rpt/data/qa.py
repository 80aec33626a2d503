"""Question-answer tasks (data.kind=qa): RLVR on a QA corpus with the same GRPO loop as RPT.

A record (a .jsonl line, a .parquet row or a Hugging Face dataset row) gives a question and an
answer field (dotted paths, `data.qa.*`); the reference is the answer's final value (after the
last `####` in GSM8K), or a JSON list of accepted values (Skywork-OR1's `ground_truth`). The prompt
is the question in a reasoning template; the policy's answer is read back by the prompt template
exactly as for next-token tasks (`PromptFormat.extract`: the last box, after `</think>` for thinking models).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rpt.config import QA_ANSWER_FORMATS
from rpt.data.prompts import DIRECT, PromptFormat, check_template
from rpt.errors import RptError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from rpt.config import QAConfig

QA_INSTRUCTION = "Solve the following problem. Reason step by step, then write only the final answer inside \\boxed{}."


@dataclass(frozen=True)
class QATask:
    """One question with its accepted final answers (`reference` is the first)."""

    index: int  # the record's row in its source
    question: str
    references: tuple[str, ...]

    @property
    def reference(self) -> str:
        return self.references[0]


class TaskPromptFormat(PromptFormat):
    """The prompt format of any task: a QA task's question in the QA prompt, a next-token task as configured."""

    def render(self, task: Any) -> list[int]:
        if isinstance(task, QATask):
            return render_question(task.question, self.template, self.tokenizer, self.chat)
        return super().render(task)


def render_question(question: str, template: str, tokenizer: "PreTrainedTokenizerBase", chat: bool) -> list[int]:
    """Any boxed template (the paper's v0-v6 are next-token instructions, so for a question they all mean
    this): the QA instruction and the question, as the chat template's user turn when `chat` and the
    tokenizer has one (generation prompt included), else as plain text. `direct` (tiny base models): the
    question text itself, which the model continues, as it continues a context for next-token tasks."""
    if check_template(template) == DIRECT:
        return _encode(tokenizer, question)
    text = f"{QA_INSTRUCTION}\n\n{question}"
    if chat and getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                             tokenize=False)
    return _encode(tokenizer, text)


def read_qa_tasks(path: str, split: str, qa: "QAConfig", max_records: int | None = None) -> list[QATask]:
    """Every record of a .jsonl / .parquet file or Hugging Face dataset as a QA task (the first `max_records`)."""
    if qa.answer_format not in QA_ANSWER_FORMATS:  # checked at compose time too; this guards the Python API
        raise RptError(f"data.qa.answer_format must be one of {', '.join(QA_ANSWER_FORMATS)}, got {qa.answer_format!r}")
    rows = read_rows(path, split, qa.subset)
    if max_records is not None:
        rows = rows[:max_records]
    tasks = [_task(i, row, qa, f"{path} record {i + 1}") for i, row in enumerate(rows)]
    if not tasks:
        raise RptError(f"no questions in {path}")
    return tasks


def reference_of(answer: Any, qa: "QAConfig", where: str) -> tuple[str, ...]:
    """The accepted final answers in an answer field: a JSON list's items, or the text after the last marker."""
    if qa.answer_format == "json_list":
        values = json.loads(answer) if isinstance(answer, str) else answer
        if not isinstance(values, list) or not values:
            raise RptError(f"{where}: {qa.answer_field} is not a non-empty JSON list")
        return tuple(str(v).strip() for v in values)
    text = str(answer)
    if qa.answer_marker is not None:
        before, found, after = text.rpartition(qa.answer_marker)
        if not found:
            raise RptError(f"{where}: no {qa.answer_marker!r} in {qa.answer_field} (set data.qa.answer_marker)")
        text = after
    if not text.strip():
        raise RptError(f"{where}: empty reference answer")
    return (text.strip(),)


def _task(index: int, row: Any, qa: "QAConfig", where: str) -> QATask:
    question = field_at(row, qa.question_field, where)
    if not isinstance(question, str) or not question.strip():
        raise RptError(f"{where}: {qa.question_field} is not a non-empty string")
    return QATask(index, question, reference_of(field_at(row, qa.answer_field, where), qa, where))


def field_at(row: Any, dotted: str, where: str) -> Any:
    """`row[a][b][0]...` for the dotted path `a.b.0`."""
    value = row
    for part in dotted.split("."):
        try:
            value = value[int(part)] if isinstance(value, list) else value[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise RptError(f"{where}: no field {dotted!r}") from None
    return value


def read_rows(path: str, split: str, subset: str | None) -> list[Any]:
    """The records of a .jsonl / .parquet file, or of a Hugging Face dataset's split (and configuration)."""
    from rpt.data.corpus import _parquet_rows, _read_text

    file = Path(path).expanduser()
    if file.suffix.lower() in (".jsonl", ".parquet") and not file.exists():
        raise RptError(f"question file not found: {file}")
    if file.suffix.lower() == ".parquet":
        return list(_parquet_rows(file))
    if file.suffix.lower() != ".jsonl":
        return _hf_rows(path, subset, split)
    rows = []
    for lineno, line in enumerate(_read_text(file).splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise RptError(f"{file}:{lineno}: not valid JSON ({err.msg})") from None
    return rows


def _encode(tokenizer: "PreTrainedTokenizerBase", text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _hf_rows(name: str, subset: str | None, split: str) -> list[Any]:
    import datasets

    try:
        return list(datasets.load_dataset(name, subset, split=split))
    except Exception as err:  # datasets raises many types for missing names, splits, network
        raise RptError(f"cannot load dataset {name!r} ({subset or 'default'}, split {split!r}): "
                       f"{str(err).splitlines()[0]}") from None
