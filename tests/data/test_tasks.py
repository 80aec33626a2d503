import numpy as np
from omegaconf import OmegaConf

from rpt.config import DataConfig, load_config
from rpt.data.corpus import TokenizedCorpus, tokenize_corpus
from rpt.data.tasks import candidate_positions, make_task, select_tasks
from rpt.models import load_tokenizer
from tests.fixtures import GSM8K

# "ab café🙂 x" tokenised by hand: "ab" | " caf" | "é" | 🙂 as two byte tokens | " x"
TEXT = "ab café🙂 x"
CORPUS = TokenizedCorpus(
    texts=[TEXT],
    token_ids=[np.array([10, 11, 12, 13, 14, 15])],
    char_ends=[np.array([2, 6, 7, 8, 8, 10])],
    key="hand",
)


def data(**kw):
    return OmegaConf.merge(OmegaConf.structured(DataConfig), {"path": "x.jsonl", **kw})


def test_task_fields_by_hand():
    task = make_task(CORPUS, 0, 1, data(max_target_tokens=16))
    assert task.context_ids == (10,) and task.context_text == "ab"
    assert task.target_ids == (11, 12, 13, 14, 15)
    assert task.target_text == " café🙂 x"
    # " caf" = 4 bytes, "é" = 2, the emoji = 4 (both byte tokens end on it), " x" = 2
    assert task.boundaries == (4, 6, 10, 12)
    assert task.next_token_text == " caf"


def test_context_is_left_truncated_at_a_token_boundary_and_target_capped():
    task = make_task(CORPUS, 0, 3, data(max_context_tokens=2, max_target_tokens=1))
    assert task.context_ids == (11, 12) and task.context_text == " café"
    assert task.target_ids == (13,) and task.target_text == "🙂" and task.boundaries == (4,)


def test_candidate_positions_respect_min_context():
    rows = candidate_positions(CORPUS, np.array([0]), min_context_tokens=4)
    assert rows.tolist() == [[0, 4], [0, 5]]


def test_gsm8k_tasks_reassemble_the_document(tiny_model_dir, tmp_path):
    import pytest

    if not (GSM8K / "test.jsonl").exists():
        pytest.skip("shared GSM8K data not present")
    cfg = load_config(
        [f"data.path={GSM8K / 'test.jsonl'}", "data.format='{question}\\n{answer}'", "data.max_documents=20",
         f"data.cache_dir={tmp_path}", "data.max_context_tokens=32", "data.max_target_tokens=4"]
    )
    corpus = tokenize_corpus(cfg.data, load_tokenizer(str(tiny_model_dir)))
    rows = select_tasks(cfg, corpus, "train")
    for doc, pos in rows[:: max(1, len(rows) // 200)]:
        task = make_task(corpus, doc, pos, cfg.data)
        text = corpus.texts[doc]
        start = text.index(task.context_text + task.target_text)
        assert text[start:].startswith(task.context_text + task.target_text)
        assert len(task.context_ids) == min(pos, 32) and len(task.target_ids) <= 4
        assert task.boundaries[-1] == len(task.target_text.encode("utf-8"))
    assert "\n" in corpus.texts[0]  # the format's escaped newline became a real one
