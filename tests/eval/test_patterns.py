"""Reasoning-pattern keyword counts, shares and relative change, against hand counts."""

import math

import pytest

from rpt.errors import RptError
from rpt.eval.patterns import count_patterns, load_pattern_keywords, pattern_stats, relative_change

KEYWORDS = {"reflection": ["wait", "let me check"], "deduction": ["therefore", "so the"], "hypothesis": ["maybe"]}


def test_counts_whole_words_case_insensitively_across_whitespace():
    responses = [
        "Wait, let me\ncheck. Therefore the answer. WAIT!",  # reflection 3, deduction 1
        "Maybe... maybe not; awaiting isn't wait-listing? So the end.",  # hypothesis 2, reflection 1 (wait-), deduction 1
        "",
    ]
    assert count_patterns(responses, KEYWORDS).tolist() == [[3, 1, 0], [1, 1, 2], [0, 0, 0]]


def test_shares_and_relative_change_by_hand():
    before = pattern_stats(["wait wait therefore", "maybe"], KEYWORDS)  # 2, 1, 1 of 4 markers
    after = pattern_stats(["wait therefore therefore maybe"], KEYWORDS)  # 1, 2, 1 of 4
    assert before.counts == {"reflection": 2, "deduction": 1, "hypothesis": 1}
    assert before.share == {"reflection": 0.5, "deduction": 0.25, "hypothesis": 0.25}
    assert before.responses_with == {"reflection": 0.5, "deduction": 0.5, "hypothesis": 0.5}
    assert after.responses_with == {"reflection": 1.0, "deduction": 1.0, "hypothesis": 1.0}
    # the paper's measure: relative change of the share of responses showing the pattern (0.5 -> 1.0)
    change = relative_change(before, after)
    assert change == pytest.approx({"reflection": 1.0, "deduction": 1.0, "hypothesis": 1.0})
    assert relative_change(after, before) == pytest.approx({"reflection": -0.5, "deduction": -0.5, "hypothesis": -0.5})


def test_no_markers_gives_nan_shares():
    stats = pattern_stats(["nothing here"], KEYWORDS)
    assert all(math.isnan(v) for v in stats.share.values())


def test_default_keywords_are_the_papers_table_9_verbatim():
    from rpt.config import load_config

    # arXiv 2506.08007, Appendix E, Table 9, copied here independently of configs/patterns/paper.yaml
    table_9 = {
        "transition": "alternatively, think differently",
        "reflection": "wait, initial answer, original answer, looking back, thought process",
        "breakdown": "break down, break this down",
        "hypothesis": "probably, something like",
        "divergent_thinking": "etc., or something, either, sometimes it refers, otherwise, exploring, options",
        "deduction": "summarize, conclusion, conclude, finally, logically, consequently",
    }
    assert load_config([]).eval.pattern_keywords == "paper"
    assert load_pattern_keywords("paper") == {k: v.split(", ") for k, v in table_9.items()}
    keywords = load_pattern_keywords("paper")
    counts = count_patterns(["Hmm, etc. Wait... I'd say it's either this or something else; logically, finally."], keywords)
    assert counts.tolist() == [[0, 1, 0, 0, 3, 2]]


def test_shipped_keywords_cover_the_six_patterns(tmp_path):
    keywords = load_pattern_keywords("rpt")  # rpt's own longer lists stay selectable
    assert list(keywords) == ["transition", "reflection", "breakdown", "hypothesis", "divergent_thinking", "deduction"]
    custom = tmp_path / "mine.yaml"
    custom.write_text("reflection: [wait]\n")
    assert load_pattern_keywords(str(custom)) == {"reflection": ["wait"]}
    custom.write_text("reflection: []\n")
    with pytest.raises(RptError, match="non-empty list"):
        load_pattern_keywords(str(custom))
    with pytest.raises(RptError, match="shipped: paper, rpt"):
        load_pattern_keywords("nope")
