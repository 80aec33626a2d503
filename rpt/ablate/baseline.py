"""`baseline=ntp`: continued next-token training of the starting model on the RPT cells' training
documents, with their optimizer settings, until it has spent the same training FLOPs.

It uses the NTP loop the demo pre-trains with (`rpt.train.ntp.next_token_steps`) on whole train-split documents
(cut into pieces of at most `data.max_context_tokens` tokens), `trainer.prompts_per_step` of them
per step, AdamW with `optim.*` (warmup, then constant; gradients clipped to `optim.grad_clip`).
The run directory looks like an RPT run's where it matters: config.yaml, metrics.csv
(`step`, `train/loss`, `train/tokens`), and the trained model as a Hugging Face folder `policy/`.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from tqdm.auto import tqdm

from rpt.ablate.flops import ntp_token_budget
from rpt.config import resolved_yaml
from rpt.data.corpus import split_documents, tokenize_corpus
from rpt.files import write_text_atomic
from rpt.models import load_tokenizer
from rpt.train.ntp import next_token_steps
from rpt.train.policy import load_policy

POLICY = "policy"  # the trained model's folder inside the run directory


def train_ntp(cfg: DictConfig, budget_flops: float) -> Path:
    """Train until `budget_flops` are spent (6·N per token); returns the run directory."""
    run_dir = Path(cfg.run.dir).expanduser()
    shutil.rmtree(run_dir, ignore_errors=True)  # no checkpoints: a killed baseline starts again
    run_dir.mkdir(parents=True)
    write_text_atomic(run_dir / "config.yaml", resolved_yaml(cfg))
    torch.manual_seed(cfg.trainer.seed)
    tokenizer = load_tokenizer(cfg.model.tokenizer or cfg.model.policy)
    model = load_policy(cfg.model)
    n_params = sum(p.numel() for p in model.parameters())
    budget = ntp_token_budget(budget_flops, n_params)
    optim = cfg.optim
    optimizer = torch.optim.AdamW(model.parameters(), lr=optim.lr, betas=tuple(optim.betas), weight_decay=optim.weight_decay)
    warmup = optim.warmup_steps
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup) if warmup else 1.0)
    steps = next_token_steps(model, train_documents(cfg, tokenizer), tokenizer.pad_token_id, cfg.trainer.prompts_per_step,
                             optimizer, schedule, cfg.trainer.seed, optim.grad_clip or float("inf"))
    rows, spent = [], 0
    with tqdm(total=int(budget), desc="ntp baseline", unit="tok") as bar:
        for step, (loss, tokens) in enumerate(steps, start=1):
            rows.append({"step": step, "train/loss": loss, "train/tokens": tokens})
            spent += tokens
            bar.update(tokens)
            if spent >= budget:
                break
    model.eval()
    _write_metrics(run_dir / "metrics.csv", rows)
    staging = run_dir / (POLICY + ".tmp")
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    staging.rename(run_dir / POLICY)
    return run_dir


def train_documents(cfg: DictConfig, tokenizer) -> list[np.ndarray]:
    """The train split's documents (as `rpt train` splits them), in pieces of <= max_context_tokens."""
    corpus = tokenize_corpus(cfg.data, tokenizer)
    train_ids, _ = split_documents(len(corpus), cfg.data.val_fraction, cfg.data.seed)
    size = cfg.data.max_context_tokens
    return [ids[i : i + size] for d in train_ids for ids in [corpus.token_ids[d]] for i in range(0, len(ids), size)]


def _write_metrics(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["step", "train/loss", "train/tokens"])
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
