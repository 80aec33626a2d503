"""`results/summary.md` from the `results/*.json` that `python -m benchmarks` wrote (each part's latest)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.assets import RESULTS

COMMAND = "bash benchmarks/setup-venv.sh && bash .ci/vllm-stage.sh --install-only && .venv-bench/bin/python -m benchmarks"


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _s(spread: dict, unit: str = "s") -> str:
    return f"{spread['median']:.3f} {unit} ({spread['min']:.3f}-{spread['max']:.3f})"


def steps_section(r: dict) -> list[str]:
    w, rpt, trl, ratio = r["work"], r["rpt"], r["trl"], r["ratio_rpt_over_trl"]
    goal = "met" if ratio["of_medians"] <= 0.4 else "NOT met"
    lines = [
        "## Step time: rpt vs TRL `GRPOTrainer`",
        "",
        f"Identical work: the same tiny Qwen2 and tokenizer, {w['prompts']} prompts x {w['group']} samples x "
        f"{w['max_tokens']} new tokens, temperature {w['temperature']}, lr {w['lr']:g}, no KL, token-mean loss "
        f"(TRL `loss_type=dapo`), clip 0.2, HF generation on CPU, {w['threads']} torch thread, one forward/backward per step. "
        f"{w['steps']} steps per run, the first a warm-up; a run's number is its median step; "
        f"{r['repeats']} runs per system, alternating. Prompt tokens: rpt {rpt['tokens']['prompt_tokens_mean']:.1f}, "
        f"TRL {trl['tokens']['prompt_tokens_mean']:.1f} per prompt (the same prompts, TRL re-tokenizes their text); "
        f"response tokens per step: rpt {rpt['tokens']['response_tokens_per_step_mean']:.0f}, "
        f"TRL {trl['tokens']['response_tokens_per_step_mean']:.0f}.",
        "",
        "| system | step, median of runs (min-max) | 1-min load average per run |",
        "| --- | --- | --- |",
        f"| rpt | {_s(rpt['step_s'])} | {', '.join(str(x) for x in rpt['load_avg_1m'])} |",
        f"| TRL | {_s(trl['step_s'])} | {', '.join(str(x) for x in trl['load_avg_1m'])} |",
        "",
        f"**rpt / TRL step time: {ratio['of_medians']:.2f}x** (per interleaved pair {ratio['min']:.2f}-{ratio['max']:.2f}x; "
        f"goal <= 0.4x: {goal}). Timing overhead in rpt: {r['timing_overhead']['seconds_per_step'] * 1e6:.0f} us per step "
        f"= {r['timing_overhead']['share_of_step']:.3%} of the median step.",
        "",
        "Phase breakdown (median seconds over all counted steps): rpt's own `time/*` metrics, and TRL's own",
        "profiler blocks (`trl.extras.profiling`, nested: `_prepare_inputs` holds generation and rewards,",
        "`compute_loss` the forward and loss; the backward and optimizer step are the rest).",
        "",
        "| rpt phase | s | | TRL block | s |",
        "| --- | ---: | --- | --- | ---: |",
    ]
    left, right = list(rpt["phases_s"].items()), list(trl["phases_s"].items())
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else ("", None)
        b = right[i] if i < len(right) else ("", None)
        fa = f"{a[1]:.4f}" if a[1] is not None else ""
        fb = f"{b[1]:.4f}" if b[1] is not None else ""
        lines.append(f"| {a[0]} | {fa} | | {b[0]} | {fb} |")
    return lines + [""]


def scaling_section(r: dict) -> list[str]:
    lines = [
        "## Cost scaling (rpt)",
        "",
        f"{r['prompts']} prompts per step; group size at 16 tokens, response length at G=8; median (min-max) of the counted steps.",
        "",
        "| G | max tokens | response tokens / step | step s | rollout s | update s | load |",
        "| ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for row in r["rows"]:
        p = row["phases_s"]
        lines.append(f"| {row['group']} | {row['max_tokens']} | {row['response_tokens_per_step']:.0f} | {_s(row['step_s'])} | "
                     f"{p.get('rollout', 0):.3f} | {p.get('update', 0):.3f} | {row['load_avg_1m']} |")
    return lines + ["", "![scaling](scaling.png)", ""]


def rollout_section(r: dict) -> list[str]:
    lines = ["## Rollout throughput: HF generate vs vLLM", "",
             "Tiny Qwen2 (vocabulary 512, width 64, 2 layers), random prompts of 32-256 tokens, temperature 1, 1 thread; "
             "through the rollout plugins, what a training step pays: sampling and texts, plus the engine's own log-probs "
             "for vLLM (`rollout=hf` reports none: the trainer's log-probs are the sampler's).", "",
             "| setting | engine | s / call | tokens / s | load |", "| --- | --- | ---: | ---: | ---: |"]
    for row in r["rows"]:
        engine = {"hf": "HF generate", "eager": "vLLM (eager)", "compiled": "vLLM"}[row["engine"]]
        lines.append(f"| {row['label']} | {engine} | {row['seconds_per_call']:.3f} | {row['tokens_per_s']:,.0f} | {row['load_avg_1m']} |")
    if r.get("note"):
        lines += ["", r["note"] + "."]
    return lines + [""]


def memory_section(r: dict) -> list[str]:
    return ["## Log-prob memory: naive vs chunked", "",
            f"Log-probs of {r['length']} tokens over a {r['vocab']}-token vocabulary, forward + backward, "
            f"chunks of {r['chunk']} positions (`benchmarks/bench_logprobs.py`).", "",
            "| variant | peak MiB above baseline | sum of log-probs |", "| --- | ---: | ---: |",
            f"| naive | {r['naive']['peak_mib']:.0f} | {r['naive']['sum']:.4f} |",
            f"| chunked | {r['chunked']['peak_mib']:.0f} | {r['chunked']['sum']:.4f} |", ""]


def parity_section(r: dict) -> list[str]:
    w = r["work"]
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    return ["## Learning parity with TRL", "",
            f"The pre-trained tiny Qwen2 on ~16 positions of the synthetic ledgers drawn at random (`filter=random`, "
            f"the same pool every step), one-token answers, prefix-match reward (the same rpt plugin scores TRL's "
            f"completions); {w['prompts']} prompts x G={w['group']}, temperature {w['temperature']}, lr {w['lr']:g}, "
            f"clip 0.2, token-mean loss, no KL, {w['steps']} steps, {len(r['curves']['rpt'])} seeds per system.", "",
            f"95% intervals of the two mean-reward curves overlap at {r['bands_overlap_share']:.0%} of steps.", "",
            "| system | mean reward, first 10 steps | last 10 steps | per seed, last 10 |", "| --- | ---: | ---: | --- |",
            *[f"| {s} | {mean(r['first_10_steps_mean'][s]):.3f} | {mean(r['last_10_steps_mean'][s]):.3f} | "
              f"{', '.join(f'{x:.3f}' for x in r['last_10_steps_mean'][s])} |" for s in ("rpt", "trl")],
            "", "![parity](parity.png)", ""]


def write_summary(seconds: float, load_start: float, load_end: float) -> Path:
    parts = {name: _load(name) for name in ("steps", "scaling", "rollout", "memory", "parity")}
    some = next((p for p in parts.values() if p), {})
    m = some.get("machine", {})
    versions = ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items() if v)
    lines = ["# rpt benchmarks", "",
             f"`{COMMAND}` — {m.get('date')}, {m.get('cpu')}, {m.get('cores')} cores (shared with other jobs), "
             f"Python {m.get('python')}; {versions}.",
             "Seconds per part (each part's latest run): "
             + ", ".join(f"{n} {p['seconds']:.0f} s ({p['machine']['date']})" for n, p in parts.items() if p)
             + f"; the latest invocation took {seconds / 60:.1f} min, 1-minute load average {load_start} at its start, "
             f"{load_end} at its end.", ""]
    for name, section in (("steps", steps_section), ("scaling", scaling_section), ("rollout", rollout_section),
                          ("memory", memory_section), ("parity", parity_section)):
        if parts[name]:
            lines += section(parts[name])
    path = RESULTS / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path
