"""Peak memory of response log-probs with their backward: naive full logits vs `rpt.grpo` chunks.

    .venv/bin/python benchmarks/bench_logprobs.py [--vocab 151936 --length 1024 --chunk 128]

Each variant runs in a fresh process that builds the hidden states and the output head, notes its
resident memory, then computes the log-probs of `--length` target tokens, sums them and runs the
backward; the result is the peak resident memory above that baseline. The peak is the kernel's
high-water mark (`VmHWM`), reset to the current size just before the baseline (Linux
`/proc/self/clear_refs`): without the reset, a transient peak of the imports before it hides the
chunked path's smaller one. The head is a
plain linear layer of Qwen2's vocabulary, so the numbers are those of the logits alone, the part
that grows with vocabulary x length. Writes `benchmarks/results/logprob_memory.md`.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from datetime import date
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results" / "logprob_memory.md"


def measure(variant: str, vocab: int, length: int, chunk: int, hidden: int) -> dict[str, float]:
    """Runs in the child process: peak MiB above the baseline, and the summed log-prob (to compare)."""
    from rpt.grpo.logprobs import chunked_token_logprobs

    torch.manual_seed(0)
    torch.set_num_threads(1)
    head = torch.nn.Linear(hidden, vocab, bias=False)
    states = torch.randn(1, length, hidden, requires_grad=True)
    targets = torch.randint(0, vocab, (1, length))
    Path("/proc/self/clear_refs").write_text("5")  # the high-water mark starts again from here
    baseline = high_water_kib()
    if variant == "naive":
        logprobs = head(states).float().log_softmax(-1).gather(-1, targets[..., None]).squeeze(-1)
    else:
        logprobs, _ = chunked_token_logprobs(states, head, targets, chunk)
    total = logprobs.sum()
    total.backward()
    return {"peak_mib": (high_water_kib() - baseline) / 1024, "sum": total.item()}


def high_water_kib() -> int:
    """The process's peak resident memory since the last reset, in KiB (`VmHWM` of /proc/self/status)."""
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=151936)  # Qwen2 / R1-Distill-Qwen
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--chunk", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--child", choices=["naive", "chunked"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.vocab, args.length, args.chunk, args.hidden)))
        return
    rows = {}
    for variant in ("naive", "chunked"):
        out = subprocess.run([sys.executable, __file__, "--child", variant, *sys.argv[1:]], capture_output=True, text=True, check=True)
        rows[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    logits_mib = args.length * args.vocab * 4 / 2**20
    table = "\n".join(
        f"| {name} | {r['peak_mib']:.0f} | {r['sum']:.4f} |" for name, r in rows.items()
    )
    text = f"""# Response log-probs: peak memory, naive vs chunked

`python benchmarks/bench_logprobs.py --vocab {args.vocab} --length {args.length} --chunk {args.chunk}`
({date.today()}, {platform.machine()}, torch {torch.__version__}, CPU, one thread).

Log-probs of {args.length} target tokens over a {args.vocab}-token vocabulary, forward and backward.
One float32 logits tensor of that size is {logits_mib:.0f} MiB; the naive path keeps the logits,
their log-softmax and their gradient alive together. The chunked path (`rpt.grpo.logprobs`,
{args.chunk} positions per chunk, each checkpointed) holds one chunk's logits at a time and
recomputes them in the backward. Both give the same log-probs (last column: their sum).

| variant | peak MiB above baseline | sum of log-probs |
| --- | --- | --- |
{table}

At 8k response tokens and the same vocabulary the naive logits alone would be {8192 * args.vocab * 4 / 2**30:.1f} GiB per
sequence (x3 with log-softmax and gradient); the chunked path's peak depends on the chunk, not the length.
"""
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
