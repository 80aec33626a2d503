"""`rpt score` throughput against a bare batched forward pass of the same model over the same tokens.

Both sides run the same windows in the same padded batches under `torch.inference_mode`; the bare
side only calls the model (full logits, nothing stored), the scorer also computes top-k entropy,
rank and probability and writes the artifact. A second baseline asks the model for logits only at
the scored positions, as the scorer does, to show the scoring work alone.

    python benchmarks/bench_score.py                       # a small random Qwen2, random tokens
    python benchmarks/bench_score.py --model PATH --corpus data.jsonl --field text

Prints a markdown table; append it to benchmarks/results/score_throughput.md.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rpt.data.corpus import TokenizedCorpus
from rpt.models import load_causal_lm
from rpt.padding import left_pad, position_ids
from rpt.proxy.lm import last_logits
from rpt.proxy.score import score_corpus
from rpt.proxy.windows import END, FIRST, input_lengths, plan_batches, plan_windows


def random_corpus(docs: int, length: int, vocab: int, seed: int = 0) -> TokenizedCorpus:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(length // 2, length * 3 // 2, docs)
    ids = [rng.integers(0, vocab, n) for n in lengths]
    return TokenizedCorpus([""] * docs, ids, [np.arange(1, n + 1) for n in lengths], key=f"bench{seed}")


def file_corpus(path: str, field: str, tokenizer_path: str, docs: int) -> TokenizedCorpus:
    from omegaconf import OmegaConf

    from rpt.config import DataConfig
    from rpt.data.corpus import tokenize_corpus
    from rpt.models import load_tokenizer

    data = OmegaConf.merge(OmegaConf.structured(DataConfig),
                           {"path": path, "field": field, "max_documents": docs, "cache_dir": tempfile.mkdtemp()})
    return tokenize_corpus(data, load_tokenizer(tokenizer_path))


def bare_forward(model, corpus, windows, batches, scored_logits_only: bool) -> None:
    device = next(model.parameters()).device
    with torch.inference_mode():
        for batch in batches:
            rows = windows[batch]
            inputs = [corpus.token_ids[d][s : e - 1] for d, s, _, e in rows]
            if scored_logits_only:
                last_logits(model, inputs, int((rows[:, END] - rows[:, FIRST]).max()))
            else:
                ids, mask = left_pad(inputs, 0, device)
                positions = position_ids(mask)
                model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False)
    if device.type == "cuda":
        torch.cuda.synchronize()


def best_times(runs: dict, repeats: int) -> dict[str, float]:
    """Best wall-clock seconds of each run over `repeats` rounds; rounds interleave the runs, so a
    change in the machine's load (other jobs) hits all of them alike."""
    best = {name: float("inf") for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="HF model folder or name (default: a random Qwen2 built here)")
    parser.add_argument("--corpus", help="jsonl corpus (default: random token ids)")
    parser.add_argument("--field", default="text")
    parser.add_argument("--docs", type=int, default=12)
    parser.add_argument("--doc-tokens", type=int, default=768)
    parser.add_argument("--context", type=int, default=256, help="data.max_context_tokens")
    parser.add_argument("--stride", type=int, default=128)
    parser.add_argument("--batch-tokens", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    if args.model:
        model = load_causal_lm(args.model)
        name = args.model
    else:
        from rpt.recipes.demo.tiny import tiny_qwen2

        model = tiny_qwen2(16384, hidden_size=512, layers=6, heads=8).eval()
        name = "random Qwen2 (hidden 512, 6 layers, vocab 16384)"
    vocab = model.config.vocab_size
    corpus = (file_corpus(args.corpus, args.field, args.model, args.docs) if args.corpus
              else random_corpus(args.docs, args.doc_tokens, vocab))
    windows = plan_windows([len(x) for x in corpus.token_ids], args.context, args.stride)
    batches = plan_batches(windows, args.batch_tokens)
    tokens = int(input_lengths(windows).sum())

    def score() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            score_corpus(corpus, model, Path(tmp) / "s", proxy_id="bench", max_context_tokens=args.context,
                         stride=args.stride, batch_tokens=args.batch_tokens, progress=False)

    bare_forward(model, corpus, windows, batches, False)  # warm-up
    results = best_times({
        "bare forward (all logits)": lambda: bare_forward(model, corpus, windows, batches, False),
        "bare forward (scored logits only)": lambda: bare_forward(model, corpus, windows, batches, True),
        "rpt score": score,
    }, args.repeats)
    device = next(model.parameters()).device
    hardware = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    print(f"model: {name}; device: {hardware}; dtype {next(model.parameters()).dtype}")
    print(f"{len(corpus.token_ids)} documents, {sum(len(x) for x in corpus.token_ids)} positions, "
          f"{tokens} forwarded tokens in {len(batches)} batches (context {args.context}, stride {args.stride}, "
          f"batch_tokens {args.batch_tokens}); best of {args.repeats}\n")
    print("| run | seconds | forwarded tokens/s | vs bare forward (all logits) |\n|---|---|---|---|")
    baseline = results["bare forward (all logits)"]
    for run, seconds in results.items():
        print(f"| {run} | {seconds:.2f} | {tokens / seconds:,.0f} | {baseline / seconds:.2f}× |")


if __name__ == "__main__":
    main()
