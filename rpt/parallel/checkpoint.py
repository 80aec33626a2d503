"""Export the policy of a training checkpoint as a plain Hugging Face folder, in one process.

Training checkpoints are Lightning's: with `strategy=fsdp` a folder written by torch distributed
checkpoint (each rank saves its own shards of weights and optimizer state, plus Lightning's
`meta.pt`), resumable on any number of ranks; with `single`/`ddp` one `.ckpt` file. Inference
tools load neither. `export_checkpoint` reads only the policy's weights (never the optimizer
state) straight from the shards into full CPU tensors, so exporting needs no GPUs and no
relaunch of the ranks that trained: DCP reassembles each tensor from its shards. Peak memory is
one full copy of the policy in its stored dtype.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig

from rpt.errors import RptError

#: where Lightning puts the module's weights inside a checkpoint
STATE_DICT_KEY = "state_dict"
#: written into every exported folder: only a folder holding it may be replaced (with force)
EXPORT_MARKER = ".rpt-export"


def export_checkpoint(checkpoint: str | Path, out_dir: str | Path, policy: str | Path, prefix: str | None = None,
                      force: bool = False, protected: tuple[Path, ...] = ()) -> Path:
    """Write the policy weights in a Lightning checkpoint as a Hugging Face folder; returns the folder.

    `policy` is the model folder the run started from (its config and tokenizer are copied).
    `prefix` is where the policy sits in the LightningModule ("policy."); found when None.
    `out_dir` must be new or empty, or (with `force`) an earlier export; it may not overlap the
    checkpoint, the policy or any `protected` folder (the run directory).
    """
    out = Path(out_dir)
    check_export_target(out, (Path(checkpoint), Path(policy), *protected), force)
    try:
        config = AutoConfig.from_pretrained(policy)
    except (OSError, ValueError) as err:
        raise RptError(f"cannot read the model config of {policy}: {str(err).splitlines()[0]}") from None
    weights = read_policy_weights(Path(checkpoint), config, prefix)
    return save_hf_folder(weights, config, out, tokenizer_source=policy, force=force)


def check_export_target(out: Path, protected: tuple[Path, ...], force: bool) -> None:
    """Refuse, before anything is read or written, an `out` whose replacement could lose data."""
    target = out.expanduser().resolve()
    for path in protected:
        source = path.expanduser().resolve()
        if source.exists() and (target.is_relative_to(source) or source.is_relative_to(target)):
            raise RptError(f"export target {out} overlaps {path}: choose a folder outside the run and the model")
    if target.exists() and not target.is_dir():
        raise RptError(f"export target {out} is a file, not a folder")
    if target.is_dir() and any(target.iterdir()):
        if not (target / EXPORT_MARKER).is_file():
            raise RptError(f"export target {out} is not empty and holds no earlier rpt export; choose a new folder "
                           "(--force overwrites only an earlier export)")
        if not force:
            raise RptError(f"export target {out} holds an earlier export; --force overwrites it")


def read_policy_weights(checkpoint: Path, config: PretrainedConfig, prefix: str | None = None) -> dict[str, torch.Tensor]:
    """The policy's weights from a sharded checkpoint folder or a `.ckpt` file, keyed as in Hugging Face."""
    if not checkpoint.exists():
        raise RptError(f"checkpoint does not exist: {checkpoint}")
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(config)
    expected = list(skeleton.state_dict())
    tied = {name for name, _ in skeleton.named_parameters(remove_duplicate=False)} - dict(skeleton.named_parameters()).keys()
    if checkpoint.is_dir():
        import torch.distributed.checkpoint as dcp

        reader = dcp.FileSystemReader(checkpoint)
        try:
            stored = reader.read_metadata().state_dict_metadata
        except FileNotFoundError:
            raise RptError(f"{checkpoint} is not a sharded checkpoint (no .metadata)") from None
        except Exception as err:  # a damaged .metadata is unpickled: any error type
            raise RptError(f"{checkpoint} is damaged (cannot read its .metadata: {_first_line(err)})") from None
        names = [key.removeprefix(STATE_DICT_KEY + ".") for key in stored if key.startswith(STATE_DICT_KEY + ".")]
        keys = _match_keys(names, expected, tied, prefix, checkpoint)
        weights = {
            f"{STATE_DICT_KEY}.{key}": torch.empty(stored[f"{STATE_DICT_KEY}.{key}"].size,
                                                   dtype=stored[f"{STATE_DICT_KEY}.{key}"].properties.dtype)
            for key in keys.values()
        }
        with warnings.catch_warnings():  # "assuming the intent is to load in a single process": it is
            warnings.filterwarnings("ignore", message=".*single process.*")
            try:
                dcp.load(weights, storage_reader=reader, no_dist=True)
            except Exception as err:  # truncated or missing shard files
                raise RptError(f"{checkpoint} is damaged (cannot read its shards: {_first_line(err)})") from None
        return {name: weights[f"{STATE_DICT_KEY}.{key}"] for name, key in keys.items()}
    stored = load_checkpoint_file(checkpoint).get(STATE_DICT_KEY, {})
    keys = _match_keys(list(stored), expected, tied, prefix, checkpoint)
    return {name: stored[key] for name, key in keys.items()}


def save_hf_folder(state: dict[str, torch.Tensor], config: PretrainedConfig, out_dir: str | Path,
                   tokenizer_source: str | Path | None = None, force: bool = False) -> Path:
    """Write weights + config (+ tokenizer) as a Hugging Face folder, atomically: all or nothing.

    The folder is written beside `out_dir` under a temporary name, then renamed into place. An
    existing `out_dir` is replaced only when it is empty or, with `force`, an earlier export.
    """
    out = Path(out_dir)
    check_export_target(out, (), force)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as err:
        raise RptError(f"cannot write the export {out}: {err.strerror or err}") from None
    old = out.parent / f".{out.name}.replaced-{staging.name}"
    try:
        with torch.device("meta"):
            skeleton = AutoModelForCausalLM.from_config(config)
        skeleton.save_pretrained(staging, state_dict=state)
        if tokenizer_source is not None:
            from rpt.models import load_tokenizer

            load_tokenizer(str(tokenizer_source)).save_pretrained(staging)
        (staging / EXPORT_MARKER).write_text("written by rpt export; rpt export --force may replace this folder\n")
        _swap_in(staging, out, old)
    except OSError as err:
        raise RptError(f"cannot write the export {out}: {err.strerror or err}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    return out


def _swap_in(staging: Path, out: Path, old: Path) -> None:
    """Rename `staging` to `out`; an existing `out` is moved to `old` first and put back if that fails."""
    if out.exists():
        out.rename(old)
    try:
        staging.rename(out)
    except OSError:
        if old.exists():
            old.rename(out)
        raise


def check_readable(checkpoint: Path) -> None:
    """Raise RptError unless `checkpoint` (a `.ckpt` file or a sharded folder) can be opened; reads no tensor data."""
    if checkpoint.is_dir():
        import torch.distributed.checkpoint as dcp

        try:
            dcp.FileSystemReader(checkpoint).read_metadata()
        except Exception as err:  # missing or damaged .metadata
            raise RptError(f"{checkpoint} is not a readable sharded checkpoint: {_first_line(err)}") from None
    else:
        load_checkpoint_file(checkpoint)


def load_checkpoint_file(checkpoint: Path) -> dict:
    """A `.ckpt` file's contents (tensors memory-mapped); RptError when it is truncated or not a checkpoint."""
    try:
        loaded = torch.load(checkpoint, map_location="cpu", mmap=True, weights_only=False)
    except Exception as err:  # torch/pickle raise many types for damaged files
        raise RptError(f"{checkpoint} is not a readable checkpoint (truncated or damaged?): {_first_line(err)}") from None
    if not isinstance(loaded, dict):
        raise RptError(f"{checkpoint} is not a Lightning checkpoint")
    return loaded


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _match_keys(stored: list[str], expected: list[str], tied: set[str], prefix: str | None, where: Path) -> dict[str, str]:
    """Map each Hugging Face weight name to its key in the checkpoint (`prefix` + name).

    Weights tied to another (the LM head tied to the embeddings) may be stored once; they are
    left out and re-tied by `from_pretrained`.
    """
    present = set(stored)
    anchor = expected[0]
    prefixes = [prefix] if prefix is not None else sorted({k[: -len(anchor)] for k in stored if k.endswith(anchor)})
    full = [p for p in prefixes if all(p + name in present for name in expected if name not in tied)]
    if not full:
        raise RptError(f"{where} holds no weights of this model architecture (looked for {anchor!r})")
    if len(full) > 1:
        raise RptError(f"{where} holds several models ({', '.join(repr(p) for p in full)}); pick one with prefix")
    return {name: full[0] + name for name in expected if full[0] + name in present}
