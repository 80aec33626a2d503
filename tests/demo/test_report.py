import numpy as np
import pytest

from rpt.errors import RptError
from rpt.eval.buckets import paired_difference
from rpt.recipes.demo.report import add_bucket, format_demo_table, format_timings, headline, read_curves
from rpt.recipes.demo.run import MARKER, prepare_dir


def test_prepare_dir_clears_an_earlier_demo_but_not_a_foreign_folder(tmp_path):
    demo = prepare_dir(tmp_path / "demo")
    (demo / "report.md").write_text("old")
    prepare_dir(demo)
    assert sorted(p.name for p in demo.iterdir()) == [MARKER]

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(RptError, match="not made by `rpt demo`"):
        prepare_dir(foreign)
    assert (foreign / "thesis.tex").read_text() == "precious"


def _result():
    bucket = {"n": 4, "accuracy": 0.5, "ci95": [0.1, 0.9]}
    return {
        "models": {"pretrained": {"buckets": {"all": bucket}}, "rpt_policy": {"buckets": {"all": bucket}}},
        "comparison": {"first": "pretrained", "second": "rpt_policy", "buckets": {}},
    }


def test_add_bucket_scores_only_the_masked_positions():
    before = np.array([0, 0, 1, 1, 0, 1.0])
    after = np.array([1, 1, 1, 0, 0, 1.0])
    mask = np.array([True, True, True, False, False, False])
    result = _result()
    add_bucket(result, "sums", mask, before, after)
    assert result["models"]["pretrained"]["buckets"]["sums"]["accuracy"] == pytest.approx(1 / 3)
    assert result["models"]["rpt_policy"]["buckets"]["sums"]["accuracy"] == pytest.approx(1.0)
    diff = result["comparison"]["buckets"]["sums"]
    assert diff["n"] == 3 and diff["difference"] == pytest.approx(2 / 3)
    expected = paired_difference(before[:3], after[:3], np.zeros(3), {})["all"]
    assert diff["ci95"] == pytest.approx(list(expected.ci95))


@pytest.mark.parametrize(
    "diff, verdict",
    [
        ({"n": 9, "difference": 0.1, "ci95": [0.02, 0.18]}, "+10.0 points (95% CI [+2.0, +18.0], n = 9 paired positions): an increase"),
        ({"n": 9, "difference": -0.1, "ci95": [-0.2, -0.01]}, "a decrease"),
        ({"n": 9, "difference": 0.01, "ci95": [-0.02, 0.04]}, "not distinguishable from no change"),
    ],
)
def test_headline_says_what_the_interval_supports(diff, verdict):
    result = {"comparison": {"buckets": {"hard": diff}}}
    assert headline(result, "hard").startswith("hard: ") and headline(result, "hard").endswith(verdict)


def test_read_curves_collects_sparse_lightning_rows(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(
        "step,train/reward,train/entropy,val/ntp_acc\n"
        "0,,,0.25\n"
        "1,0.5,2.0,\n"
        "2,0.75,1.5,\n"
        "2,,,0.5\n"
    )
    curves = read_curves(path)
    assert curves.train_steps.tolist() == [1, 2] and curves.reward.tolist() == [0.5, 0.75]
    assert curves.entropy.tolist() == [2.0, 1.5]
    assert curves.val_steps.tolist() == [0, 2] and curves.val_ntp_acc.tolist() == [0.25, 0.5]


def test_format_timings_adds_a_total():
    table = format_timings({"corpus": (1.25, 2.0), "rpt": (100.0, 150.5)})
    assert "| corpus | 1.2 | 2.0 |" in table and "| **total** | **101.2** | **152.5** |" in table


def test_demo_table_puts_each_comparison_in_its_column():
    def result(first, second, acc_first, acc_second, diff):
        bucket = lambda acc: {"n": 10, "accuracy": acc, "ci95": [acc - 0.1, acc + 0.1]}  # noqa: E731
        return {
            "thresholds": {"hard": 1.5},
            "models": {first: {"buckets": {"hard": bucket(acc_first)}}, second: {"buckets": {"hard": bucket(acc_second)}}},
            "comparison": {"first": first, "second": second,
                           "buckets": {"hard": {"n": 10, "difference": diff, "ci95": [diff - 0.05, diff + 0.05]}}},
        }

    results = {"rpt": result("pretrained", "rpt_policy", 0.3, 0.4, 0.1),
               "ntp": result("pretrained", "policy", 0.3, 0.9, 0.6),
               "rpt_vs_ntp": result("policy", "rpt_policy", 0.9, 0.4, -0.5)}
    header, _, row = format_demo_table(results).splitlines()
    assert header.split(" | ")[2:5] == ["start", "after RPT", "after NTP (same compute)"]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells == ["hard (H > 1.5)", "10", "30.0% [20.0, 40.0]", "40.0% [30.0, 50.0]", "90.0% [80.0, 100.0]",
                     "+10.0% [+5.0, +15.0]", "+60.0% [+55.0, +65.0]", "-50.0% [-55.0, -45.0]"]
