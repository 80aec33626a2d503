"""Files written whole or not at all: a crash, or another rank writing the same file, never leaves half of one."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to a temporary file beside `path`, then rename it over `path`.

    The rename is atomic on POSIX; the temporary name carries the process id, so ranks writing
    the same file at once never write into one temporary file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_jsonl(records: list[dict], path: Path) -> None:
    """Write one JSON object per line, atomically (a crash never leaves half a corpus)."""
    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in records))
