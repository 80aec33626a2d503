"""Compose the YAML config groups in `configs/` with Hydra-style overrides, then validate.

`load_config(["experiment=demo", "reward=exact_match", "trainer.max_steps=20"])` returns a
typed, resolved OmegaConf config or raises `RptError` with a one-line message. Typed groups
are checked against the dataclass schema below (unknown keys, wrong value types); plugin
groups (reward, filter, rollout) are free-form: a plugin's options and their defaults are its
constructor's keyword arguments, checked when the plugin is built.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rpt.errors import RptError, suggest
from rpt.ranges import choices_of, num, one_of
from rpt.sampling import SamplingParams


def _config_dir() -> Path:
    """The YAML groups: installed from a wheel as `rpt/configs`, else `configs/` of the source checkout."""
    package = Path(__file__).resolve().parent
    installed = package / "configs"
    return installed if installed.is_dir() else package.parent / "configs"


CONFIG_DIR = _config_dir()


def default_run_name() -> str:
    """The default run folder's name, the same in every process of one launch.

    Under SLURM or torchrun every rank composes its own config, a moment apart: a timestamp would
    give each rank a folder of its own, so the launcher's job / run id names the run instead.
    """
    if job := os.environ.get("SLURM_JOB_ID"):
        return f"slurm-{job}"
    run_id = os.environ.get("TORCHELASTIC_RUN_ID")
    if run_id and run_id != "none":
        return f"torchrun-{run_id}"
    return datetime.now().strftime("%Y%m%d-%H%M%S")


OmegaConf.register_new_resolver("run_name", default_run_name, replace=True, use_cache=True)  # one value per config


# ---------------------------------------------------------------- valid values, declared with each field
# Enumerated options, each declared once here (the code that acts on them imports these), so that
# composing a config needs no torch import. Prompt templates are the exception: their table lives in
# rpt.data.prompts (a light module) and grows there.
DTYPE_NAMES = ("float32", "bfloat16", "float16")  # torch dtypes of weights and compute
STRATEGIES = ("single", "ddp", "fsdp")
LOSS_AGGREGATIONS = ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum")  # see rpt.grpo.loss.aggregate_loss
KL_ESTIMATORS = ("k1", "k2", "k3")  # see rpt.grpo.loss.kl_penalty
WANDB_MODES = ("online", "offline", "disabled")
EVAL_MODES = ("standard", "reasoning")
DATA_KINDS = ("ntp", "qa")  # next-token tasks from a corpus (RPT) | question-answer tasks (RLVR)
QA_ANSWER_FORMATS = ("text", "json_list")
PRECISIONS = ("32-true", "bf16-mixed", "bf16-true", "16-mixed", "16-true", "64-true")  # Lightning's, less aliases


def validate(cfg: DictConfig, schema: type | None = None, prefix: str = "") -> None:
    """Check every declared range and option of `cfg` (a RootConfig, or a recipe's schema extending it);
    RptError names the first bad key."""
    schema = schema or OmegaConf.get_type(cfg) or RootConfig
    for f in dataclasses.fields(schema):
        key = f"{prefix}{f.name}"
        if f.name not in cfg or OmegaConf.is_missing(cfg, f.name):
            continue
        if isinstance(f.default_factory, type) and dataclasses.is_dataclass(f.default_factory):
            validate(cfg[f.name], f.default_factory, f"{key}.")
            continue
        if not f.metadata:
            continue
        value = cfg[f.name]
        if value is None:
            continue
        if "range" in f.metadata:
            bound = f.metadata["range"]
            for item in _items(value):
                if not bound.holds(item):
                    raise RptError(f"{key} must be {bound}, got {_show(value)}")
        if "choices" in f.metadata:
            options = choices_of(f.metadata["choices"])
            if value not in options:
                raise RptError(f"{key} must be one of {', '.join(options)}, got {value!r}{suggest(str(value), options)}")


def _items(value: Any) -> list:
    """The numbers of a scalar, list or dict (its values) field."""
    if OmegaConf.is_list(value):
        return list(value)
    return list(value.values()) if OmegaConf.is_dict(value) else [value]


def _show(value: Any) -> str:
    return str(OmegaConf.to_container(value)) if OmegaConf.is_config(value) else str(value)


@dataclass
class ModelConfig:
    policy: str = MISSING  # Hugging Face folder or hub name of the policy
    tokenizer: str | None = None  # defaults to the policy's
    proxy: str | None = None  # small LM for entropy scoring / proxy_prob (paper: R1-Distill-Qwen-1.5B)
    dtype: str = one_of("float32", DTYPE_NAMES)  # float32 | bfloat16 | float16: weights of the policy while training


@dataclass
class QAConfig:
    """Question-answer tasks (data.kind=qa, for RLVR after RPT): where question and answer are in a record."""

    question_field: str = "question"  # dotted path into each record: "prompt.0.content" (Skywork-OR1)
    answer_field: str = "answer"  # dotted path: "reward_model.ground_truth" (Skywork-OR1)
    answer_marker: str | None = "####"  # the reference is the text after the field's last marker (GSM8K); null: all of it
    answer_format: str = one_of("text", QA_ANSWER_FORMATS)  # text | json_list: the field holds a JSON list of accepted answers (Skywork-OR1)
    subset: str | None = None  # Hugging Face dataset configuration ("main" for openai/gsm8k)
    test_path: str | None = None  # held-out questions from another file/dataset; null: held out from data.path
    test_split: str = "test"  # split of a Hugging Face test_path
    train_size: int | None = num(None, ge=1)  # train on a seeded sample of this many questions (paper_rl: 256); null: all


@dataclass
class DataConfig:
    kind: str = one_of("ntp", DATA_KINDS)  # ntp: next-token tasks from a corpus (RPT) | qa: question-answer tasks (data.qa, RLVR)
    qa: QAConfig = field(default_factory=QAConfig)
    path: str = MISSING  # .jsonl | .txt | .parquet file, or a Hugging Face dataset name/folder
    field: str = "text"  # jsonl/parquet/HF column that holds the document text
    format: str | None = None  # instead of `field`: a format string over columns, "{question}\n{answer}"
    split: str = "train"  # split to read from a Hugging Face dataset
    val_fraction: float = num(0.1, ge=0, lt=1)  # share of documents held out for validation
    seed: int = num(0, ge=0)  # seeds the document split and the filters
    max_context_tokens: int = num(1024, ge=1)  # context is left-truncated to this many tokens
    min_context_tokens: int = num(1, ge=0)  # positions with less preceding text are never tasks
    max_target_tokens: int = num(16, ge=1)  # ground-truth continuation kept per task (for multi-token answers)
    scores: str | None = None  # proxy-entropy artifact written by `rpt score` (needed by filter=entropy)
    cache_dir: str = ".rpt_cache"  # tokenised corpora are cached here
    max_documents: int | None = num(None, ge=1)  # read at most this many documents (quick looks, tests)


@dataclass
class PromptConfig:
    template: str = one_of("v0", "rpt.data.prompts:TEMPLATE_NAMES")  # v0..v6 (the paper's, Appendix D; section 4 used v0) | rpt_reasoning (ours) | direct
    chat: bool = True  # wrap the prompt in the tokenizer's chat template when it has one
    think: bool | None = None  # answers only after </think>; None = when the chat template's generation prompt opens <think>
    max_tokens: int | None = num(None, ge=1)  # longest prompt in tokens (template included): the context's oldest tokens are dropped


@dataclass
class OptimConfig:
    lr: float = num(1e-6, gt=0)
    weight_decay: float = num(0.0, ge=0)
    betas: list[float] = num(factory=lambda: [0.9, 0.999], ge=0, lt=1)
    warmup_steps: int = num(0, ge=0)  # linear warmup, then constant
    grad_clip: float = num(1.0, ge=0)  # max global grad norm; 0 disables


@dataclass
class GRPOConfig:
    clip_low: float = num(0.2, ge=0, lt=1)  # the ratio is clipped below at 1 - clip_low
    clip_high: float = num(0.2, ge=0)  # ... and above at 1 + clip_high; > clip_low gives DAPO's clip-higher
    dual_clip: float | None = num(None, gt=1)  # e.g. 3.0: bounds the loss for negative advantages
    norm_adv_by_std: bool = True  # divide advantages by the group's reward std (false: Dr. GRPO)
    loss_agg: str = one_of("token_mean", LOSS_AGGREGATIONS)  # token_mean | seq_mean_token_mean | seq_mean_token_sum
    kl_coef: float = num(0.0, ge=0)  # 0 = the paper's setting: no reference model is loaded
    kl_estimator: str = one_of("k3", KL_ESTIMATORS)  # k1 | k2 | k3
    ppo_epochs: int = num(1, ge=1)  # passes over each step's samples
    mini_batches: int = num(1, ge=1)  # optimizer steps per rollout batch and epoch
    micro_batch_size: int = num(8, ge=1)  # sequences per forward/backward pass
    logprob_chunk_tokens: int = num(1024, ge=1)  # log-probs are computed this many positions at a time
    tis_cap: float | None = num(None, gt=0)  # truncated importance sampling: weight each token's loss by min(p_policy / p_rollout, tis_cap); None = off


@dataclass
class DynamicSamplingConfig:
    start_step: int | None = num(None, ge=0)  # drop zero-variance groups from this step on (paper: 500); None = never
    max_tries: int = num(4, ge=0)  # extra prompt batches drawn to refill the step


@dataclass
class TrainerConfig:
    max_steps: int = num(1000, ge=1)  # training steps; each is one rollout batch (ppo_epochs x mini_batches optimizer steps)
    prompts_per_step: int = num(256, ge=1)  # prompts per step over all ranks, each sampled sampling.n times (paper: 256)
    val_every: int = num(50, ge=0)  # validate before training, every N steps and after the last (0 = never)
    val_tasks: int = num(256, ge=0)  # held-out positions used by validation
    ckpt_every: int = num(100, ge=0)  # checkpoint every N steps (0 = only at the end)
    log_every: int = num(1, ge=1)  # write metrics every N steps
    seed: int = num(0, ge=0)  # seeds the task order, the validation sample and the global RNGs
    accelerator: str = "auto"  # Lightning: auto | cpu | gpu
    devices: Any = "auto"  # Lightning: devices per node (strategy=single uses 1)
    num_nodes: int = num(1, ge=1)
    precision: str = one_of("32-true", PRECISIONS)  # Lightning: 32-true | bf16-mixed | bf16-true
    peak_tflops: float | None = num(None, gt=0)  # one device's peak TFLOP/s for the logged MFU (perf/mfu); None = the GPU's dense bf16 spec, no MFU on CPU


@dataclass
class WandbConfig:
    mode: str = one_of("offline", WANDB_MODES)  # online | offline | disabled
    project: str = "rpt"
    entity: str | None = None
    group: str | None = None  # W&B run group (`rpt ablate` puts all its cells in one)


@dataclass
class LoggerConfig:
    wandb: WandbConfig = field(default_factory=WandbConfig)


@dataclass
class RunConfig:
    dir: str = "runs/${run_name:}"  # everything a run writes goes here
    resume: str | None = None  # "last" or a checkpoint path


@dataclass
class ScoreConfig:
    top_k: int = num(16, ge=1)  # entropy of the proxy's k most likely next tokens, renormalised (paper: 16)
    stride: int = num(512, ge=1)  # positions per window after a document's first; each sees max_context_tokens..+stride-1 tokens
    batch_tokens: int = num(16384, ge=1)  # padded tokens per forward pass
    dtype: str = one_of("auto", ("auto", *DTYPE_NAMES))  # auto (bfloat16 on GPU, float32 on CPU) | float32 | bfloat16 | float16
    align_tokenizers: bool = False  # proxy with another tokenizer: score its own tokens, map them to the corpus's by character


@dataclass
class MCConfig:
    """`rpt eval mc`: a multiple-choice set (MMLU-Pro's fields by default; SuperGPQA: answer_letter, discipline)."""

    path: str | None = None  # .jsonl | .parquet file, or a Hugging Face dataset (TIGER-Lab/MMLU-Pro, m-a-p/SuperGPQA)
    split: str = "test"  # split of a Hugging Face dataset (SuperGPQA: train)
    subset: str | None = None  # Hugging Face dataset configuration
    question_field: str = "question"
    options_field: str = "options"  # a list of option texts, lettered A, B, ... in order
    answer_field: str = "answer"  # the correct option's letter, or its index
    category_field: str | None = "category"  # accuracy is reported per value; null: `all` only
    max_questions: int | None = num(None, ge=1)  # the first N questions (quick looks); null: all


@dataclass
class EvalConfig:
    mc: MCConfig = field(default_factory=MCConfig)
    mode: str = one_of("standard", EVAL_MODES)  # standard: greedy next token | reasoning: think, answer, scored by the reward plugin
    models: list[str] = field(default_factory=list)  # models/checkpoints to evaluate (two are compared); [] = model.policy
    scores: str | None = None  # difficulty: `rpt score` artifact of the difficulty model; None = data.scores
    difficulty_model: str | None = None  # the model whose entropy must define the buckets (checked against the scores); None = any
    buckets: dict[str, float] = num(factory=lambda: {"easy": 0.5, "medium": 1.0, "hard": 1.5}, ge=0)  # nested: entropy > value
    max_positions: int | None = num(1000, ge=1)  # held-out positions evaluated (a seeded sample); None = all
    batch_size: int = num(32, ge=1)  # positions per forward pass (standard mode) or per rollout call (reasoning)
    dtype: str = one_of("auto", ("auto", *DTYPE_NAMES))  # auto (bfloat16 on GPU, float32 on CPU) | float32 | bfloat16 | float16
    samples: int = num(8, ge=1)  # reasoning: answers sampled per position (sampling.*); pass@1 is their mean reward
    patterns: bool = False  # reasoning: count reasoning-pattern keyword markers in the responses
    pattern_keywords: str = "paper"  # configs/patterns/<name>.yaml (paper: Appendix E Table 9; rpt: ours) or a path to such a file
    templates: list[str] = field(default_factory=list)  # compare these prompt templates (Random@1, Pass@samples)


@dataclass
class StrategyConfig:
    name: str = one_of("single", STRATEGIES)  # single (one device) | ddp | fsdp (FSDP2, one shard unit per decoder layer)
    data_parallel_size: int | None = num(None, ge=1)  # fsdp: ranks the batch is split over and params sharded over; None = world / tensor_parallel_size
    tensor_parallel_size: int = num(1, ge=1)  # fsdp: ranks that split each decoder layer's matmuls (keep within a node)
    param_dtype: str | None = one_of(None, DTYPE_NAMES)  # fsdp: dtype params are gathered and computed in (bfloat16 on GPU); None = as stored
    reduce_dtype: str | None = one_of(None, DTYPE_NAMES)  # fsdp: dtype gradients are reduce-scattered in (float32); None = param_dtype
    activation_checkpointing: bool = False  # recompute each decoder layer in backward instead of keeping its activations
    cpu_offload: bool = False  # fsdp: sharded params, grads and optimizer state live in CPU memory


@dataclass
class RootConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    reward: dict[str, Any] = field(default_factory=dict)
    filter: dict[str, Any] = field(default_factory=dict)
    rollout: dict[str, Any] = field(default_factory=dict)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    dynamic_sampling: DynamicSamplingConfig = field(default_factory=DynamicSamplingConfig)
    sampling: SamplingParams = field(default_factory=SamplingParams)  # rpt/sampling.py
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    run: RunConfig = field(default_factory=RunConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


ConfigStore.instance().store(group="schema", name="rpt", node=RootConfig, package="_global_")


def _register_recipes() -> None:
    """Import the installed recipes' config modules (entry points `rpt.recipes`): each stores its own
    schema (the root plus its group) for its experiment to switch to, so the root carries none of them."""
    for entry in entry_points(group="rpt.recipes"):
        entry.load()


def load_config(overrides: list[str] | tuple[str, ...] = (), config_dir: Path = CONFIG_DIR) -> DictConfig:
    """Compose `config.yaml` + groups + overrides into a validated config (MISSING values allowed)."""
    _register_recipes()
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            overrides = [_plugin_option(o) for o in overrides]
            cfg = compose(config_name="config", overrides=overrides)
            _reset_switched_plugins(cfg, overrides)
    except (HydraException, OmegaConfBaseException) as err:
        raise RptError(_explain(err, config_dir)) from None
    try:
        validate(cfg)
    except OmegaConfBaseException as err:  # an interpolation that does not resolve
        raise RptError(" ".join(str(err).split()).split(" full_key:")[0]) from None
    return cfg


#: config groups whose keys are a plugin's constructor options (declared, with defaults, only there)
PLUGIN_GROUPS = ("reward", "filter", "rollout")


def _plugin_option(override: str) -> str:
    """`rollout.sleep=true` sets a plugin option the group's YAML need not list (`++`: add or override);
    a misspelt option is refused when the plugin is built, with a suggestion."""
    if override.split(".", 1)[0] in PLUGIN_GROUPS and "." in override.split("=", 1)[0]:
        return f"++{override}"
    return override


def _reset_switched_plugins(cfg: DictConfig, overrides: list[str]) -> None:
    """A plugin group switched on the command line (`filter=all`) holds that option's keys and the
    command line's own `filter.*` overrides only: keys an experiment set for the option it chose
    (the demo's `filter.threshold`) belong to that option and are not carried over to another."""
    switched = {o.partition("=")[0] for o in overrides} & set(PLUGIN_GROUPS)
    if not switched or not any(o.startswith("experiment=") for o in overrides):
        return
    chosen_by_experiment = compose(config_name="config", overrides=[o for o in overrides if o.partition("=")[0] not in switched])
    own = [o for o in overrides if re.split(r"[.=]", o.lstrip("+~"), maxsplit=1)[0] in switched]
    fresh = compose(config_name="config", overrides=own)
    for group in switched:
        if chosen_by_experiment[group].get("name") != cfg[group].get("name"):
            cfg[group] = fresh[group]


def require(cfg: DictConfig, *keys: str) -> None:
    """Fail early, with the key to set, when a value a command needs is still missing."""
    for key in keys:
        if OmegaConf.is_missing(cfg, key) or OmegaConf.select(cfg, key) is None:
            raise RptError(f"config value {key!r} is required: set it with {key}=...")


def resolved_yaml(cfg: DictConfig) -> str:
    """The config with every interpolation resolved, as written into each run directory."""
    return OmegaConf.to_yaml(cfg, resolve=True)


def _explain(err: Exception, config_dir: Path) -> str:
    """Turn Hydra/OmegaConf errors into one line, with a suggestion where one is possible."""
    text = " ".join(str(err).split())
    unknown_key = re.search(r"Could not override '([^']+)'", text)
    if unknown_key:
        parent, _, leaf = unknown_key.group(1).rpartition(".")
        return f"unknown config key {unknown_key.group(1)!r}{suggest(leaf, _keys_at(parent))}"
    missing_option = re.search(r"Could not find '([^'/]+)/([^']+)'", text)
    if missing_option:
        group, wanted = missing_option.groups()
        options = sorted(p.stem for p in (config_dir / group).glob("*.yaml"))
        return f"unknown {group} {wanted!r}{suggest(wanted, options)}; available: {', '.join(options)}"
    bad_value = re.search(r"Error merging override (\S+)", text)
    if bad_value and err.__cause__ is not None:
        cause = " ".join(str(err.__cause__).split()).split(" full_key:")[0]
        return f"bad value in override {bad_value.group(1)!r}: {cause}"
    return text.split(" full_key:")[0]


def _keys_at(parent: str) -> list[str]:
    node: Any = OmegaConf.structured(RootConfig)
    for part in filter(None, parent.split(".")):
        node = node.get(part) if isinstance(node, DictConfig) else None
    return list(node.keys()) if isinstance(node, DictConfig) else []
