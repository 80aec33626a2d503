"""The whole embedded demo as `make demo` runs it, then `rpt train experiment=demo` on its assets."""

import csv
import json

import pytest

from rpt.cli import main


@pytest.mark.slow
def test_demo_writes_report_and_its_assets_train_with_every_reward(tmp_path, capsys):
    demo_dir = tmp_path / "demo"
    assert main(["demo", f"demo.dir={demo_dir}"]) == 0
    out = capsys.readouterr().out
    assert f"rpt train experiment=demo demo.dir={demo_dir}" in out

    result = json.loads((demo_dir / "eval.json").read_text())
    before, after = result["models"]
    for bucket in ("all", "hard", "sums", "operands"):
        assert result["models"][before]["buckets"][bucket]["n"] > 0
        assert result["models"][after]["buckets"][bucket]["n"] > 0
        assert bucket in result["comparison"]["buckets"]
    report = (demo_dir / "report.md").read_text()
    assert "| sums |" in report and "![training curves](curves.png)" in report and "| **total** |" in report
    assert (demo_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    curves = {}
    for reward in ("exact_match", "prefix_match", "proxy_prob"):
        run_dir = tmp_path / reward
        argv = ["train", "experiment=demo", f"demo.dir={demo_dir}", f"reward={reward}",
                "trainer.max_steps=5", "trainer.val_every=0", f"run.dir={run_dir}", "logger.wandb.mode=disabled"]
        assert main(argv) == 0, reward
        with (run_dir / "metrics.csv").open() as f:
            curves[reward] = [float(row["train/reward"]) for row in csv.DictReader(f) if row.get("train/reward")]
        assert len(curves[reward]) == 5 and all(0.0 <= r <= 1.0 for r in curves[reward])
    # two-token answers: never one token (exact), right when the first token is (prefix, fixed second
    # token), and soft credit on top of prefix for the rest (proxy_prob)
    assert curves["exact_match"] == [0.0] * 5
    assert all(0 < p < q for p, q in zip(curves["prefix_match"], curves["proxy_prob"]))
