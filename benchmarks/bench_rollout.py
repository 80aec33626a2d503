"""Rollout throughput, HF `generate` vs a colocated vLLM engine, on the same tiny model and batch.

Run in the vLLM venv (`bash .ci/vllm-stage.sh --install-only` builds it):

    VLLM_ENABLE_V1_MULTIPROCESSING=0 .venv-vllm/bin/python benchmarks/bench_rollout.py

Both engines go through the rollout plugins (`rollout=hf`, `rollout=vllm`), so the times include
what a training step pays: sampling and decoding the texts, plus vLLM's per-token log-probs
(`rollout=hf` reports none: the sampler is the policy, whose log-probs the trainer computes anyway). The model has the
demo's shape (vocabulary 512, width 64, 2 layers) with 2 attention heads, since vLLM's CPU
attention has no kernel for the head size 16 that 4 heads would give. Prompts are random token
ids of 32-256 tokens (the demo's contexts are up to 256). Each setting is timed as the median of
`--repeats` calls after one warm-up call; every call samples with a new seed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from rpt.api import Rollout, SamplingParams
from rpt.config import load_config

# (label, prompts, samples per prompt, max response tokens)
SETTINGS = [
    ("demo step: 32 prompts x 8 samples, 2 answer tokens", 32, 8, 2),
    ("32 prompts x 8 samples, up to 64 tokens", 32, 8, 64),
]


def build_model(path: Path, vocab_size: int, seed: int) -> int:
    """Save a tokenizer + tiny Qwen2 under `path`; returns the vocabulary size."""
    from transformers import PreTrainedTokenizerFast

    from rpt.recipes.demo.tiny import tiny_qwen2, train_tokenizer

    texts = [f"Item {i}: {i * 7} apples and {i * 13} pears cost {i * 3.5} dollars." for i in range(2000)]
    tokenizer: PreTrainedTokenizerFast = train_tokenizer(texts, vocab_size=vocab_size)
    tokenizer.save_pretrained(path)
    tiny_qwen2(len(tokenizer), hidden_size=64, layers=2, heads=2, seed=seed).save_pretrained(path)
    return len(tokenizer)


def make_rollout(kind: str, model_dir: Path) -> tuple[Rollout, float]:
    """The plugin, set up as the trainer would; returns it with its setup time in seconds."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rpt.registry import build, plugin_context

    options = {
        "hf": ["rollout=hf"],
        "eager": ["rollout=vllm", "rollout.kv_cache_gib=0.5", "rollout.enforce_eager=true"],
        "compiled": ["rollout=vllm", "rollout.kv_cache_gib=0.5"],
    }
    cfg = load_config([f"model.policy={model_dir}", *options[kind]])
    start = time.perf_counter()
    policy = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    context = plugin_context(cfg, AutoTokenizer.from_pretrained(model_dir), policy=policy)
    rollout = build("rollout", cfg.rollout)
    rollout.setup(context)
    return rollout, time.perf_counter() - start


def time_setting(rollout: Rollout, prompts: list[list[int]], n: int, max_tokens: int, repeats: int) -> tuple[float, int]:
    """Median seconds per call and generated tokens in the last call."""
    seconds, tokens = [], 0
    for call in range(repeats + 1):
        params = SamplingParams(n=n, temperature=1.0, max_tokens=max_tokens, seed=call)
        start = time.perf_counter()
        out = rollout.generate(prompts, params)
        if call:  # the first call warms up
            seconds.append(time.perf_counter() - start)
        tokens = sum(len(ids) for ids in out.response_ids)
    return statistics.median(seconds), tokens


def measure_kind(kind: str, settings: list, repeats: int) -> list[dict]:
    """One engine over `settings` (the same seeded prompts for every engine): a row per setting."""
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        vocab = build_model(Path(tmp), vocab_size=512, seed=0)
        batches = [[rng.integers(0, vocab, size=int(rng.integers(32, 257))).tolist() for _ in range(s[1])] for s in settings]
        rollout, setup = make_rollout(kind, Path(tmp))
        for (label, _, n, max_tokens), prompts in zip(settings, batches):
            seconds, tokens = time_setting(rollout, prompts, n, max_tokens, repeats)
            rows.append({"label": label, "engine": kind, "seconds_per_call": seconds, "tokens": tokens,
                         "tokens_per_s": tokens / seconds, "setup_s": setup})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch threads for both engines")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "rollout_cpu.md")
    parser.add_argument("--json-kind", choices=["hf", "eager", "compiled"], help="`python -m benchmarks`: one engine, JSON out")
    parser.add_argument("--settings", type=json.loads, help="with --json-kind: [[label, prompts, n, max_tokens], ...]")
    args = parser.parse_args()
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    torch.set_num_threads(args.threads)
    if args.json_kind:
        print(json.dumps(measure_kind(args.json_kind, args.settings or SETTINGS, args.repeats)))
        return

    load_before = os.getloadavg()[0]
    rng = np.random.default_rng(0)
    rows, setups = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp)
        vocab = build_model(model_dir, vocab_size=512, seed=0)
        batches = [[rng.integers(0, vocab, size=int(rng.integers(32, 257))).tolist() for _ in range(s[1])] for s in SETTINGS]
        for kind in ("hf", "eager", "compiled"):
            rollout, setups[kind] = make_rollout(kind, model_dir)
            for (label, _, n, max_tokens), prompts in zip(SETTINGS, batches):
                seconds, tokens = time_setting(rollout, prompts, n, max_tokens, args.repeats)
                rows.append((label, kind, seconds, tokens))
                print(f"{kind:>8} | {label}: {seconds:.3f} s/call, {tokens / seconds:,.0f} tokens/s", flush=True)
            del rollout
    write_report(args, rows, setups, (load_before, os.getloadavg()[0]))


def write_report(
    args: argparse.Namespace, rows: list[tuple[str, str, float, int]], setups: dict[str, float], load: tuple[float, float]
) -> None:
    import vllm

    names = {"hf": "HF generate (`rollout=hf`)", "eager": "vLLM, eager (`enforce_eager=true`)", "compiled": "vLLM, compiled (default)"}
    lines = [
        "# Rollout throughput on CPU: HF generate vs vLLM",
        "",
        f"`benchmarks/bench_rollout.py`, {date.today()}; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores (shared), torch {torch.__version__} with {args.threads} threads, vllm {vllm.__version__}.",
        "Tiny Qwen2 (vocabulary 512, width 64, 2 layers, 2 heads, float32); prompts of 32-256 random tokens;",
        f"temperature 1; median of {args.repeats} calls after a warm-up. Tokens/s counts generated tokens,",
        "including their log-probs and decoded texts (what a GRPO step receives).",
        f"1-minute load average {load[0]:.1f} at the start, {load[1]:.1f} at the end"
        + (": above the core count, other jobs shared the cores and absolute rates are low and noisy; compare the ratios."
           if max(load) > (os.cpu_count() or 1) else "."),
        "",
        "| setting | engine | s / call | tokens / s | vs HF |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    hf_seconds = {label: s for label, kind, s, _ in rows if kind == "hf"}
    for label, kind, seconds, tokens in rows:
        lines.append(
            f"| {label} | {names[kind]} | {seconds:.3f} | {tokens / seconds:,.0f} | {hf_seconds[label] / seconds:.1f}x |"
        )
    lines += ["", "Setup (model load; for vLLM the engine build, plus compilation when not eager):", ""]
    lines += [f"- {names[k]}: {v:.1f} s" for k, v in setups.items()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
