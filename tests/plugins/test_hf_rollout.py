"""The HF rollout engine: prompt-major groups, seeding, stopping, padding and its log-probs."""

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
    assert len(out.response_ids) == len(out.response_logprobs) == len(out.texts) == 9
    assert all(1 <= len(ids) <= 6 and len(ids) == len(lp) for ids, lp in zip(out.response_ids, out.response_logprobs))
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
    for got, s in zip(batched.response_logprobs[::2], singles):
        torch.testing.assert_close(torch.tensor(got), torch.tensor(s.response_logprobs[0]), atol=1e-5, rtol=1e-5)


def test_logprobs_are_those_of_logits_over_temperature(engine, prompts):
    temperature = 0.7
    out = engine.generate(prompts[:1], SamplingParams(n=2, temperature=temperature, max_tokens=5, seed=3))
    for response, logprobs in zip(out.response_ids, out.response_logprobs):
        ids = torch.tensor([prompts[0] + response])
        with torch.no_grad():
            logits = engine.model(input_ids=ids).logits[0, len(prompts[0]) - 1 : -1] / temperature
        expected = logits.log_softmax(-1).gather(-1, torch.tensor(response)[:, None]).squeeze(-1)
        torch.testing.assert_close(torch.tensor(logprobs), expected, atol=1e-5, rtol=1e-5)


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
