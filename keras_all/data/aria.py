"""ALL image dataset of Aria et al. (2021): ``Original/{Benign,Early,Pre,Pro}/*.jpg``, 224x224.

Benign (hematogones) is label 0; the B-ALL subtypes Early, Pre and Pro are label 1, and the subtype
stays in ``class_name`` for 4-class work. No patient ids are published.
"""

from __future__ import annotations

from pathlib import Path

from .layout import only_images, require_dir, rows_frame, visible_files, walk_files
from .samples import DatasetLayoutError, Listing

SUBTYPES = {"benign": ("Benign", 0), "early": ("Early", 1), "pre": ("Pre", 1), "pro": ("Pro", 1)}


def list_aria(root: str | Path) -> Listing:
    root = require_dir(root)
    original = next((p for p in (root / "Original", root) if p.name.lower() == "original" and p.is_dir()), None)
    if original is None:
        raise DatasetLayoutError(f"{root}: no Original/ folder; expected Original/{{Benign,Early,Pre,Pro}}/*.jpg")
    rows, ignored = [], []
    for folder in sorted(p for p in original.iterdir() if p.is_dir()):
        if folder.name.lower() not in SUBTYPES:
            ignored += [(str(p), "folder is not one of Benign, Early, Pre, Pro") for p in walk_files(folder)[0]]
            continue
        class_name, label = SUBTYPES[folder.name.lower()]
        rows += [
            {"path": str(p), "label": label, "class_name": class_name, "subject": "", "dataset": "aria"}
            for p in only_images(visible_files(folder, ignored), ignored)
        ]
    if not rows:
        raise DatasetLayoutError(f"{original}: no images in Benign/, Early/, Pre/ or Pro/")
    return Listing(rows_frame(rows), ignored)
