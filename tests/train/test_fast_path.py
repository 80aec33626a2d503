"""The on-policy fast path: the update's own log-probs stand in for a separate no-grad pass."""

import csv

import torch
from transformers import AutoModelForCausalLM

from rpt.config import load_config
from rpt.models import load_tokenizer
from rpt.grpo.loss import loss_normaliser
from rpt.train.batch import RolloutBatch
from rpt.train.module import GRPOModule
from rpt.train.run import train


def _batch(vocab: int) -> RolloutBatch:
    """Six samples with left-padded prompts and right-padded responses of different lengths."""
    gen = torch.Generator().manual_seed(0)
    prompt_lens, response_lens = [5, 3, 4, 2, 5, 1], [4, 1, 3, 4, 2, 3]
    P, R = max(prompt_lens), max(response_lens)
    prompt_mask = torch.stack([torch.arange(P) >= P - n for n in prompt_lens]).long()
    response_mask = torch.stack([torch.arange(R) < n for n in response_lens]).long()
    prompt_ids = torch.randint(1, vocab, (6, P), generator=gen) * prompt_mask
    response_ids = torch.randint(1, vocab, (6, R), generator=gen) * response_mask
    advantages = torch.tensor([1.0, -0.5, 0.3, -1.2, 0.8, -0.4])
    return RolloutBatch(prompt_ids, prompt_mask, response_ids, response_mask, advantages, torch.zeros(6, R))


def _gradient(module: GRPOModule, batch: RolloutBatch, separate_pass: bool) -> tuple[list[torch.Tensor], float]:
    """Gradient of one update on `batch` (micro-batches of 4), and the logged entropy."""
    module.policy.zero_grad()
    if separate_pass:  # the existing path: old log-probs and entropy from a no-grad pass first
        module._score_before_update(batch)
    normaliser = loss_normaliser(batch.response_mask, module.cfg.grpo.loss_agg)
    for micro in batch.chunks(module.cfg.grpo.micro_batch_size):
        loss, _ = module._micro_batch_loss(micro, normaliser)
        loss.backward()
    entropy = module.train_metrics.compute()["train/entropy"]
    return [p.grad.clone() for p in module.policy.parameters()], entropy


def test_fast_path_gives_the_gradient_and_entropy_of_the_separate_pass(tiny_model_dir):
    torch.manual_seed(0)
    cfg = load_config([f"model.policy={tiny_model_dir}", "data.path=unused", "grpo.micro_batch_size=4",
                       "sampling.temperature=0.8", "reward=exact_match"])
    module = GRPOModule(cfg, load_tokenizer(str(tiny_model_dir)))
    module.policy = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    vocab = module.policy.config.vocab_size

    reference, reference_entropy = _gradient(module, _batch(vocab), separate_pass=True)
    fast, fast_entropy = _gradient(module, _batch(vocab), separate_pass=False)
    assert any(g.abs().max() > 0 for g in reference)
    for got, want in zip(fast, reference):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)

    # the entropy metric, against a naive full-vocabulary computation of each response position
    batch = _batch(vocab)
    with torch.no_grad():
        ids = torch.cat([batch.prompt_ids, batch.response_ids], 1)
        mask = torch.cat([batch.prompt_mask, batch.response_mask], 1)
        logits = module.policy(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(1) - 1).clamp(min=0)).logits
        logp = (logits[:, batch.prompt_ids.shape[1] - 1 : -1] / 0.8).log_softmax(-1)
        entropy = -(logp.exp() * logp).sum(-1)
    expected = float((entropy * batch.response_mask).sum() / batch.response_mask.sum())
    assert abs(reference_entropy - expected) < 1e-5 and abs(fast_entropy - expected) < 1e-5


def _logprob_seconds(run_dir) -> list[float]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        return [float(r["time/logprobs"]) for r in csv.DictReader(f) if r.get("time/logprobs")]


def test_training_skips_the_scoring_pass_only_when_on_policy(train_args, tmp_path):
    fast = train(load_config(train_args(run="fast")))
    assert _logprob_seconds(fast.run_dir) == [0.0, 0.0]
    assert "train/entropy" in fast.final_metrics
    for i, extra in enumerate((["grpo.mini_batches=2"], ["grpo.ppo_epochs=2"], ["grpo.kl_coef=0.1"])):
        kept = train(load_config(train_args(*extra, run=f"kept-{i}")))  # a new run needs a new run.dir
        assert all(s > 0 for s in _logprob_seconds(kept.run_dir)), extra
