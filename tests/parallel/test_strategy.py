"""Strategy construction from `cfg.strategy` and the data/tensor-parallel mesh arithmetic."""

import pytest
from lightning.pytorch.strategies import ModelParallelStrategy

from rpt.config import load_config
from rpt.errors import RptError
from rpt.parallel.strategy import FSDP2Strategy, mesh_shape, strategy_kwargs


@pytest.mark.parametrize("name", ["single", "ddp", "fsdp"])
def test_each_shipped_strategy_builds(name):
    cfg = load_config([f"strategy={name}"])
    kwargs = strategy_kwargs(cfg.strategy)
    if name == "single":
        assert kwargs == {"strategy": "auto", "devices": 1}
    elif name == "ddp":
        assert kwargs == {"strategy": "ddp"}
    else:
        assert isinstance(kwargs["strategy"], FSDP2Strategy)
        assert isinstance(kwargs["strategy"], ModelParallelStrategy)
        assert cfg.strategy.param_dtype == "bfloat16" and cfg.strategy.reduce_dtype == "float32"


def test_unknown_strategy_is_a_user_error_when_the_config_is_composed():
    with pytest.raises(RptError, match="strategy.name must be one of single, ddp, fsdp, got 'zero3'"):
        load_config(["strategy.name=zero3"])


@pytest.mark.parametrize(
    ("world", "dp", "tp", "expected"),
    [(16, None, 1, (16, 1)), (16, None, 4, (4, 4)), (8, 2, 4, (2, 4)), (1, None, 1, (1, 1))],
)
def test_mesh_shape(world, dp, tp, expected):
    assert mesh_shape(world, dp, tp) == expected


@pytest.mark.parametrize(("world", "dp", "tp", "message"), [
    (6, None, 4, "does not divide"),
    (8, 4, 4, "must equal the 8 ranks"),
    (8, None, 0, "does not divide"),
])
def test_mesh_shape_rejects_sizes_that_do_not_cover_the_world(world, dp, tp, message):
    with pytest.raises(RptError, match=message):
        mesh_shape(world, dp, tp)
