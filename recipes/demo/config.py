"""The demo's own settings (`demo.*`), and the config schema `experiment=demo` composes with.

Loaded through the `rpt.recipes` entry point before any config is composed, so the core's root
schema does not carry `demo:`; `configs/experiment/demo.yaml` switches the schema to this one
(`override /schema: demo`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

from rpt.config import RootConfig
from rpt.ranges import num


@dataclass
class Table2Config:
    """`rpt demo table2`: the same RLVR budget (experiment=demo_rlvr) from each start model; held-out accuracy before and after."""

    starts: dict[str, str] = field(default_factory=lambda: {
        "pretrained": "${demo.dir}/pretrained",  # (a) the demo's pre-trained model
        "rpt": "${demo.dir}/rpt_policy",  # (b) after RPT
        "ntp": "${demo.dir}/ntp/policy",  # (c) after continued next-token training with RPT's compute (the demo's baseline)
    })  # table row -> model folder
    questions: int = num(3000, ge=2)  # ledger questions generated (trainer.val_tasks of them held out)
    question_seed: int = num(1, ge=0)  # seeds the question ledgers; must differ from demo.seed (the corpus's)
    seeds: int = num(3, ge=1)  # RLVR runs per start (trainer.seed and sampling.seed + 0, 1, ...)
    dir: str = "${demo.dir}/table2"  # questions.jsonl, runs/<start>/seed-<k>/, table2.md, table2.json


@dataclass
class DemoConfig:
    """What the demo generates and pre-trains before RPT."""

    dir: str = "runs/demo"  # corpus, tokenizer + model, scores, RPT run and report.md all go here
    seed: int = num(0, ge=0)  # seeds the synthetic corpus, the model's initialisation and pre-training
    documents: int = num(4000, ge=2)  # synthetic ledgers generated (split into train/val by data.val_fraction)
    vocab_size: int = num(512, ge=1)  # cap on the byte-level BPE vocabulary
    hidden_size: int = num(64, ge=1)  # tiny Qwen2: width
    layers: int = num(2, ge=1)  # tiny Qwen2: decoder layers
    heads: int = num(2, ge=1)  # tiny Qwen2: attention heads (head size 32: vLLM on CPU supports it)
    pretrain_steps: int = num(80, ge=0)  # fixed next-token pre-training budget, before RPT: the sums only partly learned
    pretrain_batch_size: int = num(32, ge=1)  # documents per pre-training step
    pretrain_lr: float = num(3e-3, gt=0)  # peak lr (5% warmup, then linear decay to 0)
    table2: Table2Config = field(default_factory=Table2Config)


@dataclass
class DemoRootConfig(RootConfig):
    """The root schema plus the demo's group."""

    demo: DemoConfig = field(default_factory=DemoConfig)


ConfigStore.instance().store(group="schema", name="demo", node=DemoRootConfig, package="_global_")
