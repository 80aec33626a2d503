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
    task = make_task(CORPUS, 0, 2, data(max_context_tokens=1, max_target_tokens=2))
    assert task.context_ids == (11,) and task.context_text == " caf"
    assert task.target_ids == (12, 13, 14) and task.target_text == "é🙂" and task.boundaries == (2, 6)


def test_a_target_ending_inside_a_character_is_extended_to_its_end():
    task = make_task(CORPUS, 0, 3, data(max_context_tokens=2, max_target_tokens=1))
    assert task.context_ids == (11, 12) and task.context_text == " café"
    assert task.target_ids == (13, 14) and task.target_text == "🙂" and task.boundaries == (4,)


def test_candidate_positions_respect_min_context_and_skip_tokens_inside_a_character():
    rows = candidate_positions(CORPUS, np.array([0]), min_context_tokens=3)
    assert rows.tolist() == [[0, 3], [0, 5]]  # 4 is the emoji's second byte token


def test_documents_ending_inside_split_characters_give_tasks_every_reward_can_score(tiny_model_dir, tmp_path):
    """CJK and emoji that the tiny tokenizer splits into byte tokens, at the end of each document:
    every drawn task has a non-empty target ending on a boundary, and no reward raises."""

    from rpt.api import PluginContext
    from rpt.registry import build

    tokenizer = load_tokenizer(str(tiny_model_dir))
    texts = ["abc 漢字", "hi 🙂", "x 🙂👍🏽", "tail é", "数"]
    enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    assert any(len(ids) > len(text) for ids, text in zip(enc["input_ids"], texts))  # characters are split
    ends = [np.maximum.accumulate(np.array([e for _, e in offsets])) for offsets in enc["offset_mapping"]]
    corpus = TokenizedCorpus(texts, [np.array(i) for i in enc["input_ids"]], ends, "split")
    rewards = {name: build("reward", {"name": name}) for name in ("exact_match", "prefix_match", "first_token")}
    rewards["first_token"].setup(PluginContext(tokenizer=tokenizer))
    for max_target in (1, 2, 16):
        rows = candidate_positions(corpus, np.arange(len(texts)), min_context_tokens=1)
        tasks = [make_task(corpus, d, p, data(max_target_tokens=max_target)) for d, p in rows]
        assert tasks
        for task in tasks:
            assert task.target_text and task.boundaries[-1] == len(task.target_text.encode("utf-8"))
            assert texts[task.doc_id].endswith(task.target_text) or task.target_text in texts[task.doc_id]
        answers = [t.next_token_text for t in tasks]
        for reward in rewards.values():
            values = reward(answers, tasks, 1).values
            assert values.shape == (len(tasks),)
        assert rewards["exact_match"](answers, tasks, 1).values.tolist() == [1.0] * len(tasks)


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
        assert len(task.context_ids) == min(pos, 32) and len(task.target_ids) <= 4 + 3  # + a split character's rest
        assert task.boundaries[-1] == len(task.target_text.encode("utf-8"))
    assert "\n" in corpus.texts[0]  # the format's escaped newline became a real one
