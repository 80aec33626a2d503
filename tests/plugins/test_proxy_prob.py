"""proxy_prob against a plain, unpadded transformers forward + softmax on the tiny Qwen2."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rpt.api import PluginContext
from rpt.data.tasks import NTPTask
from tests.fixtures import train_tokenizer
from rpt.errors import RptError
from rpt.plugins.rewards.proxy_prob import ProxyProb
from rpt.registry import build

GROUP = 3
#: (context, ground truth, answers): groups of different context lengths; expectations in `expected`
GROUPS = [
    ("The cat sat on the", " mat.", [" mat.", " dog", None]),
    ("Tokens cost money: 3 apples at 4 dollars is 12", " dollars.", [" cat", "", " dollars"]),
    ("Numbers", " 100,", [" 250", " sum", "x"]),
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()


def make_task(tokenizer, context: str, target: str) -> NTPTask:
    target_ids = tokenizer.encode(target, add_special_tokens=False)
    ends = [len(tokenizer.decode(target_ids[: i + 1]).encode()) for i in range(len(target_ids))]
    return NTPTask(0, 1, tuple(tokenizer.encode(context, add_special_tokens=False)), context,
                   tuple(target_ids), target, tuple(sorted(set(ends))))


def batch(tokenizer):
    tasks = [make_task(tokenizer, context, truth) for context, truth, _ in GROUPS for _ in range(GROUP)]
    answers = [answer for *_, group in GROUPS for answer in group]
    return answers, tasks


def expected(tokenizer, model, only_if_group_has_correct=False):
    """Each answer's reward, worked out sample by sample with one unpadded forward per context."""
    soft = {}
    for context, truth, group in GROUPS:
        ids = torch.tensor([tokenizer.encode(context, add_special_tokens=False)])
        with torch.no_grad():
            probs = torch.softmax(model(ids).logits[0, -1].float(), dim=-1)
        for answer in group:
            if answer:
                soft[(context, answer)] = probs[tokenizer.encode(answer, add_special_tokens=False)[0]].item()
    # by hand: " mat." and " dollars" are whole-token prefixes of their ground truth; None and "" get 0
    correct = {(GROUPS[0][0], " mat."), (GROUPS[1][0], " dollars")}
    values = []
    for context, _, group in GROUPS:
        group_ok = any((context, a) in correct for a in group)
        for answer in group:
            if (context, answer) in correct:
                values.append(1.0)
            elif not answer or (only_if_group_has_correct and not group_ok):
                values.append(0.0)
            else:
                values.append(soft[(context, answer)])
    return values


def reward(tokenizer, tiny_model_dir, **options) -> ProxyProb:
    plugin = ProxyProb(batch_size=2, **options)  # 3 groups -> two batches, left-padded
    plugin.setup(PluginContext(tokenizer=tokenizer, proxy_path=str(tiny_model_dir)))
    return plugin


def test_soft_values_match_a_plain_forward(tokenizer, model, tiny_model_dir):
    result = reward(tokenizer, tiny_model_dir)(*batch(tokenizer), group_size=GROUP)
    want = expected(tokenizer, model)
    assert result.values.tolist() == pytest.approx(want, abs=1e-5)
    assert all(0.0 < v < 1.0 for v in want[1:2] + want[3:4] + want[6:])  # the soft cases are really soft
    assert result.metrics["correct"] == pytest.approx(2 / 9)
    soft_values = [want[i] for i in (1, 3, 6, 7, 8)]
    assert result.metrics["soft_mean"] == pytest.approx(sum(soft_values) / 5, abs=1e-5)


def test_only_if_group_has_correct_zeroes_groups_without_a_correct_sample(tokenizer, model, tiny_model_dir):
    result = reward(tokenizer, tiny_model_dir, only_if_group_has_correct=True)(*batch(tokenizer), group_size=GROUP)
    want = expected(tokenizer, model, only_if_group_has_correct=True)
    assert want[6:] == [0.0, 0.0, 0.0] and want[1] > 0
    assert result.values.tolist() == pytest.approx(want, abs=1e-5)


def test_policy_as_scorer(tokenizer, model):
    plugin = ProxyProb(scorer="policy")
    plugin.setup(PluginContext(tokenizer=tokenizer, policy=model))
    result = plugin(*batch(tokenizer), group_size=GROUP)
    assert result.values.tolist() == pytest.approx(expected(tokenizer, model), abs=1e-5)


def test_all_correct_or_format_errors_report_no_soft_mean(tokenizer, tiny_model_dir):
    task = make_task(tokenizer, *GROUPS[0][:2])
    result = reward(tokenizer, tiny_model_dir)([" mat.", None], [task, task], group_size=2)
    assert result.values.tolist() == [1.0, 0.0]
    assert result.metrics == {"correct": 0.5}


def test_missing_scorer_is_a_user_error(tokenizer):
    with pytest.raises(RptError, match="model.proxy"):
        ProxyProb().setup(PluginContext(tokenizer=tokenizer, proxy_path=None))
    with pytest.raises(RptError, match="policy"):
        ProxyProb(scorer="policy").setup(PluginContext(tokenizer=tokenizer))
    with pytest.raises(RptError, match="scorer must be one of proxy, policy"):
        build("reward", {"name": "proxy_prob", "scorer": "reference"})


def test_proxy_with_another_tokenizer_is_refused(tokenizer, tmp_path):
    train_tokenizer(["completely different text for another vocabulary"] * 4, vocab_size=280).save_pretrained(tmp_path)
    plugin = ProxyProb()
    with pytest.raises(RptError, match="differs from the corpus tokenizer"):
        plugin.setup(PluginContext(tokenizer=tokenizer, proxy_path=str(tmp_path)))


def test_groups_must_be_whole(tokenizer, model):
    plugin = ProxyProb(scorer="policy")
    plugin.setup(PluginContext(tokenizer=tokenizer, policy=model))
    answers, tasks = batch(tokenizer)
    with pytest.raises(ValueError, match="groups of 2"):
        plugin(answers, tasks, group_size=2)
