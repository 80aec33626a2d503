"""Find plugins by short name (entry points) or by dotted path, the same way for every kind."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from omegaconf import DictConfig, OmegaConf

import torch

from rpt.api import PluginContext, Reward, Rollout, TokenFilter
from rpt.errors import RptError, suggest

#: plugin kind -> (entry-point group, base class)
KINDS: dict[str, tuple[str, type]] = {
    "reward": ("rpt.rewards", Reward),
    "filter": ("rpt.filters", TokenFilter),
    "rollout": ("rpt.rollouts", Rollout),
}


@dataclass(frozen=True)
class PluginInfo:
    kind: str
    name: str
    target: str  # "module:Class"

    def load(self) -> type:
        module, _, attr = self.target.partition(":")
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj

    @property
    def description(self) -> str:
        """First docstring line; a broken third-party plugin is shown, not fatal to the listing."""
        try:
            doc = inspect.getdoc(self.load()) or ""
        except Exception as err:  # any import-time failure of someone else's plugin
            return f"(cannot load {self.target}: {err})"
        return doc.splitlines()[0] if doc else ""

    @property
    def options(self) -> str:
        """The constructor's options as `name=default`, `name` where there is none ("" for a broken plugin)."""
        try:
            params = inspect.signature(self.load()).parameters.values()
        except Exception:  # shown by `description` already
            return ""
        return ", ".join(p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}" for p in params)


def available(kind: str) -> dict[str, PluginInfo]:
    """Installed plugins of one kind, by short name; a name registered twice is an error."""
    group, _ = _kind(kind)
    found: dict[str, PluginInfo] = {}
    for ep in entry_points(group=group):
        if ep.name in found and found[ep.name].target != ep.value:
            raise RptError(f"{kind} plugin {ep.name!r} is registered twice: {found[ep.name].target} and {ep.value}")
        found[ep.name] = PluginInfo(kind, ep.name, ep.value)
    return dict(sorted(found.items()))


def resolve(kind: str, name: str) -> type:
    """The plugin class for a short name or a dotted path `pkg.module.Class` / `pkg.module:Class`."""
    _, base = _kind(kind)
    plugins = available(kind)
    if name in plugins:
        cls = plugins[name].load()
    elif "." in name or ":" in name:
        module, sep, attr = name.partition(":") if ":" in name else name.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as err:
            raise RptError(f"cannot import {kind} plugin {name!r}: {err}") from None
    else:
        raise RptError(
            f"unknown {kind} plugin {name!r}{suggest(name, plugins)}; valid names: {', '.join(plugins)}"
        )
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise RptError(f"{kind} plugin {name!r} is not a subclass of {base.__module__}.{base.__name__}")
    return cls


def build(kind: str, cfg: DictConfig | dict) -> Any:
    """Instantiate the plugin a config group names: `{name: ..., **constructor kwargs}`."""
    name, cls, options = _checked(kind, cfg)
    try:
        return cls(**options)
    except (TypeError, ValueError) as err:
        raise RptError(f"{kind} plugin {name!r}: {err}") from None


def defaults(cls: type) -> dict[str, Any]:
    """A plugin's options that have defaults, with them: its constructor is where they are declared."""
    params = inspect.signature(cls).parameters.values()
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def with_plugin_defaults(cfg: DictConfig) -> DictConfig:
    """The config with each plugin group's unset options filled from its constructor (what runs, in full)."""
    cfg = cfg.copy()
    for kind in KINDS:
        name, cls, options = _checked(kind, cfg[kind])
        OmegaConf.update(cfg, kind, {"name": name, **defaults(cls), **options}, merge=False, force_add=True)
    return cfg


def _checked(kind: str, cfg: DictConfig | dict) -> tuple[str, type, dict[str, Any]]:
    """The plugin's name, class and set options; an option its constructor does not take is an error."""
    options = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    name = options.pop("name", None)
    if not name:
        raise RptError(f"the {kind} config needs a 'name' (one of: {', '.join(available(kind))})")
    cls = resolve(kind, name)
    params = inspect.signature(cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key in options:
        if key not in params and not takes_any:
            raise RptError(
                f"{kind} plugin {name!r} has no option {key!r}{suggest(key, params)}; "
                f"options: {', '.join(params) or 'none'}"
            )
    return name, cls, options


def plugin_context(
    cfg: DictConfig,
    tokenizer: Any,
    policy: torch.nn.Module | None = None,
    device: torch.device | None = None,
    policy_path: str | None = None,
) -> PluginContext:
    """The typed context plugins are set up with, read from the run's config.

    `policy_path` names the policy's folder when it is not `model.policy` (eval of several models).
    The compute dtype is FSDP's `strategy.param_dtype` under mixed precision, else the dtype of the
    policy's weights (of `model.dtype` when there is no live policy).
    """
    model = cfg.model
    policy_path = policy_path or OmegaConf.select(cfg, "model.policy", default=None, throw_on_missing=False)
    param = next(policy.parameters()) if policy is not None else None
    compute_dtype = cfg.strategy.param_dtype or (str(param.dtype).removeprefix("torch.") if param is not None else model.dtype)
    return PluginContext(
        tokenizer=tokenizer,
        policy=policy,
        device=device or (param.device if param is not None else torch.device("cpu")),
        policy_path=policy_path,
        tokenizer_path=model.tokenizer or policy_path,
        compute_dtype=compute_dtype,
        logprob_chunk_tokens=cfg.grpo.logprob_chunk_tokens,
        proxy_path=model.proxy,
    )


def _kind(kind: str) -> tuple[str, type]:
    if kind not in KINDS:
        raise RptError(f"unknown plugin kind {kind!r}; kinds: {', '.join(KINDS)}")
    return KINDS[kind]
