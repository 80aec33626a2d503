"""The GPU check: a few GRPO steps of a random-weight Qwen2.5-1.5B-sized policy, timed by phase, memory against `rpt plan`.

    bash benchmarks/gpu_check.sh               # one GPU: writes benchmarks/results/gpu_check.md
    bash benchmarks/gpu_check.sh --cpu-smoke   # the same logic on a tiny model on CPU (writes to /tmp)

No downloads: the corpus is the demo's synthetic one, the tokenizer is trained on it, the model is
built from a config (Qwen2.5-1.5B's shape: 28 layers, hidden 1536, 151936-token vocabulary, tied
embeddings) with random weights and saved in bf16, then trained with `strategy=fsdp` on one GPU
(bf16 compute, float32 master, sharded loading), `rollout=hf`. Per step it records the wall time of
each phase (the run's `time/*` columns of metrics.csv), the whole step (timed here, synchronised), the peak `torch.cuda.max_memory_allocated` of the update
(scoring + optimizer steps) against `rpt plan`'s training-step peak for the same config, and tokens/s.
The first step (allocator and kernel warm-up) is reported but left out of the means.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
GIB = 2**30
QWEN25_1_5B = dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                   num_attention_heads=12, num_key_value_heads=2, tie_word_embeddings=True, max_position_embeddings=4096)
TINY = dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=2, tie_word_embeddings=True, max_position_embeddings=1024)


def build_assets(work: Path, shape: dict) -> tuple[Path, Path]:
    """The demo's synthetic corpus, a tokenizer trained on it, and a random model of `shape` saved in bf16."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from rpt.files import write_jsonl
    from rpt.recipes.demo.corpus import generate_corpus
    from rpt.recipes.demo.tiny import train_tokenizer

    records = generate_corpus(400, seed=0)
    write_jsonl(records, work / "corpus.jsonl")
    tokenizer = train_tokenizer([r["text"] for r in records], vocab_size=512)
    model_dir = work / "model"
    tokenizer.save_pretrained(model_dir)
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = Qwen2ForCausalLM(Qwen2Config(**shape)).to(torch.bfloat16)
    model.save_pretrained(model_dir)
    del model
    return work / "corpus.jsonl", model_dir


def overrides(corpus: Path, model_dir: Path, run_dir: Path, smoke: bool) -> list[str]:
    gpu = not smoke
    return [
        f"model.policy={model_dir}", f"data.path={corpus}", f"data.cache_dir={run_dir.parent / 'cache'}",
        f"run.dir={run_dir}", "prompt.template=direct", "prompt.chat=false", "reward=exact_match",
        "strategy=fsdp", "trainer.devices=1", f"trainer.accelerator={'gpu' if gpu else 'cpu'}",
        "logger.wandb.mode=disabled", "trainer.val_every=0", "trainer.ckpt_every=0",
        f"trainer.max_steps={4 if gpu else 2}", f"trainer.prompts_per_step={16 if gpu else 2}", "sampling.n=8",
        f"data.max_context_tokens={512 if gpu else 32}", f"sampling.max_tokens={256 if gpu else 8}",
        f"grpo.micro_batch_size={4 if gpu else 2}", "grpo.logprob_chunk_tokens=256",
        *([] if gpu else ["strategy.param_dtype=null", "strategy.reduce_dtype=null"]),
    ]


class StepTimer:
    """Wraps GRPOModule: each step's wall time (synchronised) and, on GPU, the peak memory of the
    update (log-prob scoring + optimizer steps), measured from the end of the rollout to the end of
    `_update` (with the on-policy fast path there is no separate scoring pass to start from)."""

    def __init__(self) -> None:
        self.steps: list[float] = []
        self.update_peak = 0

    def install(self) -> None:
        from rpt.train.module import GRPOModule

        step, collect, update = GRPOModule.training_step, GRPOModule._collect, GRPOModule._update

        def timed_step(module, *args, **kwargs):
            _synchronize()
            start = time.perf_counter()
            result = step(module, *args, **kwargs)
            _synchronize()
            self.steps.append(time.perf_counter() - start)
            return result

        def collect_then_reset_peak(module, *args, **kwargs):
            groups = collect(module, *args, **kwargs)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            return groups

        def update_then_read_peak(module, *args, **kwargs):
            result = update(module, *args, **kwargs)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
                self.update_peak = max(self.update_peak, torch.cuda.max_memory_allocated())
            return result

        GRPOModule.training_step = timed_step
        GRPOModule._collect = collect_then_reset_peak
        GRPOModule._update = update_then_read_peak


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def logged_rows(run_dir: Path) -> list[dict[str, float]]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("train/loss")]
    return [{k: float(v) for k, v in r.items() if v} for r in rows]


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny model on CPU: checks the script, not the GPU")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gpu_check.md")
    args = parser.parse_args()
    smoke = args.cpu_smoke
    if not smoke and not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device (use --cpu-smoke to check the script on CPU)")
    torch.set_num_threads(2 if smoke else torch.get_num_threads())

    from rpt.config import load_config
    from rpt.plan import estimate, plan_inputs
    from rpt.train.run import train

    work = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    started = time.perf_counter()
    corpus, model_dir = build_assets(work, TINY if smoke else QWEN25_1_5B)
    cfg = load_config(overrides(corpus, model_dir, work / "run", smoke))
    gpu_gib = torch.cuda.get_device_properties(0).total_memory / GIB if not smoke else 80.0
    plan = estimate(plan_inputs(cfg, gpu_gib=gpu_gib, gpus_per_node=1))
    timer = StepTimer()
    timer.install()
    if not smoke:
        torch.cuda.reset_peak_memory_stats()
    train(cfg)
    rows = logged_rows(work / "run")
    overall_peak = torch.cuda.max_memory_allocated() if not smoke else None

    logged = sorted({k for r in rows for k in r if k.startswith("time/")})
    phases = [(k, [r.get(k, float("nan")) for r in rows]) for k in logged]
    totals = timer.steps
    gen_tokens = [r["train/response_len"] * cfg.sampling.n * cfg.trainer.prompts_per_step for r in rows]
    train_tokens = [r.get("train/tokens", float("nan")) for r in rows]
    rollout_times = dict(phases).get("time/rollout") or totals
    keep = slice(1, None)  # the first step warms up allocator and kernels
    device = "CPU smoke test (tiny model)" if smoke else torch.cuda.get_device_name(0)
    lines = [
        "# GPU check: GRPO steps of a random Qwen2.5-1.5B-sized policy on one GPU",
        "",
        f"`bash benchmarks/gpu_check.sh` ({date.today()}, {device}, torch {torch.__version__}).",
        "",
        f"Model: {plan.inputs.shape.params() / 1e9:.2f}B parameters, random weights, bf16 checkpoint; `strategy=fsdp`"
        f" on 1 device (float32 master, {cfg.strategy.param_dtype or 'float32'} compute, activation checkpointing),"
        f" `rollout=hf`; {cfg.trainer.prompts_per_step} prompts x {cfg.sampling.n} samples per step,"
        f" up to {cfg.data.max_context_tokens} context + {cfg.sampling.max_tokens} response tokens,"
        f" micro-batch {cfg.grpo.micro_batch_size}. Steps: {len(totals)}; means leave out step 1 (warm-up).",
        "",
        "| phase | " + " | ".join(f"step {i + 1} s" for i in range(len(totals))) + " | mean s (steps 2+) |",
        "| --- | " + " | ".join("---" for _ in totals) + " | --- |",
        *[f"| {name} | " + " | ".join(f"{v:.2f}" for v in values) + f" | {mean(values[keep]):.2f} |"
          for name, values in phases],
        "| whole step | " + " | ".join(f"{v:.2f}" for v in totals) + f" | {mean(totals[keep]):.2f} |",
        "",
        "Phases from the run's time/* columns; the whole step timed by this script (synchronised).",
        f"Generated tokens/s (rollout): {mean([t / s for t, s in zip(gen_tokens[keep], rollout_times[keep])]):.0f};"
        f" trained tokens/s (prompt + response through the update, whole step): "
        f"{mean([t / s for t, s in zip(train_tokens[keep], totals[keep])]):.0f}.",
        "",
        "| memory | GiB |",
        "| --- | --- |",
        f"| `rpt plan` training-step peak (same config, {gpu_gib:.0f} GiB GPU) | {plan.training_peak / GIB:.2f} |",
        "| measured peak of scoring + update (`torch.cuda.max_memory_allocated`) | "
        + (f"{timer.update_peak / GIB:.2f} |" if not smoke else "n/a on CPU |"),
        "| measured peak of the whole run (rollouts included) | "
        + (f"{overall_peak / GIB:.2f} |" if not smoke else "n/a on CPU |"),
        "",
        f"Whole check: {time.perf_counter() - started:.0f} s.",
    ]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(json.dumps({"out": str(args.out)}))


if __name__ == "__main__":
    main()
