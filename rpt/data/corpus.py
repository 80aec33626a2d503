"""Read a corpus into documents and tokenize it once, with the result cached on disk."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import string
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from rpt.errors import RptError
from rpt.models import tokenizer_fingerprint

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from rpt.config import DataConfig

log = logging.getLogger(__name__)

TOKENIZE_BATCH = 256
BATCH_CHARS = 1_000_000  # characters per tokenizer call (its memory grows with them)
PIECE_CHARS = 100_000  # long documents are tokenized in pieces of about this many characters
PIECE_SEARCH = 1_000  # ... cut at a word start found within this many characters of the mark
CACHE_VERSION = 1


@dataclass
class TokenizedCorpus:
    """Documents with their token ids and each token's end offset (in characters).

    Token i of a document spans characters `[char_ends[i-1], char_ends[i])` (token 0 starts
    at 0), so every token owns the whitespace before it, as byte-level BPE does.
    """

    texts: list[str]
    token_ids: list[np.ndarray]
    char_ends: list[np.ndarray]
    key: str  # fingerprint of corpus content + tokenizer; artifacts built on this corpus carry it

    def __len__(self) -> int:
        return len(self.texts)


def read_documents(data: "DataConfig") -> list[str]:
    """The corpus's documents as strings, from .jsonl, .txt, .parquet or a Hugging Face dataset."""
    path = Path(str(data.path)).expanduser()
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".txt", ".parquet"} and not path.exists():
        raise RptError(f"corpus not found: {path}")
    if suffix == ".jsonl":
        docs = _read_jsonl(path, data)
    elif suffix == ".txt":
        docs = _read_txt(path)
    elif suffix == ".parquet":
        docs = _read_records(_parquet_rows(path), data, str(path))
    else:
        docs = _read_records(_hf_rows(str(data.path), data.split), data, str(data.path))
    docs = [d for d in docs if d.strip()]
    if data.max_documents is not None:
        docs = docs[: data.max_documents]
    if not docs:
        raise RptError(f"corpus is empty: {data.path}")
    return docs


def tokenize_corpus(data: "DataConfig", tokenizer: "PreTrainedTokenizerBase") -> TokenizedCorpus:
    """Tokenize every document once; reuse the cached result when corpus and tokenizer are unchanged."""
    texts = read_documents(data)
    key = _fingerprint(texts, tokenizer)
    cache = Path(data.cache_dir).expanduser() / f"corpus-{key}.npz"
    if cache.exists():
        with np.load(cache) as arrays:
            return _unpack(texts, arrays, key)
    # Long documents are tokenized in pieces (cut where the pre-tokenizer splits anyway), so peak
    # memory is bounded by the piece size rather than the document's (a 5 MB line took 2.4 GB whole).
    pieces = [(doc, cut, text[cut:end]) for doc, text in enumerate(texts) for cut, end in _pieces(text, tokenizer)]
    doc_ids: list[list[np.ndarray]] = [[] for _ in texts]
    doc_ends: list[list[np.ndarray]] = [[] for _ in texts]
    for batch in tqdm(_batches(pieces), desc="tokenize", unit="batch", leave=False):
        enc = tokenizer([piece for _, _, piece in batch], add_special_tokens=False, return_offsets_mapping=True)
        for (doc, cut, _), piece_ids, offsets in zip(batch, enc["input_ids"], enc["offset_mapping"]):
            doc_ids[doc].append(np.asarray(piece_ids, dtype=np.int64))
            doc_ends[doc].append(cut + np.asarray([e for _, e in offsets], dtype=np.int64))
    ids = [_concat(parts) for parts in doc_ids]
    ends = [np.maximum.accumulate(_concat(parts)) for parts in doc_ends]
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.stem}.{os.getpid()}.tmp.npz")  # ranks tokenizing at once each write their own
    lengths = np.asarray([len(x) for x in ids], dtype=np.int64)
    np.savez(tmp, lengths=lengths, ids=_concat(ids), ends=_concat(ends))
    os.replace(tmp, cache)
    return TokenizedCorpus(texts, ids, ends, key)


def _batches(pieces: list[tuple[int, int, str]]) -> list[list[tuple[int, int, str]]]:
    """Consecutive pieces, at most TOKENIZE_BATCH of them and about BATCH_CHARS characters per batch."""
    batches: list[list[tuple[int, int, str]]] = [[]]
    size = 0
    for piece in pieces:
        if batches[-1] and (len(batches[-1]) == TOKENIZE_BATCH or size + len(piece[2]) > BATCH_CHARS):
            batches.append([])
            size = 0
        batches[-1].append(piece)
        size += len(piece[2])
    return batches


def _pieces(text: str, tokenizer: "PreTrainedTokenizerBase") -> list[tuple[int, int]]:
    """(start, end) character spans that tokenize to the same tokens as `text` whole, each about
    PIECE_CHARS long: cut before a space that follows a non-space, where the pre-tokenizer starts a
    new word (normalization never joins across a space). One span when there is no pre-tokenizer."""
    pre = tokenizer.backend_tokenizer.pre_tokenizer
    if len(text) <= PIECE_CHARS or pre is None:
        return [(0, len(text))]
    cuts = [0]
    while len(text) - cuts[-1] > PIECE_CHARS:
        lo = cuts[-1] + PIECE_CHARS - PIECE_SEARCH
        words = pre.pre_tokenize_str(text[lo : lo + 2 * PIECE_SEARCH])
        at = [lo + s for _, (s, _) in words if PIECE_SEARCH // 2 <= s <= 3 * PIECE_SEARCH // 2
              and text[lo + s] == " " and not text[lo + s - 1].isspace()]
        if not at:
            break  # no safe cut near here (a long run without spaces): keep the rest whole
        cuts.append(at[0])
    return list(zip(cuts, cuts[1:] + [len(text)]))


def split_documents(n_docs: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic train/validation split by document: (train ids, val ids), each sorted."""
    if not 0.0 <= val_fraction < 1.0:
        raise RptError(f"data.val_fraction must be in [0, 1), got {val_fraction}")
    order = np.random.default_rng(seed).permutation(n_docs)
    n_val = int(round(n_docs * val_fraction))
    if val_fraction > 0 and n_val == 0 and n_docs > 1:
        n_val = 1
    if val_fraction > 0 and n_docs == 1:
        log.warning("the corpus has one document: none is held out, so validation is skipped")
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _read_jsonl(path: Path, data: "DataConfig") -> list[str]:
    docs = []
    for lineno, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise RptError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
        if not isinstance(record, dict):
            raise RptError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
        docs.append(_document(record, data, f"{path}:{lineno}"))
    return docs


def _read_txt(path: Path) -> list[str]:
    """A .txt corpus: documents are separated by blank lines."""
    return [block.strip("\n") for block in _read_text(path).split("\n\n")]


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise RptError(f"{path}:{line}: not UTF-8 text (byte {column} of the line: {err.reason})") from None


def _read_records(rows: Any, data: "DataConfig", source: str) -> list[str]:
    return [_document(row, data, f"{source} row {i}") for i, row in enumerate(rows)]


def _parquet_rows(path: Path):
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except Exception as err:  # pyarrow raises many types for unreadable files
        raise RptError(f"{path}: cannot read parquet ({err})") from None


def _hf_rows(name: str, split: str):
    import datasets

    try:
        return datasets.load_dataset(name, split=split)
    except Exception as err:  # datasets raises many types for missing names, splits, network
        raise RptError(f"cannot load dataset {name!r} (split {split!r}): {str(err).splitlines()[0]}") from None


def _document(record: dict, data: "DataConfig", where: str) -> str:
    if data.format:
        # Command-line overrides keep backslashes verbatim, so "\n" and "\t" are read as escapes.
        template = data.format.replace("\\n", "\n").replace("\\t", "\t")
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f]
        missing = [f for f in fields if f not in record]
        if missing:
            raise RptError(f"{where}: missing field {missing[0]!r} used by data.format")
        return template.format(**record)
    if data.field not in record:
        raise RptError(f"{where}: missing field {data.field!r} (fields: {', '.join(record)}); set data.field or data.format")
    value = record[data.field]
    if not isinstance(value, str):
        raise RptError(f"{where}: field {data.field!r} is {type(value).__name__}, not text")
    return value


def _fingerprint(texts: list[str], tokenizer: "PreTrainedTokenizerBase") -> str:
    h = hashlib.sha256(f"v{CACHE_VERSION}".encode())
    for text in texts:
        h.update(hashlib.sha256(text.encode("utf-8")).digest())
    h.update(tokenizer_fingerprint(tokenizer).encode())
    return h.hexdigest()[:16]


def _concat(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)


def _unpack(texts: list[str], arrays: Any, key: str) -> TokenizedCorpus:
    bounds = np.concatenate([[0], np.cumsum(arrays["lengths"])])
    # Read each array once: every `arrays[name]` decompresses a fresh full copy, and a slice of
    # it would keep that whole copy alive (one per document: gigabytes for a few thousand).
    all_ids, all_ends = arrays["ids"], arrays["ends"]
    ids = [all_ids[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    ends = [all_ends[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    return TokenizedCorpus(texts, ids, ends, key)
