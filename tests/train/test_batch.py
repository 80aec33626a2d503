"""Groups of samples and the padded update batch: selection, trimming, splitting."""

from dataclasses import replace

import torch

from rpt.train.batch import Groups, RolloutBatch


def _groups() -> Groups:
    return Groups(
        group_size=2,
        tasks=["t0", "t1", "t2"],
        prompts=[[1, 2, 3], [4], [5, 6]],
        responses=[[7], [8, 9], [10, 11, 12], [13], [14], [15, 16]],
        answers=["a", None, "b", "c", "d", "e"],
        rewards=torch.tensor([1.0, 0.0, 0.5, 0.5, 0.0, 1.0]),
        logprobs=[[-0.1], [-0.2, -0.3], [-0.4, -0.5, -0.6], [-0.7], [-0.8], [-0.9, -1.0]],
    )


def test_select_keeps_whole_groups():
    kept = _groups().select(torch.tensor([True, False, True]))
    assert kept.tasks == ["t0", "t2"] and kept.prompts == [[1, 2, 3], [5, 6]]
    assert kept.responses == [[7], [8, 9], [14], [15, 16]]
    assert kept.rewards.tolist() == [1.0, 0.0, 0.0, 1.0]
    assert kept.logprobs == [[-0.1], [-0.2, -0.3], [-0.8], [-0.9, -1.0]]
    assert len(kept + _groups().head(1)) == 3


def test_batch_layout_left_pads_prompts_and_right_pads_responses():
    batch = RolloutBatch.from_groups(_groups(), torch.arange(6.0), pad_id=0, device=torch.device("cpu"))
    assert batch.prompt_ids[2].tolist() == [0, 0, 4] and batch.prompt_mask[2].tolist() == [0, 0, 1]
    assert batch.response_ids[0].tolist() == [7, 0, 0] and batch.response_mask[2].tolist() == [1, 1, 1]
    torch.testing.assert_close(batch.rollout_logprobs[1], torch.tensor([-0.2, -0.3, 0.0]))


def test_an_engine_without_logprobs_of_its_own_gives_a_batch_without_them():
    """rollout=hf reports none (it is the policy): selection, joining and the batch carry None, never zeros."""
    groups = replace(_groups(), logprobs=None)
    kept = groups.select(torch.tensor([True, False, True])) + groups.head(1)
    assert kept.logprobs is None and len(kept) == 3
    assert (_groups() + groups).logprobs is None  # a partial list would misalign samples and log-probs
    batch = RolloutBatch.from_groups(kept, torch.arange(6.0), pad_id=0, device=torch.device("cpu"))
    assert batch.rollout_logprobs is None and batch.rows(torch.tensor([0, 1])).rollout_logprobs is None


def test_sub_batches_drop_columns_that_are_padding_in_all_their_rows():
    batch = RolloutBatch.from_groups(_groups(), torch.arange(6.0), pad_id=0, device=torch.device("cpu"))
    batch.old_logprobs = torch.randn(6, 3)
    sub = batch.rows(torch.tensor([3, 4]))  # prompts [4] and [5, 6], responses [13] and [14]
    assert sub.prompt_ids.tolist() == [[0, 4], [5, 6]] and sub.prompt_mask.tolist() == [[0, 1], [1, 1]]
    assert sub.response_ids.tolist() == [[13], [14]]
    assert sub.old_logprobs.shape == (2, 1)
    torch.testing.assert_close(sub.old_logprobs, batch.old_logprobs[3:5, :1])
    assert sub.advantages.tolist() == [3.0, 4.0]


def test_split_and_chunks_cover_every_row_once():
    batch = RolloutBatch.from_groups(_groups(), torch.arange(6.0), pad_id=0, device=torch.device("cpu"))
    assert [len(b) for b in batch.split(4)] == [2, 2, 1, 1]
    assert [b.advantages.tolist() for b in batch.chunks(4)] == [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0]]
