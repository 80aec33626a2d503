"""The paper's dense rewards (Appendix A) through the `dense` / `dense_conditional` presets, against
hand-set policy probabilities: a stub policy whose next-token distribution is fixed by the test."""

from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf
from transformers import AutoTokenizer

from rpt.api import PluginContext
from rpt.config import CONFIG_DIR
from rpt.data.tasks import NTPTask
from rpt.registry import build


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


class FixedPolicy(torch.nn.Module):
    """Every context's next token: `probs[id]` for the ids given, the rest spread evenly."""

    def __init__(self, vocab_size: int, probs: dict[int, float]):
        super().__init__()
        rest = (1.0 - sum(probs.values())) / (vocab_size - len(probs))
        dist = torch.full((vocab_size,), rest)
        for token, p in probs.items():
            dist[token] = p
        self.logits = torch.nn.Parameter(dist.log(), requires_grad=False)

    def forward(self, input_ids, attention_mask=None, position_ids=None, logits_to_keep=1, use_cache=False):
        return SimpleNamespace(logits=self.logits.expand(input_ids.shape[0], logits_to_keep, -1))


def first_id(tokenizer, text: str) -> int:
    return tokenizer.encode(text, add_special_tokens=False)[0]


def task(tokenizer, context: str, target: str) -> NTPTask:
    ids = tokenizer.encode(target, add_special_tokens=False)
    ends = [len(tokenizer.decode(ids[: i + 1]).encode()) for i in range(len(ids))]
    return NTPTask(0, 1, tuple(tokenizer.encode(context, add_special_tokens=False)), context, tuple(ids), target,
                   tuple(sorted(set(ends))))


def preset(name: str, tokenizer, policy):
    plugin = build("reward", OmegaConf.load(CONFIG_DIR / "reward" / f"{name}.yaml"))
    plugin.setup(PluginContext(tokenizer=tokenizer, policy=policy))
    return plugin


def scenario(tokenizer):
    """Two groups of 4 on the ground truth " mat." : the first has a right first token, the second none."""
    truth = task(tokenizer, "The cat sat on the", " mat.")
    dog, cat = first_id(tokenizer, " dog"), first_id(tokenizer, " cat")
    assert len({dog, cat, truth.target_ids[0]}) == 3
    policy = FixedPolicy(len(tokenizer), {dog: 0.5, cat: 0.25})
    answers = [" mat and more", " dog", None, "",    # group 1: right first token, wrong one, format error, empty
               " dog", " cat", " cat", None]         # group 2: no sample has the right first token
    return policy, answers, [truth] * 8


def test_dense_is_one_for_the_right_first_token_else_the_policys_probability_of_it(tokenizer):
    policy, answers, tasks = scenario(tokenizer)
    result = preset("dense", tokenizer, policy)(answers, tasks, group_size=4)
    # by hand: " mat and more" starts with the next token (the rest is ignored) -> 1; " dog" -> p = 0.5;
    # " cat" -> 0.25; no answer or an empty one -> 0
    assert result.values.tolist() == pytest.approx([1.0, 0.5, 0.0, 0.0, 0.5, 0.25, 0.25, 0.0])
    assert result.metrics["correct"] == pytest.approx(1 / 8)


def test_dense_conditional_pays_the_soft_value_only_in_groups_with_a_right_sample(tokenizer):
    policy, answers, tasks = scenario(tokenizer)
    result = preset("dense_conditional", tokenizer, policy)(answers, tasks, group_size=4)
    assert result.values.tolist() == pytest.approx([1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])


def test_proxy_prob_keeps_its_prefix_match_rule(tokenizer):
    policy, answers, tasks = scenario(tokenizer)
    config = OmegaConf.merge(OmegaConf.load(CONFIG_DIR / "reward" / "proxy_prob.yaml"), {"scorer": "policy"})
    plugin = build("reward", config)
    plugin.setup(PluginContext(tokenizer=tokenizer, policy=policy))
    # " mat and more" is not a prefix of " mat." -> it gets p(" mat") instead of 1
    p_mat = (1.0 - 0.75) / (len(tokenizer) - 2)
    assert plugin(answers, tasks, group_size=4).values.tolist() == pytest.approx(
        [p_mat, 0.5, 0.0, 0.0, 0.5, 0.25, 0.25, 0.0])
