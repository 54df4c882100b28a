"""A run folder that is complete or visibly marked incomplete, never silently half-written."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

INCOMPLETE = "INCOMPLETE"


def new_run_dir(base: str | Path, name: str) -> Path:
    return Path(base) / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"


def open_run(path: Path, resume: bool, command: str = "train") -> Path:
    """Create ``path`` (or reopen it with ``resume``) and mark it incomplete until ``close_run``.

    A folder holding nothing but the INCOMPLETE marker (a run that stopped before it wrote its
    configuration) is taken over by a fresh run: there is nothing in it to resume or to lose.
    """
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path}: is a file; pass a folder as --output")
    if path.exists() and {p.name for p in path.iterdir()} - {INCOMPLETE} and not resume:
        raise ValueError(f"{path}: folder exists and is not empty; pass --resume to continue it or a new --output")
    if resume and not (path / "config.yaml").is_file():
        raise ValueError(f"{path}: nothing to resume (no config.yaml); start a new run without --resume")
    if resume and not (path / INCOMPLETE).exists():
        raise ValueError(f"{path}: this run is already complete; nothing to resume")
    path.mkdir(parents=True, exist_ok=True)
    (path / INCOMPLETE).write_text(f"this run has not finished; `keras-all {command} ... --resume` continues it\n")
    return path


def close_run(path: Path) -> None:
    (path / INCOMPLETE).unlink()


def mark_failed(path: Path, error: BaseException) -> None:
    with open(path / INCOMPLETE, "a") as marker:
        marker.write(f"stopped by {type(error).__name__}: {error}\n")


def write_or_check(path: Path, text: str, resume: bool, what: str) -> None:
    """Write ``text`` (atomically); when resuming an existing file, insist that it is unchanged."""
    if resume and path.exists():
        if path.read_text() != text:
            raise ValueError(f"{path}: the {what} differs from the interrupted run's; resume with the same "
                             "settings or start a new run")
        return
    write_text_atomically(path, text)


def read_json(path: Path):
    """The JSON content of ``path``; a missing or unreadable file is a ValueError naming it."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: missing; the folder is not a finished keras-all run or evaluation") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not readable JSON ({err}); it was cut short or edited: restore it, or "
                         "train or evaluate again") from None


def write_json(path: Path, data) -> None:
    """Write JSON atomically: a reader never sees half a file."""
    write_text_atomically(path, json.dumps(data, indent=2, default=_plain) + "\n")


def write_text_atomically(path: Path, text: str) -> None:
    """Whole or not at all, also when processes (distributed tuning workers) write the same file at once."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
