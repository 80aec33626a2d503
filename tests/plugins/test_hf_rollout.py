"""The HF rollout engine: prompt-major groups, seeding, stopping and padding."""

import pytest
import torch

from rpt.api import PluginContext, SamplingParams
from rpt.models import load_tokenizer
from rpt.plugins.rollout.hf import HFRollout


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(1)
    tokenizer = load_tokenizer(str(tiny_model_dir))
    rollout = HFRollout(batch_size=2)
    rollout.setup(PluginContext(tokenizer=tokenizer, policy=AutoModelForCausalLM.from_pretrained(tiny_model_dir)))
    return rollout


@pytest.fixture(scope="module")
def prompts(engine):
    texts = ["The cat sat", "12 + 7 =", "Numbers 100, 250"]
    return [engine.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


def test_n_samples_per_prompt_in_prompt_major_order(engine, prompts):
    out = engine.generate(prompts, SamplingParams(n=3, temperature=1.0, max_tokens=6, seed=0))
    assert len(out.response_ids) == len(out.texts) == 9
    assert all(1 <= len(ids) <= 6 for ids in out.response_ids)
    assert out.response_logprobs is None  # the sampler is the policy: the trainer's log-probs are its own
    assert out.texts[4] == engine.tokenizer.decode(out.response_ids[4], skip_special_tokens=True)


def test_sampling_is_seeded_and_leaves_the_global_rng_alone(engine, prompts):
    params = SamplingParams(n=4, temperature=1.0, max_tokens=8, seed=7)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = engine.generate(prompts, params).response_ids
    assert torch.equal(torch.get_rng_state(), before)
    assert engine.generate(prompts, params).response_ids == first
    other = SamplingParams(n=4, temperature=1.0, max_tokens=8, seed=8)
    assert engine.generate(prompts, other).response_ids != first


def test_greedy_batched_with_left_padding_equals_one_prompt_at_a_time(engine, prompts):
    params = SamplingParams(n=2, temperature=0.0, max_tokens=8)
    batched = engine.generate(prompts, params)
    singles = [engine.generate([p], params) for p in prompts]
    assert batched.response_ids == [ids for s in singles for ids in s.response_ids]
    assert batched.response_ids[0] == batched.response_ids[1]  # greedy copies are identical


def test_responses_end_at_eos_or_at_the_first_stop_string(engine, prompts):
    stop = ["e", "a", "o"]
    out = engine.generate(prompts, SamplingParams(n=4, temperature=1.0, max_tokens=24, stop=stop, seed=1))
    eos = engine.tokenizer.eos_token_id
    cut_by_stop = 0
    for ids in out.response_ids:
        text = engine.tokenizer.decode(ids)
        before = engine.tokenizer.decode(ids[:-1])
        assert eos not in ids[:-1]
        assert not any(s in before for s in stop)  # nothing was generated past a stop string
        ended = ids[-1] == eos or any(s in text for s in stop)
        assert ended or len(ids) == 24
        cut_by_stop += any(s in text for s in stop) and len(ids) < 24
    assert cut_by_stop > 0


def test_a_stop_string_spanning_the_prompt_and_the_response_does_not_stop(engine, prompts):
    greedy = SamplingParams(n=1, temperature=0.0, max_tokens=6)
    free = engine.generate(prompts, greedy).texts
    for prompt, text in zip(prompts, free):
        prompt_text = engine.tokenizer.decode(prompt)
        stop = prompt_text[-3:] + text[:1]  # in prompt + response, in neither alone
        if stop in prompt_text or stop in text:
            continue
        with_stop = SamplingParams(n=1, temperature=0.0, max_tokens=6, stop=[stop])
        assert engine.generate([prompt], with_stop).texts[0] == text
        return
    pytest.fail(f"no prompt gives a stop string that only spans the boundary: {free}")
