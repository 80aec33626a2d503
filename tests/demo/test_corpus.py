import json
import re

import numpy as np

from rpt.files import write_jsonl
from rpt.recipes.demo.corpus import LINES_PER_DOC, MAX_OPERAND, generate_corpus, ledger, span_token_mask

LINE = re.compile(r"^(\w+) adds (\w+): (\d) \+ (\d) \+ (\d) \+ (\d) = (\d+)\.$")


def test_same_seed_same_corpus_other_seed_other_corpus():
    assert generate_corpus(20, seed=3) == generate_corpus(20, seed=3)
    assert generate_corpus(20, seed=3) != generate_corpus(20, seed=4)


def test_every_line_adds_up_and_spans_point_at_the_sums():
    for record in generate_corpus(50, seed=0):
        text = record["text"]
        lines = text.split("\n")
        name = re.fullmatch(r"Ledger of (\w+)\.", lines[0]).group(1)
        assert lines[-1] == f"{name} is done."
        body = lines[1:-1]
        assert LINES_PER_DOC[0] <= len(body) <= LINES_PER_DOC[1]
        sums = []
        for line in body:
            who, _, *operands, total = LINE.fullmatch(line).groups()
            assert who == name
            assert all(1 <= int(x) <= MAX_OPERAND for x in operands)
            assert int(total) == sum(int(x) for x in operands)
            sums.append(total)
        assert [text[lo:hi] for lo, hi in record["sum_spans"]] == sums
        operands = [x for line in body for x in LINE.fullmatch(line).groups()[2:6]]
        assert [text[lo:hi] for lo, hi in record["operand_spans"]] == operands
        # each span is exactly the number after "= ", and the line ends right after it
        assert all(text[lo - 2 : lo] == "= " and text[hi : hi + 2] == ".\n" for lo, hi in record["sum_spans"])


def test_span_token_mask_marks_tokens_overlapping_a_span():
    # text "ab = 12 x": tokens "ab" [0,2) " =" [2,4) " " [4,5) "1" [5,6) "2" [6,7) " x" [7,9)
    char_ends = np.array([2, 4, 5, 6, 7, 9])
    assert span_token_mask(char_ends, [[5, 7]]).tolist() == [False, False, False, True, True, False]
    # a token that straddles the span's start counts; one ending exactly at the start does not
    assert span_token_mask(np.array([4, 6, 9]), [[5, 7]]).tolist() == [False, True, True]
    assert not span_token_mask(char_ends, []).any()


def test_write_jsonl_round_trips(tmp_path):
    records = [ledger(np.random.default_rng(0)) for _ in range(3)]
    path = tmp_path / "sub" / "corpus.jsonl"
    write_jsonl(records, path)
    assert [json.loads(line) for line in path.read_text().splitlines()] == records
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
