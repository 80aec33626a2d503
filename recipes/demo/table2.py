"""`rpt demo table2`: the paper's Table 2 at CPU scale, on the demo's own models.

From each start model (`demo.table2.starts`: the demo's pre-trained model, its RPT policy, its
compute-matched NTP baseline) the same RLVR run (`experiment=demo_rlvr`: GRPO with the `math_answer`
reward on ledger questions, `rpt.train.run.train`, nothing RPT-specific), `demo.table2.seeds` times.
The questions come from the demo corpus's own generator with another seed, so they keep the corpus's
form whatever it becomes. The table is read back from each run's metrics.csv: `val/accuracy` before
training (step 0) and after the last step, on the same held-out questions.

Layout under `demo.table2.dir`: questions.jsonl, runs/<start>/seed-<k>/ (ordinary `rpt train` run
folders), table2.json, table2.md.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rpt.errors import RptError
from rpt.files import write_text_atomic

TABLE_MD = "table2.md"
TABLE_JSON = "table2.json"


def ledger_questions(n: int, seed: int) -> list[dict[str, str]]:
    """The first sum of each of `n` ledgers from the demo corpus generator: the text up to its `=`, and the sum."""
    from rpt.recipes.demo.corpus import generate_corpus

    questions = []
    for record in generate_corpus(n, seed):
        start, end = record["sum_spans"][0]
        questions.append({"question": record["text"][:start].rstrip(), "answer": record["text"][start:end]})
    return questions


def run_table2(cfg: DictConfig) -> Path:
    """Write the questions, run RLVR from every start `seeds` times, write the table; returns table2.md."""
    from rpt.eval.evaluate import write_json
    from rpt.files import write_jsonl
    from rpt.recipes.demo.run import prepare_dir
    from rpt.train.run import train

    t = cfg.demo.table2
    if t.question_seed == cfg.demo.seed:
        raise RptError(f"demo.table2.question_seed must differ from demo.seed ({cfg.demo.seed}): "
                       "the questions would be the corpus's own ledgers")
    missing = [f"{name}={path}" for name, path in t.starts.items() if not Path(path).expanduser().is_dir()]
    if missing:
        raise RptError(f"no start model at {', '.join(missing)}: run `rpt demo` first, or set demo.table2.starts.NAME=PATH")
    out = prepare_dir(Path(t.dir).expanduser(), "demo.table2.dir")
    write_jsonl(ledger_questions(t.questions, t.question_seed), Path(cfg.data.path))
    runs: dict[str, list[Path]] = {}
    for name, start in t.starts.items():
        for k in range(t.seeds):
            run_cfg = copy.deepcopy(cfg)
            run_cfg.model.policy = start
            run_cfg.run.dir = str(out / "runs" / name / f"seed-{k}")
            run_cfg.trainer.seed += k
            run_cfg.sampling.seed += k
            print(f"\n== RLVR from {name} ({start}), seed {k} -> {run_cfg.run.dir}", flush=True)
            runs.setdefault(name, []).append(train(run_cfg).run_dir)
    result = table2_result(cfg, runs)
    write_json(out / TABLE_JSON, result)
    text = format_table2(result)
    write_text_atomic(out / TABLE_MD, text)
    print("\n" + text)
    return out / TABLE_MD


def before_after(metrics_csv: Path, max_steps: int) -> tuple[float, float]:
    """A run's held-out `val/accuracy` before training (step 0) and after its last step, from its metrics.csv."""
    from rpt.ablate.table import read_curve

    curve = dict(read_curve(metrics_csv, "val/accuracy"))
    if 0 not in curve or max_steps not in curve:
        raise RptError(f"{metrics_csv}: no val/accuracy at step 0 and step {max_steps}")
    return curve[0], curve[max_steps]


def table2_result(cfg: DictConfig, runs: dict[str, list[Path]]) -> dict[str, Any]:
    """Per start: each seed's accuracy before and after and its paired change; mean and 95% t-interval over seeds."""
    from rpt.ablate.table import mean_ci

    rows = {}
    for name, dirs in runs.items():
        pairs = [before_after(d / "metrics.csv", cfg.trainer.max_steps) for d in dirs]
        values = {"before": [b for b, _ in pairs], "after": [a for _, a in pairs], "change": [a - b for b, a in pairs]}
        rows[name] = {"model": cfg.demo.table2.starts[name], "runs": [str(d) for d in dirs], "per_seed": values}
        for key, series in values.items():
            mean, low, high = mean_ci(series)
            rows[name][key] = {"mean": mean, "ci95": [low, high]}
    t, s = cfg.trainer, cfg.sampling
    return {
        "setup": {
            "questions": cfg.demo.table2.questions, "question_seed": cfg.demo.table2.question_seed,
            "held_out": t.val_tasks, "seeds": cfg.demo.table2.seeds, "steps": t.max_steps,
            "prompts_per_step": t.prompts_per_step, "samples": s.n, "temperature": s.temperature,
            "max_tokens": s.max_tokens, "lr": cfg.optim.lr, "reward": cfg.reward.name,
            "template": cfg.prompt.template, "overrides": OmegaConf.to_container(cfg.demo.table2, resolve=True),
        },
        "rows": rows,
    }


def format_table2(result: dict[str, Any]) -> str:
    """The markdown table: accuracy (%) before and after RLVR and the paired change (points), mean [95% CI] over seeds."""
    s = result["setup"]
    lines = [
        "# Tiny-scale Table 2: RLVR from each start model", "",
        f"The same RLVR run from every start: {s['steps']} GRPO steps x {s['prompts_per_step']} questions x "
        f"{s['samples']} samples, reward `{s['reward']}`, `{s['template']}` template, lr {s['lr']:g}; "
        f"{s['questions']} ledger questions (seed {s['question_seed']}), {s['held_out']} of them held out; "
        f"{s['seeds']} seed(s) per start.", "",
        f"Accuracy: one sample per held-out question at temperature {s['temperature']:g} (at most "
        f"{s['max_tokens']} tokens), each run's `val/accuracy` at step 0 and step {s['steps']}. Mean over seeds "
        "with a 95% t-interval; the change is paired (the same run, the same questions).", "",
        "| start | model | before RLVR (%) | after RLVR (%) | change (points) |",
        "|---|---|---:|---:|---:|",
    ]
    for name, row in result["rows"].items():
        cells = [_percent(row[key], signed=key == "change") for key in ("before", "after", "change")]
        lines.append(f"| {name} | `{row['model']}` | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def _percent(value: dict[str, Any], signed: bool) -> str:
    """`12.3 [10.1, 14.5]` in percent, or `+2.0 [-1.5, +5.5]` in points for a change; no interval for one seed.
    An accuracy's interval is cut to [0, 100] (a t-interval over few seeds can reach past either end)."""
    sign = "+" if signed else ""
    text = f"{100 * value['mean']:{sign}.1f}"
    low, high = value["ci95"]
    if math.isnan(low):
        return text
    if not signed:
        low, high = max(low, 0.0), min(high, 1.0)
    return f"{text} [{100 * low:{sign}.1f}, {100 * high:{sign}.1f}]"
