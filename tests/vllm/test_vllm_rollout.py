"""The vLLM rollout plugin against the policy itself: log-probs, weight sync, seeding, greedy parity."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from rpt.api import SamplingParams
from rpt.errors import RptError
from rpt.plugins.rollout.vllm import VLLMRollout, full_weights

pytestmark = pytest.mark.vllm

PROMPTS = ["The cat sat", "Numbers 100, 250", "Tokens cost money: 3"]


def small_engine(**options) -> VLLMRollout:
    return VLLMRollout(kv_cache_gib=0.05, max_model_len=128, enforce_eager=True, **options)


def prompt_ids(tokenizer) -> list[list[int]]:
    return [tokenizer(p)["input_ids"] for p in PROMPTS]


def policy_logprobs(policy, prompt: list[int], response: list[int]) -> torch.Tensor:
    """The policy's own log-prob of each response token (one forward pass, no sampling)."""
    with torch.no_grad():
        logits = policy(torch.tensor([prompt + response])).logits[0, len(prompt) - 1 : -1].float()
    return torch.log_softmax(logits, dim=-1).gather(-1, torch.tensor(response)[:, None])[:, 0]


def max_logprob_gap(policy, prompts, out, n: int) -> float:
    gaps = [
        (policy_logprobs(policy, prompts[i // n], ids) - torch.tensor(lps)).abs().max().item()
        for i, (ids, lps) in enumerate(zip(out.response_ids, out.response_logprobs))
        if ids
    ]
    return max(gaps)


def perturb(policy, seed: int) -> None:
    """Stand-in for an optimizer step: move every weight."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))


def test_log_probs_equal_the_policy_after_every_sync(make_context):
    context = make_context()
    rollout = small_engine()
    rollout.setup(context)
    prompts = prompt_ids(context.tokenizer)
    params = SamplingParams(n=4, temperature=1.0, max_tokens=12, seed=3)
    for step in range(3):
        out = rollout.generate(prompts, params)
        assert len(out.response_ids) == len(prompts) * 4
        assert [len(x) for x in out.response_ids] == [len(x) for x in out.response_logprobs]
        assert max_logprob_gap(context.policy, prompts, out, n=4) < 1e-3
        assert out.metrics == {"weight_version": float(step + 1), "weight_staleness": 0.0}
        perturb(context.policy, seed=step)
        stale = rollout.generate(prompts, params)
        assert max_logprob_gap(context.policy, prompts, stale, n=4) > 1e-2  # the check can fail
        rollout.sync_weights(full_weights(context.policy))


def test_sync_every_pushes_only_on_every_nth_step(make_context):
    context = make_context()
    rollout = small_engine(sync_every=2)
    rollout.setup(context)
    prompts = prompt_ids(context.tokenizer)
    params = SamplingParams(n=2, temperature=1.0, max_tokens=8, seed=0)
    consumed = []

    def weights():
        for name, tensor in full_weights(context.policy):
            consumed.append(name)
            yield name, tensor

    perturb(context.policy, seed=1)
    rollout.sync_weights(weights())
    assert consumed == []  # a skipped step must not gather (FSDP) or copy anything
    out = rollout.generate(prompts, params)
    assert out.metrics == {"weight_version": 1.0, "weight_staleness": 1.0}
    assert max_logprob_gap(context.policy, prompts, out, n=2) > 1e-2
    rollout.sync_weights(weights())
    out = rollout.generate(prompts, params)
    assert out.metrics == {"weight_version": 2.0, "weight_staleness": 0.0}
    assert max_logprob_gap(context.policy, prompts, out, n=2) < 1e-3


def test_the_engine_keeps_its_own_copy_of_the_weights(make_context):
    """In-place optimizer updates must not leak into the engine before a sync."""
    context = make_context()
    rollout = small_engine()
    rollout.setup(context)
    prompts = prompt_ids(context.tokenizer)
    params = SamplingParams(n=2, temperature=1.0, max_tokens=8, seed=5)
    rollout.sync_weights(full_weights(context.policy))
    before = rollout.generate(prompts, params)
    perturb(context.policy, seed=2)
    rollout._calls = 0  # same seeds as `before`
    after = rollout.generate(prompts, params)
    assert after.response_ids == before.response_ids
    assert after.response_logprobs == before.response_logprobs


def test_seeded_sampling_is_reproducible_and_varies_across_calls(make_context):
    context = make_context()
    prompts = prompt_ids(context.tokenizer)
    params = SamplingParams(n=4, temperature=1.0, max_tokens=10, seed=7)
    first, second = small_engine(), small_engine()
    first.setup(context)
    runs_a = [first.generate(prompts, params).response_ids for _ in range(2)]
    second.setup(context)
    runs_b = [second.generate(prompts, params).response_ids for _ in range(2)]
    assert runs_a == runs_b
    assert runs_a[0] != runs_a[1]
    group = runs_a[0][:4]
    assert len({tuple(x) for x in group}) > 1  # the n samples of one prompt differ


def test_greedy_matches_the_policy_argmax_and_copies_n_times(make_context):
    context = make_context()
    rollout = small_engine()
    rollout.setup(context)
    prompts = prompt_ids(context.tokenizer)
    out = rollout.generate(prompts, SamplingParams(n=3, temperature=0.0, max_tokens=8, seed=0))
    for i, prompt in enumerate(prompts):
        group = out.response_ids[3 * i : 3 * i + 3]
        assert group[0] == group[1] == group[2]
        expected = context.policy.generate(
            torch.tensor([prompt]), do_sample=False, max_new_tokens=8, attention_mask=torch.ones(1, len(prompt), dtype=torch.long)
        )[0, len(prompt) :].tolist()
        eos = context.tokenizer.eos_token_id
        if eos in expected:
            expected = expected[: expected.index(eos) + 1]
        assert group[0] == expected
        assert out.texts[3 * i] == context.tokenizer.decode(expected, skip_special_tokens=True)


def test_stop_strings_end_the_sample(make_context):
    context = make_context()
    rollout = small_engine()
    rollout.setup(context)
    prompts = prompt_ids(context.tokenizer)[:1]
    free = rollout.generate(prompts, SamplingParams(n=1, temperature=0.0, max_tokens=12, seed=0))
    text = free.texts[0]
    stop = text[len(text) // 2 :][:2]
    assert stop.strip(), f"greedy text too short to pick a stop string from: {text!r}"
    stopped = rollout.generate(prompts, SamplingParams(n=1, temperature=0.0, max_tokens=12, stop=[stop], seed=0))
    ids = stopped.response_ids[0]
    assert len(ids) < len(free.response_ids[0])
    assert ids == free.response_ids[0][: len(ids)]
    assert stop not in context.tokenizer.decode(ids[:-1])


def test_setup_leaves_the_trainer_rng_and_threads_alone(make_context):
    context = make_context()
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    expected = (torch.rand(3), np.random.rand(), random.random())
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    threads = torch.get_num_threads()
    small_engine().setup(context)
    assert torch.get_num_threads() == threads
    torch.set_num_threads(1)
    assert torch.get_num_threads() == 1
    torch.set_num_threads(threads)
    got = (torch.rand(3), np.random.rand(), random.random())
    assert torch.equal(got[0], expected[0]) and got[1:] == expected[1:]


def test_an_unsupported_cpu_head_size_is_a_clear_error(tmp_path, make_context):
    from rpt.demo.tiny import tiny_qwen2

    context = make_context(policy=False)
    context.tokenizer.save_pretrained(tmp_path)
    tiny_qwen2(len(context.tokenizer), hidden_size=64, heads=4).save_pretrained(tmp_path)  # head size 16
    context.config.model.policy = str(tmp_path)
    with pytest.raises(RptError, match="head sizes"):
        small_engine().setup(context)


def test_sleep_mode_on_cpu_is_a_clear_error(make_context):
    with pytest.raises(RptError, match="sleep"):
        small_engine(sleep=True).setup(make_context(policy=False))
