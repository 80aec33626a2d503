"""`rpt eval`: next-token accuracy of one or two models on held-out positions, per difficulty bucket."""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from omegaconf import OmegaConf

from rpt.config import require
from rpt.data.corpus import TokenizedCorpus, load_tokenizer, tokenize_corpus
from rpt.data.tasks import NTPTask, make_task, row_entropies, select_tasks
from rpt.errors import RptError
from rpt.eval.buckets import bucket_accuracy, paired_difference
from rpt.eval.standard import standard_accuracy
from rpt.proxy.artifact import load_scores
from rpt.proxy.lm import load_causal_lm
from rpt.proxy.score import check_same_tokenizer

if TYPE_CHECKING:
    from omegaconf import DictConfig

log = logging.getLogger(__name__)

MODES = ("standard",)


@dataclass
class EvalSet:
    """The held-out tasks every model is scored on, with each one's difficulty (NaN: unscored)."""

    tasks: list[NTPTask]
    entropies: np.ndarray
    difficulty: dict[str, Any]  # which scores gave the entropies: path, model, top_k


def build_eval_set(cfg: "DictConfig", corpus: TokenizedCorpus) -> EvalSet:
    """Validation positions (a seeded sample of eval.max_positions), with the difficulty model's entropies."""
    rows = select_tasks(cfg, corpus, "val")
    if len(rows) == 0:
        raise RptError("no held-out positions: raise data.val_fraction or use longer documents")
    limit = cfg.eval.max_positions
    if limit is not None and len(rows) > limit:
        rows = rows[np.sort(np.random.default_rng(cfg.data.seed).choice(len(rows), size=limit, replace=False))]
    scores_path = cfg.eval.scores or cfg.data.scores
    if scores_path:
        artifact = load_scores(scores_path, corpus)
        entropies = row_entropies(rows, artifact.per_document("entropy"))
        difficulty = {"scores": str(artifact.path), "model": artifact.meta["proxy"], "top_k": artifact.meta["top_k"]}
    else:
        log.warning("no difficulty scores (eval.scores / data.scores): only the `all` bucket is reported")
        entropies, difficulty = row_entropies(rows, None), {}
    tasks = [make_task(corpus, d, p, cfg.data, e) for (d, p), e in zip(rows, entropies)]
    return EvalSet(tasks, entropies, difficulty)


@dataclass
class ModelScores:
    name: str
    n_params: int
    values: np.ndarray  # per task, in [0, 1]


def evaluate_model(cfg: "DictConfig", name: str, eval_set: EvalSet) -> ModelScores:
    """Per-task scores of the model `name` in the configured mode."""
    model = load_causal_lm(name, cfg.eval.dtype)
    n_params = sum(p.numel() for p in model.parameters())
    return ModelScores(name, n_params, standard_accuracy(model, eval_set.tasks, cfg.eval.batch_size))


def run_eval(cfg: "DictConfig") -> dict[str, Any]:
    """What `rpt eval` does: score each model, write `<run.dir>/eval.json`, print the table."""
    require(cfg, "data.path")
    if cfg.eval.mode not in MODES:
        raise RptError(f"unknown eval.mode {cfg.eval.mode!r}; choose one of: {', '.join(MODES)}")
    models = list(cfg.eval.models) or [_policy(cfg)]
    if len(models) > 2:
        raise RptError(f"eval.models takes one model or two to compare, got {len(models)}")
    tokenizer = load_tokenizer(cfg.model.tokenizer or models[0])
    corpus = tokenize_corpus(cfg.data, tokenizer)
    for name in models:
        check_same_tokenizer(tokenizer, load_tokenizer(name), name)
    eval_set = build_eval_set(cfg, corpus)
    thresholds = dict(cfg.eval.buckets) if eval_set.difficulty else {}
    scores = [evaluate_model(cfg, name, eval_set) for name in models]
    result = eval_result(cfg.eval.mode, eval_set, thresholds, scores)
    out = Path(cfg.run.dir) / "eval.json"
    write_json(out, result)
    print(format_eval_table(result))
    print(f"wrote {out}")
    return result


def eval_result(mode: str, eval_set: EvalSet, thresholds: dict[str, float], scores: list[ModelScores]) -> dict[str, Any]:
    """The eval.json content: settings, per-model bucket accuracies, and the paired difference of two models."""
    labels = model_labels([s.name for s in scores])
    result: dict[str, Any] = {
        "mode": mode,
        "n_positions": len(eval_set.tasks),
        "difficulty": eval_set.difficulty,
        "thresholds": thresholds,
        "models": {
            label: {
                "path": s.name,
                "n_params": s.n_params,
                "buckets": {b: r.to_json() for b, r in bucket_accuracy(s.values, eval_set.entropies, thresholds).items()},
            }
            for label, s in zip(labels, scores)
        },
    }
    if len(scores) == 2:
        first, second = scores
        diff = paired_difference(first.values, second.values, eval_set.entropies, thresholds)
        result["comparison"] = {"first": labels[0], "second": labels[1],
                                "buckets": {k: d.to_json() for k, d in diff.items()}}
    return result


def model_labels(names: list[str]) -> list[str]:
    """Short names for tables: the folder name, or the full name where two would clash."""
    short = [Path(n).name or n for n in names]
    labels = [s if short.count(s) == 1 else n for n, s in zip(names, short)]
    return [label if labels.count(label) == 1 else f"{label} ({i + 1})" for i, label in enumerate(labels)]


def format_eval_table(result: dict[str, Any]) -> str:
    """A markdown table: one row per bucket, accuracy [95% CI] per model, and the difference when two."""
    labels = list(result["models"])
    header = ["bucket", "n", *labels]
    comparison = result.get("comparison")
    if comparison:
        header.append(f"{comparison['second']} − {comparison['first']}")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for bucket, first in result["models"][labels[0]]["buckets"].items():
        threshold = result["thresholds"].get(bucket)
        name = bucket if threshold is None else f"{bucket} (H > {threshold:g})"
        cells = [name, str(first["n"])]
        cells += [_percent(result["models"][m]["buckets"][bucket]) for m in labels]
        if comparison:
            diff = comparison["buckets"][bucket]
            cells.append(_percent({"accuracy": diff["difference"], "ci95": diff["ci95"]}, signed=True))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _percent(entry: dict[str, Any], signed: bool = False) -> str:
    value, (low, high) = entry["accuracy"], entry["ci95"]
    if _missing(value):
        return "–"
    sign = "+" if signed else ""
    interval = "" if _missing(low) else f" [{100 * low:{sign}.1f}, {100 * high:{sign}.1f}]"
    return f"{100 * value:{sign}.1f}%{interval}"


def _missing(value: float | None) -> bool:
    """NaN in memory is null once written to eval.json."""
    return value is None or math.isnan(value)


def write_json(path: Path, value: dict[str, Any]) -> None:
    """Atomically, with NaN written as null (valid JSON for any reader)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_nan_to_none(value), indent=1))
    os.replace(tmp, path)


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    return value


def _policy(cfg: "DictConfig") -> str:
    if OmegaConf.is_missing(cfg.model, "policy") or not cfg.model.policy:
        raise RptError("nothing to evaluate: set model.policy=... or eval.models=[a,b]")
    return cfg.model.policy
