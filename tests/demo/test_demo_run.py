"""The whole embedded demo as `make demo` runs it, then `rpt train experiment=demo` on its assets."""

import csv
import json

import pytest

from rpt.ablate.flops import rpt_run_flops
from rpt.cli import main


@pytest.mark.slow
def test_demo_writes_report_and_its_assets_train_with_every_reward(tmp_path, capsys):
    demo_dir = tmp_path / "demo"
    assert main(["demo", f"demo.dir={demo_dir}"]) == 0
    out = capsys.readouterr().out
    assert f"rpt train experiment=demo demo.dir={demo_dir}" in out

    results = json.loads((demo_dir / "eval.json").read_text())
    assert list(results) == ["rpt", "ntp", "rpt_vs_ntp"]
    models = {name: list(result["models"]) for name, result in results.items()}
    assert models == {"rpt": ["pretrained", "rpt_policy"], "ntp": ["pretrained", "policy"], "rpt_vs_ntp": ["policy", "rpt_policy"]}
    for result in results.values():
        for bucket in ("all", "hard", "sums", "operands"):
            assert all(result["models"][m]["buckets"][bucket]["n"] > 0 for m in result["models"])
            assert bucket in result["comparison"]["buckets"]
    # the baseline spent the RPT run's training FLOPs (6·N per token it trained on), not more than one step over
    ntp_tokens = [int(float(row["train/tokens"])) for row in csv.DictReader((demo_dir / "ntp" / "metrics.csv").open())]
    n_params = results["rpt"]["models"]["pretrained"]["n_params"]
    budget = rpt_run_flops(n_params, demo_dir / "rpt" / "metrics.csv", ppo_epochs=1, reference=False) / (6 * n_params)
    assert sum(ntp_tokens[:-1]) < budget <= sum(ntp_tokens)
    report = (demo_dir / "report.md").read_text()
    assert "| sums |" in report and "after NTP (same compute)" in report
    assert "![training curves](curves.png)" in report and "| **total** |" in report
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
