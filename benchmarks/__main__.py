"""`python -m benchmarks`: rpt against TRL on identical work, rollout engines, log-prob memory, cost
scaling and learning parity; writes `benchmarks/results/*.json`, plots and `results/summary.md`.

    bash benchmarks/setup-venv.sh          # .venv-bench: rpt + TRL (TRL is never an rpt dependency)
    .venv-bench/bin/python -m benchmarks   # everything, < 20 min on 2 CPU cores
    .venv-bench/bin/python -m benchmarks --parts steps,parity --repeats 5

Every run of a system is a fresh trainer in that system's worker process (`benchmarks.workers`, one
per system and part, so imports are paid once); the two systems' runs alternate so machine load hits
both alike, and the 1-minute load average is recorded next to each run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.assets import RESULTS, Work, build_assets, load_average, machine, score_assets, write_json

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("steps", "scaling", "rollout", "memory", "parity")
GROUPS = (2, 4, 8, 16)
LENGTHS = (16, 64, 128, 256)
T_975 = {2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571}  # Student t quantiles by degrees of freedom


class Workers:
    """One long-lived `benchmarks.workers` process per system (1 torch thread), started on first use."""

    def __init__(self, assets: Path) -> None:
        self.assets = assets
        self.procs: dict[str, tuple[subprocess.Popen, tempfile.TemporaryFile]] = {}

    def run(self, system: str, work: Work) -> dict:
        """One run of `system` on `work`; its result with the load average at its start."""
        if system not in self.procs:
            env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
            err = tempfile.TemporaryFile("w+")
            proc = subprocess.Popen([sys.executable, "-m", "benchmarks.workers", system, str(self.assets)], cwd=ROOT,
                                    env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
            self.procs[system] = (proc, err)
        proc, err = self.procs[system]
        load = load_average()
        proc.stdin.write(work.to_json() + "\n")
        proc.stdin.flush()
        for line in proc.stdout:  # a trainer may print its own lines first
            if line.startswith("RESULT "):
                break
        else:
            err.seek(0)
            raise RuntimeError(f"{system} worker failed:\n{err.read()[-3000:]}")
        result = json.loads(line.removeprefix("RESULT "))
        result["load_avg_1m"] = load
        print(f"  {system:>3}: median step {result['median_step_s']:.3f} s (load {load})", flush=True)
        return result

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc) -> None:
        for proc, err in self.procs.values():
            proc.stdin.close()
            proc.wait()
            err.close()


def spread(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "n": len(values)}


def phase_medians(runs: list[dict]) -> dict[str, float]:
    """Median seconds of each phase over every counted step of every run."""
    names = sorted({k for r in runs for s in r["steps"][1:] for k in s["phases"]})
    return {n: statistics.median(s["phases"].get(n, 0.0) for r in runs for s in r["steps"][1:]) for n in names}


def counted_tokens(runs: list[dict]) -> dict:
    prompts = [t for r in runs for t in r["prompt_tokens"]]
    responses = [s["response_tokens"] for r in runs for s in r["steps"][1:]]
    return {"prompt_tokens_mean": statistics.mean(prompts), "prompts": len(prompts),
            "response_tokens_per_step_mean": statistics.mean(responses)}


# ---------------------------------------------------------------- parts
def bench_steps(assets: Path, repeats: int) -> dict:
    """Step time, rpt vs TRL's GRPOTrainer: `repeats` runs each, alternating which goes first."""
    runs: dict[str, list[dict]] = {"rpt": [], "trl": []}
    with Workers(assets) as workers:
        for repeat in range(repeats):
            for system in (("rpt", "trl") if repeat % 2 == 0 else ("trl", "rpt")):
                runs[system].append(workers.run(system, Work(seed=repeat)))
    result = {"work": json.loads(Work().to_json()), "repeats": repeats}
    for system, rs in runs.items():
        trl_rest = {}
        if system == "trl":  # what TRL's profiler leaves out: backward, optimizer step, logging
            rest = [s["seconds"] - s["phases"].get("_prepare_inputs", 0) - s["phases"].get("compute_loss", 0)
                    for r in rs for s in r["steps"][1:]]
            trl_rest = {"backward+optimizer+rest (step - _prepare_inputs - compute_loss)": statistics.median(rest)}
        result[system] = {
            "step_s": spread([r["median_step_s"] for r in rs]),
            "phases_s": {**phase_medians(rs), **trl_rest},
            "tokens": counted_tokens(rs),
            "load_avg_1m": [r["load_avg_1m"] for r in rs],
            "runs": rs,
        }
    pairs = [a["median_step_s"] / b["median_step_s"] for a, b in zip(runs["rpt"], runs["trl"])]
    result["ratio_rpt_over_trl"] = {**spread(pairs), "of_medians": result["rpt"]["step_s"]["median"] / result["trl"]["step_s"]["median"]}
    result["timing_overhead"] = timing_overhead(result["rpt"]["step_s"]["median"])
    return result


def timing_overhead(step_seconds: float) -> dict:
    """What rpt's own step timing costs per step (5 phases, 3 token counts, one finish) against a step."""
    from rpt.train.timing import PHASES, StepTimer

    timer, loops = StepTimer(), 2000
    start = time.perf_counter()
    for _ in range(loops):
        timer.start()
        for name in PHASES:
            with timer.phase(name):
                pass
        for kind in ("generated", "scored", "trained"):
            timer.count(kind, 1)
        timer.finish()
    per_step = (time.perf_counter() - start) / loops
    return {"seconds_per_step": per_step, "share_of_step": per_step / step_seconds}


def bench_scaling(assets: Path) -> dict:
    """rpt's step time against group size (16 tokens) and response length (group 8)."""
    with Workers(assets) as workers:
        rows = [scaling_row(workers, label, work) for label, works in
                (("group", [Work(group=g) for g in GROUPS]), ("length", [Work(max_tokens=n) for n in LENGTHS]))
                for work in works]
    plot_scaling(rows)
    return {"rows": rows, "prompts": Work().prompts}


def scaling_row(workers: Workers, label: str, work: Work) -> dict:
    print(f" {label}: G={work.group} L={work.max_tokens}", flush=True)
    r = workers.run("rpt", work)
    counted = r["steps"][1:]
    return {
        "axis": label, "group": work.group, "max_tokens": work.max_tokens,
        "step_s": spread([s["seconds"] for s in counted]), "phases_s": phase_medians([r]),
        "response_tokens_per_step": statistics.mean(s["response_tokens"] for s in counted),
        "load_avg_1m": r["load_avg_1m"],
    }


def plot_scaling(rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, axis, key, title in ((axes[0], "group", "group", "group size G (4 prompts, 16 tokens)"),
                                 (axes[1], "length", "max_tokens", "response length (4 prompts, G=8)")):
        sel = [r for r in rows if r["axis"] == axis]
        xs = [r[key] for r in sel]
        med = [r["step_s"]["median"] for r in sel]
        err = [[m - r["step_s"]["min"] for m, r in zip(med, sel)], [r["step_s"]["max"] - m for m, r in zip(med, sel)]]
        ax.errorbar(xs, med, yerr=err, marker="o", capsize=3, label="step")
        for phase in ("rollout", "update"):
            ax.plot(xs, [r["phases_s"].get(phase, 0) for r in sel], marker=".", linestyle="--", label=phase)
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel(title)
        ax.set_ylabel("seconds per step (median, min-max)")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle("rpt step time on CPU, tiny Qwen2, HF generation")
    fig.tight_layout()
    fig.savefig(RESULTS / "scaling.png", dpi=110)
    plt.close(fig)


def bench_rollout(repeats: int) -> dict:
    """Generated tokens/s through the rollout plugins: HF here, vLLM where a Python has it."""
    settings = [("demo step: 32 prompts x 8 samples, 2 tokens", 32, 8, 2), ("4 prompts x 8 samples, 256 tokens", 4, 8, 256)]
    pythons = {"hf": sys.executable}
    vllm_python = ROOT / ".venv-vllm" / "bin" / "python"
    if _imports(sys.executable, "vllm"):
        pythons["eager"] = sys.executable
    elif vllm_python.exists() and _imports(str(vllm_python), "vllm"):
        pythons["eager"] = str(vllm_python)
    rows = []
    for kind, python in pythons.items():
        env = {**os.environ, "PYTHONPATH": str(ROOT), "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
        load = load_average()
        out = subprocess.run([python, "-m", "benchmarks.bench_rollout", "--json-kind", kind, "--repeats", str(repeats), "--threads", "1",
                              "--settings", json.dumps(settings)], capture_output=True, text=True, cwd=ROOT, env=env)
        if out.returncode:
            raise RuntimeError(f"rollout {kind} failed:\n{out.stderr[-3000:]}")
        for row in json.loads(out.stdout.strip().splitlines()[-1]):
            rows.append({**row, "load_avg_1m": load})
            print(f"  {kind}: {row['label']}: {row['tokens_per_s']:,.0f} tokens/s", flush=True)
    return {"rows": rows, "vllm": "eager" in pythons,
            "note": None if "eager" in pythons else "vLLM not importable here: build .venv-vllm (bash .ci/vllm-stage.sh --install-only) and rerun --parts rollout"}


def _imports(python: str, module: str) -> bool:
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


def bench_memory() -> dict:
    """Peak memory of naive vs chunked log-probs (benchmarks/bench_logprobs.py's measurement)."""
    rows = {}
    for variant in ("naive", "chunked"):
        out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_logprobs.py"), "--child", variant],
                             capture_output=True, text=True, check=True, cwd=ROOT)
        rows[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    return {"vocab": 151936, "length": 1024, "chunk": 128, **rows}


def parity_work(assets: Path, seed: int) -> Work:
    """A small learnable task: ~16 positions drawn at random from 20 documents' scored ones (`filter=random`),
    so each step's 16 prompts are nearly the same set and the reward climbs as the policy learns them;
    one-token answers, the prefix-match reward."""
    return Work(prompts=16, group=8, max_tokens=1, temperature=1.0, lr=1e-3, steps=40, seed=seed, context_tokens=64,
                filter="random", overrides=[f"model.proxy={assets / 'pretrained'}", f"data.scores={assets / 'scores'}",
                                            "data.max_documents=20", "filter.threshold=null", "filter.top_fraction=0.0063"])


def bench_parity(assets: Path, seeds: int) -> dict:
    """Mean reward per step of rpt and TRL over `seeds` seeds, with 95% t-intervals."""
    score_assets(parity_work(assets, 0), assets)
    curves: dict[str, list[list[float]]] = {"rpt": [], "trl": []}
    with Workers(assets) as workers:
        for seed in range(seeds):
            for system in (("rpt", "trl") if seed % 2 == 0 else ("trl", "rpt")):
                r = workers.run(system, parity_work(assets, seed))
                curves[system].append([s["reward"] for s in r["steps"]])
    bands = {}
    for system, rows in curves.items():
        per_step = list(zip(*rows))
        mean = [statistics.mean(v) for v in per_step]
        half = [T_975[len(v) - 1] * statistics.stdev(v) / len(v) ** 0.5 for v in per_step]
        bands[system] = {"mean": mean, "half_width": half}
    overlap = [abs(a - b) <= ha + hb for a, b, ha, hb in
               zip(bands["rpt"]["mean"], bands["trl"]["mean"], bands["rpt"]["half_width"], bands["trl"]["half_width"])]
    window = 10
    final = {s: [statistics.mean(c[-window:]) for c in curves[s]] for s in curves}
    first = {s: [statistics.mean(c[:window]) for c in curves[s]] for s in curves}
    plot_parity(bands)
    return {"work": json.loads(parity_work(assets, 0).to_json()), "curves": curves, "bands": bands,
            "bands_overlap_share": sum(overlap) / len(overlap), "first_10_steps_mean": first, "last_10_steps_mean": final}


def plot_parity(bands: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for system, band in bands.items():
        steps = range(1, len(band["mean"]) + 1)
        low = [m - h for m, h in zip(band["mean"], band["half_width"])]
        high = [m + h for m, h in zip(band["mean"], band["half_width"])]
        ax.plot(steps, band["mean"], label=f"{system} (mean of seeds)")
        ax.fill_between(steps, low, high, alpha=0.25, label=f"{system} 95% interval")
    ax.set_xlabel("step")
    ax.set_ylabel("mean reward of the step's samples")
    ax.set_title("Learning parity: rpt vs TRL GRPOTrainer, same task and hyperparameters")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(RESULTS / "parity.png", dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma list of {', '.join(PARTS)}")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--assets", type=Path, default=ROOT / "runs" / "bench-assets")
    args = parser.parse_args()
    parts = args.parts.split(",")
    start, load_start = time.perf_counter(), load_average()
    print(f"assets -> {args.assets}", flush=True)
    assets = build_assets(args.assets)
    for part in parts:
        print(f"== {part}", flush=True)
        t = time.perf_counter()
        if part == "steps":
            payload = bench_steps(assets, args.repeats)
        elif part == "scaling":
            payload = bench_scaling(assets)
        elif part == "rollout":
            payload = bench_rollout(args.repeats)
        elif part == "memory":
            payload = bench_memory()
        elif part == "parity":
            payload = bench_parity(assets, args.seeds)
        else:
            raise SystemExit(f"unknown part {part!r}; choose from {', '.join(PARTS)}")
        payload["machine"] = machine()
        payload["seconds"] = time.perf_counter() - t
        print(f"-> {write_json(part, payload)} ({payload['seconds']:.0f} s)", flush=True)
    from benchmarks.summary import write_summary

    print(f"-> {write_summary(time.perf_counter() - start, load_start, load_average())}")


if __name__ == "__main__":
    main()
