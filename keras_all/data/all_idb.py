"""ALL-IDB (Labati et al. 2011): ALL-IDB1 slides with blast centroids and ALL-IDB2 single-cell crops.

ALL-IDB1: ``im/ImNNN_L.jpg`` with ``xyc/ImNNN_L.xyc`` (one "x y" blast centroid per line).
ALL-IDB2: ``img/ImNNN_L.tif``. L = 1 for ALL, 0 for healthy. Subjects are not published.
"""

from __future__ import annotations

import re
from pathlib import Path

from .layout import find_dirs, require_dir, rows_frame, text_lines, visible_files
from .samples import DatasetLayoutError, Listing

_NAME = re.compile(r"^Im(\d+)_([01])\.(jpe?g|tiff?)$", re.IGNORECASE)
_PARTS = {"all-idb1": ("im", ".jpg"), "all-idb2": ("img", ".tif")}
CLASS_NAMES = {1: "ALL", 0: "healthy"}


def list_all_idb(root: str | Path, part: str | None = None) -> Listing:
    """List ALL-IDB1 and/or ALL-IDB2 under ``root``; ``part=None`` takes whichever is there."""
    root = require_dir(root)
    parts = [part] if part else list(_PARTS)
    rows, ignored, bad = [], [], []
    for name in parts:
        for folder in find_dirs(root, {_PARTS[name][0]}):
            rows += _list_part(folder, name, ignored, bad)
    if not rows and not bad:
        wanted = " or ".join(f"{_PARTS[p][0]}/ImNNN_L{_PARTS[p][1]}" for p in parts)
        raise DatasetLayoutError(f"{root}: no ALL-IDB images found; expected {wanted} under this folder")
    frame = rows_frame(rows)
    if "n_points" in frame:
        frame["n_points"] = frame["n_points"].astype("Int64")
    return Listing(frame, ignored, bad)


def list_all_idb1(root: str | Path) -> Listing:
    """The ALL-IDB1 slides under ``root``."""
    return list_all_idb(root, "all-idb1")


def list_all_idb2(root: str | Path) -> Listing:
    """The ALL-IDB2 single-cell crops under ``root``."""
    return list_all_idb(root, "all-idb2")


def _list_part(folder: Path, part: str, ignored: list, bad: list) -> list[dict]:
    suffix = _PARTS[part][1]
    rows = []
    for path in visible_files(folder, ignored):
        match = _NAME.match(path.name)
        if not match or not path.suffix.lower().startswith(suffix[:4]):
            bad.append((str(path), f"cannot tell its class; {part.upper()} names are ImNNN_L{suffix} "
                                   "(L=1 ALL, L=0 healthy)"))
            continue
        label = int(match.group(2))
        row = {
            "path": str(path),
            "label": label,
            "class_name": CLASS_NAMES[label],
            "subject": "",
            "dataset": part,
            "image_id": int(match.group(1)),
        }
        if part == "all-idb1":
            row["points"] = read_xyc(folder.parent / "xyc" / f"{path.stem}.xyc")
            row["n_points"] = None if row["points"] is None else len(row["points"])
        rows.append(row)
    return rows


def read_xyc(path: Path) -> list[tuple[int, int]] | None:
    """Blast centroids of an ALL-IDB1 slide; None when the slide has no .xyc file."""
    if not path.is_file():
        return None
    points = []
    for number, line in text_lines(path):
        try:
            x, y = (int(round(float(v))) for v in line.split())
        except ValueError:
            raise DatasetLayoutError(
                f"{path}:{number}: expected 'x y' (two numbers), found {line!r}; fix or remove the line"
            ) from None
        points.append((x, y))
    return points
