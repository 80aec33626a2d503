"""`score_corpus` against per-position forwards, its resumability, and its corpus/tokenizer checks."""

import json

import numpy as np
import pytest
import torch

from rpt.cli import main
from rpt.data.corpus import TokenizedCorpus
from rpt.data.tasks import make_task
from rpt.errors import RptError
from rpt.proxy import load_entropies, load_scores, score_corpus
from rpt.proxy.artifact import align_by_chars
from rpt.proxy.entropy import target_rank_and_prob, topk_entropy

VOCAB = 61


@pytest.fixture(scope="module")
def model():
    from tests.fixtures import tiny_qwen2

    return tiny_qwen2(VOCAB, hidden_size=32).eval()


def random_corpus(lengths, seed=0) -> TokenizedCorpus:
    rng = np.random.default_rng(seed)
    ids = [rng.integers(0, VOCAB, n) for n in lengths]
    return TokenizedCorpus(["x" * n for n in lengths], ids, [np.arange(1, n + 1) for n in lengths], key=f"random{seed}-{lengths}")


def reference(model, ids, start, position, k=16):
    """One forward pass per position over ids[start:position], as a task prompt would be run."""
    with torch.no_grad():
        logits = model(torch.as_tensor(ids[start:position])[None]).logits[0, -1]
    rank, prob = target_rank_and_prob(logits[None], torch.tensor([int(ids[position])]))
    return topk_entropy(logits, k).item(), rank.item(), prob.item()


def test_stride_one_scores_exactly_the_task_context(model, tmp_path):
    """With stride 1 every position sees exactly its task's context: compare with make_task's prompt."""
    from rpt.config import DataConfig
    from omegaconf import OmegaConf

    corpus = random_corpus([23, 9, 1])
    data = OmegaConf.merge(OmegaConf.structured(DataConfig), {"path": "x.jsonl", "max_context_tokens": 6})
    artifact = score_corpus(corpus, model, tmp_path / "s", proxy_id="tiny", max_context_tokens=6, stride=1,
                            batch_tokens=40, progress=False)
    entropies, ranks, probs = (artifact.per_document(c) for c in ("entropy", "rank", "prob"))
    for doc, ids in enumerate(corpus.token_ids):
        assert np.isnan(entropies[doc][0])
        for p in range(1, len(ids)):
            task = make_task(corpus, doc, p, data)
            start = p - len(task.context_ids)
            want = reference(model, ids, start, p)
            assert entropies[doc][p] == pytest.approx(want[0], abs=1e-4)
            assert ranks[doc][p] == want[1]
            assert probs[doc][p] == pytest.approx(want[2], rel=1e-4)


def test_long_documents_are_scored_in_overlapping_windows(model, tmp_path):
    context, stride = 5, 4
    window = context + stride - 1
    corpus = random_corpus([30, 12, 4], seed=1)
    entropies = score_corpus(corpus, model, tmp_path / "s", proxy_id="tiny", max_context_tokens=context,
                             stride=stride, batch_tokens=24, progress=False).per_document("entropy")
    for doc, ids in enumerate(corpus.token_ids):
        for p in range(1, len(ids)):
            # Independent of the plan's code: the first window holds the document's first `window`
            # tokens; then windows of `stride` positions start `context` tokens before their first.
            start = 0 if p <= window else window + 1 + (p - window - 1) // stride * stride - context
            assert p - start >= min(p, context)
            assert entropies[doc][p] == pytest.approx(reference(model, ids, start, p)[0], abs=1e-4)


class Interrupted(Exception):
    pass


class CrashAfter(torch.nn.Module):
    """Wraps a model; raises on the forward call after `calls` successful ones (a killed run)."""

    def __init__(self, model, calls):
        super().__init__()
        self.model, self.calls, self.seen = model, calls, 0

    def forward(self, **inputs):
        if self.seen == self.calls:
            raise Interrupted
        self.seen += 1
        return self.model(**inputs)


def test_an_interrupted_run_resumes_to_the_same_artifact(model, tmp_path):
    corpus = random_corpus([40, 17, 33, 8, 25], seed=2)
    settings = dict(proxy_id="tiny", max_context_tokens=6, stride=3, batch_tokens=30, progress=False)
    clean = score_corpus(corpus, model, tmp_path / "clean", **settings)
    assert clean.meta["n_batches"] > 4
    with pytest.raises(Interrupted):
        score_corpus(corpus, CrashAfter(model, 3), tmp_path / "resumed", **settings)
    resumed_model = CrashAfter(model, calls=-1)  # never raises; counts forwards
    resumed = score_corpus(corpus, resumed_model, tmp_path / "resumed", **settings)
    assert resumed_model.seen == clean.meta["n_batches"] - 3, "finished batches were recomputed"
    assert resumed.complete
    for name in ("entropy.npy", "rank.npy", "prob.npy", "offsets.npy", "meta.json", "progress.json"):
        assert (tmp_path / "clean" / name).read_bytes() == (tmp_path / "resumed" / name).read_bytes()


def test_resuming_with_other_settings_is_refused(model, tmp_path):
    corpus = random_corpus([10])
    score_corpus(corpus, model, tmp_path / "s", proxy_id="tiny", max_context_tokens=4, stride=2, progress=False)
    with pytest.raises(RptError, match="other settings.*stride"):
        score_corpus(corpus, model, tmp_path / "s", proxy_id="tiny", max_context_tokens=4, stride=3, progress=False)


def test_load_entropies_checks_the_corpus(model, tmp_path):
    corpus = random_corpus([10, 5])
    score_corpus(corpus, model, tmp_path / "s", proxy_id="tiny", max_context_tokens=4, stride=2, progress=False)
    entropies = load_entropies(tmp_path / "s", corpus)
    assert [len(e) for e in entropies] == [10, 5] and np.isnan(entropies[1][0]) and np.isfinite(entropies[1][1:]).all()
    with pytest.raises(RptError, match="another corpus"):
        load_entropies(tmp_path / "s", random_corpus([10, 6]))
    with pytest.raises(RptError, match="another tokenizer.*align_tokenizers"):  # same texts, other token ids
        load_entropies(tmp_path / "s", random_corpus([10, 5], seed=9))
    with pytest.raises(RptError, match="run `rpt score` first"):
        load_scores(tmp_path / "nothing", corpus)


def test_cli_refuses_a_proxy_with_another_tokenizer(capsys, tiny_model_dir, corpus_jsonl, tmp_path):
    from tests.fixtures import tiny_qwen2, train_tokenizer

    other = tmp_path / "other"
    tokenizer = train_tokenizer(["completely different text " * 20], vocab_size=280)
    tokenizer.save_pretrained(other)
    tiny_qwen2(len(tokenizer), hidden_size=32).save_pretrained(other)
    code = main(["score", f"model.policy={tiny_model_dir}", f"model.proxy={other}", f"data.path={corpus_jsonl}",
                 f"data.cache_dir={tmp_path / 'cache'}"])
    err = capsys.readouterr().err
    last_line = err.strip().splitlines()[-1]
    assert code == 2 and last_line.startswith("rpt: error: ") and "differs from the corpus tokenizer" in last_line


def test_align_by_chars_by_hand():
    # source tokens "ab|c|de" (ends 2, 3, 5); target tokens "a|bc|d|e" (ends 1, 3, 4, 5)
    values = np.array([0.1, 0.2, 0.3], dtype=np.float32)
    aligned = align_by_chars(np.array([2, 3, 5]), values, np.array([1, 3, 4, 5]), np.nan)
    # target starts 0, 1, 3, 4: source starts 0, 2, 3 -> matches at 0 and 3 only
    assert np.array_equal(aligned, np.array([0.1, np.nan, 0.3, np.nan], dtype=np.float32), equal_nan=True)


def test_a_proxy_with_another_tokenizer_is_mapped_by_characters(tiny_model_dir, corpus_jsonl, tmp_path):
    from rpt.config import load_config
    from rpt.data.corpus import tokenize_corpus
    from tests.fixtures import tiny_qwen2, train_tokenizer
    from rpt.models import load_tokenizer
    from tests.fixtures import CORPUS

    other = tmp_path / "other"
    tokenizer = train_tokenizer(CORPUS, vocab_size=270)  # same documents, fewer merges: other boundaries
    tokenizer.save_pretrained(other)
    tiny_qwen2(len(tokenizer), hidden_size=32).save_pretrained(other)
    args = [f"model.policy={tiny_model_dir}", f"model.proxy={other}", f"data.path={corpus_jsonl}",
            f"data.cache_dir={tmp_path / 'cache'}", f"data.scores={tmp_path / 's'}", "score.align_tokenizers=true"]
    assert main(["score", *args]) == 0
    cfg = load_config(args)
    policy_corpus = tokenize_corpus(cfg.data, load_tokenizer(str(tiny_model_dir)))
    proxy_corpus = tokenize_corpus(cfg.data, tokenizer)
    assert policy_corpus.key != proxy_corpus.key
    aligned = load_entropies(tmp_path / "s", policy_corpus)
    own = load_entropies(tmp_path / "s", proxy_corpus)  # the proxy's own tokens, unmapped
    matched = 0
    for doc, entropy in enumerate(aligned):
        assert len(entropy) == len(policy_corpus.token_ids[doc])
        starts = {int(e): q + 1 for q, e in enumerate(proxy_corpus.char_ends[doc][:-1])}  # char -> proxy token
        for p in range(1, len(entropy)):
            q = starts.get(int(policy_corpus.char_ends[doc][p - 1]))
            if q is None:
                assert np.isnan(entropy[p])
            else:
                assert entropy[p] == own[doc][q]
                matched += 1
    assert matched > 0


def word_problems(count: int, seed: int = 0) -> list[str]:
    """Self-made GSM8K-like questions of a few dozen tokens each (no shared data needed)."""
    rng = np.random.default_rng(seed)
    names, items = ["Ann", "Bob", "Cleo", "Dev"], ["apples", "pens", "cards", "stamps"]
    return [f"{rng.choice(names)} has {rng.integers(2, 90)} {rng.choice(items)} and buys {rng.integers(2, 30)} more "
            f"at {rng.integers(1, 9)} dollars each. Then {rng.choice(names)} gives away {rng.integers(1, 20)}. "
            f"How many {rng.choice(items)} are left, and what was spent?" for _ in range(count)]


def test_cli_scores_and_resumes_after_an_interrupt(capsys, monkeypatch, tiny_model_dir, tmp_path):
    import rpt.proxy.score as score
    from tests.fixtures import write_corpus

    corpus = write_corpus(tmp_path / "questions.jsonl", word_problems(16))
    args = ["score", f"model.proxy={tiny_model_dir}", f"data.path={corpus}",
            "data.max_context_tokens=32", "score.stride=32", "score.batch_tokens=320",
            f"data.cache_dir={tmp_path / 'cache'}"]
    assert main([*args, f"data.scores={tmp_path / 'clean'}"]) == 0
    out, err = capsys.readouterr()
    assert "tok/s" in err and f"data.scores={tmp_path / 'clean'}" in out

    calls = {"n": 0}
    real = score._score_batch

    def killed_halfway(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(score, "_score_batch", killed_halfway)
    assert main([*args, f"data.scores={tmp_path / 'resumed'}"]) == 130
    assert json.loads((tmp_path / "resumed" / "progress.json").read_text()) == {"batches_done": 3}
    monkeypatch.setattr(score, "_score_batch", real)
    assert main([*args, f"data.scores={tmp_path / 'resumed'}"]) == 0
    for name in ("entropy.npy", "rank.npy", "prob.npy", "offsets.npy", "meta.json", "progress.json"):
        assert (tmp_path / "clean" / name).read_bytes() == (tmp_path / "resumed" / name).read_bytes()
