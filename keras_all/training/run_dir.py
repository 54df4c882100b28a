"""A run folder that is complete or visibly marked incomplete, never silently half-written."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

INCOMPLETE = "INCOMPLETE"


def new_run_dir(base: str | Path, name: str) -> Path:
    return Path(base) / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"


def open_run(path: Path, resume: bool) -> Path:
    """Create ``path`` (or reopen it with ``resume``) and mark it incomplete until ``close_run``."""
    if path.exists() and any(path.iterdir()) and not resume:
        raise ValueError(f"{path}: folder exists and is not empty; pass --resume to continue it or a new --output")
    if resume and not (path / "config.yaml").is_file():
        raise ValueError(f"{path}: nothing to resume (no config.yaml); start a new run without --resume")
    if resume and not (path / INCOMPLETE).exists():
        raise ValueError(f"{path}: this run is already complete; nothing to resume")
    path.mkdir(parents=True, exist_ok=True)
    (path / INCOMPLETE).write_text("this run has not finished; `keras-all train ... --resume` continues it\n")
    return path


def close_run(path: Path) -> None:
    (path / INCOMPLETE).unlink()


def mark_failed(path: Path, error: BaseException) -> None:
    with open(path / INCOMPLETE, "a") as marker:
        marker.write(f"stopped by {type(error).__name__}: {error}\n")


def write_json(path: Path, data) -> None:
    """Write JSON atomically: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_plain) + "\n")
    os.replace(tmp, path)


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
