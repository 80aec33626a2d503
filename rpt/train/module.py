"""The GRPO LightningModule: it only wires the pieces (rollout, reward, `rpt.grpo`) into a step.

One training step:
1. draw this rank's share of `trainer.prompts_per_step` tasks and render their prompts;
2. sample `sampling.n` responses per prompt with the rollout plugin, extract the answers,
   score them with the reward plugin;
3. with dynamic sampling on, drop groups whose rewards are all equal and draw more tasks until
   the step is full or `dynamic_sampling.max_tries` extra draws are spent;
4. group-relative advantages; old (and reference) log-probs from the policy before the update;
5. `grpo.ppo_epochs` x `grpo.mini_batches` optimizer steps, each accumulating micro-batches of
   `grpo.micro_batch_size` sequences whose loss is normalised by the count over the whole
   mini-batch (all micro-batches, all ranks); after each optimizer step the rollout engine
   gets the new weights.
Optimization is manual (one rollout feeds several optimizer steps); Lightning runs the loop,
precision, devices, strategy, logging and checkpoint I/O.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from lightning.pytorch import LightningModule
from omegaconf import DictConfig

from rpt.api import PluginContext, SamplingParams
from rpt.data.qa import TaskPromptFormat
from rpt.data.tasks import NTPTask
from rpt.errors import RptError
from rpt.grpo.advantages import group_advantages, informative_groups
from rpt.grpo.logprobs import left_pad, response_logprobs
from rpt.grpo.loss import aggregate_loss, clipped_policy_loss, kl_penalty, loss_normaliser
from rpt.grpo.off_policy import logprob_gap_metrics, truncated_is_weights
from rpt.parallel.collectives import clip_grad_norm_, global_sum, gradient_normaliser
from rpt.parallel.sharding import parallelize
from rpt.parallel.strategy import data_parallel_group, data_parallel_rank, data_parallel_size
from rpt.registry import build
from rpt.train.batch import Groups, RolloutBatch
from rpt.train.metrics import StepMetrics, mean_over_ranks
from rpt.train.policy import load_policy

TRAIN_METRICS = (
    "reward", "accuracy", "format_error", "response_len",  # every sample drawn this step
    "kept_ratio", "kept_groups", "dropped_groups",  # dynamic sampling (all groups kept when off)
    "entropy", "loss", "clip_frac", "approx_kl", "ref_kl", "grad_norm", "lr",  # the update
    "tokens",  # prompt + response tokens the update passes went through, all ranks (training compute)
)
VAL_METRICS = ("ntp_acc", "reward", "accuracy", "format_error", "response_len")  # validation: held-out tasks


class GRPOModule(LightningModule):
    """RPT with GRPO: samples answers to next-token tasks, rewards them, updates the policy."""

    def __init__(self, cfg: DictConfig, tokenizer: Any) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.prompt = TaskPromptFormat.from_config(cfg.prompt, tokenizer)
        self.policy: torch.nn.Module | None = None
        # the frozen reference stays out of the module tree: never optimized, never checkpointed
        object.__setattr__(self, "reference", None)
        self.rollout = build("rollout", cfg.rollout)
        self.reward = build("reward", cfg.reward)
        self.next_step = 0  # the step to run next; checkpointed, and where the step loader resumes
        self.train_metrics = StepMetrics([f"train/{m}" for m in TRAIN_METRICS])
        self.val_metrics = StepMetrics([f"val/{m}" for m in VAL_METRICS])
        self._plugin_metrics: list[dict[str, float]] = []
        self._rng_to_restore: dict[str, Any] | None = None
        self._plugins_ready = False

    # ---------------------------------------------------------------- setup
    def configure_model(self) -> None:
        """Load the policy (and, only with a KL term, the reference); shard them under FSDP."""
        if self.policy is not None:
            return
        mesh = self.device_mesh
        self.policy = parallelize(load_policy(self.cfg.model), self.cfg.strategy, mesh)
        if self.cfg.grpo.kl_coef > 0:
            reference = load_policy(self.cfg.model).requires_grad_(False).eval()
            reference = parallelize(reference, self.cfg.strategy, mesh)
            object.__setattr__(self, "reference", reference)

    def configure_optimizers(self) -> dict[str, Any]:
        optim = self.cfg.optim
        optimizer = torch.optim.AdamW(
            self.policy.parameters(), lr=optim.lr, betas=tuple(optim.betas), weight_decay=optim.weight_decay
        )
        warmup = optim.warmup_steps
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup) if warmup else 1.0)
        return {"optimizer": optimizer, "lr_scheduler": schedule}

    def on_fit_start(self) -> None:
        ranks = data_parallel_size(self.trainer.strategy)
        if self.cfg.trainer.prompts_per_step % ranks:
            raise RptError(f"trainer.prompts_per_step={self.cfg.trainer.prompts_per_step} must be a multiple "
                           f"of the {ranks} data-parallel ranks")
        self._setup_plugins()

    def _setup_plugins(self) -> None:
        if self._plugins_ready:
            return
        if self.reference is not None and self.reference.device != self.device:
            self.reference.to(self.device)
        self.train_metrics.to(self.device)
        self.val_metrics.to(self.device)
        context = PluginContext(tokenizer=self.tokenizer, policy=self.policy, config=self.cfg, device=self.device)
        self.rollout.setup(context)
        self.reward.setup(context)
        self._plugins_ready = True

    # ---------------------------------------------------------------- training
    def training_step(self, step: torch.Tensor | int, batch_idx: int) -> None:
        step = int(step)
        self.policy.eval()  # no dropout: the update must score tokens as the sampler did
        groups = self._collect(step)
        if len(groups):
            batch = RolloutBatch.from_groups(
                groups, self._advantages(groups.rewards), self._pad_id, self.device
            )
            self._score_before_update(batch)
            self._update(batch)
            self._count_tokens(batch)
        self.next_step = step + 1
        self._log_step()
        if self._validation_due():
            self.validate()

    def _count_tokens(self, batch: RolloutBatch) -> None:
        """Tokens through forward + backward this step (`ppo_epochs` passes over the batch): the D of 6·N·D."""
        local = (batch.prompt_mask.sum() + batch.response_mask.sum()).float() * self.cfg.grpo.ppo_epochs
        self.train_metrics.update("train/tokens", global_sum(local, data_parallel_group(self.trainer.strategy)))

    def _validation_due(self) -> bool:
        every = self.cfg.trainer.val_every
        return every > 0 and (self.next_step % every == 0 or self.next_step == self.cfg.trainer.max_steps)

    def _collect(self, step: int) -> Groups:
        """This rank's groups for the step, refilled by dynamic sampling when it is on."""
        n = self.cfg.sampling.n
        share = self._prompts_per_rank()
        dynamic = self.cfg.dynamic_sampling
        active = dynamic.start_step is not None and step >= dynamic.start_step
        kept, drawn = Groups(n), 0
        for attempt in range(1 + (dynamic.max_tries if active else 0)):
            groups = self._sample(self._draw_tasks(share), step, attempt)
            drawn += len(groups)
            if active:
                groups = groups.select(informative_groups(groups.rewards, n))
            kept = kept + groups
            if not active or self._every_rank(len(kept) >= share):
                break
        # every rank trains on as many groups, so sharded forward/backward passes stay in step
        count = self._min_over_ranks(min(len(kept), share))
        kept = kept.head(count)
        counts = torch.tensor([float(len(kept)), float(drawn)], device=self.device)
        kept_all, drawn_all = global_sum(counts, data_parallel_group(self.trainer.strategy)).tolist()
        self.train_metrics.update("train/kept_groups", kept_all)  # over all ranks
        self.train_metrics.update("train/dropped_groups", drawn_all - kept_all)
        self.train_metrics.update("train/kept_ratio", kept_all / max(drawn_all, 1.0))
        return kept

    def _sample(self, tasks: list[NTPTask], step: int, attempt: int) -> Groups:
        """Rollouts, answers and rewards for `tasks`; logs reward, accuracy, format errors, lengths."""
        n = self.cfg.sampling.n
        prompts = [self.prompt.render(t) for t in tasks]
        seed = _derive_seed(self.cfg.sampling.seed, step, attempt, data_parallel_rank(self.trainer.strategy))
        output = self.rollout.generate(prompts, self._sampling_params(n=n, seed=seed))
        answers = [self.prompt.extract(text) for text in output.texts]
        result = self.reward(answers, [t for t in tasks for _ in range(n)], n)
        rewards = result.values.detach().float().cpu()
        self._record_samples(self.train_metrics, "train", rewards, answers, output.response_ids)
        self._plugin_metrics.append({f"reward/{k}": v for k, v in result.metrics.items()})
        self._plugin_metrics.append({f"rollout/{k}": v for k, v in output.metrics.items()})
        responses = [list(r) for r in output.response_ids]
        return Groups(n, list(tasks), prompts, responses, answers, rewards, [list(x) for x in output.response_logprobs])

    def _advantages(self, rewards: torch.Tensor) -> torch.Tensor:
        return group_advantages(rewards, self.cfg.sampling.n, norm_by_std=self.cfg.grpo.norm_adv_by_std)

    @torch.no_grad()
    def _score_before_update(self, batch: RolloutBatch) -> None:
        """Old log-probs (and policy entropy) from the current policy, reference log-probs if any."""
        old, ref = [], []
        for micro in batch.chunks(self.cfg.grpo.micro_batch_size):
            logprobs, entropy = self._logprobs(self.policy, micro, with_entropy=True)
            self.train_metrics.update_masked("train/entropy", entropy, micro.response_mask)
            old.append(_pad_to(logprobs, batch.response_ids.shape[1]))
            if self.reference is not None:
                ref.append(_pad_to(self._logprobs(self.reference, micro)[0], batch.response_ids.shape[1]))
        batch.old_logprobs = torch.cat(old)
        batch.ref_logprobs = torch.cat(ref) if ref else None
        gap = logprob_gap_metrics(batch.old_logprobs, batch.rollout_logprobs, batch.response_mask, self.cfg.grpo.tis_cap)
        self._plugin_metrics.append({f"off_policy/{k}": v for k, v in gap.items()})  # engine vs policy

    def _update(self, batch: RolloutBatch) -> None:
        grpo = self.cfg.grpo
        optimizer, schedule = self.optimizers(), self.lr_schedulers()
        for _ in range(grpo.ppo_epochs):
            for mini in batch.split(grpo.mini_batches):
                local_count = loss_normaliser(mini.response_mask, grpo.loss_agg)
                normaliser = gradient_normaliser(local_count, data_parallel_group(self.trainer.strategy))
                optimizer.zero_grad()
                loss = 0.0
                for micro in mini.chunks(grpo.micro_batch_size):
                    micro_loss = self._micro_batch_loss(micro, normaliser)
                    self.manual_backward(micro_loss)
                    loss += micro_loss.detach()
                self.train_metrics.update("train/loss", loss)  # this rank's share; their mean is the global loss
                self.train_metrics.update("train/lr", optimizer.param_groups[0]["lr"])
                optimizer.step()  # gradients are clipped in on_before_optimizer_step
                schedule.step()
                self.rollout.sync_weights(self._policy_weights())

    def _micro_batch_loss(self, micro: RolloutBatch, normaliser: torch.Tensor) -> torch.Tensor:
        grpo, mask = self.cfg.grpo, micro.response_mask
        logprobs, _ = self._logprobs(self.policy, micro)
        token_loss, clipped = clipped_policy_loss(
            logprobs, micro.old_logprobs, micro.advantages[:, None], grpo.clip_low, grpo.clip_high, grpo.dual_clip
        )
        if grpo.tis_cap is not None:  # samples came from the engine: reweight towards the policy's distribution
            token_loss = token_loss * truncated_is_weights(micro.old_logprobs, micro.rollout_logprobs, grpo.tis_cap)
        metrics = self.train_metrics
        metrics.update_masked("train/clip_frac", clipped.float(), mask)
        metrics.update_masked("train/approx_kl", kl_penalty(logprobs.detach(), micro.old_logprobs, "k3"), mask)
        if micro.ref_logprobs is not None:
            kl = kl_penalty(logprobs, micro.ref_logprobs, grpo.kl_estimator)
            metrics.update_masked("train/ref_kl", kl, mask)
            token_loss = token_loss + grpo.kl_coef * kl
        return aggregate_loss(token_loss, mask, grpo.loss_agg, normaliser)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Clip the global gradient norm here: Lightning has unscaled the gradients by now."""
        max_norm = self.cfg.optim.grad_clip or float("inf")
        norm = clip_grad_norm_(self.policy.parameters(), max_norm)  # sharded grads on any mix of meshes
        self.train_metrics.update("train/grad_norm", norm)

    def _log_step(self) -> None:
        values = self.train_metrics.compute()
        values.update(mean_over_ranks(self._plugin_metrics))
        self._plugin_metrics.clear()
        self.log_dict(values, on_step=True, on_epoch=False, sync_dist=False)
        # "step" is the loggers' x-axis: steps finished (validation before training is at 0)
        self.log("step", float(self.next_step), prog_bar=True, on_step=True, on_epoch=False)
        for name, short in (("train/reward", "reward"), ("train/accuracy", "acc")):
            if name in values:
                self.log(short, values[name], prog_bar=True, logger=False, on_step=True, on_epoch=False)

    # ---------------------------------------------------------------- validation
    @torch.no_grad()
    def validate(self) -> None:
        """Held-out accuracy now: greedy next token on the raw context, and the reward of one sampled answer.

        Run by the module itself at absolute steps (0, every `trainer.val_every`, the last), so the
        schedule survives a resume; each rank evaluates its slice of the validation tasks.
        """
        strategy = self.trainer.strategy
        rank, ranks = data_parallel_rank(strategy), data_parallel_size(strategy)
        tasks = self.trainer.datamodule.val_tasks
        tasks = tasks[: len(tasks) - len(tasks) % ranks][rank::ranks]  # equal shares: ranks step together
        batch = self.cfg.trainer.prompts_per_step
        for index, start in enumerate(range(0, len(tasks), batch)):
            self._validate_batch(tasks[start : start + batch], index)
        values = self.val_metrics.compute()
        if values:
            for logger in self.loggers:
                logger.log_metrics(values, step=self.next_step)

    def _validate_batch(self, tasks: list[NTPTask], index: int) -> None:
        if isinstance(tasks[0], NTPTask):  # question-answer tasks have no next token to predict
            self.val_metrics.update("val/ntp_acc", self._greedy_next_token_correct(tasks).float())
        prompts = [self.prompt.render(t) for t in tasks]
        seed = _derive_seed(self.cfg.sampling.seed, -1, index, data_parallel_rank(self.trainer.strategy))
        output = self.rollout.generate(prompts, self._sampling_params(n=1, seed=seed))
        answers = [self.prompt.extract(text) for text in output.texts]
        rewards = self.reward(answers, tasks, 1).values.detach().float().cpu()
        self._record_samples(self.val_metrics, "val", rewards, answers, output.response_ids)

    def _greedy_next_token_correct(self, tasks: list[NTPTask]) -> torch.Tensor:
        hits = []
        for start in range(0, len(tasks), self.cfg.grpo.micro_batch_size):
            chunk = tasks[start : start + self.cfg.grpo.micro_batch_size]
            ids, mask = left_pad([t.context_ids for t in chunk], self._pad_id, self.device)
            positions = (mask.cumsum(1) - 1).clamp(min=0)
            logits = self.policy(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1, use_cache=False).logits
            targets = torch.tensor([t.target_ids[0] for t in chunk], device=self.device)
            hits.append((logits[:, -1].argmax(-1) == targets).cpu())
        return torch.cat(hits)

    # ---------------------------------------------------------------- checkpoint state
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """The run's position is the step, the task stream and the RNGs; Lightning's loop counters are
        left out, so a resumed run may also be longer (a larger trainer.max_steps) than the first."""
        checkpoint["rpt"] = {"next_step": self.next_step, "rng": _rng_state()}
        checkpoint.pop("loops", None)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["rpt"]
        self.next_step = state["next_step"]
        self._rng_to_restore = state["rng"]  # applied when training starts, after Lightning's own setup

    def on_train_start(self) -> None:
        if self._rng_to_restore is not None:
            _set_rng_state(self._rng_to_restore)
            self._rng_to_restore = None
        elif self.next_step == 0 and self.cfg.trainer.val_every > 0:
            self.validate()  # the starting point of the validation curves

    # ---------------------------------------------------------------- helpers
    def _logprobs(self, model: torch.nn.Module, micro: RolloutBatch, with_entropy: bool = False):
        temperature = self.cfg.sampling.temperature
        return response_logprobs(
            model, micro.prompt_ids, micro.prompt_mask, micro.response_ids, micro.response_mask,
            self.cfg.grpo.logprob_chunk_tokens, temperature if temperature > 0 else 1.0, with_entropy,
        )

    def _sampling_params(self, n: int, seed: int) -> SamplingParams:
        s = self.cfg.sampling
        return SamplingParams(n=n, temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens, stop=list(s.stop), seed=seed)

    def _record_samples(self, metrics: StepMetrics, prefix: str, rewards: torch.Tensor, answers: list, responses: list) -> None:
        metrics.update(f"{prefix}/reward", rewards)
        metrics.update(f"{prefix}/accuracy", (rewards == 1).float())
        metrics.update(f"{prefix}/format_error", torch.tensor([a is None for a in answers], dtype=torch.float32))
        metrics.update(f"{prefix}/response_len", torch.tensor([len(r) for r in responses], dtype=torch.float32))

    def _draw_tasks(self, share: int) -> list[NTPTask]:
        """This rank's slice of the next global batch: every rank advances the stream alike."""
        strategy = self.trainer.strategy
        rank, ranks = data_parallel_rank(strategy), data_parallel_size(strategy)
        data = self.trainer.datamodule
        return data.tasks(data.stream.draw(share * ranks)[rank::ranks])

    def _prompts_per_rank(self) -> int:
        ranks = data_parallel_size(self.trainer.strategy)
        return self.cfg.trainer.prompts_per_step // ranks

    def _every_rank(self, flag: bool) -> bool:
        not_done = torch.tensor(0.0 if flag else 1.0, device=self.device)
        return float(global_sum(not_done, data_parallel_group(self.trainer.strategy))) == 0

    def _min_over_ranks(self, value: int) -> int:
        if not (dist.is_available() and dist.is_initialized()):
            return value
        tensor = torch.tensor(value, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MIN, group=data_parallel_group(self.trainer.strategy))
        return int(tensor)

    def _policy_weights(self) -> Iterator[tuple[str, torch.Tensor]]:
        """The policy's weights by Hugging Face name, gathered one at a time when sharded (lazily)."""
        for name, tensor in self.policy.state_dict().items():
            yield name, (tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor).detach()

    @property
    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else self.tokenizer.eos_token_id


def _derive_seed(seed: int, step: int, attempt: int, rank: int) -> int:
    """A sampling seed for (step, attempt, rank): a resumed run samples exactly what it would have."""
    return int(np.random.SeedSequence([seed, step + 1, attempt, rank]).generate_state(1)[0])


def _pad_to(values: torch.Tensor, width: int) -> torch.Tensor:
    return torch.nn.functional.pad(values, (0, width - values.shape[1]))


def _rng_state() -> dict[str, Any]:
    """Every RNG's state, as tensors and plain values (so the checkpoint loads with weights_only)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    numpy_state = [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)]
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
