"""Rollout plugins for the vLLM training tests, named by dotted path (`rollout.name=tests.vllm.recording....`).

`CheckedVLLM` is rollout=vllm that, at every `generate`, also scores its samples with the live
policy (the trainer's log-prob code) and records the largest gap. `ReplayHF` is rollout=hf with
`generate`'s sampler swapped for the recorded vLLM samples. In a multi-process run (no shared memory
with the test) CheckedVLLM also writes each rank's record to `$RPT_RECORD_DIR/rank<N>.json`, so everything after sampling (trimming,
log-probs, texts, rewards, the update) runs through the HF plugin's own code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from rpt.api import PluginContext, RolloutOutput, SamplingParams
from rpt.grpo.logprobs import response_logprobs
from rpt.padding import left_pad, right_pad
from rpt.plugins.rollout.hf import HFRollout
from rpt.plugins.rollout.vllm import VLLMRollout

#: one entry per `generate` call of the last CheckedVLLM run: (prompts, params, output, max |gap|)
RECORDED: list[tuple[list[list[int]], SamplingParams, RolloutOutput, float]] = []


class CheckedVLLM(VLLMRollout):
    """rollout=vllm, checked against the policy's own log-probs at every call."""

    def setup(self, context: PluginContext) -> None:
        RECORDED.clear()
        self.policy = context.policy
        super().setup(context)

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> RolloutOutput:
        out = super().generate(prompts, params)
        RECORDED.append(([list(p) for p in prompts], params, out, self._max_gap(prompts, params, out)))
        if os.environ.get("RPT_RECORD_DIR"):
            self._write_record(Path(os.environ["RPT_RECORD_DIR"]))
        return out

    def _write_record(self, folder: Path) -> None:
        import torch.distributed as dist

        config = self._llm.llm_engine.vllm_config.parallel_config
        record = {
            "executor": str(config.distributed_executor_backend),
            "tensor_parallel_size": config.tensor_parallel_size,
            "calls": [{"prompts": prompts, "responses": out.response_ids, "gap": gap,
                       "weight_version": out.metrics["weight_version"]} for prompts, _, out, gap in RECORDED],
        }
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"rank{dist.get_rank() if dist.is_initialized() else 0}.json").write_text(json.dumps(record))

    @torch.no_grad()
    def _max_gap(self, prompts, params: SamplingParams, out: RolloutOutput) -> float:
        n = len(out.response_ids) // len(prompts)
        prompt_ids, prompt_mask = left_pad([p for p in prompts for _ in range(n)], 0, torch.device("cpu"))
        response_ids, response_mask = right_pad(out.response_ids, 0, torch.device("cpu"))
        temperature = params.temperature if params.temperature > 0 else 1.0
        own, _ = response_logprobs(self.policy, prompt_ids, prompt_mask, response_ids, response_mask, 1024, temperature)
        engine = torch.zeros_like(own)
        for i, row in enumerate(out.response_logprobs):
            engine[i, : len(row)] = torch.tensor(row)
        return ((own - engine).abs() * response_mask).max().item()


class ReplayHF(HFRollout):
    """rollout=hf whose sampler returns the samples CheckedVLLM drew, call by call."""

    def setup(self, context: PluginContext) -> None:
        super().setup(context)
        self.calls = 0
        self.model.generate = self._replay

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> RolloutOutput:
        recorded_prompts, recorded_params, recorded, _ = RECORDED[self.calls]
        assert [list(p) for p in prompts] == recorded_prompts and params == recorded_params
        self._pending = recorded.response_ids
        self.calls += 1
        return super().generate(prompts, params)

    def _replay(self, input_ids: torch.Tensor, num_return_sequences: int, pad_token_id: int, **_) -> torch.Tensor:
        rows = len(input_ids) * num_return_sequences
        responses, self._pending = self._pending[:rows], self._pending[rows:]
        generated, _ = right_pad(responses, pad_token_id, input_ids.device)
        return torch.cat([input_ids.repeat_interleave(num_return_sequences, dim=0), generated], dim=1)
