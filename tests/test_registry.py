import pytest

from rpt.api import Reward, RewardResult
from rpt.errors import RptError
from rpt.registry import available, build, resolve


class ConstantReward(Reward):
    """Always the same reward (a third-party plugin named by dotted path)."""

    def __init__(self, value: float = 1.0):
        self.value = value

    def __call__(self, answers, tasks, group_size):
        import torch

        return RewardResult(torch.full((len(answers),), self.value))


class NotAReward:
    pass


def test_dotted_path_plugin_with_options():
    reward = build("reward", {"name": f"{__name__}.ConstantReward", "value": 0.5})
    assert reward(["a", None], [None, None], 2).values.tolist() == [0.5, 0.5]


def test_entry_point_names_resolve_to_their_kind():
    for kind in ("reward", "filter", "rollout"):
        for name, info in available(kind).items():
            assert resolve(kind, name) is info.load()


def test_unknown_option_is_reported_with_valid_options():
    with pytest.raises(RptError, match=r"has no option 'valeu' \(did you mean 'value'\?\)"):
        build("reward", {"name": f"{__name__}.ConstantReward", "valeu": 0.5})


def test_wrong_base_class_and_missing_name():
    with pytest.raises(RptError, match="is not a subclass of rpt.api.Reward"):
        resolve("reward", f"{__name__}.NotAReward")
    with pytest.raises(RptError, match="needs a 'name'"):
        build("reward", {})
    with pytest.raises(RptError, match="cannot import reward plugin"):
        resolve("reward", "no_such_module.Thing")
