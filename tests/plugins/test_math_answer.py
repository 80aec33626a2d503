"""math_answer: equal values in different forms score 1, wrong or missing answers 0, and it never raises."""

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rpt.plugins.rewards.math_answer import MathAnswer, normalise
from rpt.registry import build


@dataclass(frozen=True)
class QA:
    reference: str


def scores(answers, reference, **options):
    return MathAnswer(**options)(answers, [QA(reference)] * len(answers), len(answers)).values.tolist()


#: (answer, reference): equal as numbers/expressions under the documented rule
EQUAL = [
    ("72", "72"),
    ("72.0", "72"),  # decimals
    ("0.5", "\\frac{1}{2}"),  # fractions, both ways
    ("1/2", "0.5"),
    ("\\frac34", "0.75"),
    ("\\dfrac{3}{4}", "3/4"),
    ("1,000", "1000"),  # thousands separators
    ("1{,}000", "1000"),
    ("1000", "1,000"),
    ("\\$18", "18"),  # currency
    ("$18", "18"),
    ("18 dollars", "18"),  # trailing units
    ("18\\text{ eggs}", "18"),
    ("5\\,\\mathrm{cm}", "5"),
    ("50\\%", "50"),  # percent: compared as its number
    (" 72 ", "72"),
    ("72.", "72"),  # a sentence's full stop
    (" 7.\n", "7"),  # a `direct` answer of three tokens (rpt demo table2)
    ("2\\sqrt{2}", "\\sqrt{8}"),  # symbolic
    ("-3", "-3"),
]

#: (answer, reference): different values, or nothing to compare
DIFFERENT = [
    ("73", "72"),
    ("0.51", "\\frac{1}{2}"),
    ("1,2", "12"),  # not a thousands separator: a list, not 12
    ("500 g", "0.5"),  # units are not converted
    ("-72", "72"),
    ("seventy-two", "72"),  # words are not numbers
    ("", "72"),  # empty
    ("   ", "72"),
    ("\\frac{1}{", "0.5"),  # malformed
]


@pytest.mark.parametrize("answer,reference", EQUAL)
def test_equal_values_in_different_forms_score_one(answer, reference):
    assert scores([answer], reference) == [1.0]


@pytest.mark.parametrize("answer,reference", DIFFERENT)
def test_wrong_or_empty_answers_score_zero(answer, reference):
    assert scores([answer], reference) == [0.0]


def test_format_error_scores_zero():
    assert scores([None, "72"], "72") == [0.0, 1.0]


def test_marker_takes_the_text_after_the_last_marker():
    answers = ["I think #### 70 ... no: #### 72", "#### 72 then #### 71", "the answer is 72 (no marker)", None]
    assert scores(answers, "72", marker="####") == [1.0, 0.0, 0.0, 0.0]


def test_normalise_rule_on_hand_made_cases():
    assert normalise("\\$1,234.5 dollars") == "1234.5"
    assert normalise("12{,}345\\text{ km}") == "12345"
    assert normalise("1,23") == "1,23"


def test_scores_outside_the_main_thread_too():
    """math-verify's timeout uses SIGALRM, which a thread cannot set: the reward must not then score all 0."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(scores, ["\\frac{1}{2}", "3"], "0.5").result() == [1.0, 0.0]


def test_several_accepted_answers_any_one_scores():
    task = type("Task", (), {"references": ("1", "-1")})()
    assert MathAnswer()(["-1", "1", "0"], [task] * 3, 3).values.tolist() == [1.0, 1.0, 0.0]


def test_tasks_without_reference_are_refused():
    with pytest.raises(ValueError, match="no reference answer"):
        MathAnswer()(["1"], [object()], 1)


def test_built_from_its_config_by_entry_point():
    reward = build("reward", {"name": "math_answer", "marker": "####"})
    assert isinstance(reward, MathAnswer) and reward.marker == "####"


MATHY = st.text(alphabet=st.sampled_from(list("0123456789.,-+/*^{}()\\$% abcfrtx=#")), max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers=st.lists(st.one_of(st.none(), MATHY, st.text(max_size=30)), min_size=1, max_size=4),
       reference=st.one_of(MATHY, st.text(max_size=10)), marker=st.sampled_from([None, "####"]))
def test_rewards_are_finite_in_unit_interval_and_never_raise(answers, reference, marker):
    values = MathAnswer(marker=marker)(answers, [QA(reference)] * len(answers), len(answers)).values
    assert values.shape == (len(answers),)
    assert ((values == 0) | (values == 1)).all()
