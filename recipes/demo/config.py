"""The demo's own settings (`demo.*`), and the config schema `experiment=demo` composes with.

Loaded through the `rpt.recipes` entry point before any config is composed, so the core's root
schema does not carry `demo:`; `configs/experiment/demo.yaml` switches the schema to this one
(`override /schema: demo`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

from rpt.config import RootConfig


@dataclass
class DemoConfig:
    """What the demo generates and pre-trains before RPT."""

    dir: str = "runs/demo"  # corpus, tokenizer + model, scores, RPT run and report.md all go here
    seed: int = 0  # seeds the synthetic corpus, the model's initialisation and pre-training
    documents: int = 4000  # synthetic ledgers generated (split into train/val by data.val_fraction)
    vocab_size: int = 512  # cap on the byte-level BPE vocabulary
    hidden_size: int = 64  # tiny Qwen2: width
    layers: int = 2  # tiny Qwen2: decoder layers
    heads: int = 2  # tiny Qwen2: attention heads (head size 32: vLLM on CPU supports it)
    pretrain_steps: int = 200  # fixed next-token pre-training budget, before RPT
    pretrain_batch_size: int = 32  # documents per pre-training step
    pretrain_lr: float = 3e-3  # peak lr (5% warmup, then linear decay to 0)


@dataclass
class DemoRootConfig(RootConfig):
    """The root schema plus the demo's group."""

    demo: DemoConfig = field(default_factory=DemoConfig)


ConfigStore.instance().store(group="schema", name="demo", node=DemoRootConfig, package="_global_")
