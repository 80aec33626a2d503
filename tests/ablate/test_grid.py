"""Grid expansion: comma lists are axes (Hydra's sweep syntax), seeds and the baseline are added."""

import pytest

from rpt.ablate.grid import Cell, parse_ablation
from rpt.errors import RptError


def test_comma_lists_are_axes_and_the_first_axis_varies_slowest():
    spec = parse_ablation(["experiment=demo", "reward=prefix_match,first_token", "filter=entropy,random",
                           "optim.lr=1e-4", "seeds=2"])
    assert spec.base == ("experiment=demo", "optim.lr=1e-4")
    assert spec.axes == (("reward=prefix_match", "reward=first_token"), ("filter=entropy", "filter=random"))
    assert [(c.axes, c.seed) for c in spec.cells] == [
        (("reward=prefix_match", "filter=entropy"), 0), (("reward=prefix_match", "filter=entropy"), 1),
        (("reward=prefix_match", "filter=random"), 0), (("reward=prefix_match", "filter=random"), 1),
        (("reward=first_token", "filter=entropy"), 0), (("reward=first_token", "filter=entropy"), 1),
        (("reward=first_token", "filter=random"), 0), (("reward=first_token", "filter=random"), 1),
    ]


def test_any_key_can_be_an_axis_and_a_list_value_is_not_one():
    spec = parse_ablation(["optim.lr=1e-4,2e-4", "eval.models=[a,b]", "+extra.key=1,2"])
    assert spec.axes == (("optim.lr=0.0001", "optim.lr=0.0002"), ("+extra.key=1", "+extra.key=2"))
    assert spec.base == ("eval.models=[a,b]",)


def test_the_baseline_runs_after_the_rpt_cells_once_per_seed():
    cells = parse_ablation(["reward=a,b", "seeds=3", "baseline=ntp"]).cells
    assert len(cells) == 2 * 3 + 3
    assert [(c.kind, c.seed) for c in cells[-3:]] == [("ntp", 0), ("ntp", 1), ("ntp", 2)]
    assert {c.name for c in cells[-3:]} == {"baseline=ntp"}


def test_no_axis_is_one_cell_per_seed():
    assert parse_ablation(["trainer.max_steps=5"]).cells == [Cell((), 0)]


def test_cell_folder_names_have_no_spaces_or_slashes():
    cell = Cell(("model.policy=/a/b", "reward=prefix_match"), 0)
    assert cell.name == "model.policy=/a/b reward=prefix_match"
    assert cell.dir_name == "model.policy=_a_b+reward=prefix_match"


@pytest.mark.parametrize("bad", ["seeds=0", "seeds=two", "baseline=dpo", "reward=a,a", "reward=(("])
def test_bad_ablation_arguments_are_one_line_errors(bad):
    with pytest.raises(RptError):
        parse_ablation([bad])
