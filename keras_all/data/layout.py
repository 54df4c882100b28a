"""Helpers shared by the dataset layouts: walking folders and building listing rows.

Files a layout cannot use are never dropped without a word: links that lead nowhere (dangling or
looping) and files nested deeper than the layout reads are returned as (path, why) pairs, which
end up in the data set's ``ignored`` table and in `keras-all inspect`.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pandas as pd

from .io import IMAGE_SUFFIXES, printable
from .samples import BASE_COLUMNS, DatasetLayoutError

Ignored = list[tuple[str, str]]
NOT_AN_IMAGE = "not an image file (no image extension)"  # skipped; only a file named as an image can be unreadable


def _hidden(path: Path) -> bool:
    return path.name.startswith(".")


def broken_link_reason(path: Path) -> str | None:
    """Why the link ``path`` cannot be read (dangling or looping), or None when it leads to something."""
    try:
        os.stat(path)
    except OSError as err:
        return "a symbolic-link loop" if err.errno == errno.ELOOP else "a link to a file that does not exist"
    return None


def visible_files(folder: Path, ignored: Ignored | None = None) -> list[Path]:
    """Regular, non-hidden files directly in ``folder``, sorted by name.

    With ``ignored``, broken links in ``folder`` and the files in its subfolders are appended to it.
    """
    files = []
    for path in sorted(p for p in folder.iterdir() if not _hidden(p)):
        if path.is_file():
            files.append(path)
        elif ignored is None:
            continue
        elif path.is_dir():
            nested, _ = walk_files(path)
            ignored += [(str(p), f"in a subfolder of {folder.name}/; only files directly in it are read")
                        for p in nested]
        elif path.is_symlink():
            ignored.append((str(path), broken_link_reason(path)))
    return files


def walk_files(root: Path) -> tuple[list[Path], Ignored]:
    """Every non-hidden file under ``root``, following folder links once each; broken links as ignored."""
    files, ignored, seen = [], [], set()
    for here, dirs, names in os.walk(root, followlinks=True):
        here = Path(here)
        real = os.path.realpath(here)
        if real in seen:  # a folder link back into the tree: read once only
            ignored.append((str(here), "a folder link to a folder already read (a link loop)"))
            dirs.clear()
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(n for n in names if not n.startswith(".")):
            path = here / name
            reason = broken_link_reason(path) if path.is_symlink() else None
            if reason:
                ignored.append((str(path), reason))
            elif path.is_file():
                files.append(path)
    return sorted(files), ignored


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
    frame["path"] = frame["path"].map(printable)  # read again through data.io, which finds the file
    frame["subject"] = frame["subject"].fillna("").astype(str)
    frame["label"] = frame["label"].astype("int64")
    return frame


def only_images(files: list[Path], ignored: Ignored) -> list[Path]:
    """The ``files`` whose names end as an image's; the others are added to ``ignored`` as not images."""
    ignored += [(str(p), NOT_AN_IMAGE) for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
    return [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]


def image_files(inputs) -> tuple[list[Path], list[tuple[str, str]]]:
    """The image files named, and under the folders named, by their printable names; the files left out as
    (path, why): links that lead nowhere, and files that are not images (``NOT_AN_IMAGE``)."""
    files, broken = [], []
    for item in map(Path, inputs):
        if item.is_dir():
            found, links = walk_files(item)
            files += found
            broken += links
        elif item.is_file():
            files.append(item)
        elif item.is_symlink():
            broken.append((str(item), broken_link_reason(item)))
        else:
            raise ValueError(f"{printable(item)}: no such file or folder")
    files = only_images(files, broken)
    return [Path(printable(f)) for f in files], [(printable(p), why) for p, why in broken]


def text_lines(path: Path):
    """(line number, the line stripped) for each line of a text file of marks that is not blank."""
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if line.strip():
            yield number, line.strip()
