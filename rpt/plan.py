"""`rpt plan`: will this run fit? Per-GPU memory of one GRPO training step, estimated from shapes.

Memory per GPU is counted in three parts (bytes, printed in GiB):

- held through the step: the master parameters and AdamW state (`model.dtype`; sharded over the
  data-parallel ranks under FSDP, the decoder linears also over the tensor-parallel ranks; in CPU
  memory with `strategy.cpu_offload`), FSDP's gathered copies in the compute dtype (the root unit:
  embeddings, final norm, LM head, gathered from forward to backward, and two decoder layers: the
  current and the prefetched one), the frozen reference model when `grpo.kl_coef > 0` (sharded
  like the policy; its root stays gathered), and what the reward and rollout plugins hold (each
  reports it through `memory_needs`: a colocated vLLM engine, the proxy LM of `proxy_prob`);
- start of backward: the saved activations of one micro-batch (`grpo.micro_batch_size` sequences
  of prompt + response tokens): every tensor a Qwen2/Llama layer saves (`layer_activation_bytes`),
  or with activation checkpointing only each layer's input; the logits chunk (the head is
  checkpointed per `grpo.logprob_chunk_tokens` positions, so one chunk's float32 log-softmax and
  its gradients are alive) and the LM head's gradient;
- end of backward: the gradients (sharded under FSDP, plus the unsharded gradients and float32
  reduce-scatter buffers of the root and one layer; DDP adds its gradient buckets) and the first
  layer's activations (recomputed with checkpointing) with its gradient buffers.

The step's peak is held + the larger of the two backward moments. Attention is assumed to run in
a memory-efficient kernel (no sequence x sequence matrix). A rollout engine may hold more while it
samples than while the trainer steps (vLLM asleep): the rollout phase (held state + that extra) is
checked separately, with how many sequences the engine's KV cache holds at once and how many
scheduling waves a step's rollout takes (the engine's `memory_needs`, through `rpt.plan_rollout`).
benchmarks/plan_vs_measured.py checks the estimate against
measured peaks (benchmarks/results/plan_vs_measured.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rpt.api import MemoryNeeds, MemoryQuery
from rpt.errors import RptError
from rpt.models import DTYPES
from rpt.plan_rollout import RolloutPlan

GIB = 1024**3
DTYPE_BYTES = {name: dtype.itemsize for name, dtype in DTYPES.items()}
#: Hugging Face config.json fields of models whose config cannot be read here (no hub access)
KNOWN_CONFIGS: dict[str, dict] = {
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B": {  # the paper's policy (Qwen2.5-14B architecture)
        "model_type": "qwen2", "vocab_size": 152064, "hidden_size": 5120, "intermediate_size": 13824,
        "num_hidden_layers": 48, "num_attention_heads": 40, "num_key_value_heads": 8, "tie_word_embeddings": False,
    },
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B": {  # the paper's proxy (Qwen2.5-Math-1.5B architecture, 1.78B)
        "model_type": "qwen2", "vocab_size": 151936, "hidden_size": 1536, "intermediate_size": 8960,
        "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2, "tie_word_embeddings": False,
    },
}


@dataclass(frozen=True)
class ModelShape:
    """The numbers of a decoder-only transformer that memory depends on."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    tied_embeddings: bool
    qkv_bias: bool

    @classmethod
    def from_config(cls, config: dict) -> "ModelShape":
        try:
            heads = config["num_attention_heads"]
            return cls(
                vocab_size=config["vocab_size"],
                hidden_size=config["hidden_size"],
                intermediate_size=config["intermediate_size"],
                num_layers=config["num_hidden_layers"],
                num_heads=heads,
                num_kv_heads=config.get("num_key_value_heads") or heads,
                head_dim=config.get("head_dim") or config["hidden_size"] // heads,
                tied_embeddings=bool(config.get("tie_word_embeddings", False)),
                qkv_bias=bool(config.get("attention_bias", config.get("model_type") == "qwen2")),
            )
        except KeyError as err:
            raise RptError(f"model config has no {err.args[0]!r}: rpt plan needs a decoder-only LM config") from None

    @property
    def q_dim(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.head_dim

    def layer_linear_params(self) -> int:
        """Weights of the attention and MLP projections of one layer (what tensor parallelism splits)."""
        h = self.hidden_size
        attention = h * self.q_dim + 2 * h * self.kv_dim + self.q_dim * h
        bias = self.q_dim + 2 * self.kv_dim if self.qkv_bias else 0
        return attention + bias + 3 * h * self.intermediate_size

    def layer_params(self) -> int:
        return self.layer_linear_params() + 2 * self.hidden_size  # + two RMSNorm weights

    def root_params(self) -> int:
        """Embeddings, final norm and (untied) LM head: the FSDP root unit."""
        embeddings = self.vocab_size * self.hidden_size
        return embeddings * (1 if self.tied_embeddings else 2) + self.hidden_size

    def params(self) -> int:
        return self.num_layers * self.layer_params() + self.root_params()


def layer_activation_bytes(shape: ModelShape, compute_bytes: int, tensor_parallel: int = 1) -> float:
    """Bytes per token one decoder layer saves for backward (sdpa attention, SwiGLU MLP, RMSNorm).

    Per token, with c = compute bytes, h = hidden, q/kv = query/key-value widths, I = MLP width:
    - each RMSNorm: its float32 input (4h) and normalised output (c h) -> 2 x (4 + c) h;
    - attention: q, k projections, their rotate_half copies and rotated results (3c q + 3c kv),
      v (c kv), the attention output and the o_proj input (2c q), the float32 log-sum-exp (4 heads);
    - MLP: gate and up outputs, SiLU(gate), their product (4c I).
    Tensor parallelism splits everything but the norms.
    """
    c, t = compute_bytes, tensor_parallel
    norms = 2 * (4 + c) * shape.hidden_size
    attention = 5 * c * shape.q_dim + 4 * c * shape.kv_dim + 4 * shape.num_heads
    mlp = 4 * c * shape.intermediate_size
    return norms + (attention + mlp) / t


@dataclass
class PlanInputs:
    """One GPU's share of a run, as `plan_inputs(cfg)` reads it from the config."""

    model_name: str
    shape: ModelShape
    prompt_tokens: int
    response_tokens: int
    micro_batch: int
    world_size: int
    data_parallel: int
    tensor_parallel: int
    master_dtype: str  # model.dtype: the (sharded) master weights, gradients and AdamW state
    compute_dtype: str  # strategy.param_dtype (or model.dtype): gathered weights and activations
    reduce_dtype: str  # strategy.reduce_dtype: FSDP's reduce-scatter buffers
    strategy: str  # single | ddp | fsdp
    activation_checkpointing: bool
    cpu_offload: bool
    logprob_chunk: int
    gpu_gib: float
    ranks_per_node: int = 8
    proxy_path: str | None = None  # model.proxy
    plugins: list[Any] = field(default_factory=list)  # the reward and rollout plugins: asked for their `memory_needs`
    reference: bool = False  # grpo.kl_coef > 0: a frozen copy of the policy, sharded like it
    prompts_per_rank: int = 1  # trainer.prompts_per_step / data-parallel ranks
    samples: int = 1  # sampling.n

    @property
    def seq_len(self) -> int:
        return self.prompt_tokens + self.response_tokens

    @property
    def master_bytes(self) -> int:
        return DTYPE_BYTES[self.master_dtype]

    @property
    def compute_bytes(self) -> int:
        return DTYPE_BYTES[self.compute_dtype]

    @property
    def reduce_bytes(self) -> int:
        return DTYPE_BYTES[self.reduce_dtype]


@dataclass
class MemoryPlan:
    """Per-GPU bytes of a training step: held throughout, plus the larger of two moments in backward."""

    inputs: PlanInputs
    held: list[tuple[str, float]] = field(default_factory=list)  # alive the whole step
    early: list[tuple[str, float]] = field(default_factory=list)  # start of backward: activations + logits
    late: list[tuple[str, float]] = field(default_factory=list)  # end of backward: gradients + a layer
    offloaded: list[tuple[str, float]] = field(default_factory=list)  # in CPU memory instead
    rollout_extra: float = 0.0  # a rollout engine's awake share, on top of the held state during rollouts
    rollout: RolloutPlan | None = None  # a rollout engine's sequences at once and waves per step
    notes: list[str] = field(default_factory=list)

    @property
    def training_peak(self) -> float:
        return _total(self.held) + max(_total(self.early), _total(self.late))

    @property
    def rollout_peak(self) -> float:
        return _total(self.held) + self.rollout_extra

    @property
    def fits(self) -> bool:
        return max(self.training_peak, self.rollout_peak) <= self.inputs.gpu_gib * GIB and not self.notes

    def render(self) -> str:
        i, s = self.inputs, self.inputs.shape
        layout = {"fsdp": f"FSDP over {i.data_parallel} ranks" + (f" x TP {i.tensor_parallel}" if i.tensor_parallel > 1 else ""),
                  "ddp": f"DDP over {i.world_size} ranks (a whole copy each)", "single": "one device"}[i.strategy]
        lines = [
            f"model      {i.model_name}: {s.params() / 1e9:.2f}B parameters, {s.num_layers} layers, "
            f"hidden {s.hidden_size}, vocab {s.vocab_size}",
            f"cluster    {i.world_size} GPU x {i.gpu_gib:g} GiB; {layout}",
            f"sequence   {i.seq_len} tokens ({i.prompt_tokens} prompt + {i.response_tokens} response), "
            f"micro-batch {i.micro_batch}, logits chunk {i.logprob_chunk} positions",
            f"precision  master {i.master_dtype}, compute {i.compute_dtype}; activation checkpointing "
            f"{'on' if i.activation_checkpointing else 'off'}; CPU offload {'on' if i.cpu_offload else 'off'}",
            "",
            f"{'per GPU':<56}{'GiB':>8}",
        ]
        for title, rows in (("held through the step", self.held), ("start of backward", self.early),
                            ("end of backward", self.late), ("in CPU memory (offloaded)", self.offloaded)):
            if rows:
                lines.append(f"  {title:<54}{_total(rows) / GIB:>8.2f}")
                lines += [f"    {label:<52}{b / GIB:>8.2f}" for label, b in rows]
        lines.append(f"{'training step peak = held + max(start, end)':<56}{self.training_peak / GIB:>8.2f}  of {i.gpu_gib:g}")
        if self.rollout_extra:
            lines.append(f"{'rollout peak = held + rollout engine share':<56}{self.rollout_peak / GIB:>8.2f}  of {i.gpu_gib:g}")
        if self.rollout is not None:
            lines += _render_rollout(self.rollout, i)
        lines.append(f"host RAM   per node at start-up: {i.ranks_per_node} ranks x {self.host_load_bytes() / GIB:.1f} GiB "
                     + ("(sharded loading: each rank reads only its shards from safetensors, plus one parameter in flight)"
                        if i.strategy == "fsdp" else f"(each rank loads the whole policy in {i.master_dtype})"))
        lines += [f"note: {n}" for n in self.notes]
        lines.append(f"verdict    {'fits' if self.fits else 'does NOT fit'}" + ("" if self.fits else ": " + self._advice()))
        return "\n".join(lines)

    def host_load_bytes(self) -> float:
        """CPU memory one rank needs to load the policy: its shards (FSDP, from safetensors), else the whole model."""
        i, s = self.inputs, self.inputs.shape
        if i.strategy != "fsdp":
            return s.params() * i.master_bytes
        largest = s.vocab_size * s.hidden_size  # the embeddings (or LM head): the largest single parameter
        return (s.params() / i.data_parallel + largest) * i.master_bytes

    def _advice(self) -> str:
        i = self.inputs
        if self.notes:
            return "see the note"
        if not i.activation_checkpointing:
            return "turn on strategy.activation_checkpointing"
        if i.micro_batch > 1:
            return "lower grpo.micro_batch_size"
        if i.strategy != "fsdp":
            return "use strategy=fsdp"
        if not i.cpu_offload:
            return "add GPUs, or turn on strategy.cpu_offload"
        return "add GPUs, or shorten sampling.max_tokens"


def estimate(i: PlanInputs) -> MemoryPlan:
    """The per-GPU memory of one training step (see the module docstring for what is counted)."""
    s, plan = i.shape, MemoryPlan(i)
    sharded = i.strategy == "fsdp"
    c, m = i.compute_bytes, i.master_bytes
    layer = s.layer_linear_params() / i.tensor_parallel + 2 * s.hidden_size
    owned = (s.num_layers * layer + s.root_params()) / (i.data_parallel if sharded else 1)
    where = " shards" if sharded else ""
    head = s.vocab_size * s.hidden_size  # the LM head's weight: its gradient builds up chunk by chunk
    state = [(f"parameters ({i.master_dtype}{where})", owned * m), (f"optimizer state (AdamW, {i.master_dtype})", 2 * owned * m)]
    (plan.offloaded if i.cpu_offload else plan.held).extend(state)
    if sharded:
        plan.held.append((f"gathered params (root + 2 layers, {i.compute_dtype})", (s.root_params() + 2 * layer) * c))
    if i.reference:
        plan.held.append((f"reference model ({i.master_dtype}{where})", owned * m))
        if sharded:  # its root stays gathered after each forward: it never runs a backward that would free it
            plan.held.append((f"reference root, gathered ({i.compute_dtype})", s.root_params() * c))
    for plugin in i.plugins:
        _add_plugin(plan, plugin.memory_needs(memory_query(i)))

    tokens = i.micro_batch * i.seq_len
    per_layer = tokens * layer_activation_bytes(s, c, i.tensor_parallel)
    final_norm = tokens * (4 + c) * s.hidden_size
    if i.activation_checkpointing:
        plan.early.append(("activations (checkpointed: each layer's input)", tokens * s.num_layers * c * s.hidden_size + final_norm))
    else:
        plan.early.append((f"activations (all {s.num_layers} layers)", s.num_layers * per_layer + final_norm))
    chunk_rows = i.micro_batch * min(i.logprob_chunk, i.response_tokens)
    plan.early.append((f"logits chunk ({chunk_rows} x {s.vocab_size}) and its gradient", chunk_rows * s.vocab_size * (12 + c)))
    plan.early.append(("LM head gradient", head * (c if sharded else m)))

    gradients = [(f"gradients ({i.master_dtype}{where})", owned * m)]
    (plan.offloaded if i.cpu_offload else plan.late).extend(gradients)
    if sharded:
        plan.late.append(("unsharded grads + reduce buffers (root + 1 layer)", (s.root_params() + layer) * (c + i.reduce_bytes)))
    if i.strategy == "ddp" and i.world_size > 1:
        plan.late.append(("DDP gradient buckets", owned * m))
    gradient_buffers = tokens * 2 * c * (s.hidden_size + s.intermediate_size / i.tensor_parallel)
    what = "one layer recomputed" if i.activation_checkpointing else "the first layer's activations"
    plan.late.append((f"{what} + its gradient buffers", per_layer + gradient_buffers))
    return plan


def memory_query(i: PlanInputs) -> MemoryQuery:
    """What a plugin is told about one GPU's share of the run, to report its `memory_needs`."""
    return MemoryQuery(
        gpu_bytes=i.gpu_gib * GIB,
        policy_params=i.shape.params(),
        kv_bytes_per_token=2 * i.shape.num_layers * i.shape.kv_dim * 2,
        seq_len=i.seq_len,
        num_layers=i.shape.num_layers,
        num_kv_heads=i.shape.num_kv_heads,
        head_dim=i.shape.head_dim,
        prompts_per_rank=i.prompts_per_rank,
        samples=i.samples,
        proxy_path=i.proxy_path,
        count_params=lambda name: ModelShape.from_config(read_model_config(name)).params(),
    )


def _add_plugin(plan: MemoryPlan, needs: MemoryNeeds) -> None:
    plan.held += needs.held
    plan.rollout_extra += needs.rollout_extra
    plan.rollout = needs.rollout or plan.rollout
    plan.notes += needs.notes


def _render_rollout(r: RolloutPlan, i: PlanInputs) -> list[str]:
    engine = "engine" if r.tensor_parallel == 1 else f"engine ({r.tensor_parallel} GPUs)"
    lines = [
        f"rollout    KV cache {r.kv_bytes_per_token / 1024:.0f} KiB/token per GPU (bf16); {r.kv_cache_bytes / GIB:.1f} GiB "
        f"of the engine's share left for it: {r.at_once} sequences of {r.sequence_tokens} tokens at once",
        f"           {r.sequences} sequences per {engine} and step ({r.sequences // (i.samples * r.tensor_parallel)} prompts "
        f"x {i.samples} samples{f' x {r.tensor_parallel} ranks' if r.tensor_parallel > 1 else ''}): "
        + (f"{r.waves} scheduling waves" if r.waves else "cannot be scheduled"),
    ]
    warning = r.warning()
    return lines + ([f"warning    {warning}"] if warning else [])


def _total(rows: list[tuple[str, float]]) -> float:
    return sum(b for _, b in rows)


def plan_inputs(cfg: DictConfig, gpu_gib: float, gpus_per_node: int) -> PlanInputs:
    """Read the run's shapes from its config (model.policy's config.json or a known name)."""
    from rpt.config import STRATEGIES
    from rpt.parallel.strategy import mesh_shape

    t, st, g = cfg.trainer, cfg.strategy, cfg.grpo
    if st.name not in STRATEGIES:
        raise RptError(f"unknown strategy {st.name!r}; choose one of {', '.join(STRATEGIES)}")
    devices = t.devices if isinstance(t.devices, int) else gpus_per_node
    world = t.num_nodes * devices if st.name != "single" else 1
    dp, tp = mesh_shape(world, st.data_parallel_size, st.tensor_parallel_size) if st.name == "fsdp" else (world, 1)
    master = _checked_dtype(cfg.model.dtype)
    compute = _checked_dtype(st.param_dtype) if st.name == "fsdp" and st.param_dtype else master
    from rpt.registry import build

    return PlanInputs(
        model_name=cfg.model.policy,
        shape=ModelShape.from_config(read_model_config(cfg.model.policy)),
        prompt_tokens=cfg.prompt.max_tokens or cfg.data.max_context_tokens + PROMPT_TEMPLATE_TOKENS,
        response_tokens=cfg.sampling.max_tokens,
        micro_batch=g.micro_batch_size,
        world_size=world,
        data_parallel=dp,
        tensor_parallel=tp,
        master_dtype=master,
        compute_dtype=compute,
        reduce_dtype=_checked_dtype(st.reduce_dtype) if st.name == "fsdp" and st.reduce_dtype else compute,
        strategy=st.name,
        activation_checkpointing=st.activation_checkpointing,
        cpu_offload=st.name == "fsdp" and st.cpu_offload,
        logprob_chunk=g.logprob_chunk_tokens,
        gpu_gib=gpu_gib,
        ranks_per_node=devices if st.name != "single" else 1,
        plugins=[build("reward", cfg.reward), build("rollout", cfg.rollout)],
        proxy_path=cfg.model.proxy,
        reference=g.kl_coef > 0,
        prompts_per_rank=max(t.prompts_per_step // dp, 1),
        samples=cfg.sampling.n,
    )


#: the reasoning prompt's instructions and chat markup around the context, in tokens (an allowance)
PROMPT_TEMPLATE_TOKENS = 128


def read_model_config(name_or_path: str) -> dict:
    """config.json of a model folder (or the file itself), else the numbers of a known hub name."""
    path = Path(name_or_path).expanduser()
    file = path / "config.json" if path.is_dir() else path
    if file.is_file():
        try:
            return json.loads(file.read_text())
        except json.JSONDecodeError as err:
            raise RptError(f"{file} is not valid JSON: {err}") from None
    if name_or_path in KNOWN_CONFIGS:
        return KNOWN_CONFIGS[name_or_path]
    known = ", ".join(KNOWN_CONFIGS)
    raise RptError(f"no config.json at {name_or_path!r} and not a known model ({known}); pass a model folder or its config.json")


def _checked_dtype(dtype: str) -> str:
    if dtype not in DTYPE_BYTES:
        raise RptError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPE_BYTES)}")
    return dtype
