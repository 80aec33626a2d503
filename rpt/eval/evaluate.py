"""`rpt eval`: next-token accuracy of one or two models on held-out positions, per difficulty bucket.

Modes: `standard` (greedy argmax next token) and `reasoning` (sampled answers through the prompt
template, scored by the reward plugin; pass@1 averaged over eval.samples). With eval.templates set,
the first model is instead compared across prompt templates (Random@1 and Pass@k).
Everything goes to run.dir: eval.json (or templates.json), responses/<model>.jsonl (reasoning).
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from omegaconf import OmegaConf

from rpt.config import require
from rpt.data.corpus import TokenizedCorpus, tokenize_corpus
from rpt.data.prompts import check_template
from rpt.data.tasks import NTPTask, make_task, row_entropies, select_tasks
from rpt.errors import RptError
from rpt.eval.buckets import bucket_accuracy, paired_difference
from rpt.eval.patterns import load_pattern_keywords, pattern_stats, relative_change
from rpt.eval.reasoning import SampledAnswers, sample_and_reward
from rpt.eval.standard import standard_accuracy
from rpt.eval.tables import buckets_source, format_eval_table, format_patterns_table, format_templates_table
from rpt.files import write_text_atomic
from rpt.models import check_same_tokenizer, load_causal_lm, load_tokenizer
from rpt.proxy.artifact import load_scores
from rpt.proxy.lm import model_fingerprint

if TYPE_CHECKING:
    from omegaconf import DictConfig

log = logging.getLogger(__name__)



@dataclass
class EvalSet:
    """The held-out tasks every model is scored on, with each one's difficulty (NaN: unscored)."""

    tasks: list[NTPTask]
    entropies: np.ndarray
    difficulty: dict[str, Any]  # which scores gave the entropies: path, model, top_k


@dataclass
class ModelScores:
    name: str
    n_params: int
    values: np.ndarray  # per task, in [0, 1]
    samples: SampledAnswers | None = None  # reasoning mode: what the model wrote


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
        check_difficulty_model(cfg.eval.difficulty_model, difficulty)
    elif cfg.eval.difficulty_model:
        raise RptError(f"eval.difficulty_model={cfg.eval.difficulty_model!r} defines the buckets: score the corpus with "
                       f"it (rpt score ... model.proxy={cfg.eval.difficulty_model} data.scores=PATH) and set eval.scores=PATH")
    else:
        log.warning("no difficulty scores (eval.scores / data.scores): only the `all` bucket is reported")
        entropies, difficulty = row_entropies(rows, None), {}
    tasks = [make_task(corpus, d, p, cfg.data, e) for (d, p), e in zip(rows, entropies)]
    return EvalSet(tasks, entropies, difficulty)


def check_difficulty_model(expected: str | None, difficulty: dict[str, Any]) -> None:
    """Stop when eval.difficulty_model is set and the scores were made by another model (name or files differ)."""
    if not expected:
        return
    name, _, fingerprint = difficulty["model"].rpartition("@")
    if expected != name and model_fingerprint(expected) != fingerprint:
        raise RptError(f"the buckets must come from eval.difficulty_model={expected!r}, but {difficulty['scores']} "
                       f"holds the entropy of {name!r}: run rpt score ... model.proxy={expected} data.scores=PATH "
                       "and set eval.scores=PATH")


def evaluate_model(cfg: "DictConfig", name: str, eval_set: EvalSet, tokenizer) -> ModelScores:
    """Per-task scores of the model `name` in eval.mode."""
    model = load_causal_lm(name, cfg.eval.dtype)
    n_params = sum(p.numel() for p in model.parameters())
    if cfg.eval.mode == "standard":
        return ModelScores(name, n_params, standard_accuracy(model, eval_set.tasks, cfg.eval.batch_size))
    samples = sample_and_reward(cfg, name, model, tokenizer, eval_set.tasks, cfg.prompt.template, cfg.eval.samples)
    return ModelScores(name, n_params, samples.pass_at_1, samples)


def run_eval(cfg: "DictConfig") -> dict[str, Any]:
    """What `rpt eval` does: score each model (or template), write the results to run.dir, print tables."""
    require(cfg, "data.path")
    check_eval_config(cfg)
    with tempfile.TemporaryDirectory(prefix="rpt-eval-") as exported:
        models = hf_folders(list(cfg.eval.models) or [_policy(cfg)], Path(exported))
        return _run_eval(cfg, models)


def hf_folders(names: list[str], scratch: Path) -> list[tuple[str, str]]:
    """(name, Hugging Face folder) pairs; a training run directory or checkpoint is exported into `scratch` first."""
    from rpt.train.checkpoint import CHECKPOINT_DIR
    from rpt.export import export

    folders = []
    for i, name in enumerate(names):
        path = Path(name).expanduser()
        is_checkpoint = path.suffix == ".ckpt" or (path / CHECKPOINT_DIR).is_dir() or (path / ".metadata").is_file()
        folders.append((name, str(export(path, scratch / f"model-{i}")) if is_checkpoint else name))
    return folders


def _run_eval(cfg: "DictConfig", models: list[tuple[str, str]]) -> dict[str, Any]:
    first_name, first = models[0]
    tokenizer = load_tokenizer(cfg.model.tokenizer or first)
    corpus = tokenize_corpus(cfg.data, tokenizer)
    for name, folder in models:
        check_same_tokenizer(tokenizer, load_tokenizer(folder), name)
    eval_set = build_eval_set(cfg, corpus)
    thresholds = dict(cfg.eval.buckets) if eval_set.difficulty else {}
    run_dir = Path(cfg.run.dir).expanduser()
    if cfg.eval.templates:
        result = {**compare_templates(cfg, first, eval_set, thresholds, tokenizer), "model": first_name}
        _write_and_print(run_dir / "templates.json", result, format_templates_table(result))
        return result
    scores = [replace(evaluate_model(cfg, folder, eval_set, tokenizer), name=name) for name, folder in models]
    result = eval_result(cfg.eval.mode, eval_set, thresholds, scores)
    if cfg.eval.mode == "reasoning":
        write_responses(run_dir / "responses", eval_set, scores, list(result["models"]))
    table = format_eval_table(result)
    if cfg.eval.patterns:
        result["patterns"] = patterns_result(
            {label: s.samples.texts for label, s in zip(result["models"], scores)}, cfg.eval.pattern_keywords
        )
        table += "\n\n" + format_patterns_table(result["patterns"])
    _write_and_print(run_dir / "eval.json", result, table)
    return result


def check_eval_config(cfg: "DictConfig") -> None:
    """Settings that do not fit together fail before any model is loaded."""
    if len(cfg.eval.models) > 2:
        raise RptError(f"eval.models takes one model or two to compare, got {len(cfg.eval.models)}")
    if cfg.eval.patterns and cfg.eval.mode != "reasoning":
        raise RptError("eval.patterns counts markers in written reasoning: it needs eval.mode=reasoning")
    for template in cfg.eval.templates:
        check_template(template)
    if cfg.eval.patterns:
        load_pattern_keywords(cfg.eval.pattern_keywords)


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


def compare_templates(cfg: "DictConfig", name: str, eval_set: EvalSet, thresholds: dict[str, float],
                      tokenizer) -> dict[str, Any]:
    """Random@1 (mean reward of one sample) and Pass@k (best of k) of model `name` under each template."""
    model = load_causal_lm(name, cfg.eval.dtype)
    templates = {}
    for template in cfg.eval.templates:
        samples = sample_and_reward(cfg, name, model, tokenizer, eval_set.tasks, template, cfg.eval.samples)
        templates[template] = {
            metric: {b: r.to_json() for b, r in bucket_accuracy(values, eval_set.entropies, thresholds).items()}
            for metric, values in (("random@1", samples.pass_at_1), ("pass@k", samples.pass_at_k))
        }
    return {"model": name, "samples": cfg.eval.samples, "n_positions": len(eval_set.tasks),
            "difficulty": eval_set.difficulty, "thresholds": thresholds, "templates": templates}


def patterns_result(texts: dict[str, list[str]], keywords_file: str) -> dict[str, Any]:
    """Pattern shares per model (label -> responses), and their relative change when two."""
    keywords = load_pattern_keywords(keywords_file)
    stats = {label: pattern_stats(responses, keywords) for label, responses in texts.items()}
    result: dict[str, Any] = {"keywords": keywords_file, "models": {k: s.to_json() for k, s in stats.items()}}
    if len(stats) == 2:
        before, after = stats.values()
        result["relative_change"] = relative_change(before, after)
    return result


def write_responses(folder: Path, eval_set: EvalSet, scores: list[ModelScores], labels: list[str]) -> None:
    """One JSON line per sample: where it was asked, what the model wrote, its answer and reward."""
    folder.mkdir(parents=True, exist_ok=True)
    for label, s in zip(labels, scores):
        k = s.samples.rewards.shape[1]
        lines = [
            json.dumps({"doc_id": task.doc_id, "position": task.position, "entropy": _finite(task.entropy),
                        "sample": j, "text": s.samples.texts[i * k + j], "answer": s.samples.answers[i * k + j],
                        "reward": float(s.samples.rewards[i, j])}, ensure_ascii=False)
            for i, task in enumerate(eval_set.tasks) for j in range(k)
        ]
        write_text_atomic(folder / f"{_file_name(label)}.jsonl", "".join(line + "\n" for line in lines))


def read_responses(folder: Path) -> dict[str, list[str]]:
    """Model label -> its sampled texts, from the responses/ folder of a reasoning eval."""
    files = sorted(Path(folder).glob("*.jsonl"))
    if not files:
        raise RptError(f"no responses in {folder}: run `rpt eval eval.mode=reasoning` with run.dir there first")
    return {f.stem: [json.loads(line)["text"] for line in f.read_text(encoding="utf-8").splitlines() if line]
            for f in files}


def model_labels(names: list[str]) -> list[str]:
    """Short names for tables: the folder name, or the full name where two would clash."""
    short = [Path(n).name or n for n in names]
    labels = [s if short.count(s) == 1 else n for n, s in zip(names, short)]
    return [label if labels.count(label) == 1 else f"{label} ({i + 1})" for i, label in enumerate(labels)]


def write_json(path: Path, value: dict[str, Any]) -> None:
    """Atomically, with NaN written as null (valid JSON for any reader)."""
    write_text_atomic(path, json.dumps(_nan_to_none(value), indent=1))


def _write_and_print(path: Path, result: dict[str, Any], table: str) -> None:
    write_json(path, result)
    print(table)
    print(buckets_source(result))
    print(f"wrote {path}")


def _file_name(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


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
