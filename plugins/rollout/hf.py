"""Rollouts with Hugging Face `generate` on the policy itself: no second copy, no weight sync.

The engine for small models, CPUs and tests: batched (left-padded prompts), seeded, stopping at
EOS or at a stop string. It reports no log-probs of its own (`response_logprobs=None`): the
sampler is the policy, so the log-probs the trainer computes for its update are the sampler's, and
a forward pass here to recompute them would only feed engine-vs-policy gap metrics that are zero
by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import StoppingCriteria

from rpt.api import (
    PluginContext,
    Rollout,
    RolloutOutput,
    SamplingParams,
    check_option,
    left_pad,
)


class HFRollout(Rollout):
    """Samples with transformers `generate` on the live policy (small models, CPU, tests)."""

    def __init__(self, batch_size: int = 64) -> None:
        check_option("batch_size", batch_size, batch_size >= 1, ">= 1")
        self.batch_size = batch_size  # prompts per `generate` call (each expanded to n samples)
        self.model: torch.nn.Module | None = None
        self.tokenizer = None

    def setup(self, context: PluginContext) -> None:
        if context.policy is None:
            raise ValueError("rollout=hf samples from the policy itself: the plugin context needs it")
        self.model = context.policy
        self.tokenizer = context.tokenizer

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> RolloutOutput:
        """`params.n` samples per prompt, prompt-major, in batches of `batch_size` prompts."""
        if self.model is None:
            raise RuntimeError("HFRollout.generate called before setup")
        ids: list[list[int]] = []
        was_training = self.model.training
        self.model.eval()
        devices = [self._device] if self._device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                torch.manual_seed(params.seed)
                for start in range(0, len(prompts), self.batch_size):
                    ids += self._generate_batch(prompts[start : start + self.batch_size], params)
        finally:
            self.model.train(was_training)
        texts = self.tokenizer.batch_decode(ids, skip_special_tokens=True)
        return RolloutOutput(response_ids=ids, response_logprobs=None, texts=texts)

    @property
    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _generate_batch(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[list[int]]:
        pad_id = self._pad_id()
        prompt_ids, prompt_mask = left_pad(prompts, pad_id, self._device)
        greedy = params.temperature == 0
        # top_k=0 and repetition_penalty=1 override what a hub generation_config may set, so the
        # samples come from softmax(logits / temperature) (nucleus-cut by top_p) and nothing else
        sampling = (
            {"do_sample": True, "temperature": params.temperature, "top_p": params.top_p, "top_k": 0}
            if not greedy
            else {"do_sample": False}
        )
        stop = {"stopping_criteria": [ResponseStopStrings(params.stop, self.tokenizer, prompt_ids.shape[1])]} if params.stop else {}
        output = self.model.generate(
            input_ids=prompt_ids,
            attention_mask=prompt_mask,
            max_new_tokens=params.max_tokens,
            num_return_sequences=1 if greedy else params.n,  # greedy copies are identical: decode once
            eos_token_id=sorted(self._eos_ids()),
            pad_token_id=pad_id,
            synced_gpus=_is_sharded(self.model),
            repetition_penalty=1.0,
            **sampling,
            **stop,
        )
        generated = output[:, prompt_ids.shape[1] :]
        if greedy:
            generated = generated.repeat_interleave(params.n, dim=0)
        return [self._trim(row, params.stop) for row in generated.tolist()]

    def _trim(self, tokens: list[int], stop: Sequence[str]) -> list[int]:
        """The tokens up to and including the first EOS or the end of the first stop string.

        Finished rows are padded by `generate`; a stop string may end mid-token, so the cut is
        the shortest prefix whose text contains one (binary search: containment only grows).
        """
        eos = self._eos_ids()
        end = next((i + 1 for i, t in enumerate(tokens) if t in eos), len(tokens))
        tokens = tokens[:end]
        if not stop or not self._has_stop(tokens, stop):
            return tokens
        low, high = 1, len(tokens)
        while low < high:
            mid = (low + high) // 2
            if self._has_stop(tokens[:mid], stop):
                high = mid
            else:
                low = mid + 1
        return tokens[:low]

    def _has_stop(self, tokens: list[int], stop: Sequence[str]) -> bool:
        text = self.tokenizer.decode(tokens, skip_special_tokens=False)
        return any(s in text for s in stop)

    def _eos_ids(self) -> set[int]:
        ids = self.model.generation_config.eos_token_id
        ids = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return ids

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else min(self._eos_ids())


class ResponseStopStrings(StoppingCriteria):
    """Stops a row once its response text holds a stop string. transformers' own `stop_strings`
    also match across the prompt/response boundary, which would end a row before it sampled one."""

    def __init__(self, stop: Sequence[str], tokenizer, prompt_len: int) -> None:
        self.stop = list(stop)
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        # a token decodes to at least one byte and a character is at most 4 bytes: this many
        # trailing tokens always cover a stop string that the newest token completes
        self.window = 4 * max(len(s) for s in self.stop)

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        start = max(self.prompt_len, input_ids.shape[1] - self.window)
        texts = self.tokenizer.batch_decode(input_ids[:, start:], skip_special_tokens=False)
        return torch.tensor([any(s in t for s in self.stop) for t in texts], device=input_ids.device)


def _is_sharded(model: torch.nn.Module) -> bool:
    """FSDP2 ranks must step `generate` together until every rank is done (transformers' synced_gpus)."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule) and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1
