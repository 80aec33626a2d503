"""Runs of one system, each a fresh trainer in this warm process: `python -m benchmarks.workers rpt|trl ASSETS`.

Reads one `Work` as JSON per line on stdin and answers each with one `RESULT {...}` line: per
counted step its seconds (total and by phase), its mean reward and the token counts, so the parent
can interleave the systems and compare like with like. The process lives for a whole part: the
imports (Lightning, transformers, TRL: about 15 s on a 2-core CPU) are paid once, not once per run.
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

from benchmarks.assets import Work, rpt_overrides, rpt_prompts


def run_rpt(work: Work, assets: Path) -> dict:
    """rpt's `train` on `work`; the per-step numbers are the run's own `time/*` metrics."""
    from rpt.config import load_config
    from rpt.train.run import train

    with tempfile.TemporaryDirectory() as tmp:
        prompts, _ = rpt_prompts(work, assets, Path(tmp) / "run")
        start = time.perf_counter()
        result = train(load_config(rpt_overrides(work, assets, Path(tmp) / "run")))
        wall = time.perf_counter() - start
        with result.metrics_csv.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("time/step")]
    steps = []
    for row in rows:
        steps.append({
            "seconds": float(row["time/step"]),
            "phases": {k.removeprefix("time/"): float(v) for k, v in row.items() if k.startswith("time/") and k != "time/step" and v},
            "reward": float(row["train/reward"]),
            "response_tokens": float(row["train/response_len"]) * work.prompts * work.group,
        })
    return {"system": "rpt", "steps": steps, "prompt_tokens": [len(p) for p in prompts], "wall_s": wall}


class _Phases:
    """TRL's own profiler (`trl.extras.profiling`) times its blocks but only reports them to a tracker:
    collect its durations per step instead."""

    def __init__(self) -> None:
        self.current: dict[str, float] = {}

    def install(self) -> None:
        from trl.extras import profiling

        phases = self

        def record(context, duration: float) -> None:
            name = context.name.split(".", 1)[-1]
            phases.current[name] = phases.current.get(name, 0.0) + duration

        profiling.ProfilingContext._log_metrics = record


def run_trl(work: Work, assets: Path) -> dict:
    """TRL's `GRPOTrainer` on the same model, prompts (as text), reward and hyperparameters."""
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from rpt.data.prompts import extract_answer
    from rpt.registry import build
    from rpt.config import load_config

    phases = _Phases()
    phases.install()
    model_dir = assets / "pretrained"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    with tempfile.TemporaryDirectory() as tmp:
        prompts, tasks = rpt_prompts(work, assets, Path(tmp) / "run")
        cfg = load_config(rpt_overrides(work, assets, Path(tmp) / "run"))
    reward_plugin = build("reward", cfg.reward)
    texts = tokenizer.batch_decode(prompts)
    dataset = Dataset.from_list([{"prompt": t, "task": i} for i, t in enumerate(texts)])

    def reward(completions: list[str], task: list[int], **_) -> list[float]:
        answers = [extract_answer(c, "direct") for c in completions]
        return reward_plugin(answers, [tasks[i] for i in task], work.group).values.float().tolist()

    steps: list[dict] = []

    class StepClock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            phases.current = {}
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            steps.append({"seconds": time.perf_counter() - self.start, "phases": dict(phases.current)})

    with tempfile.TemporaryDirectory() as out:
        args = GRPOConfig(
            output_dir=out, per_device_train_batch_size=work.prompts * work.group, gradient_accumulation_steps=1,
            num_generations=work.group, max_completion_length=work.max_tokens, temperature=work.temperature,
            top_p=1.0, top_k=0, learning_rate=work.lr, lr_scheduler_type="constant", warmup_steps=0,
            beta=0.0, loss_type="dapo", epsilon=0.2, scale_rewards="group", max_grad_norm=1.0,
            weight_decay=0.0, max_steps=work.steps, logging_steps=1, save_strategy="no", report_to="none",
            use_cpu=True, seed=work.seed, shuffle_dataset=False, disable_dropout=True, dataloader_num_workers=0,
            disable_tqdm=True,
        )
        trainer = GRPOTrainer(model=str(model_dir), reward_funcs=reward, args=args, train_dataset=dataset,
                              processing_class=tokenizer, callbacks=[StepClock()])
        start = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - start
    logged = [h for h in trainer.state.log_history if "reward" in h]
    for step, log in zip(steps, logged):
        step["reward"] = log["reward"]
        step["response_tokens"] = log["completions/mean_length"] * work.prompts * work.group
    prompt_tokens = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    return {"system": "trl", "steps": steps, "prompt_tokens": prompt_tokens, "wall_s": wall}


def run_one(system: str, work: Work, assets: Path) -> dict:
    """One run: a fresh trainer on `work`, with the median of its counted steps."""
    torch.set_num_threads(work.threads)
    result = (run_rpt if system == "rpt" else run_trl)(work, assets)
    counted = result["steps"][1:]  # the first step warms up
    result["median_step_s"] = statistics.median(s["seconds"] for s in counted) if counted else None
    return result


def main() -> None:
    system, assets = sys.argv[1], Path(sys.argv[2])
    warnings.filterwarnings("ignore")
    for line in sys.stdin:
        print("RESULT " + json.dumps(run_one(system, Work(**json.loads(line)), assets)), flush=True)


if __name__ == "__main__":
    main()
