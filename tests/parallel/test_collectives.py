"""Cross-rank counts: one process must get what N ranks get together (the N-rank case runs in
tests/parallel/test_multiprocess.py); here the single-process semantics and the arithmetic."""

import pytest
import torch

from rpt.parallel.collectives import global_sum, gradient_normaliser


def test_single_process_sum_is_the_value_and_a_copy():
    value = torch.tensor([1.0, 2.0], requires_grad=True)
    total = global_sum(value)
    assert torch.equal(total, value.detach())
    assert not total.requires_grad and total.data_ptr() != value.data_ptr()


def test_gradient_normaliser_without_ranks_is_the_count():
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    assert gradient_normaliser(mask.sum()).item() == 3.0


def test_clip_grad_norm_matches_torch_on_plain_tensors():
    from rpt.parallel.collectives import clip_grad_norm_

    def params():
        torch.manual_seed(0)
        ps = [torch.nn.Parameter(torch.randn(3, 4)), torch.nn.Parameter(torch.randn(5)), torch.nn.Parameter(torch.randn(2))]
        for p in ps[:2]:
            p.grad = torch.randn_like(p) * 3
        return ps

    ours, theirs = params(), params()
    for max_norm in (1.0, 1e6):
        norm = clip_grad_norm_(ours, max_norm)
        expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
        assert norm.item() == pytest.approx(expected.item(), rel=1e-6)
        for a, b in zip(ours[:2], theirs[:2]):
            torch.testing.assert_close(a.grad, b.grad)
    assert ours[2].grad is None
