"""The vLLM rollout plugin against the policy itself: log-probs, weight sync, seeding, greedy parity."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from rpt.api import SamplingParams, full_weights
from rpt.errors import RptError
from rpt.plugins.rollout.vllm import VLLMRollout

pytestmark = pytest.mark.vllm

PROMPTS = ["The cat sat", "Numbers 100, 250", "Tokens cost money: 3"]


def small_engine(**options) -> VLLMRollout:
    return VLLMRollout(kv_cache_gib=0.05, max_model_len=128, enforce_eager=True, **options)


def prompt_ids(tokenizer) -> list[list[int]]:
    return [tokenizer(p)["input_ids"] for p in PROMPTS]


def policy_logprobs(policy, prompt: list[int], response: list[int], temperature: float) -> torch.Tensor:
    """The policy's own log-prob of each response token under logits / temperature (one forward pass)."""
    with torch.no_grad():
        logits = policy(torch.tensor([prompt + response])).logits[0, len(prompt) - 1 : -1].float()
    return torch.log_softmax(logits / temperature, dim=-1).gather(-1, torch.tensor(response)[:, None])[:, 0]


def max_logprob_gap(policy, prompts, out, n: int, temperature: float = 1.0) -> float:
    gaps = [
        (policy_logprobs(policy, prompts[i // n], ids, temperature) - torch.tensor(lps)).abs().max().item()
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
    params = SamplingParams(n=4, temperature=0.7, max_tokens=12, seed=3)
    for step in range(3):
        out = rollout.generate(prompts, params)
        assert len(out.response_ids) == len(prompts) * 4
        assert [len(x) for x in out.response_ids] == [len(x) for x in out.response_logprobs]
        assert max_logprob_gap(context.policy, prompts, out, n=4, temperature=0.7) < 1e-3
        assert max_logprob_gap(context.policy, prompts, out, n=4, temperature=1.0) > 1e-2  # the check can fail
        assert out.metrics == {"weight_version": float(step + 1), "weight_staleness": 0.0}
        perturb(context.policy, seed=step)
        stale = rollout.generate(prompts, params)
        assert max_logprob_gap(context.policy, prompts, stale, n=4, temperature=0.7) > 1e-2  # so can this one
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
    after = rollout.generate(prompts, params)
    assert after.response_ids == before.response_ids
    assert after.response_logprobs == before.response_logprobs


def test_sampling_is_reproducible_from_the_seed(make_context):
    context = make_context()
    prompts = prompt_ids(context.tokenizer)
    seeds = [SamplingParams(n=4, temperature=1.0, max_tokens=10, seed=s) for s in (7, 8)]
    first, second = small_engine(), small_engine()
    first.setup(context)
    runs_a = [first.generate(prompts, params).response_ids for params in seeds]
    second.setup(context)
    runs_b = [second.generate(prompts, params).response_ids for params in seeds[::-1]]
    assert runs_a == runs_b[::-1]  # a fresh engine, another call order: the seed alone decides
    assert runs_a[0] != runs_a[1]
    samples = [tuple(x) for x in runs_a[0]]
    assert len(set(samples[:4])) > 1  # the n samples of one prompt differ


def test_greedy_rollouts_equal_the_hf_rollout(make_context):
    """Same ids and texts as rollout=hf (n identical copies, stop strings cut alike), and vLLM's log-probs
    are the policy's (rollout=hf reports none: the trainer's own are the sampler's)."""
    from rpt.plugins.rollout.hf import HFRollout

    context = make_context(pretrained=True)  # a random model repeats one token: no stop string to pick
    vllm_rollout, hf_rollout = small_engine(), HFRollout()
    vllm_rollout.setup(context)
    hf_rollout.setup(context)
    prompts = prompt_ids(context.tokenizer)
    free = SamplingParams(n=3, temperature=0.0, max_tokens=16, seed=0)
    texts = hf_rollout.generate(prompts, free).texts
    # a stop string from the middle of a greedy text; not one with "\ufffd" (a token that ends mid
    # character decodes to it in HF's text, while vLLM's incremental detokenizer waits for the rest)
    windows = [t[i : i + 2] for t in texts[::3] for i in range(len(t) // 2, len(t) - 1)]
    stops = [w for w in windows if w.strip() and "\ufffd" not in w][:1]
    assert stops, f"no clean stop string in the greedy texts: {texts}"
    for params in (free, SamplingParams(n=3, temperature=0.0, max_tokens=16, stop=stops, seed=0)):
        expected, got = hf_rollout.generate(prompts, params), vllm_rollout.generate(prompts, params)
        assert got.response_ids == expected.response_ids
        assert got.texts == expected.texts
        assert expected.response_logprobs is None
        assert max_logprob_gap(context.policy, prompts, got, params.n) < 1e-3
    assert any(len(ids) < 16 for ids in got.response_ids)  # the stop string did cut


def test_samples_end_with_eos_which_is_kept_but_not_in_the_text(make_context):
    """As with rollout=hf, EOS is a response token (its log-prob is trained), the text omits it."""
    context = make_context()
    rollout = small_engine()
    rollout.setup(context)
    out = rollout.generate(prompt_ids(context.tokenizer), SamplingParams(n=8, temperature=1.0, max_tokens=100, seed=0))
    eos = context.tokenizer.eos_token_id
    ended = [i for i, ids in enumerate(out.response_ids) if len(ids) < 100]
    assert ended, "no sample ended early: the check needs a seed under which one does"
    for i in ended:
        ids = out.response_ids[i]
        assert ids[-1] == eos and eos not in ids[:-1]
        assert out.texts[i] == context.tokenizer.decode(ids[:-1], skip_special_tokens=True)


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
    from tests.fixtures import tiny_qwen2

    context = make_context(policy=False)
    context.tokenizer.save_pretrained(tmp_path)
    tiny_qwen2(len(context.tokenizer), hidden_size=64, heads=4).save_pretrained(tmp_path)  # head size 16
    context.policy_path = context.tokenizer_path = str(tmp_path)
    with pytest.raises(RptError, match="head sizes"):
        small_engine().setup(context)


def test_sleep_mode_on_cpu_is_a_clear_error(make_context):
    with pytest.raises(RptError, match="sleep"):
        small_engine(sleep=True).setup(make_context(policy=False))


def test_an_engine_that_cannot_start_is_a_clear_error(make_context):
    with pytest.raises(RptError, match="vLLM could not start: .*kv_cache_gib"):
        VLLMRollout(kv_cache_gib=100_000, max_model_len=128, enforce_eager=True).setup(make_context(policy=False))


def test_a_prompt_longer_than_max_model_len_is_a_clear_error(make_context):
    context = make_context(policy=False)
    rollout = small_engine()  # max_model_len=128
    rollout.setup(context)
    with pytest.raises(RptError, match="rollout.max_model_len"):
        rollout.generate([[5] * 200], SamplingParams(n=2, temperature=1.0, max_tokens=4))
