"""Folders written whole: a command's output appears complete or not at all."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

from keras_all import interruption


def require_new_folder(out: Path) -> Path:
    """``out``, where a command may write its folder: new, or an empty folder; else one clear error. Commands
    check it before any work, so that a refusal comes at once."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: is a file; pass a folder that does not exist yet as --output")
    if out.is_dir() and any(out.iterdir()):
        raise ValueError(f"{out}: folder exists and is not empty; remove it or pass a new --output")
    return out


@contextlib.contextmanager
def written_whole(out: Path) -> Iterator[Path]:
    """A fresh hidden folder beside ``out`` to write into; it becomes ``out`` when the block ends, and is removed
    when the block fails or is interrupted, wherever Ctrl-C lands (a second Ctrl-C waits until it is gone). ``out``
    must be new or an empty folder."""
    out = require_new_folder(out)
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    try:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        yield partial
        interruption.check()  # never made whole after a Ctrl-C, even one that Python swallowed
        os.replace(partial, out)
    except BaseException:
        with _uninterrupted():
            shutil.rmtree(partial, ignore_errors=True)
        raise


@contextlib.contextmanager
def _uninterrupted() -> Iterator[None]:
    """Ctrl-C held back for the block (in the main thread; elsewhere the block simply runs)."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
