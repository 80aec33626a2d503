"""Turn an NTP task into prompt token ids, and read the predicted answer back out of a sample.

Two templates:
- `reasoning` (the paper's): an instruction to predict the next token, reason step by step and put
  the answer in `\\boxed{}`, then the context under a heading; wrapped in the tokenizer's chat
  template when asked and available. The answer is the last complete `\\boxed{...}` after the end
  of thinking (`</think>`) when the sample has that marker.
- `direct` (for tiny models): the prompt is the context itself, so the model simply continues the
  document; the whole generated text is the answer.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

from rpt.errors import RptError, suggest

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from rpt.data.tasks import NTPTask

log = logging.getLogger(__name__)

TEMPLATES = ("reasoning", "direct")

INSTRUCTION = (
    "Continue the text under the Context heading below by predicting the token that comes next. "
    "Reason step by step: weigh a few likely candidates, then settle on the most probable one. "
    "Write your final prediction inside \\boxed{}. The token may begin with a space; if it does, keep "
    "that space inside the braces, as in \\boxed{ the}. Write the token as plain text: do not wrap it "
    "in \\text{}, and write a literal brace as \\{ or \\}."
)
CONTEXT_HEADING = "\n\n## Context\n\n"
END_OF_THINKING = "</think>"
BOX = "\\boxed{"
#: Stands in for the user message while the chat template is rendered, so the message's own ids
#: (the context exactly as the corpus tokenised it) can be spliced in unchanged.
PLACEHOLDER = "\x00rpt-prompt\x00"


def check_template(template: str) -> str:
    """The template name, or an RptError listing the valid ones (validate config early with it)."""
    if template not in TEMPLATES:
        raise RptError(f"unknown prompt template {template!r}{suggest(template, TEMPLATES)}; valid: {', '.join(TEMPLATES)}")
    return template


def render_prompt(task: "NTPTask", template: str, tokenizer: "PreTrainedTokenizerBase", chat: bool) -> list[int]:
    """Prompt token ids for `task`.

    `direct` returns exactly `task.context_ids` (`chat` is ignored). `reasoning` is the instruction
    and heading followed by `task.context_ids` unchanged, inside the chat template's user turn (with
    its generation prompt) when `chat` is set and the tokenizer has a template, else as plain text.
    Splicing the corpus ids in keeps the context tokenised exactly as in the document (no merges
    across the heading, the same ids the direct template and the proxy see).
    """
    if check_template(template) == "direct":
        return list(task.context_ids)
    before, after = _reasoning_frame(tokenizer, chat)
    return [*before, *task.context_ids, *after]


def extract_answer(text: str, template: str) -> str | None:
    """The answer in a generated sample, or None when it has none (a format error, rewarded 0).

    `direct`: the whole text, verbatim; None when it is empty.
    `reasoning`: the content of the last complete `\\boxed{...}` in the text after the last
    `</think>` (the whole text when there is no such marker), verbatim, leading space included.
    Braces nest; `\\{` and `\\}` are literal braces (they do not nest and are returned unescaped).
    A box inside a complete box is part of its content. None when no box is complete.
    """
    if check_template(template) == "direct":
        return text or None
    _, _, answer_part = text.rpartition(END_OF_THINKING)
    return last_boxed(answer_part)


def last_boxed(text: str) -> str | None:
    """Content of the last complete `\\boxed{...}` in `text`, or None when there is none."""
    answer = None
    start = text.find(BOX)
    while start != -1:
        content_start = start + len(BOX)
        closed = _box_content(text, content_start)
        if closed is None:  # unclosed: a later box (even one inside it) may still be complete
            start = text.find(BOX, content_start)
        else:
            answer, end = closed
            start = text.find(BOX, end)
    return answer


def _box_content(text: str, start: int) -> tuple[str, int] | None:
    """(content, index after the closing brace) of a box whose content begins at `start`, or None if unclosed."""
    content: list[str] = []
    depth = 1
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\" and text[i + 1 : i + 2] in ("{", "}"):
            content.append(text[i + 1])
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return "".join(content), i + 1
        content.append(char)
        i += 1
    return None


@functools.lru_cache(maxsize=8)
def _reasoning_frame(tokenizer: "PreTrainedTokenizerBase", chat: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The reasoning prompt's ids before and after the context (rendered once per tokenizer)."""
    head = INSTRUCTION + CONTEXT_HEADING
    if chat and getattr(tokenizer, "chat_template", None):
        before, after = _chat_frame(tokenizer)
        return _encode(tokenizer, before + head), _encode(tokenizer, after)
    if chat:
        log.warning("tokenizer %s has no chat template: reasoning prompts are plain text", tokenizer.name_or_path)
    return _encode(tokenizer, head), ()


def _chat_frame(tokenizer: "PreTrainedTokenizerBase") -> tuple[str, str]:
    """The chat template's text before and after a single user message, generation prompt included."""
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": PLACEHOLDER}], add_generation_prompt=True, tokenize=False
    )
    if rendered.count(PLACEHOLDER) != 1:
        raise RptError(
            f"the chat template of {tokenizer.name_or_path!r} does not insert the user message verbatim; "
            "set prompt.chat=false"
        )
    before, _, after = rendered.partition(PLACEHOLDER)
    return before, after


def _encode(tokenizer: "PreTrainedTokenizerBase", text: str) -> tuple[int, ...]:
    return tuple(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else ()
