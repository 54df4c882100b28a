"""Any ``<root>/<class>/*`` tree: one class is positive (label 1), every other class is negative."""

from __future__ import annotations

from pathlib import Path

from .layout import broken_link_reason, only_images, require_dir, rows_frame, visible_files
from .samples import DatasetLayoutError, Listing


def list_folder(root: str | Path, positive_class: str | None = None) -> Listing:
    root = require_dir(root)
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    names = [p.name for p in classes]
    if len(classes) < 2:
        raise DatasetLayoutError(f"{root}: needs at least two class folders, found {names or 'none'}")
    if positive_class not in names:
        shown = "none given" if positive_class is None else repr(positive_class)
        raise DatasetLayoutError(
            f"{root}: positive class {shown} is not a folder here; pass --positive-class one of {', '.join(names)}"
        )
    ignored = [(str(p), broken_link_reason(p)) for p in sorted(root.iterdir())
               if p.is_symlink() and not p.name.startswith(".") and broken_link_reason(p)]
    rows = [
        {"path": str(p), "label": int(c.name == positive_class), "class_name": c.name, "subject": "",
         "dataset": "folder"}
        for c in classes
        for p in only_images(visible_files(c, ignored), ignored)
    ]
    if not rows:
        raise DatasetLayoutError(f"{root}: the class folders {', '.join(names)} hold no files directly in them")
    return Listing(rows_frame(rows), ignored)
