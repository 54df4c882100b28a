"""Helpers shared by the dataset layouts: walking folders and building listing rows."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .samples import BASE_COLUMNS, DatasetLayoutError


def visible_files(folder: Path) -> list[Path]:
    """Regular, non-hidden files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def find_dirs(root: Path, names: set[str], max_depth: int = 3) -> list[Path]:
    """Folders under ``root`` (itself included) whose lower-cased name is in ``names``."""
    found = []
    for here, dirs, _ in os.walk(root):
        depth = len(Path(here).relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if depth >= max_depth:
            dirs.clear()
        if Path(here).name.lower() in names:
            found.append(Path(here))
    return found


def require_dir(root: str | Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: no such folder; pass --data-dir the folder that holds the data set")
    return root


def rows_frame(rows: list[dict]) -> pd.DataFrame:
    """A listing DataFrame with the base columns first (``subject`` as strings, "" when unknown)."""
    extra = list(dict.fromkeys(k for row in rows for k in row if k not in BASE_COLUMNS))
    frame = pd.DataFrame(rows, columns=BASE_COLUMNS + extra)
    frame["subject"] = frame["subject"].fillna("").astype(str)
    frame["label"] = frame["label"].astype("int64")
    return frame
