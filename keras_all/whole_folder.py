"""Folders written whole: a command's output appears complete or not at all."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def written_whole(out: Path) -> Iterator[Path]:
    """A fresh hidden folder beside ``out`` to write into; it becomes ``out`` when the block ends, and is removed
    when the block fails. ``out`` must not exist yet."""
    out = Path(out)
    if out.exists():
        raise ValueError(f"{out}: already exists; remove it or pass another --output")
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
        os.replace(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
