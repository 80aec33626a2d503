"""`rpt score`: the proxy LM's top-k entropy (and the true token's rank/probability) at every corpus position."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from omegaconf import OmegaConf
from tqdm.auto import tqdm

from rpt.config import require
from rpt.data.corpus import TokenizedCorpus, tokenize_corpus
from rpt.errors import RptError
from rpt.models import load_causal_lm, load_tokenizer, tokenizer_fingerprint
from rpt.proxy.artifact import ScoreArtifact, texts_fingerprint
from rpt.proxy.entropy import score_logits
from rpt.proxy.lm import last_logits, model_fingerprint
from rpt.proxy.windows import DOC, END, FIRST, input_lengths, plan_batches, plan_windows

if TYPE_CHECKING:
    from omegaconf import DictConfig


def score_corpus(
    corpus: TokenizedCorpus,
    model: torch.nn.Module,
    path: str | Path,
    *,
    proxy_id: str,
    top_k: int = 16,
    max_context_tokens: int = 1024,
    stride: int = 512,
    batch_tokens: int = 16384,
    char_aligned: bool = False,
    progress: bool = True,
) -> ScoreArtifact:
    """Score every position of `corpus` with `model` into the artifact at `path`, resuming a partial one.

    `proxy_id` names the model in the artifact's key (use `model_fingerprint` for a folder).
    `char_aligned` stores token character offsets, so corpora of the same documents tokenised
    otherwise can read the scores mapped onto their own tokens (`load_scores`).
    Windows and batches follow a fixed plan, so a resumed run stores the same values as an
    uninterrupted one.
    """
    lengths = [len(ids) for ids in corpus.token_ids]
    windows = plan_windows(lengths, max_context_tokens, stride)
    batches = plan_batches(windows, batch_tokens)
    meta = {
        "corpus_key": corpus.key,
        "texts_key": texts_fingerprint(corpus.texts),
        "char_aligned": char_aligned,
        "proxy": proxy_id,
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        "top_k": top_k,
        "max_context_tokens": max_context_tokens,
        "stride": stride,
        "batch_tokens": batch_tokens,
        "n_documents": len(lengths),
        "n_tokens": int(sum(lengths)),
        "n_batches": len(batches),
    }
    artifact = ScoreArtifact.open_or_create(Path(path).expanduser(), meta, lengths,
                                            corpus.char_ends if char_aligned else None)
    done = artifact.batches_done
    batch_sizes = [int(input_lengths(windows[b]).sum()) for b in batches]
    with (
        torch.inference_mode(),
        tqdm(total=sum(batch_sizes), initial=sum(batch_sizes[:done]), unit="tok", unit_scale=True,
             desc="score", disable=not progress) as bar,
    ):
        for index in range(done, len(batches)):
            _score_batch(model, corpus.token_ids, windows[batches[index]], top_k, artifact)
            artifact.commit(index + 1)
            bar.update(batch_sizes[index])
    return artifact


def _score_batch(
    model: torch.nn.Module, token_ids: list[np.ndarray], windows: np.ndarray, top_k: int, artifact: ScoreArtifact
) -> None:
    """One forward pass over the batch's windows; logits only for the positions each window scores."""
    keep = windows[:, END] - windows[:, FIRST]
    inputs = [token_ids[doc][start : end - 1] for doc, start, _, end in windows]
    logits = last_logits(model, inputs, int(keep.max()))
    # Windows scoring fewer positions than the widest leave their first columns unused. Scoring the
    # whole [B, K] grid (targets 0 there) and dropping those afterwards avoids copying the logits.
    width = logits.shape[1]
    targets = np.zeros((len(windows), width), dtype=np.int64)
    wanted = np.zeros((len(windows), width), dtype=bool)
    for row, (doc, _, first, end) in enumerate(windows):
        targets[row, width - (end - first) :] = token_ids[doc][first:end]
        wanted[row, width - (end - first) :] = True
    measures = score_logits(logits.flatten(0, 1), torch.as_tensor(targets.ravel(), device=logits.device), top_k)
    rows = np.concatenate([artifact.offsets[w[DOC]] + np.arange(w[FIRST], w[END]) for w in windows])
    for name, values in zip(("entropy", "rank", "prob"), measures):
        artifact.columns[name][rows] = values.cpu().numpy()[wanted.ravel()]


def corpus_tokenizer_name(cfg: "DictConfig") -> str:
    """The tokenizer tasks are built with: model.tokenizer, else the policy's, else (scoring alone) the proxy's."""
    if cfg.model.tokenizer:
        return cfg.model.tokenizer
    if not OmegaConf.is_missing(cfg.model, "policy") and cfg.model.policy:
        return cfg.model.policy
    require(cfg, "model.proxy")
    return cfg.model.proxy


def default_scores_path(cfg: "DictConfig", corpus: TokenizedCorpus, proxy_fingerprint: str) -> Path:
    """Where `rpt score` writes when data.scores is unset: keyed by corpus, tokenizer, proxy and settings."""
    settings = json.dumps([proxy_fingerprint, OmegaConf.to_container(cfg.score), cfg.data.max_context_tokens])
    digest = hashlib.sha256(settings.encode()).hexdigest()[:8]
    return Path(cfg.data.cache_dir).expanduser() / "scores" / f"{corpus.key}-{digest}"


def run_score(cfg: "DictConfig") -> Path:
    """What `rpt score` does: tokenize the corpus, score it with model.proxy, print a summary."""
    require(cfg, "data.path", "model.proxy")
    tokenizer = load_tokenizer(corpus_tokenizer_name(cfg))
    proxy_tokenizer = load_tokenizer(cfg.model.proxy)
    same = tokenizer_fingerprint(tokenizer) == tokenizer_fingerprint(proxy_tokenizer)
    if not same and not cfg.score.align_tokenizers:
        raise RptError(
            f"the tokenizer of model.proxy {cfg.model.proxy!r} differs from the corpus tokenizer "
            f"({tokenizer.name_or_path!r}), so its positions would not line up with the tasks'; use a proxy "
            "with the policy's tokenizer, or set score.align_tokenizers=true to map its tokens by character"
        )
    # Aligned scoring runs the proxy over its own tokenisation of the same documents.
    corpus = tokenize_corpus(cfg.data, tokenizer if same else proxy_tokenizer)
    fingerprint = model_fingerprint(cfg.model.proxy)
    path = Path(cfg.data.scores).expanduser() if cfg.data.scores else default_scores_path(cfg, corpus, fingerprint)
    model = load_causal_lm(cfg.model.proxy, cfg.score.dtype)
    artifact = score_corpus(
        corpus, model, path, proxy_id=f"{cfg.model.proxy}@{fingerprint}", top_k=cfg.score.top_k,
        max_context_tokens=cfg.data.max_context_tokens, stride=cfg.score.stride, batch_tokens=cfg.score.batch_tokens,
        char_aligned=not same,
    )
    print_summary(artifact, dict(cfg.eval.buckets))
    return artifact.path


def print_summary(artifact: ScoreArtifact, buckets: dict[str, float]) -> None:
    entropy = np.asarray(artifact.columns["entropy"])
    scored = entropy[np.isfinite(entropy)]
    print(f"scored {len(scored)} positions of {len(artifact.offsets) - 1} documents -> {artifact.path}")
    if len(scored):
        top1 = float((np.asarray(artifact.columns["rank"]) == 0).sum() / len(scored))
        shares = ", ".join(f"{name} (> {t:g}) {(scored > t).mean():.1%}" for name, t in buckets.items())
        print(f"mean top-{artifact.meta['top_k']} entropy {scored.mean():.3f} nats ({shares}); proxy top-1 accuracy {top1:.1%}")
    print(f"use it with: data.scores={artifact.path}")
