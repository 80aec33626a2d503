"""`rpt report RUN_DIR`: a markdown report of what `rpt eval` (and `rpt report scaling`) wrote to a run
directory, with PNG plots, also logged to W&B when logger.wandb.mode is not `disabled`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rpt.errors import RptError
from rpt.eval.evaluate import patterns_result, read_responses, write_json
from rpt.eval.plots import plot_buckets, plot_patterns, plot_scaling
from rpt.eval.scaling import PowerLawFit, fit_power_law
from rpt.eval.tables import buckets_source, format_eval_table, format_patterns_table, format_templates_table, markdown

if TYPE_CHECKING:
    from omegaconf import DictConfig

log = logging.getLogger(__name__)

MIN_FIT_POINTS = 4


def run_report(target: str, overrides: list[str]) -> None:
    """What `rpt report` does: `RUN_DIR` renders report.md; `scaling RUN_DIR` fits the scaling law first."""
    if target == "scaling":
        if not overrides or "=" in overrides[0]:
            raise RptError("usage: rpt report scaling RUN_DIR [key=value ...]")
        run_dir = _run_dir(overrides[0])
        scaling_report(run_dir, overrides[1:])
        overrides = overrides[1:]
    else:
        run_dir = _run_dir(target)
    print(f"wrote {render_report(run_dir, report_config(run_dir, overrides))}")


def run_patterns(target: str, overrides: list[str]) -> None:
    """What `rpt patterns RUN_DIR` does: pattern shares of the run's saved reasoning responses."""
    run_dir = _run_dir(target)
    patterns_report(run_dir, report_config(run_dir, overrides).eval.pattern_keywords)


def report_config(run_dir: Path, overrides: list[str]) -> "DictConfig":
    """The run's own config when it is a training run, else the default one; overrides on top."""
    from rpt.config import load_config
    from rpt.eval.checkpoints import run_config

    return run_config(run_dir, overrides) if (run_dir / "config.yaml").exists() else load_config(overrides)


def scaling_report(run_dir: Path, overrides: list[str]) -> dict[str, Any]:
    """Evaluate the run's checkpoints, fit accuracy(C) = P* − A·C^(−α) per bucket, write scaling.json/.png."""
    from rpt.eval.checkpoints import evaluate_checkpoints

    scaling = fit_scaling(evaluate_checkpoints(run_dir, overrides))
    write_json(run_dir / "scaling.json", scaling)
    plot_scaling(*_scaling_curves(scaling), run_dir / "scaling.png")
    print(format_scaling_table(scaling))
    print(f"wrote {run_dir / 'scaling.json'} and {run_dir / 'scaling.png'}")
    return scaling


def fit_scaling(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Points (step, FLOPs, accuracy) and a power-law fit per bucket from per-checkpoint eval results."""
    buckets = list(_only_model(results[0])["buckets"])
    scaling: dict[str, Any] = {"points": {}, "fits": {}}
    for bucket in buckets:
        rows = [(r["step"], r["train_flops"], _only_model(r)["buckets"][bucket]["accuracy"]) for r in results]
        rows = [row for row in rows if row[2] is not None]
        steps, flops, accuracy = (list(column) for column in zip(*rows)) if rows else ([], [], [])
        scaling["points"][bucket] = {"step": steps, "train_flops": flops, "accuracy": accuracy}
        if len(rows) >= MIN_FIT_POINTS:
            scaling["fits"][bucket] = fit_power_law(flops, accuracy).to_json()
        else:
            log.warning("bucket %s: %d checkpoints with a value, a fit needs %d", bucket, len(rows), MIN_FIT_POINTS)
    return scaling


def format_scaling_table(scaling: dict[str, Any]) -> str:
    rows = [[bucket, str(len(scaling["points"][bucket]["step"])), f"{100 * f['p_star']:.2f}%", f"{f['a']:.4g}",
             f"{f['alpha']:.4f}", f"{f['r2']:.4f}"] for bucket, f in scaling["fits"].items()]
    return markdown(["bucket", "checkpoints", "P*", "A", "α", "R²"], rows)


def patterns_report(run_dir: Path, keywords: str) -> dict[str, Any]:
    """Pattern shares of the responses a reasoning eval saved in RUN_DIR/responses; writes patterns.json."""
    result = patterns_result(read_responses(run_dir / "responses"), keywords)
    write_json(run_dir / "patterns.json", result)
    print(format_patterns_table(result))
    print(f"wrote {run_dir / 'patterns.json'}")
    return result


def render_report(run_dir: Path, cfg: "DictConfig") -> Path:
    """RUN_DIR/report.md from eval.json, patterns, templates.json and scaling.json (whichever exist)."""
    sections: list[str] = []
    images: dict[str, Path] = {}
    tables: dict[str, str] = {}
    found = {name: _read(run_dir / f"{name}.json") for name in ("eval", "patterns", "templates", "scaling")}
    if found["eval"]:
        result = found["eval"]
        tables["accuracy"] = format_eval_table(result)
        images["accuracy"] = plot_buckets(result, run_dir / "accuracy.png")
        sections.append(f"## Next-token accuracy by difficulty ({result['mode']} mode)\n\n{_eval_settings(result)}\n\n"
                        f"{tables['accuracy']}\n\n![accuracy by bucket](accuracy.png)")
    patterns = found["patterns"] or (found["eval"] or {}).get("patterns")
    if patterns:
        tables["patterns"] = format_patterns_table(patterns)
        images["patterns"] = plot_patterns(patterns, run_dir / "patterns.png")
        sections.append(f"## Reasoning patterns\n\nKeywords: `{patterns['keywords']}`.\n\n{tables['patterns']}\n\n"
                        "![reasoning patterns](patterns.png)")
    if found["templates"]:
        result = found["templates"]
        tables["templates"] = format_templates_table(result)
        sections.append(f"## Prompt templates\n\nModel `{result['model']}`, {result['samples']} samples per position, "
                        f"{result['n_positions']} positions. {buckets_source(result)}\n\n{tables['templates']}")
    if found["scaling"]:
        scaling = found["scaling"]
        tables["scaling"] = format_scaling_table(scaling)
        images["scaling"] = plot_scaling(*_scaling_curves(scaling), run_dir / "scaling.png")
        sections.append("## Scaling with training compute\n\naccuracy(C) = P* − A·C^(−α), C = 6 · parameters · "
                        f"training tokens.\n\n{tables['scaling']}\n\n![scaling](scaling.png)")
    if not sections:
        raise RptError(f"nothing to report in {run_dir}: run `rpt eval run.dir={run_dir}` (or `rpt report scaling`) first")
    path = run_dir / "report.md"
    path.write_text(f"# rpt report: {run_dir.name}\n\n" + "\n\n".join(sections) + "\n", encoding="utf-8")
    if cfg.logger.wandb.mode != "disabled":
        log_to_wandb(run_dir, cfg, tables, images)
    return path


def log_to_wandb(run_dir: Path, cfg: "DictConfig", tables: dict[str, str], images: dict[str, Path]) -> None:
    """Tables (as markdown text) and plots into the run's W&B run (the training run's, when there is one)."""
    import wandb

    id_file = run_dir / "wandb-id"
    run = wandb.init(
        project=cfg.logger.wandb.project, entity=cfg.logger.wandb.entity, mode=cfg.logger.wandb.mode,
        dir=str(run_dir), name=run_dir.name, resume="allow",
        id=id_file.read_text().strip() if id_file.exists() else None,
    )
    run.log({**{f"report/{name}": wandb.Image(str(p)) for name, p in images.items()},
             **{f"report/{name}_table": wandb.Html(f"<pre>{text}</pre>") for name, text in tables.items()}})
    run.finish()


def _scaling_curves(scaling: dict[str, Any]) -> tuple[dict, dict]:
    points = {b: (p["train_flops"], p["accuracy"]) for b, p in scaling["points"].items() if p["step"]}
    fits = {b: PowerLawFit(**f) for b, f in scaling["fits"].items()}
    return points, fits


def _eval_settings(result: dict[str, Any]) -> str:
    return f"{result['n_positions']} held-out positions; 95% confidence intervals in brackets. {buckets_source(result)}"


def _run_dir(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.is_dir():
        raise RptError(f"run directory not found: {path}")
    return path


def _only_model(result: dict[str, Any]) -> dict[str, Any]:
    return next(iter(result["models"].values()))


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None
