import pytest
from transformers import AutoTokenizer

from rpt.data.prompts import extract_answer, render_prompt
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


def test_reasoning_prompt_plain_text_ends_with_the_context_ids(tokenizer):
    task = make_task(tokenizer)
    ids = render_prompt(task, "reasoning", tokenizer, chat=False)
    assert ids[-len(task.context_ids) :] == list(task.context_ids)
    text = tokenizer.decode(ids)
    # the paper's instructions, in our words: next token, step by step, boxed, leading space, no \text{}
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
    with pytest.raises(RptError, match=r"'reasonin' \(did you mean 'reasoning'\?\); valid: reasoning, direct"):
        render_prompt(make_task(tokenizer), "reasonin", tokenizer, chat=False)
    with pytest.raises(RptError, match="valid: reasoning, direct"):
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
