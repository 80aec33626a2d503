"""The GRPO LightningModule: it only wires the pieces (rollout, reward, `rpt.grpo`) into a step.

One training step:
1. draw this rank's share of `trainer.prompts_per_step` tasks and render their prompts;
2. sample `sampling.n` responses per prompt with the rollout plugin, extract the answers,
   score them with the reward plugin;
3. with dynamic sampling on, drop groups whose rewards are all equal and draw more tasks until
   the step is full or `dynamic_sampling.max_tries` extra draws are spent;
4. group-relative advantages; old (and reference) log-probs from the policy before the update
   (on-policy, with one epoch and one mini-batch and nothing else to score, the update's own
   forward gives them: the ratio is 1 and the gradient the same, one pass fewer);
5. `grpo.ppo_epochs` x `grpo.mini_batches` optimizer steps, each accumulating micro-batches of
   `grpo.micro_batch_size` sequences whose loss is normalised by the count over the whole
   mini-batch (all micro-batches, all ranks). The rollout engine gets the new weights once,
   right before the next rollout.
Optimization is manual (one rollout feeds several optimizer steps); Lightning runs the loop,
precision, devices, strategy, logging and checkpoint I/O.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from lightning.pytorch import LightningModule
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from rpt.answers import Phase, ScoredSamples, no_phase, sample_answers
from rpt.data.qa import TaskPromptFormat
from rpt.data.tasks import NTPTask
from rpt.errors import RptError
from rpt.eval.standard import standard_accuracy
from rpt.grpo.advantages import group_advantages, informative_groups
from rpt.grpo.logprobs import response_logprobs
from rpt.grpo.loss import aggregate_loss, clipped_policy_loss, kl_penalty, loss_normaliser
from rpt.grpo.off_policy import logprob_gap_metrics, truncated_is_weights
from rpt.models import to_dtype
from rpt.padding import pad_columns
from rpt.parallel.collectives import clip_grad_norm_, full_weights, global_sum, gradient_normaliser
from rpt.parallel.strategy import data_parallel_group, data_parallel_rank, data_parallel_size
from rpt.registry import build, plugin_context
from rpt.rng import rng_state, set_rng_state
from rpt.sampling import sampling_params
from rpt.train.batch import Groups, RolloutBatch
from rpt.train.guards import check_finite_update
from rpt.train.metrics import StepMetrics, mean_over_ranks
from rpt.train.data import TaskSource
from rpt.train.policy import load_parallel_policy
from rpt.train.qa_data import QASource
from rpt.train.stream import StepIndices
from rpt.train.timing import StepTimer, device_peak_flops, flops_per_token

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
        self.task_source = (QASource if cfg.data.kind == "qa" else TaskSource)(cfg, tokenizer)  # the module draws; the source knows nothing of it
        self.rollout = build("rollout", cfg.rollout)
        self.reward = build("reward", cfg.reward)
        self.next_step = 0  # the step to run next; checkpointed, and where the step loader resumes
        self.train_metrics = StepMetrics([f"train/{m}" for m in TRAIN_METRICS])
        self.val_metrics = StepMetrics([f"val/{m}" for m in VAL_METRICS])
        self._plugin_metrics: list[dict[str, float]] = []
        self._rng_to_restore: dict[str, Any] | None = None
        self._plugins_ready = False
        self._update_loss: torch.Tensor | float = 0.0
        self._earlier_optimizer_steps = 0
        self.timer = StepTimer()
        self._policy_version = self._pushed_version = 0  # optimizer steps taken / reflected in the engine

    # ---------------------------------------------------------------- setup
    def setup(self, stage: str) -> None:
        """Every rank builds the tasks (before a checkpoint's stream position is restored into them)."""
        self.task_source.setup()

    def train_dataloader(self) -> DataLoader:
        """The batches are step numbers, from the step to run next (after a resume: where it left off);
        the tasks come from `task_source`, drawn as the step needs them."""
        return DataLoader(StepIndices(self.next_step, self.cfg.trainer.max_steps), batch_size=None)

    def transfer_batch_to_device(self, batch: Any, device: Any, dataloader_idx: int) -> Any:
        """The batches are step numbers: nothing to move."""
        return batch

    def configure_model(self) -> None:
        """Load the policy (and, only with a KL term, the reference); shard them under FSDP."""
        if self.policy is not None:
            return
        mesh, device = self.device_mesh, self._init_device()
        self.policy = load_parallel_policy(self.cfg.model, self.cfg.strategy, mesh, device)
        if self.cfg.grpo.kl_coef > 0:
            reference = load_parallel_policy(self.cfg.model, self.cfg.strategy, mesh, device)
            object.__setattr__(self, "reference", reference.requires_grad_(False).eval())

    def _init_device(self) -> torch.device:
        """Where sharded weights are materialised: the rank's device, or the CPU when they are offloaded there."""
        if self.cfg.strategy.cpu_offload or self._trainer is None:
            return torch.device("cpu")
        return self.trainer.strategy.root_device

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
        self.timer = StepTimer(flops_per_token(self.policy.config), device_peak_flops(self.device, self.cfg.trainer.peak_tflops))

    def check_plugins(self) -> None:
        """Let the plugins refuse the run's context before anything is loaded or written."""
        context = plugin_context(self.cfg, self.tokenizer)
        self.rollout.check(context)
        self.reward.check(context)

    def _setup_plugins(self) -> None:
        if self._plugins_ready:
            return
        if self.reference is not None and self.reference.device != self.device:
            self.reference.to(self.device)
        self.train_metrics.to(self.device)
        self.val_metrics.to(self.device)
        context = plugin_context(self.cfg, self.tokenizer, self.policy, self.device)
        self.rollout.setup(context)
        self.reward.setup(context)
        self._plugins_ready = True

    # ---------------------------------------------------------------- training
    def training_step(self, step: torch.Tensor | int, batch_idx: int) -> None:
        step = int(step)
        self.timer.start()
        self.policy.eval()  # no dropout: the update must score tokens as the sampler did
        groups = self._collect(step)
        if len(groups):
            batch = RolloutBatch.from_groups(
                groups, self._advantages(groups.rewards), self._pad_id, self.device
            )
            if not self._old_logprobs_from_update(batch):
                with self.timer.phase("logprobs"):
                    self._score_before_update(batch)
            self._update(batch)
            self._count_tokens(batch, groups)
        self.next_step = step + 1
        self._log_step()
        if self._validation_due():
            self.validate()

    def _count_tokens(self, batch: RolloutBatch, groups: Groups) -> None:
        """Tokens through forward + backward this step (`ppo_epochs` passes over the batch): the D of 6·N·D."""
        local = (batch.prompt_mask.sum() + batch.response_mask.sum()).float() * self.cfg.grpo.ppo_epochs
        self.timer.count("trained", groups.tokens() * self.cfg.grpo.ppo_epochs)  # counted on the host: no sync
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
        drawn = 0
        for attempt in range(1 + (dynamic.max_tries if active else 0)):
            groups = self._sample(self._draw_tasks(share), step, attempt)
            drawn += len(groups)
            if active:
                groups = groups.select(informative_groups(groups.rewards, n))
            kept = kept + groups if attempt else groups
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
        seed = _derive_seed(self.cfg.sampling.seed, step, attempt, data_parallel_rank(self.trainer.strategy))
        with self.timer.phase("sync"):
            self._push_weights()
        scored = self._sample_answers(tasks, n, seed, phase=self.timer.phase)
        output = scored.output
        self.timer.count("generated", sum(len(r) for r in output.response_ids))
        rewards = scored.rewards
        self._record_samples(self.train_metrics, "train", rewards, scored.answers, output.response_ids)
        self._plugin_metrics.append({f"reward/{k}": v for k, v in scored.reward.metrics.items()})
        self._plugin_metrics.append({f"rollout/{k}": v for k, v in output.metrics.items()})
        responses = [list(r) for r in output.response_ids]
        logprobs = None if output.response_logprobs is None else [list(x) for x in output.response_logprobs]
        return Groups(n, list(tasks), scored.prompts, responses, scored.answers, rewards, logprobs)

    def _sample_answers(self, tasks: list[NTPTask], n: int, seed: int, phase: Phase = no_phase) -> ScoredSamples:
        params = sampling_params(self.cfg.sampling, n=n, seed=seed)
        return sample_answers(tasks, self.rollout, self.reward, self.prompt, params, self.cfg.reward.name, phase)

    def _advantages(self, rewards: torch.Tensor) -> torch.Tensor:
        return group_advantages(rewards, self.cfg.sampling.n, norm_by_std=self.cfg.grpo.norm_adv_by_std)

    def _old_logprobs_from_update(self, batch: RolloutBatch) -> bool:
        """The on-policy fast path: one optimizer step on samples of the current weights, no reference
        and no TIS weights (both need log-probs before the update), so the update's forward scores them.
        TIS weighs nothing when the engine reported no log-probs of its own (it is the policy)."""
        grpo = self.cfg.grpo
        tis = grpo.tis_cap is not None and batch.rollout_logprobs is not None
        return grpo.ppo_epochs == 1 and grpo.mini_batches == 1 and self.reference is None and not tis

    @torch.no_grad()
    def _score_before_update(self, batch: RolloutBatch) -> None:
        """Old log-probs (and policy entropy) from the current policy, reference log-probs if any."""
        old, ref = [], []
        for micro in batch.chunks(self.cfg.grpo.micro_batch_size):
            logprobs, entropy = self._logprobs(self.policy, micro, with_entropy=True)
            self.train_metrics.update_masked("train/entropy", entropy, micro.response_mask)
            old.append(pad_columns(logprobs, batch.response_ids.shape[1]))
            self.timer.count("scored", micro.prompt_mask.shape[0] * (micro.prompt_mask.shape[1] + micro.response_mask.shape[1]))
            if self.reference is not None:
                ref.append(pad_columns(self._logprobs(self.reference, micro)[0], batch.response_ids.shape[1]))
        batch.old_logprobs = torch.cat(old)
        batch.ref_logprobs = torch.cat(ref) if ref else None
        self._log_logprob_gap(batch)

    def _log_logprob_gap(self, batch: RolloutBatch) -> None:
        """Engine vs policy log-probs; nothing to log when the engine is the policy (no log-probs of its own)."""
        if batch.rollout_logprobs is None:
            return
        gap = logprob_gap_metrics(batch.old_logprobs, batch.rollout_logprobs, batch.response_mask, self.cfg.grpo.tis_cap)
        self._plugin_metrics.append({f"off_policy/{k}": v for k, v in gap.items()})  # engine vs policy

    def _update(self, batch: RolloutBatch) -> None:
        grpo = self.cfg.grpo
        optimizer, schedule = self.optimizers(), self.lr_schedulers()
        for _ in range(grpo.ppo_epochs):
            for mini in batch.split(grpo.mini_batches):
                with self.timer.phase("update"):
                    local_count = loss_normaliser(mini.response_mask, grpo.loss_agg)
                    normaliser = gradient_normaliser(local_count, data_parallel_group(self.trainer.strategy))
                    optimizer.zero_grad()
                    loss, fresh = 0.0, []
                    for micro in mini.chunks(grpo.micro_batch_size):
                        micro_loss, logprobs = self._micro_batch_loss(micro, normaliser)
                        self.manual_backward(micro_loss)
                        loss += micro_loss.detach()
                        fresh.append(pad_columns(logprobs, mini.response_ids.shape[1]))
                    if mini.old_logprobs is None:  # the fast path: the update's forward scored the samples
                        mini.old_logprobs = torch.cat(fresh)
                        self._log_logprob_gap(mini)
                    self.train_metrics.update("train/loss", loss)  # this rank's share; their mean is the global loss
                    self._update_loss = loss  # checked with the gradient norm before the optimizer step
                    self.train_metrics.update("train/lr", optimizer.param_groups[0]["lr"])
                    optimizer.step()  # gradients are clipped in on_before_optimizer_step
                    schedule.step()
                    self._policy_version += 1

    def _micro_batch_loss(self, micro: RolloutBatch, normaliser: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This micro-batch's loss, and its log-probs (detached). Without old log-probs (the fast
        path) they are this forward's own, detached: ratio 1, the same gradient as a separate pass."""
        grpo, mask, metrics = self.cfg.grpo, micro.response_mask, self.train_metrics
        on_policy = micro.old_logprobs is None
        logprobs, entropy = self._logprobs(self.policy, micro, with_entropy=on_policy)
        old = logprobs.detach() if on_policy else micro.old_logprobs
        if on_policy:
            metrics.update_masked("train/entropy", entropy, mask)
        token_loss, clipped = clipped_policy_loss(
            logprobs, old, micro.advantages[:, None], grpo.clip_low, grpo.clip_high, grpo.dual_clip
        )
        if grpo.tis_cap is not None and micro.rollout_logprobs is not None:  # reweight the engine's samples towards the policy
            token_loss = token_loss * truncated_is_weights(old, micro.rollout_logprobs, grpo.tis_cap)
        metrics.update_masked("train/clip_frac", clipped.float(), mask)
        metrics.update_masked("train/approx_kl", kl_penalty(logprobs.detach(), old, "k3"), mask)
        if micro.ref_logprobs is not None:
            kl = kl_penalty(logprobs, micro.ref_logprobs, grpo.kl_estimator)
            metrics.update_masked("train/ref_kl", kl, mask)
            token_loss = token_loss + grpo.kl_coef * kl
        return aggregate_loss(token_loss, mask, grpo.loss_agg, normaliser), logprobs.detach()

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Clip the global gradient norm here: Lightning has unscaled the gradients by now."""
        max_norm = self.cfg.optim.grad_clip or float("inf")
        norm = clip_grad_norm_(self.policy.parameters(), max_norm)  # sharded grads on any mix of meshes
        check_finite_update(self.next_step, self._update_loss, norm, data_parallel_group(self.trainer.strategy))
        self.train_metrics.update("train/grad_norm", norm)

    def _log_step(self) -> None:
        values = self.train_metrics.compute()
        values.update(mean_over_ranks(self._plugin_metrics))
        self._plugin_metrics.clear()
        values.update(self.timer.finish())  # this rank's clock
        if self.next_step % self.cfg.trainer.log_every == 0:
            # straight to the loggers, as validation does: Lightning's `self.log` costs about 0.4 ms per
            # metric per step (its result collection), ~10% of a small model's step for ~25 metrics.
            # The x-axis `step` is steps finished (validation before training is at 0).
            for logger in self.loggers:
                logger.log_metrics(values, step=self.next_step)
                logger.save()
        self.log("step", float(self.next_step), prog_bar=True, logger=False, on_step=True, on_epoch=False)
        eta = self.timer.eta_minutes(self.cfg.trainer.max_steps - self.next_step)
        self.log("eta_min", eta, prog_bar=True, logger=False, on_step=True, on_epoch=False)
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
        start = time.perf_counter()
        strategy = self.trainer.strategy
        rank, ranks = data_parallel_rank(strategy), data_parallel_size(strategy)
        tasks = self.task_source.val_tasks
        tasks = tasks[: len(tasks) - len(tasks) % ranks][rank::ranks]  # equal shares: ranks step together
        batch = self.cfg.trainer.prompts_per_step
        for index, first in enumerate(range(0, len(tasks), batch)):
            self._validate_batch(tasks[first : first + batch], index)
        values = self.val_metrics.compute()
        if values:
            values["time/validation"] = time.perf_counter() - start
            for logger in self.loggers:
                logger.log_metrics(values, step=self.next_step)

    def _validate_batch(self, tasks: list[NTPTask], index: int) -> None:
        if isinstance(tasks[0], NTPTask):  # question-answer tasks have no next token to predict
            hits = standard_accuracy(self.policy, tasks, self.cfg.grpo.micro_batch_size, progress=False)
            self.val_metrics.update("val/ntp_acc", torch.from_numpy(hits).float())
        seed = _derive_seed(self.cfg.sampling.seed, -1, index, data_parallel_rank(self.trainer.strategy))
        self._push_weights()
        scored = self._sample_answers(tasks, 1, seed)
        rewards = scored.rewards
        self._record_samples(self.val_metrics, "val", rewards, scored.answers, scored.output.response_ids)

    # ---------------------------------------------------------------- checkpoint state
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """The run's position is the step, the task stream and the RNGs; Lightning's loop counters are
        left out, so a resumed run may also be longer (a larger trainer.max_steps) than the first."""
        checkpoint["rpt"] = {"next_step": self.next_step, "rng": rng_state(), "tasks": self.task_source.state_dict()}
        checkpoint.pop("loops", None)
        checkpoint["global_step"] = self._earlier_optimizer_steps + self.trainer.global_step  # over all sessions

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._earlier_optimizer_steps = checkpoint.get("global_step", 0)  # the loops restart at 0 on resume
        state = checkpoint["rpt"]
        self.next_step = state["next_step"]
        self.task_source.load_state_dict(state["tasks"])
        self._rng_to_restore = state["rng"]  # applied when training starts, after Lightning's own setup

    def on_train_start(self) -> None:
        if self._rng_to_restore is not None:
            set_rng_state(self._rng_to_restore)
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

    def _record_samples(self, metrics: StepMetrics, prefix: str, rewards: torch.Tensor, answers: list, responses: list) -> None:
        metrics.update(f"{prefix}/reward", rewards)
        metrics.update(f"{prefix}/accuracy", (rewards == 1).float())
        metrics.update(f"{prefix}/format_error", torch.tensor([a is None for a in answers], dtype=torch.float32))
        metrics.update(f"{prefix}/response_len", torch.tensor([len(r) for r in responses], dtype=torch.float32))

    def _draw_tasks(self, share: int) -> list[NTPTask]:
        """This rank's slice of the next global batch: every rank advances the stream alike."""
        strategy = self.trainer.strategy
        rank, ranks = data_parallel_rank(strategy), data_parallel_size(strategy)
        source = self.task_source
        return source.tasks(source.stream.draw(share * ranks)[rank::ranks])

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

    def _push_weights(self) -> None:
        """Before a rollout: the engine gets the policy's weights if any optimizer step changed them since
        the last push (once per rollout, however many mini-batches and epochs), gathered parameter by
        parameter in the dtype the policy computes in (`strategy.param_dtype`, e.g. bf16)."""
        if self._policy_version != self._pushed_version:
            self.rollout.sync_weights(full_weights(self.policy, to_dtype(self.cfg.strategy.param_dtype)))
            self._pushed_version = self._policy_version

    @property
    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else self.tokenizer.eos_token_id


def _derive_seed(seed: int, step: int, attempt: int, rank: int) -> int:
    """A sampling seed for (step, attempt, rank): a resumed run samples exactly what it would have."""
    return int(np.random.SeedSequence([seed, step + 1, attempt, rank]).generate_state(1)[0])


