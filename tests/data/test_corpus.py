import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from rpt.config import DataConfig
from rpt.data.corpus import read_documents, split_documents, tokenize_corpus
from rpt.errors import RptError
from rpt.models import load_tokenizer


def data_cfg(path, **kw):
    return OmegaConf.merge(OmegaConf.structured(DataConfig), {"path": str(path), **kw})


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_jsonl_field_and_format(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"q": "1+1?", "a": "2"}, {"q": "2+2?", "a": "4"}])
    assert read_documents(data_cfg(path, field="q")) == ["1+1?", "2+2?"]
    assert read_documents(data_cfg(path, format="Q: {q}\\nA: {a}")) == ["Q: 1+1?\nA: 2", "Q: 2+2?\nA: 4"]


def test_txt_documents_are_blank_line_separated(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("first doc\nline two\n\nsecond doc\n", encoding="utf-8")
    assert read_documents(data_cfg(path)) == ["first doc\nline two", "second doc"]


def test_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": ["alpha", "beta"]}), path)
    assert read_documents(data_cfg(path)) == ["alpha", "beta"]


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"text": "ok"}\nnot json\n', "c.jsonl:2: not valid JSON"),
        ('{"text": "ok"}\n{"body": "x"}\n', "c.jsonl:2: missing field 'text'"),
        ('["a list"]\n', "c.jsonl:1: expected a JSON object"),
        ("\n\n", "corpus is empty"),
    ],
)
def test_bad_jsonl_reports_file_and_line(tmp_path, content, message):
    path = tmp_path / "c.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RptError, match=message):
        read_documents(data_cfg(path))


def test_missing_corpus(tmp_path):
    with pytest.raises(RptError, match="corpus not found"):
        read_documents(data_cfg(tmp_path / "nope.jsonl"))


def test_non_utf8_corpus_names_the_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"text": "fine"}\n{"text": "also fine"}\n{"text": "caf\xe9 latin-1"}\n')
    with pytest.raises(RptError, match=f"^{path}:3: not UTF-8 text \\(byte 14 of the line"):
        read_documents(data_cfg(path))


def test_a_one_document_corpus_warns_that_validation_is_skipped(caplog):
    from rpt.data.corpus import split_documents

    with caplog.at_level("WARNING"):
        train, val = split_documents(1, 0.1, seed=0)
    assert train.tolist() == [0] and val.tolist() == []
    assert "one document" in caplog.text and "validation is skipped" in caplog.text
    caplog.clear()
    split_documents(1, 0.0, seed=0)  # no validation asked for: nothing to warn about
    assert not caplog.text


def test_missing_tokenizer_path(tmp_path):
    with pytest.raises(RptError, match="tokenizer path does not exist"):
        load_tokenizer(str(tmp_path / "missing"))


def test_tokenize_offsets_cover_the_text_and_cache_is_reused(tiny_model_dir, corpus_jsonl, tmp_path):
    tokenizer = load_tokenizer(str(tiny_model_dir))
    cfg = data_cfg(corpus_jsonl, cache_dir=str(tmp_path / "cache"))
    corpus = tokenize_corpus(cfg, tokenizer)
    for text, ids, ends in zip(corpus.texts, corpus.token_ids, corpus.char_ends):
        assert tokenizer.decode(ids.tolist()) == text  # byte-level BPE round-trips exactly
        assert ends[-1] == len(text) and np.all(np.diff(ends) >= 0)
    assert len(list((tmp_path / "cache").glob("corpus-*.npz"))) == 1
    again = tokenize_corpus(cfg, tokenizer)
    assert again.key == corpus.key
    assert all(np.array_equal(a, b) for a, b in zip(again.token_ids, corpus.token_ids))


def test_cache_key_changes_with_corpus(tiny_model_dir, tmp_path):
    tokenizer = load_tokenizer(str(tiny_model_dir))
    a = write_jsonl(tmp_path / "a.jsonl", [{"text": "one two"}])
    b = write_jsonl(tmp_path / "b.jsonl", [{"text": "one three"}])
    cache = str(tmp_path / "cache")
    assert tokenize_corpus(data_cfg(a, cache_dir=cache), tokenizer).key != tokenize_corpus(
        data_cfg(b, cache_dir=cache), tokenizer
    ).key


def test_split_is_deterministic_disjoint_and_complete():
    train, val = split_documents(100, 0.1, seed=3)
    assert len(val) == 10 and len(train) == 90
    assert set(train).isdisjoint(val) and set(train) | set(val) == set(range(100))
    again = split_documents(100, 0.1, seed=3)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], val)
    assert not np.array_equal(split_documents(100, 0.1, seed=4)[1], val)


def test_tokenizer_fingerprint_ignores_padding_state_but_not_the_vocabulary(tiny_model_dir):
    from rpt.models import tokenizer_fingerprint

    fresh = tokenizer_fingerprint(load_tokenizer(str(tiny_model_dir)))
    used = load_tokenizer(str(tiny_model_dir))
    used(["a", "longer text"], padding=True, truncation=True, max_length=3)  # switches both on in the backend
    assert tokenizer_fingerprint(used) == fresh
    other = load_tokenizer(str(tiny_model_dir))
    other.add_tokens(["<new>"])
    assert tokenizer_fingerprint(other) != fresh
