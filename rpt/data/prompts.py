"""Turn an NTP task into prompt token ids, and read the predicted answer back out of a sample.

Templates (`prompt.template`):
- `v0` ... `v6`: the RPT paper's seven templates as printed (Appendix D, Table 10; section 4 used
  `v0`), text in `rpt.data.templates`. The context goes where the paper prints `{prompt_content}`;
  the whole message is wrapped in the tokenizer's chat template when asked and available.
- `rpt_reasoning`: rpt's own wording of the same task (`reasoning` is its old name, kept as an alias).
- `direct` (for tiny models): the prompt is the context itself, so the model simply continues the
  document; the whole generated text is the answer.

For the boxed templates the answer is the last complete `\\boxed{...}` after the end of thinking
(`</think>`). When the prompt opens a think block (a chat template whose generation prompt ends in
`<think>`, as R1-Distill's does; `prompt.think` overrides), a sample that never closes it has no
answer: the box must come after `</think>`, as the paper reads it (section 3.3).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rpt.data.templates import BOXED_TEMPLATES, PROMPT_CONTENT
from rpt.errors import RptError, suggest

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from rpt.data.tasks import NTPTask

log = logging.getLogger(__name__)

DIRECT = "direct"
ALIASES = {"reasoning": "rpt_reasoning"}  # old name of rpt's own wording, before the paper's templates shipped
TEMPLATES = (*BOXED_TEMPLATES, DIRECT)
TEMPLATE_NAMES = (*TEMPLATES, *ALIASES)  # every accepted prompt.template (checked when a config is composed)
START_OF_THINKING = "<think>"
END_OF_THINKING = "</think>"
BOX = "\\boxed{"
#: Stands in for the user message while the chat template is rendered, so the message's own ids
#: (the context exactly as the corpus tokenised it) can be spliced in unchanged.
PLACEHOLDER = "\x00rpt-prompt\x00"


def check_template(template: str) -> str:
    """The template's canonical name, or an RptError listing the valid ones (validate config early with it)."""
    if template in ALIASES:
        return ALIASES[template]
    if template not in TEMPLATES:
        raise RptError(f"unknown prompt template {template!r}{suggest(template, TEMPLATES)}; valid: {', '.join(TEMPLATES)}")
    return template


def render_prompt(task: "NTPTask", template: str, tokenizer: "PreTrainedTokenizerBase", chat: bool,
                  max_tokens: int | None = None) -> list[int]:
    """Prompt token ids for `task`.

    `direct` returns exactly `task.context_ids` (`chat` is ignored). A boxed template is its text
    before `{prompt_content}`, then `task.context_ids` unchanged, then its text after, inside the
    chat template's user turn (with its generation prompt) when `chat` is set and the tokenizer has
    a template, else as plain text. Splicing the corpus ids in keeps the context tokenised exactly
    as in the document (no merges across the template text, the same ids the proxy sees).
    `max_tokens` caps the whole prompt by dropping the context's oldest tokens.
    """
    name = check_template(template)
    if name == DIRECT:
        before, after = (), ()
    else:
        before, after = _frame(tokenizer, name, chat)
    context = list(task.context_ids)
    if max_tokens is not None:
        room = max_tokens - len(before) - len(after)
        if room < 1:
            raise RptError(f"prompt.max_tokens={max_tokens} leaves no room for the context: the {name} template "
                           f"alone is {len(before) + len(after)} tokens")
        context = context[-room:]
    return [*before, *context, *after]


def opens_thinking(tokenizer: "PreTrainedTokenizerBase", chat: bool) -> bool:
    """Whether prompts leave a think block open: the chat template's generation prompt ends inside `<think>`."""
    if not (chat and getattr(tokenizer, "chat_template", None)):
        return False
    _, after = _chat_frame(tokenizer)
    return after.rfind(START_OF_THINKING) > after.rfind(END_OF_THINKING)


def extract_answer(text: str, template: str, thinking: bool = False) -> str | None:
    """The answer in a generated sample, or None when it has none (a format error, rewarded 0).

    `direct`: the whole text, verbatim; None when it is empty.
    Boxed templates: the content of the last complete `\\boxed{...}` in the text after the last
    `</think>`, verbatim, leading space included. Without a `</think>` the whole text is read,
    unless `thinking` (the prompt opened a think block): then the sample never finished thinking
    and has no answer. Braces nest; `\\{` and `\\}` are literal braces (they do not nest and are
    returned unescaped). A box inside a complete box is part of its content. None when no box is complete.
    """
    if check_template(template) == DIRECT:
        return text or None
    _, marker, answer_part = text.rpartition(END_OF_THINKING)
    if thinking and not marker:
        return None
    return last_boxed(answer_part)


@dataclass(frozen=True)
class PromptFormat:
    """One prompt configuration, resolved against a tokenizer: renders tasks and reads answers back."""

    template: str
    tokenizer: "PreTrainedTokenizerBase"
    chat: bool = True
    max_tokens: int | None = None
    thinking: bool = False

    @classmethod
    def from_config(cls, prompt, tokenizer: "PreTrainedTokenizerBase", template: str | None = None) -> "PromptFormat":
        """From the `prompt` config group (`template` overrides prompt.template); prompt.think=null asks the tokenizer."""
        name = check_template(template or prompt.template)
        if template is None and prompt.template in ALIASES:
            log.warning("prompt.template=%s is the old name of %s (rpt's wording, not the paper's)", prompt.template, name)
        thinking = opens_thinking(tokenizer, prompt.chat) if prompt.think is None else bool(prompt.think)
        return cls(name, tokenizer, prompt.chat, prompt.max_tokens, thinking)

    def render(self, task: "NTPTask") -> list[int]:
        return render_prompt(task, self.template, self.tokenizer, self.chat, self.max_tokens)

    def extract(self, text: str) -> str | None:
        return extract_answer(text, self.template, self.thinking)


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


@functools.lru_cache(maxsize=32)
def _frame(tokenizer: "PreTrainedTokenizerBase", template: str, chat: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A boxed template's prompt ids before and after the context (rendered once per tokenizer and template)."""
    head, _, tail = BOXED_TEMPLATES[template].partition(PROMPT_CONTENT)
    if chat and getattr(tokenizer, "chat_template", None):
        before, after = _chat_frame(tokenizer)
        return _encode(tokenizer, before + head), _encode(tokenizer, tail + after)
    if chat:
        log.warning("tokenizer %s has no chat template: prompts are plain text", tokenizer.name_or_path)
    return _encode(tokenizer, head), _encode(tokenizer, tail)


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
