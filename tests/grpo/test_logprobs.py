"""Chunked response log-probs equal the naive full-logits computation, values and gradients."""

import pytest
import torch

from tests.fixtures import tiny_qwen2
from rpt.grpo.logprobs import chunked_token_logprobs, response_logprobs

VOCAB = 50


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return tiny_qwen2(VOCAB, hidden_size=32, layers=2, heads=2, seed=0).eval()


def _batch():
    """Three prompts (left-padded) and responses (right-padded) of different lengths."""
    gen = torch.Generator().manual_seed(1)
    prompt_lens, response_lens = [4, 2, 3], [5, 1, 3]
    P, R = max(prompt_lens), max(response_lens)
    prompt_ids = torch.randint(1, VOCAB, (3, P), generator=gen)
    response_ids = torch.randint(1, VOCAB, (3, R), generator=gen)
    prompt_mask = torch.stack([torch.arange(P) >= P - n for n in prompt_lens]).long()
    response_mask = torch.stack([torch.arange(R) < n for n in response_lens]).long()
    return prompt_ids * prompt_mask, prompt_mask, response_ids * response_mask, response_mask


def _naive(model, prompt_ids, prompt_mask, response_ids, response_mask, temperature):
    """Each row on its own, unpadded: full logits, log-softmax, gather."""
    rows_lp, rows_ent = [], []
    for i in range(prompt_ids.shape[0]):
        prompt = prompt_ids[i][prompt_mask[i].bool()]
        response = response_ids[i][response_mask[i].bool()]
        ids = torch.cat([prompt, response])[None]
        logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float() / temperature
        logp = logits.log_softmax(-1)
        lp = logp.gather(-1, response[:, None]).squeeze(-1)
        ent = -(logp.exp() * logp).sum(-1)
        pad = response_ids.shape[1] - len(response)
        rows_lp.append(torch.nn.functional.pad(lp, (0, pad)))
        rows_ent.append(torch.nn.functional.pad(ent, (0, pad)))
    return torch.stack(rows_lp), torch.stack(rows_ent)


@pytest.mark.parametrize("chunk_size", [1, 2, 64])
def test_chunked_equals_naive_in_value_entropy_and_gradient(model, chunk_size):
    prompt_ids, prompt_mask, response_ids, response_mask = _batch()
    temperature = 0.8

    model.zero_grad()
    lp, ent = response_logprobs(
        model, prompt_ids, prompt_mask, response_ids, response_mask, chunk_size, temperature, with_entropy=True
    )
    (lp * response_mask).sum().backward()
    chunked_grads = [p.grad.clone() for p in model.parameters()]

    model.zero_grad()
    ref_lp, ref_ent = _naive(model, prompt_ids, prompt_mask, response_ids, response_mask, temperature)
    ref_lp.sum().backward()
    naive_grads = [p.grad.clone() for p in model.parameters()]

    mask = response_mask.bool()
    torch.testing.assert_close(lp[mask], ref_lp[mask], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ent[mask], ref_ent[mask], rtol=1e-5, atol=1e-5)
    for got, want in zip(chunked_grads, naive_grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_the_head_never_sees_more_than_one_chunk():
    seen = []

    def head(h):
        seen.append(h.shape[1])
        return h @ weight.T

    weight = torch.randn(VOCAB, 8, requires_grad=True)
    hidden = torch.randn(2, 10, 8, requires_grad=True)
    targets = torch.randint(0, VOCAB, (2, 10))
    lp, _ = chunked_token_logprobs(hidden, head, targets, chunk_size=4)
    lp.sum().backward()
    assert seen and max(seen) == 4  # forward and the recomputation in backward, chunk by chunk
    expected = (hidden @ weight.T).log_softmax(-1).gather(-1, targets[..., None]).squeeze(-1)
    torch.testing.assert_close(lp, expected)


def test_logprobs_carry_no_graph_under_no_grad(model):
    with torch.no_grad():
        lp, ent = response_logprobs(model, *_batch(), chunk_size=2)
    assert not lp.requires_grad and ent is None


def test_entropy_comes_from_the_same_head_pass(model):
    """With entropy asked for, the output head still runs once per chunk (forward), and the entropy
    under autograd equals the no-grad pass's."""
    calls = []
    hook = model.get_output_embeddings().register_forward_hook(lambda m, a, o: calls.append(o.shape[1]))
    try:
        lp, ent = response_logprobs(model, *_batch(), chunk_size=2, with_entropy=True)
    finally:
        hook.remove()
    assert len(calls) == 1 + 3  # the root forward's last position, then 5 response positions in chunks of 2
    with torch.no_grad():
        _, ent_no_grad = response_logprobs(model, *_batch(), chunk_size=2, with_entropy=True)
    assert lp.requires_grad and not ent.requires_grad
    torch.testing.assert_close(ent, ent_no_grad)


def test_no_pass_asks_for_every_layers_hidden_states(model):
    asked = []
    hook = model.register_forward_pre_hook(lambda m, a, kw: asked.append(kw.get("output_hidden_states")), with_kwargs=True)
    try:
        with torch.no_grad():
            response_logprobs(model, *_batch(), chunk_size=2)
    finally:
        hook.remove()
    assert asked == [None]
