"""Top-k entropy, target rank and probability against hand-computed values."""

import math

import pytest
import torch

from rpt.proxy.entropy import score_logits, target_rank_and_prob, topk_entropy


def test_topk_entropy_by_hand():
    # top-3 of the vector are 2, 1, 0; softmax over them, renormalised: e^2, e^1, e^0 / 11.107...
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0, -5.0])
    assert topk_entropy(logits, 3).item() == pytest.approx(0.8323955818399389, abs=1e-6)


def test_topk_entropy_ignores_the_tail_and_is_ln_k_for_a_flat_top():
    flat_top = torch.tensor([[4.0] * 16 + [3.9] * 100])
    assert topk_entropy(flat_top, 16).item() == pytest.approx(math.log(16), abs=1e-5)
    other_tail = torch.tensor([[4.0] * 16 + [-50.0] * 100])
    assert topk_entropy(other_tail, 16).item() == pytest.approx(math.log(16), abs=1e-5)


def test_k_larger_than_vocab_uses_the_whole_distribution():
    assert topk_entropy(torch.zeros(5), 16).item() == pytest.approx(math.log(5), abs=1e-6)


def test_rank_and_probability_by_hand():
    logits = torch.tensor([[1.0, 3.0, 2.0, 3.0]])
    rank, prob = target_rank_and_prob(logits, torch.tensor([2]))
    assert rank.tolist() == [2]
    assert prob.item() == pytest.approx(0.14696279851039795, abs=1e-6)
    rank, _ = target_rank_and_prob(logits, torch.tensor([1]))
    assert rank.tolist() == [0]  # tied for the top: counts as the argmax


def test_chunked_scoring_matches_unchunked(monkeypatch):
    import rpt.proxy.entropy as entropy

    logits = torch.randn(37, 50, generator=torch.Generator().manual_seed(0))
    targets = torch.randint(0, 50, (37,), generator=torch.Generator().manual_seed(1))
    whole = score_logits(logits, targets, 16)
    monkeypatch.setattr(entropy, "FLOAT_ELEMENTS_PER_CHUNK", 50 * 4)  # 4 rows per chunk
    for a, b in zip(whole, score_logits(logits, targets, 16)):
        assert torch.equal(a, b)
    assert torch.equal(whole[0], topk_entropy(logits, 16))
