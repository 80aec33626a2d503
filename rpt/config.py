"""Compose the YAML config groups in `configs/` with Hydra-style overrides, then validate.

`load_config(["experiment=demo", "reward=exact_match", "trainer.max_steps=20"])` returns a
typed, resolved OmegaConf config or raises `RptError` with a one-line message. Typed groups
are checked against the dataclass schema below (unknown keys, wrong value types); plugin
groups (reward, filter, rollout) are free-form and checked by building the plugin.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rpt.errors import RptError, suggest


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


@dataclass
class ModelConfig:
    policy: str = MISSING  # Hugging Face folder or hub name of the policy
    tokenizer: str | None = None  # defaults to the policy's
    proxy: str | None = None  # small LM for entropy scoring / proxy_prob (paper: R1-Distill-Qwen-1.5B)
    dtype: str = "float32"  # float32 | bfloat16 | float16: weights of the policy while training


@dataclass
class QAConfig:
    """Question-answer tasks (data.kind=qa, for RLVR after RPT): where question and answer are in a record."""

    question_field: str = "question"  # dotted path into each record: "prompt.0.content" (Skywork-OR1)
    answer_field: str = "answer"  # dotted path: "reward_model.ground_truth" (Skywork-OR1)
    answer_marker: str | None = "####"  # the reference is the text after the field's last marker (GSM8K); null: all of it
    answer_format: str = "text"  # text | json_list: the field holds a JSON list of accepted answers (Skywork-OR1)
    subset: str | None = None  # Hugging Face dataset configuration ("main" for openai/gsm8k)
    test_path: str | None = None  # held-out questions from another file/dataset; null: held out from data.path
    test_split: str = "test"  # split of a Hugging Face test_path
    train_size: int | None = None  # train on a seeded sample of this many questions (paper_rl: 256); null: all


@dataclass
class DataConfig:
    kind: str = "ntp"  # ntp: next-token tasks from a corpus (RPT) | qa: question-answer tasks (data.qa, RLVR)
    qa: QAConfig = field(default_factory=QAConfig)
    path: str = MISSING  # .jsonl | .txt | .parquet file, or a Hugging Face dataset name/folder
    field: str = "text"  # jsonl/parquet/HF column that holds the document text
    format: str | None = None  # instead of `field`: a format string over columns, "{question}\n{answer}"
    split: str = "train"  # split to read from a Hugging Face dataset
    val_fraction: float = 0.1  # share of documents held out for validation
    seed: int = 0  # seeds the document split and the filters
    max_context_tokens: int = 1024  # context is left-truncated to this many tokens
    min_context_tokens: int = 1  # positions with less preceding text are never tasks
    max_target_tokens: int = 16  # ground-truth continuation kept per task (for multi-token answers)
    scores: str | None = None  # proxy-entropy artifact written by `rpt score` (needed by filter=entropy)
    cache_dir: str = ".rpt_cache"  # tokenised corpora are cached here
    max_documents: int | None = None  # read at most this many documents (quick looks, tests)


@dataclass
class PromptConfig:
    template: str = "v0"  # v0..v6 (the paper's, Appendix D; section 4 used v0) | rpt_reasoning (ours) | direct
    chat: bool = True  # wrap the prompt in the tokenizer's chat template when it has one
    think: bool | None = None  # answers only after </think>; None = when the chat template's generation prompt opens <think>
    max_tokens: int | None = None  # longest prompt in tokens (template included): the context's oldest tokens are dropped


@dataclass
class OptimConfig:
    lr: float = 1e-6
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_steps: int = 0  # linear warmup, then constant
    grad_clip: float = 1.0  # max global grad norm; 0 disables


@dataclass
class GRPOConfig:
    clip_low: float = 0.2  # the ratio is clipped below at 1 - clip_low
    clip_high: float = 0.2  # ... and above at 1 + clip_high; > clip_low gives DAPO's clip-higher
    dual_clip: float | None = None  # e.g. 3.0: bounds the loss for negative advantages
    norm_adv_by_std: bool = True  # divide advantages by the group's reward std (false: Dr. GRPO)
    loss_agg: str = "token_mean"  # token_mean | seq_mean_token_mean | seq_mean_token_sum
    kl_coef: float = 0.0  # 0 = the paper's setting: no reference model is loaded
    kl_estimator: str = "k3"  # k1 | k2 | k3
    ppo_epochs: int = 1  # passes over each step's samples
    mini_batches: int = 1  # optimizer steps per rollout batch and epoch
    micro_batch_size: int = 8  # sequences per forward/backward pass
    logprob_chunk_tokens: int = 1024  # log-probs are computed this many positions at a time
    tis_cap: float | None = None  # truncated importance sampling: weight each token's loss by min(p_policy / p_rollout, tis_cap); None = off


@dataclass
class DynamicSamplingConfig:
    start_step: int | None = None  # drop zero-variance groups from this step on (paper: 500); None = never
    max_tries: int = 4  # extra prompt batches drawn to refill the step


@dataclass
class SamplingConfig:
    """How rollouts sample, for any rollout engine; mirrors `rpt.api.SamplingParams`."""

    n: int = 8  # samples per prompt: the GRPO group size (>= 2)
    temperature: float = 0.8  # 0 = greedy (validation only: a group of identical samples has no signal)
    top_p: float = 1.0
    max_tokens: int = 8192  # longest response, in tokens
    stop: list[str] = field(default_factory=list)  # a response ends after the first of these strings (or EOS)
    seed: int = 0  # rollouts of step s are seeded from (seed, s): resumed runs sample the same


@dataclass
class TrainerConfig:
    max_steps: int = 1000  # training steps; each is one rollout batch (ppo_epochs x mini_batches optimizer steps)
    prompts_per_step: int = 256  # prompts per step over all ranks, each sampled sampling.n times (paper: 256)
    val_every: int = 50  # validate before training, every N steps and after the last (0 = never)
    val_tasks: int = 256  # held-out positions used by validation
    ckpt_every: int = 100  # checkpoint every N steps (0 = only at the end)
    log_every: int = 1  # write metrics every N steps
    seed: int = 0  # seeds the task order, the validation sample and the global RNGs
    accelerator: str = "auto"  # Lightning: auto | cpu | gpu
    devices: Any = "auto"  # Lightning: devices per node (strategy=single uses 1)
    num_nodes: int = 1
    precision: str = "32-true"  # Lightning: 32-true | bf16-mixed | bf16-true


@dataclass
class WandbConfig:
    mode: str = "offline"  # online | offline | disabled
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
    top_k: int = 16  # entropy of the proxy's k most likely next tokens, renormalised (paper: 16)
    stride: int = 512  # positions per window after a document's first; each sees max_context_tokens..+stride-1 tokens
    batch_tokens: int = 16384  # padded tokens per forward pass
    dtype: str = "auto"  # auto (bfloat16 on GPU, float32 on CPU) | float32 | bfloat16 | float16
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
    max_questions: int | None = None  # the first N questions (quick looks); null: all


@dataclass
class EvalConfig:
    mc: MCConfig = field(default_factory=MCConfig)
    mode: str = "standard"  # standard: greedy next token | reasoning: think, answer, scored by the reward plugin
    models: list[str] = field(default_factory=list)  # models/checkpoints to evaluate (two are compared); [] = model.policy
    scores: str | None = None  # difficulty: `rpt score` artifact of the difficulty model; None = data.scores
    difficulty_model: str | None = None  # the model whose entropy must define the buckets (checked against the scores); None = any
    buckets: dict[str, float] = field(default_factory=lambda: {"easy": 0.5, "medium": 1.0, "hard": 1.5})  # nested: entropy > value
    max_positions: int | None = 1000  # held-out positions evaluated (a seeded sample); None = all
    batch_size: int = 32  # positions per forward pass (standard mode) or per rollout call (reasoning)
    dtype: str = "auto"  # auto (bfloat16 on GPU, float32 on CPU) | float32 | bfloat16 | float16
    samples: int = 8  # reasoning: answers sampled per position (sampling.*); pass@1 is their mean reward
    patterns: bool = False  # reasoning: count reasoning-pattern keyword markers in the responses
    pattern_keywords: str = "paper"  # configs/patterns/<name>.yaml (paper: Appendix E Table 9; rpt: ours) or a path to such a file
    templates: list[str] = field(default_factory=list)  # compare these prompt templates (Random@1, Pass@samples)


@dataclass
class StrategyConfig:
    name: str = "single"  # single (one device) | ddp | fsdp (FSDP2, one shard unit per decoder layer)
    data_parallel_size: int | None = None  # fsdp: ranks the batch is split over and params sharded over; None = world / tensor_parallel_size
    tensor_parallel_size: int = 1  # fsdp: ranks that split each decoder layer's matmuls (keep within a node)
    param_dtype: str | None = None  # fsdp: dtype params are gathered and computed in (bfloat16 on GPU); None = as stored
    reduce_dtype: str | None = None  # fsdp: dtype gradients are reduce-scattered in (float32); None = param_dtype
    activation_checkpointing: bool = False  # recompute each decoder layer in backward instead of keeping its activations
    cpu_offload: bool = False  # fsdp: sharded params, grads and optimizer state live in CPU memory


@dataclass
class DemoConfig:
    """The embedded CPU demo (`rpt demo`): what it generates and pre-trains before RPT."""

    dir: str = "runs/demo"  # corpus, tokenizer + model, scores, RPT run and report.md all go here
    seed: int = 0  # seeds the synthetic corpus, the model's initialisation and pre-training
    documents: int = 4000  # synthetic ledgers generated (split into train/val by data.val_fraction)
    vocab_size: int = 512  # cap on the byte-level BPE vocabulary
    hidden_size: int = 64  # tiny Qwen2: width
    layers: int = 2  # tiny Qwen2: decoder layers
    heads: int = 2  # tiny Qwen2: attention heads (head size 32: vLLM on CPU supports it)
    pretrain_steps: int = 200  # fixed next-token pre-training budget, before RPT
    pretrain_batch_size: int = 32  # documents per pre-training step
    pretrain_lr: float = 3e-3  # peak lr (5% warmup, then linear decay to 0)


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
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    run: RunConfig = field(default_factory=RunConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)


ConfigStore.instance().store(name="rpt_schema", node=RootConfig)

GROUPS = ("model", "data", "reward", "filter", "rollout", "strategy", "trainer", "experiment")


def load_config(overrides: list[str] | tuple[str, ...] = (), config_dir: Path = CONFIG_DIR) -> DictConfig:
    """Compose `config.yaml` + groups + overrides into a validated config (MISSING values allowed)."""
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            cfg = compose(config_name="config", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        raise RptError(_explain(err, config_dir)) from None
    return cfg


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
