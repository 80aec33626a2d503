import pytest
from transformers import AutoTokenizer

from rpt.data.prompts import PromptFormat, extract_answer, render_prompt
from rpt.data.templates import PAPER_TEMPLATES
from rpt.data.tasks import NTPTask
from rpt.errors import RptError

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)
CONTEXT = "3 apples at 4 dollars is"


@pytest.fixture
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)  # fresh per test: some tests set a chat template


def make_task(tokenizer, context: str = CONTEXT, target: str = " 12 dollars.") -> NTPTask:
    return NTPTask(
        doc_id=0,
        position=len(tokenizer.encode(context)),
        context_ids=tuple(tokenizer.encode(context, add_special_tokens=False)),
        context_text=context,
        target_ids=tuple(tokenizer.encode(target, add_special_tokens=False)),
        target_text=target,
        boundaries=(3, 11, 12),
    )


def test_direct_prompt_is_the_context_ids_even_with_chat(tokenizer):
    tokenizer.chat_template = CHATML
    task = make_task(tokenizer)
    assert render_prompt(task, "direct", tokenizer, chat=True) == list(task.context_ids)
    assert render_prompt(task, "direct", tokenizer, chat=False) == list(task.context_ids)


# The paper's v0 instruction, copied from issue #12, which quotes arXiv 2506.08007 Appendix D, Table 10.
PAPER_V0 = (
    "Complete the given text under ‘### Context’ by predicting the next token, and wrap it in ‘\\boxed{}’. "
    "Please reason step by step to find the most probable next token as the final answer, and enclose it in "
    "\\boxed{} (note: the token may begin with a space, e.g., \\boxed{ para} or \\boxed{ =}; do not use \\text{})."
)


def test_v0_renders_byte_for_byte_as_printed_in_the_paper(tokenizer):
    task = make_task(tokenizer)
    ids = render_prompt(task, "v0", tokenizer, chat=False)
    assert ids[-len(task.context_ids) :] == list(task.context_ids)
    assert tokenizer.decode(ids).encode() == (PAPER_V0 + "\n\n### Context\n\n" + CONTEXT).encode()


@pytest.mark.parametrize("name", PAPER_TEMPLATES)
def test_every_paper_template_puts_the_context_ids_where_it_prints_prompt_content(tokenizer, name):
    from rpt.data.templates import BOXED_TEMPLATES

    task = make_task(tokenizer)
    head, tail = BOXED_TEMPLATES[name].split("{prompt_content}")
    ids = render_prompt(task, name, tokenizer, chat=False)
    assert tokenizer.decode(ids) == head + CONTEXT + tail
    start = len(tokenizer.encode(head, add_special_tokens=False))
    assert ids[start : start + len(task.context_ids)] == list(task.context_ids)


def test_max_tokens_drops_the_oldest_context_tokens(tokenizer):
    task = make_task(tokenizer)
    full = render_prompt(task, "v0", tokenizer, chat=False)
    cut = render_prompt(task, "v0", tokenizer, chat=False, max_tokens=len(full) - 2)
    assert len(cut) == len(full) - 2
    assert cut[-(len(task.context_ids) - 2) :] == list(task.context_ids[2:])
    assert render_prompt(task, "direct", tokenizer, chat=False, max_tokens=3) == list(task.context_ids[-3:])
    with pytest.raises(RptError, match="no room for the context"):
        render_prompt(task, "v0", tokenizer, chat=False, max_tokens=len(full) - len(task.context_ids))


def test_reasoning_is_the_old_name_of_rpt_reasoning(tokenizer):
    task = make_task(tokenizer)
    assert render_prompt(task, "reasoning", tokenizer, chat=False) == render_prompt(task, "rpt_reasoning", tokenizer, chat=False)


def test_rpt_reasoning_prompt_plain_text_ends_with_the_context_ids(tokenizer):
    task = make_task(tokenizer)
    ids = render_prompt(task, "rpt_reasoning", tokenizer, chat=False)
    assert ids[-len(task.context_ids) :] == list(task.context_ids)
    text = tokenizer.decode(ids)
    # v0's instructions, in our words: next token, step by step, boxed, leading space, no \text{}
    for phrase in ("next", "step by step", "\\boxed{}", "begin with a space", "\\text{}", "## Context"):
        assert phrase in text
    assert text.endswith("## Context\n\n" + CONTEXT)


def test_plain_reasoning_prompt_when_the_tokenizer_has_no_chat_template(tokenizer):
    assert not tokenizer.chat_template
    task = make_task(tokenizer)
    assert render_prompt(task, "reasoning", tokenizer, chat=True) == render_prompt(task, "reasoning", tokenizer, chat=False)


def test_reasoning_prompt_in_chat_template_matches_rendering_the_whole_message(tokenizer):
    tokenizer.chat_template = CHATML
    task = make_task(tokenizer)
    plain = tokenizer.decode(render_prompt(task, "reasoning", tokenizer, chat=False))
    ids = render_prompt(task, "reasoning", tokenizer, chat=True)
    expected = tokenizer.apply_chat_template(
        [{"role": "user", "content": plain}], add_generation_prompt=True, tokenize=False
    )
    assert tokenizer.decode(ids) == expected
    assert expected.endswith(CONTEXT + "<|im_end|>\n<|im_start|>assistant\n<think>\n")
    # the context keeps the corpus ids, directly before the chat template's closing part
    suffix = tokenizer.encode("<|im_end|>\n<|im_start|>assistant\n<think>\n", add_special_tokens=False)
    assert ids[-len(suffix) - len(task.context_ids) :] == list(task.context_ids) + suffix
    assert ids[0] == tokenizer.convert_tokens_to_ids("<|im_start|>")


def test_chat_template_that_rewrites_the_message_is_refused(tokenizer):
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] | upper }}{% endfor %}"
    with pytest.raises(RptError, match="prompt.chat=false"):
        render_prompt(make_task(tokenizer), "reasoning", tokenizer, chat=True)


def test_unknown_template_lists_valid_ones(tokenizer):
    with pytest.raises(RptError, match=r"'rpt_reasonin' \(did you mean 'rpt_reasoning'\?\); valid: v0, v1, v2, v3, v4, v5, v6, rpt_reasoning, direct"):
        render_prompt(make_task(tokenizer), "rpt_reasonin", tokenizer, chat=False)
    with pytest.raises(RptError, match="valid: v0, .*, direct"):
        extract_answer("\\boxed{x}", "chat")


@pytest.mark.parametrize(
    "text, answer",
    [
        ("The next token is \\boxed{ the}.", " the"),  # leading space kept verbatim
        ("\\boxed{ café}", " café"),
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),  # nested braces
        ("\\boxed{{a}{b}}", "{a}{b}"),
        ("first \\boxed{ a} then \\boxed{ b}", " b"),  # last box wins
        ("\\boxed{ a} and an unfinished \\boxed{ b", " a"),  # last *complete* box wins
        ("\\boxed{ \\boxed{ a}", " a"),  # an unclosed box does not hide a complete one inside it
        ("\\boxed{\\boxed{ a}}", "\\boxed{ a}"),  # a box inside a complete box is its content
        ("\\boxed{\\{}", "{"),  # escaped braces are literal and unescaped
        ("\\boxed{\\}}", "}"),
        ("\\boxed{ if (x) \\{}", " if (x) {"),
        ("\\boxed{}", ""),  # an empty answer is an answer (scored 0), not a format error
        ("\\boxed{\n}", "\n"),
        ("\\boxed{ the", None),  # unclosed: format error
        ("\\boxed{\\frac{1}{2}", None),
        ("the answer is the", None),  # no box
        ("", None),
        ("<think>maybe \\boxed{ a}</think>so: \\boxed{ b}", " b"),  # answer read after thinking
        ("<think>maybe \\boxed{ a}</think>no box after thinking", None),
        ("</think>\\boxed{ a}</think>\\boxed{ b}", " b"),  # the last end-of-thinking marker counts
        ("<think>still thinking \\boxed{ a}", " a"),  # no marker: the whole text
    ],
)
def test_reasoning_extraction(text, answer):
    assert extract_answer(text, "reasoning") == answer


@pytest.mark.parametrize("text, answer", [(" 12", " 12"), (" 12 dollars\n", " 12 dollars\n"), ("\\boxed{x}", "\\boxed{x}"), ("", None)])
def test_direct_extraction_is_the_whole_text(text, answer):
    assert extract_answer(text, "direct") == answer


def prompt_config(think=None, chat=True):
    from omegaconf import OmegaConf

    return OmegaConf.create({"template": "v0", "chat": chat, "think": think, "max_tokens": None})


def test_a_chat_template_that_opens_a_think_block_reads_answers_only_after_it(tokenizer):
    tokenizer.chat_template = CHATML  # R1-Distill style: the generation prompt ends in "<think>\n"
    fmt = PromptFormat.from_config(prompt_config(), tokenizer)
    assert fmt.thinking
    assert fmt.extract("a guess \\boxed{ a}, then more thought</think>so \\boxed{ b}") == " b"
    # cut at sampling.max_tokens before the thinking ends: a format error, not the box inside the thinking
    assert fmt.extract("maybe \\boxed{ a} or maybe") is None
    assert fmt.extract("maybe \\boxed{ a}</think>no box after thinking") is None


def test_without_a_think_block_the_whole_response_is_read(tokenizer):
    assert not tokenizer.chat_template
    fmt = PromptFormat.from_config(prompt_config(), tokenizer)
    assert not fmt.thinking
    assert fmt.extract("maybe \\boxed{ a}") == " a"
    tokenizer.chat_template = CHATML.replace("<think>\n", "")  # a chat template that opens no think block
    assert not PromptFormat.from_config(prompt_config(), tokenizer).thinking
    tokenizer.chat_template = CHATML
    assert not PromptFormat.from_config(prompt_config(chat=False), tokenizer).thinking  # no chat frame, no block


@pytest.mark.parametrize("think", [True, False])
def test_prompt_think_overrides_what_the_template_says(tokenizer, think):
    tokenizer.chat_template = CHATML
    fmt = PromptFormat.from_config(prompt_config(think=think), tokenizer)
    assert fmt.thinking is think
    assert fmt.extract("maybe \\boxed{ a}") == (None if think else " a")
