"""Every numeric field's range and every enumerated option is declared once in rpt/config.py and
checked when the config is composed: nonsense is a one-line error before any command runs."""

import dataclasses
import typing

import pytest

from rpt.cli import main
from rpt.config import RootConfig, load_config
from rpt.recipes.demo.config import DemoRootConfig
from rpt.errors import RptError


def schema_fields(schema=RootConfig, prefix=""):
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        if isinstance(f.default_factory, type) and dataclasses.is_dataclass(f.default_factory):
            yield from schema_fields(f.default_factory, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", hints[f.name], f


NOT_OPTIONS = {"model.policy", "model.tokenizer", "model.proxy", "data.path", "data.field", "data.format", "data.split",
               "data.scores", "data.cache_dir", "run.dir", "run.resume", "logger.wandb.project", "logger.wandb.entity", "logger.wandb.group",
               "trainer.accelerator", "eval.pattern_keywords", "sampling.stop", "eval.models", "eval.templates", "eval.scores",
               "eval.difficulty_model", "demo.dir", "demo.table2.dir", "demo.table2.starts",
               # question-answer and multiple-choice sets: record fields, markers and dataset names
               "data.qa.question_field", "data.qa.answer_field", "data.qa.answer_marker", "data.qa.subset",
               "data.qa.test_path", "data.qa.test_split", "eval.mc.path", "eval.mc.split", "eval.mc.subset",
               "eval.mc.question_field", "eval.mc.options_field", "eval.mc.answer_field", "eval.mc.category_field"}


@pytest.mark.parametrize("schema", [RootConfig, DemoRootConfig])  # the core's and the demo recipe's
def test_every_numeric_field_declares_its_range_and_every_option_its_choices(schema):
    for key, hint, f in schema_fields(schema):
        base = {a for a in typing.get_args(hint) if a is not type(None)} or {hint}
        if base & {int, float} or hint == list[float]:
            assert "range" in f.metadata, f"{key} has no declared range"
        elif base == {str} and key not in NOT_OPTIONS:
            assert "choices" in f.metadata, f"{key} has no declared choices"


@pytest.mark.parametrize("override, message", [
    ("grpo.clip_low=-1", "grpo.clip_low must be in [0, 1), got -1"),
    ("grpo.clip_low=1", "grpo.clip_low must be in [0, 1), got 1"),
    ("grpo.clip_high=-0.1", "grpo.clip_high must be >= 0"),
    ("grpo.dual_clip=1", "grpo.dual_clip must be > 1"),
    ("grpo.tis_cap=0", "grpo.tis_cap must be > 0"),
    ("sampling.top_p=0", "sampling.top_p must be in (0, 1], got 0"),
    ("sampling.top_p=1.5", "sampling.top_p must be in (0, 1]"),
    ("sampling.temperature=-1", "sampling.temperature must be >= 0"),
    ("optim.lr=-1", "optim.lr must be > 0, got -1"),
    ("optim.lr=nan", "optim.lr must be > 0, got nan"),
    ("optim.betas=[0.9,1.5]", "optim.betas must be in [0, 1), got [0.9, 1.5]"),
    ("sampling.max_tokens=0", "sampling.max_tokens must be >= 1, got 0"),
    ("data.max_context_tokens=0", "data.max_context_tokens must be >= 1, got 0"),
    ("data.val_fraction=1.0", "data.val_fraction must be in [0, 1)"),
    ("trainer.max_steps=0", "trainer.max_steps must be >= 1"),
    ("trainer.ckpt_every=-1", "trainer.ckpt_every must be >= 0"),
    ("score.top_k=0", "score.top_k must be >= 1"),
    ("eval.max_positions=0", "eval.max_positions must be >= 1"),
    ("strategy.tensor_parallel_size=0", "strategy.tensor_parallel_size must be >= 1"),
    ("model.dtype=fp8", "model.dtype must be one of float32, bfloat16, float16, got 'fp8'"),
    ("strategy.param_dtype=half", "strategy.param_dtype must be one of float32"),
    ("score.dtype=fp8", "score.dtype must be one of auto, float32"),
    ("grpo.loss_agg=mean", "grpo.loss_agg must be one of token_mean"),
    ("grpo.kl_estimator=k4", "grpo.kl_estimator must be one of k1, k2, k3, got 'k4'"),
    ("prompt.template=direkt", "prompt.template must be one of"),
    ("eval.mode=greedy", "eval.mode must be one of standard, reasoning"),
    ("strategy.name=fsdp2", "strategy.name must be one of single, ddp, fsdp, got 'fsdp2' (did you mean 'fsdp'?)"),
    ("logger.wandb.mode=on", "logger.wandb.mode must be one of online, offline, disabled"),
    ("trainer.precision=bf17-mixed", "trainer.precision must be one of"),
])
def test_out_of_range_values_and_unknown_options_fail_at_compose_time(override, message):
    with pytest.raises(RptError) as err:
        load_config([override])
    assert str(err.value).startswith(message)


def test_a_recipes_schema_is_checked_too():
    with pytest.raises(RptError) as err:
        load_config(["experiment=demo", "demo.layers=0"])
    assert str(err.value).startswith("demo.layers must be >= 1, got 0")


@pytest.mark.parametrize("command", ["config show", "train", "eval", "score", "plan"])
def test_every_command_reports_a_bad_value_in_one_line(command, capsys):
    assert main([*command.split(), "grpo.clip_low=-1"]) == 2
    assert capsys.readouterr().err == "rpt: error: grpo.clip_low must be in [0, 1), got -1.0\n"


@pytest.mark.parametrize("override", ["grpo.dual_clip=null", "grpo.dual_clip=3", "sampling.top_p=1", "sampling.temperature=0",
                                      "grpo.clip_low=0", "data.val_fraction=0", "eval.max_positions=null", "trainer.val_every=0",
                                      "strategy.param_dtype=bfloat16", "score.dtype=auto", "experiment=demo", "experiment=paper_14b"])
def test_values_on_the_edge_of_their_range_and_the_shipped_presets_pass(override):
    load_config([override])


def test_prompt_templates_are_checked_against_the_template_table(monkeypatch):
    """Adding a template to rpt.data.prompts makes it a valid prompt.template, with no config edit."""
    from rpt.data import prompts

    with pytest.raises(RptError):
        load_config(["prompt.template=v9"])
    monkeypatch.setattr(prompts, "TEMPLATE_NAMES", (*prompts.TEMPLATE_NAMES, "v9"))
    assert load_config(["prompt.template=v9"]).prompt.template == "v9"

