"""`rpt <command> [key=value ...]`: every command takes Hydra-style config overrides."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from rpt.errors import RptError


def cmd_plugins(args: argparse.Namespace) -> None:
    """List installed plugins per kind."""
    from rpt.registry import KINDS, available

    for kind in KINDS:
        print(f"{kind}s:")
        for info in available(kind).values():
            print(f"  {info.name:<16} {info.description}")
            if options := info.options:
                print(f"  {'':<16} options: {options}")


def cmd_config(args: argparse.Namespace) -> None:
    """Print the composed config."""
    from rpt.config import load_config, resolved_yaml
    from rpt.registry import with_plugin_defaults

    print(resolved_yaml(with_plugin_defaults(load_config(args.overrides))), end="")


def cmd_tasks(args: argparse.Namespace) -> None:
    """Print a few NTP tasks built from the configured corpus."""
    from rpt.config import load_config
    from rpt.data.preview import print_tasks

    print_tasks(load_config(args.overrides), count=args.count)


def cmd_score(args: argparse.Namespace) -> None:
    """Score every corpus position with the proxy LM (top-k entropy), resumably."""
    from rpt.config import load_config
    from rpt.proxy.score import run_score

    run_score(load_config(args.overrides))


def cmd_eval(args: argparse.Namespace) -> None:
    """Next-token accuracy per difficulty bucket of one model, or two compared; `eval mc`: multiple choice."""
    from rpt.config import load_config

    if args.overrides[:1] == ["mc"]:
        from rpt.eval.mc import run_mc

        run_mc(load_config(args.overrides[1:]))
        return
    from rpt.eval.evaluate import run_eval

    run_eval(load_config(args.overrides))


def cmd_demo(args: argparse.Namespace) -> None:
    """The embedded CPU demo: corpus, tokenizer, tiny model, RPT and a compute-matched NTP baseline, report; `demo table2`: RLVR from its models."""
    from rpt.config import load_config

    if args.overrides[:1] == ["table2"]:
        from rpt.recipes.demo.table2 import run_table2

        run_table2(load_config(["experiment=demo_rlvr", *args.overrides[1:]]))
        return
    from rpt.recipes.demo.run import run_demo

    run_demo(load_config(["experiment=demo", *args.overrides]))


def cmd_train(args: argparse.Namespace) -> None:
    """RPT with GRPO; `resume=last` (or run.resume=...) continues a run from its newest checkpoint."""
    from rpt.config import load_config
    from rpt.train.run import expand_shorthands, train

    result = train(load_config(expand_shorthands(args.overrides)))
    print(f"run: {result.run_dir}\ncheckpoint: {result.checkpoint}\nmetrics: {result.metrics_csv}")


def cmd_ablate(args: argparse.Namespace) -> None:
    """A grid of `rpt train` runs (comma lists are axes; seeds=N, baseline=ntp), evaluated and tabulated."""
    from rpt.ablate.runner import run_ablation

    run_ablation(args.overrides, dry_run=args.dry_run)


def cmd_export(args: argparse.Namespace) -> None:
    """Write a run's (or one checkpoint's) policy as a Hugging Face folder."""
    from rpt.export import export

    print(export(args.source, args.out_dir, force=args.force))


def cmd_report(args: argparse.Namespace) -> None:
    """Markdown report with plots of a run's eval results; `scaling RUN_DIR` fits the scaling law first."""
    from rpt.eval.report import run_report

    run_report(args.run_dir, args.overrides)


def cmd_patterns(args: argparse.Namespace) -> None:
    """Reasoning-pattern shares of the responses a reasoning eval saved in RUN_DIR."""
    from rpt.eval.report import run_patterns

    run_patterns(args.run_dir, args.overrides)


def cmd_plan(args: argparse.Namespace) -> None:
    """Per-GPU memory estimate of a training step for the configured model, lengths and cluster."""
    from rpt.config import load_config
    from rpt.plan import estimate, plan_inputs

    print(estimate(plan_inputs(load_config(args.overrides), args.gpu_gib, args.gpus_per_node)).render())


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], None], str]] = {
    "plugins": (cmd_plugins, "list installed reward, filter and rollout plugins"),
    "config": (cmd_config, "show the composed config: rpt config show experiment=demo"),
    "tasks": (cmd_tasks, "print a few NTP tasks built from a corpus"),
    "score": (cmd_score, "score corpus positions with the proxy LM: rpt score model.proxy=... data.path=..."),
    "eval": (cmd_eval, "next-token accuracy per difficulty bucket: rpt eval eval.models=[a,b] data.scores=...; "
                       "multiple choice: rpt eval mc eval.mc.path=..."),
    "patterns": (cmd_patterns, "reasoning-pattern shares of a reasoning eval's responses: rpt patterns RUN_DIR"),
    "report": (cmd_report, "markdown report + plots of RUN_DIR: rpt report [scaling] RUN_DIR"),
    "demo": (cmd_demo, "the embedded CPU demo: tiny model, RPT on hard tokens vs. an NTP baseline, report in demo.dir; "
                       "rpt demo table2 demo.dir=...: RLVR from its pre-trained, RPT and NTP models"),
    "train": (cmd_train, "RPT with GRPO: rpt train model.policy=... data.path=... [resume=last]"),
    "ablate": (cmd_ablate, "a resumable grid of runs + NTP baseline: rpt ablate 'reward=a,b' seeds=3 baseline=ntp run.dir=..."),
    "export": (cmd_export, "write a run's policy as a Hugging Face folder: rpt export RUN_DIR_OR_CKPT OUT_DIR"),
    "plan": (cmd_plan, "will it fit? per-GPU memory of a training step: rpt plan experiment=paper_14b"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rpt",
        description="Reinforcement Pre-Training: next-token prediction as RL with a verifiable reward.",
        epilog="Overrides are Hydra-style: group=option (reward=exact_match) or key=value (trainer.max_steps=20).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (func, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == "config":
            p.add_argument("action", choices=["show"], help="what to do with the config")
        if name == "tasks":
            p.add_argument("--count", type=int, default=5, help="how many tasks to print (default: 5)")
        if name == "plan":
            p.add_argument("--gpu-gib", type=float, default=80.0, help="memory of one GPU in GiB (default: 80)")
            p.add_argument("--gpus-per-node", type=int, default=8,
                           help="GPUs per node when trainer.devices is not a number (default: 8)")
        if name == "ablate":
            p.add_argument("--dry-run", action="store_true", help="print the grid and the time estimate, run nothing")
        if name == "export":
            p.add_argument("source", help="a run directory (its newest checkpoint) or a checkpoint")
            p.add_argument("out_dir", help="the Hugging Face folder to write (new or empty)")
            p.add_argument("--force", action="store_true", help="replace OUT_DIR if it holds an earlier export")
        elif name != "plugins":
            if name in ("report", "patterns"):
                p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory (report: or `scaling RUN_DIR`)")
            p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except RptError as err:
        print(f"rpt: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rpt: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
