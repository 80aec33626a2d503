"""Property tests (hypothesis): every reward plugin on arbitrary Unicode, and make_task's boundaries.

Rewards must be one finite value in [0, 1] per answer and never raise, whatever the answer (None,
empty, 1 MB, any plane, combining marks, bidi controls, NUL, prefixes and extensions of the truth);
`prefix_match` must equal a byte-level definition written here from the tokens themselves.
Examples are bounded so the default suite stays fast.
"""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from rpt.api import PluginContext
from rpt.config import DataConfig
from rpt.data.corpus import TokenizedCorpus
from rpt.models import load_tokenizer
from rpt.data.tasks import NTPTask, candidate_positions, make_task
from rpt.registry import build

SPECIALS = ["\x00", "\u0301", "\u202e", "\u200f", "🙂", "👍", "\U0001f3fd", "漢", "\U0010fffd", "\U0001d11e", " ", "\n", "é"]
CHARS = st.one_of(st.characters(exclude_categories=("Cs",)), st.sampled_from(SPECIALS))  # every plane, no lone surrogates
TOKEN = st.text(CHARS, min_size=1, max_size=6)
FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def tasks_and_answers(draw):
    """A task whose ground truth is a list of tokens (each one or more characters), and answers around it."""
    tokens = draw(st.lists(TOKEN, min_size=1, max_size=6))
    target = "".join(tokens)
    boundaries = tuple(sorted({len("".join(tokens[: k + 1]).encode()) for k in range(len(tokens))}))
    task = NTPTask(0, 1, (1, 2), draw(st.text(CHARS, max_size=20)), tuple(range(3, 3 + len(tokens))), target, boundaries)
    cut = draw(st.integers(0, len(target)))
    answers = draw(st.lists(st.one_of(
        st.none(), st.just(""), st.text(CHARS, max_size=30),
        st.just(target[:cut]), st.just(target + draw(st.text(CHARS, max_size=5))),
        st.just("".join(tokens[: draw(st.integers(1, len(tokens)))])),
        st.just("x" * 10_000),
    ), min_size=1, max_size=8))
    return tokens, task, answers


def prefix_match_by_tokens(answer, tokens) -> float:
    """Independent definition: the answer's bytes are the bytes of the first k >= 1 whole tokens."""
    if answer is None:
        return 0.0
    data = answer.encode("utf-8")
    return float(any(data == "".join(tokens[:k]).encode("utf-8") for k in range(1, len(tokens) + 1)))


@pytest.fixture(scope="module")
def rewards(tiny_model_dir):
    torch.set_num_threads(1)
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(str(tiny_model_dir))
    policy = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    context = PluginContext(tokenizer=tokenizer, policy=policy)
    built = {name: build("reward", {"name": name}) for name in ("exact_match", "prefix_match", "first_token")}
    built["proxy_prob"] = build("reward", {"name": "proxy_prob", "scorer": "policy"})
    for reward in built.values():
        reward.setup(context)
    return built, len(tokenizer)


@FEW
@given(case=tasks_and_answers())
def test_every_reward_is_finite_in_0_1_and_never_raises(rewards, case):
    built, vocab = rewards
    tokens, task, answers = case
    task = NTPTask(task.doc_id, task.position, task.context_ids, task.context_text,
                   tuple(i % vocab for i in task.target_ids), task.target_text, task.boundaries)
    tasks = [task] * len(answers)
    for name, reward in built.items():
        values = reward(answers, tasks, len(answers)).values
        assert values.shape == (len(answers),), name
        assert torch.isfinite(values).all() and (values >= 0).all() and (values <= 1).all(), (name, values)


def test_a_1_mb_answer_scores_0_without_raising(rewards):
    built, _ = rewards
    task = NTPTask(0, 1, (1,), "ctx", (5,), " cat", (4,))
    for name, reward in built.items():
        values = reward(["x" * 1_000_000, " cat" + "!" * 1_000_000], [task, task], 2).values
        assert values.shape == (2,) and ((values >= 0) & (values <= 1)).all(), name
        if name in ("exact_match", "prefix_match"):
            assert values.tolist() == [0.0, 0.0]


@FEW
@given(case=tasks_and_answers())
def test_prefix_match_is_the_byte_level_definition(rewards, case):
    tokens, task, answers = case
    values = rewards[0]["prefix_match"](answers, [task] * len(answers), len(answers)).values.tolist()
    assert values == [prefix_match_by_tokens(a, tokens) for a in answers]


@FEW
@given(case=tasks_and_answers())
def test_exact_match_is_one_only_for_the_first_token(rewards, case):
    tokens, task, answers = case
    values = rewards[0]["exact_match"](answers, [task] * len(answers), len(answers)).values.tolist()
    assert values == [float(a == tokens[0]) for a in answers]


DOCS = st.lists(st.text(CHARS, min_size=1, max_size=40), min_size=1, max_size=4)


@settings(max_examples=25, deadline=None)
@given(texts=DOCS, max_context=st.integers(1, 8), max_target=st.integers(1, 5))
def test_make_task_boundaries_end_on_characters_and_rebuild_the_document(rewards_tokenizer, texts, max_context, max_target):
    tokenizer = rewards_tokenizer
    enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    ends = [np.maximum.accumulate(np.array([e for _, e in offsets], dtype=np.int64)) for offsets in enc["offset_mapping"]]
    corpus = TokenizedCorpus(texts, [np.array(ids, dtype=np.int64) for ids in enc["input_ids"]], ends, "prop")
    data = OmegaConf.merge(OmegaConf.structured(DataConfig),
                           {"path": "x", "max_context_tokens": max_context, "max_target_tokens": max_target})
    for doc, position in candidate_positions(corpus, np.arange(len(texts)), min_context_tokens=1):
        task = make_task(corpus, doc, position, data)
        target = task.target_text.encode("utf-8")
        assert task.target_text and task.boundaries, task
        assert list(task.boundaries) == sorted(set(task.boundaries)) and task.boundaries[-1] == len(target)
        for b in task.boundaries:
            target[:b].decode("utf-8")  # every boundary ends on a whole character
        assert task.context_text + task.target_text in texts[doc]
        assert texts[doc].startswith(texts[doc][: int(ends[doc][position - 1])])
        assert len(task.context_ids) == min(position, max_context) and len(task.target_ids) >= 1


@pytest.fixture(scope="module")
def rewards_tokenizer(tiny_model_dir):
    return load_tokenizer(str(tiny_model_dir))
