"""Reward rules of exact_match, prefix_match and first_token on hand-made tasks (proxy_prob: test_proxy_prob.py)."""

import pytest
import torch
from transformers import AutoTokenizer

from rpt.api import PluginContext
from rpt.data.tasks import NTPTask
from rpt.plugins.rewards.exact_match import ExactMatch
from rpt.plugins.rewards.first_token import FirstToken
from rpt.plugins.rewards.prefix_match import PrefixMatch


def task(target_text: str, boundaries: tuple[int, ...], target_ids: tuple[int, ...] = (0,)) -> NTPTask:
    return NTPTask(0, 1, (1,), "context", target_ids, target_text, boundaries)


# " 12" | " dollars" | "."  -> UTF-8 prefix lengths 3, 11, 12
DOLLARS = task(" 12 dollars.", (3, 11, 12))
# "é" (2 bytes) | " au" | " lait"
CAFE = task("é au lait", (2, 5, 10))
# " 🙂" as two byte-level tokens (" \xf0\x9f" | "\x99\x82": only the second ends on a character) | " and"
EMOJI = task(" 🙂 and", (5, 9))
# a whitespace token: "\n\n" | "The"
NEWLINES = task("\n\nThe", (2, 5))

#: (task, answer, exact_match, prefix_match), each expectation worked out by hand from the comments above
CASES = [
    (DOLLARS, " 12", 1, 1),  # the next token
    (DOLLARS, " 12 dollars", 0, 1),  # two whole tokens
    (DOLLARS, " 12 dollars.", 0, 1),  # the whole continuation
    (DOLLARS, " 12 dollars. And", 0, 0),  # longer than the continuation
    (DOLLARS, " 1", 0, 0),  # half a token
    (DOLLARS, " 12 doll", 0, 0),  # a token and half of the next
    (DOLLARS, " 12 ", 0, 0),  # a token and the next one's leading space
    (DOLLARS, "12", 0, 0),  # missing the leading space the token owns
    (DOLLARS, "  12", 0, 0),  # an extra space
    (DOLLARS, " 12\n", 0, 0),
    (DOLLARS, " 13", 0, 0),
    (DOLLARS, "", 0, 0),  # empty answer
    (DOLLARS, None, 0, 0),  # format error
    (CAFE, "é", 1, 1),  # a 2-byte character
    (CAFE, "é au", 0, 1),
    (CAFE, "e", 0, 0),  # a different character
    (CAFE, "e\u0301", 0, 0),  # the same letter decomposed (NFD): different bytes
    (EMOJI, " 🙂", 1, 1),  # a character split into byte tokens is one "next token"
    (EMOJI, " 🙂 and", 0, 1),
    (EMOJI, " ", 0, 0),  # bytes 0..1 are not a token boundary
    (EMOJI, " 🙃", 0, 0),  # shares 3 of the 4 bytes
    (NEWLINES, "\n\n", 1, 1),
    (NEWLINES, "\n", 0, 0),
    (NEWLINES, "\n\nThe", 0, 1),
    (NEWLINES, "The", 0, 0),
]


@pytest.mark.parametrize("reward_cls, column", [(ExactMatch, 2), (PrefixMatch, 3)])
def test_string_rewards_follow_the_rules(reward_cls, column):
    result = reward_cls()([case[1] for case in CASES], [case[0] for case in CASES], group_size=1)
    assert result.values.dtype == torch.float32
    got = dict(zip(range(len(CASES)), result.values.tolist()))
    expected = {i: float(case[column]) for i, case in enumerate(CASES)}
    assert got == expected


def test_rewards_are_per_sample_with_tasks_repeated_per_group():
    answers = [" 12", " 1", None, "é", "é au", "x"]
    tasks = [DOLLARS] * 3 + [CAFE] * 3
    assert PrefixMatch()(answers, tasks, group_size=3).values.tolist() == [1, 0, 0, 1, 1, 0]
    assert ExactMatch()(answers, tasks, group_size=3).values.tolist() == [1, 0, 0, 1, 0, 0]


@pytest.mark.parametrize("reward_cls", [ExactMatch, PrefixMatch])
def test_answer_and_task_counts_must_agree(reward_cls):
    with pytest.raises(ValueError):
        reward_cls()([" 12", " 12"], [DOLLARS], group_size=2)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def tokenized_task(tokenizer, target_text: str) -> NTPTask:
    ids = tuple(tokenizer.encode(target_text, add_special_tokens=False))
    return task(target_text, (len(target_text.encode()),), ids)


def first_token_reward(tokenizer) -> FirstToken:
    reward = FirstToken()
    reward.setup(PluginContext(tokenizer=tokenizer))
    return reward


def test_first_token_rules(tokenizer):
    # precondition of the hand-worked expectations below: the tiny vocabulary has " dollars" as one token
    assert tokenizer.tokenize(" dollars.") == ["Ġdollars", "."]
    truth = tokenized_task(tokenizer, " dollars.")
    cases = [
        (" dollars", 1),  # the first token itself
        (" dollars.", 1),
        (" dollars are", 1),  # only the first token matters
        ("dollars", 0),  # no leading space: a different byte-level token
        (" dollar", 0),  # a prefix of the token is another token
        (" dogs", 0),
        ("", 0),
        (None, 0),
    ]
    result = first_token_reward(tokenizer)([a for a, _ in cases], [truth] * len(cases), group_size=len(cases))
    assert result.values.tolist() == [float(e) for _, e in cases]


def test_first_token_multibyte(tokenizer):
    truth = tokenized_task(tokenizer, "é au lait")
    assert tokenizer.convert_tokens_to_ids(tokenizer.tokenize("é au")[0]) == truth.target_ids[0]
    result = first_token_reward(tokenizer)(["é", "é au", "e", " é"], [truth] * 4, group_size=4)
    assert result.values.tolist() == [1.0, 1.0, 0.0, 0.0]


def test_first_token_only_checks_the_space_of_digit_split_numbers(tokenizer):
    # the tiny Qwen2 tokenizer splits " 12" into " ", "1", "2", as Qwen does: documented looseness
    assert tokenizer.tokenize(" 12") == ["Ġ", "1", "2"]
    truth = tokenized_task(tokenizer, " 12 dollars.")
    result = first_token_reward(tokenizer)([" 13", " 12", "12", " dollars"], [truth] * 4, group_size=4)
    assert result.values.tolist() == [1.0, 1.0, 0.0, 0.0]


def test_first_token_needs_setup():
    with pytest.raises(RuntimeError, match="setup"):
        FirstToken()([" 12"], [DOLLARS], group_size=1)
