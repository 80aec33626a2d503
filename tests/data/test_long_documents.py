"""A long single-line document is tokenized in pieces: the same tokens and offsets, bounded memory."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from omegaconf import OmegaConf

from rpt.config import DataConfig
from rpt.data import corpus as corpus_module
from rpt.data.corpus import tokenize_corpus
from rpt.models import load_tokenizer


def long_text(chars: int) -> str:
    words = ["The", "cat", "sat", "on", "the", "mat.", "12", "+", "7", "=", "19;", "café", "🙂", "漢字", "e\u0301",
             "  double", "\ttab", "a\nb"]
    rng = np.random.default_rng(0)
    out, size = [], 0
    while size < chars:
        word = words[rng.integers(len(words))]
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:chars]


def test_pieces_tokenize_exactly_as_the_whole_document(tiny_model_dir, tmp_path, monkeypatch):
    tokenizer = load_tokenizer(str(tiny_model_dir))
    text = long_text(30_000)
    whole = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    monkeypatch.setattr(corpus_module, "PIECE_CHARS", 2_000)
    monkeypatch.setattr(corpus_module, "PIECE_SEARCH", 200)
    assert len(corpus_module._pieces(text, tokenizer)) >= 10
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"text": text}) + "\n" + json.dumps({"text": "short one"}) + "\n")
    data = OmegaConf.merge(OmegaConf.structured(DataConfig), {"path": str(path), "cache_dir": str(tmp_path / "c")})
    corpus = tokenize_corpus(data, tokenizer)
    assert corpus.token_ids[0].tolist() == whole["input_ids"]
    want_ends = np.maximum.accumulate(np.array([e for _, e in whole["offset_mapping"]]))
    assert corpus.char_ends[0].tolist() == want_ends.tolist()
    assert corpus.token_ids[1].tolist() == tokenizer("short one", add_special_tokens=False)["input_ids"]


@pytest.mark.slow
def test_a_5_mb_single_line_document_tokenizes_in_bounded_memory(tiny_model_dir, tmp_path):
    """Peak memory of tokenizing one 5 MB line, in a fresh process: well under the 2.4 GB it took whole."""
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps({"text": long_text(5_000_000)}) + "\n")
    script = textwrap.dedent(f"""
        import resource
        from omegaconf import OmegaConf
        from rpt.config import DataConfig
        from rpt.data.corpus import tokenize_corpus
        from rpt.models import load_tokenizer
        tokenizer = load_tokenizer({str(tiny_model_dir)!r})
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        data = OmegaConf.merge(OmegaConf.structured(DataConfig), {{"path": {str(path)!r}, "cache_dir": {str(tmp_path / 'c')!r}}})
        corpus = tokenize_corpus(data, tokenizer)
        print(len(corpus.token_ids[0]), (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    tokens, grown_mib = int(out[0]), int(out[1])
    assert tokens > 1_000_000
    assert grown_mib < 800, f"tokenizing grew the process by {grown_mib} MiB"
