"""C-NMC 2019 (ISBI challenge): segmented B-lymphoid cells on black, 450x450 BMP.

Training folds: ``.../fold_N/{all,hem}/UID_<subject>_<image>_<cell>_{all,hem}.bmp`` (the Kaggle copy's
``C-NMC_Leukemia/training_data`` and TCIA's ``C-NMC_training_data`` alike). Healthy subjects are
``H<k>`` (written ``UID_h3`` once in the real set, so names are read case-insensitively). The
preliminary-test folder is used when its labels CSV (``Patient_ID`` = original name,
``new_names`` = file name, ``labels`` 1 = ALL) is present; the final test carries no labels.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pandas as pd

from .io import IMAGE_SUFFIXES
from .layout import require_dir, rows_frame, walk_files
from .samples import DatasetLayoutError, Listing

_CELL = re.compile(r"^uid_(h?)(\d+)_(\d+)_(\d+)_(all|hem)\.bmp$", re.IGNORECASE)
_FOLD = re.compile(r"^fold_(\d+)$", re.IGNORECASE)
_PRELIM_DIR = "c-nmc_test_prelim_phase_data"
_FINAL_DIR = "c-nmc_test_final_phase_data"
_LABELS_SUFFIX = "prelim_phase_data_labels.csv"
CLASS_NAMES = {1: "all", 0: "hem"}


class CellNameError(DatasetLayoutError):
    """A file name that is not a C-NMC cell name, or one that contradicts itself."""

    def __init__(self, name: str, reason: str):
        self.reason = reason
        super().__init__(f"{name}: {reason}")


def parse_cell_name(name: str) -> dict:
    """Subject, image, cell and class from a C-NMC cell name, e.g. ``UID_H10_2_1_hem.bmp``."""
    match = _CELL.match(name)
    if not match:
        raise CellNameError(name, "not a C-NMC cell name; expected UID_<subject>_<image>_<cell>_<all|hem>.bmp")
    healthy, number, image, cell, cls = match.groups()
    label = int(cls.lower() == "all")
    subject = ("H" if healthy else "") + str(int(number))
    if bool(healthy) == bool(label):
        raise CellNameError(name, f"subject {subject} contradicts class '{cls}' (H<k> subjects are hem)")
    return {"subject": subject, "label": label, "image_id": int(image), "cell_id": int(cell)}


def list_c_nmc(root: str | Path) -> Listing:
    """List every labelled C-NMC image under ``root``."""
    root = require_dir(root)
    files, links = walk_files(root)
    relative = [p.relative_to(root).as_posix() for p in files]
    labels_csv = next((p for p in files if p.name.lower().endswith(_LABELS_SUFFIX)), None)
    prelim = read_prelim_labels(labels_csv) if labels_csv else None
    listing = parse_paths(relative, root, prelim)
    listing.ignored += links
    if listing.rows.empty and not listing.bad:
        raise DatasetLayoutError(
            f"{root}: no C-NMC images found; expected .../fold_N/{{all,hem}}/UID_*.bmp under this folder"
        )
    return listing


def read_manifest(manifest: str | Path, root: str | Path | None = None) -> Listing:
    """A listing (with sha256) from a ``path<TAB>sha256<TAB>size`` manifest, without opening any image."""
    table = pd.read_csv(manifest, sep="\t", dtype=str)
    missing = {"path", "sha256"} - set(table.columns)
    if missing:
        raise DatasetLayoutError(f"{manifest}: missing column(s) {', '.join(sorted(missing))}")
    base = Path(root) if root is not None else Path(manifest).parent
    listing = parse_paths(list(table["path"]), base, None)
    hashes = dict(zip((str(base / p) for p in table["path"]), table["sha256"]))
    listing.rows["sha256"] = listing.rows["path"].map(hashes)
    return listing


def read_prelim_labels(path: Path) -> pd.DataFrame:
    """The preliminary test's labels: file name -> original name, subject and label."""
    table = pd.read_csv(path, dtype=str)
    columns = {c.lower().strip(): c for c in table.columns}
    missing = {"patient_id", "new_names", "labels"} - set(columns)
    if missing:
        raise DatasetLayoutError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    out = []
    for original, new, label in zip(*(table[columns[c]] for c in ("patient_id", "new_names", "labels"))):
        parsed = parse_cell_name(original.strip())
        if str(label).strip() not in ("0", "1") or int(label) != parsed["label"]:
            raise DatasetLayoutError(f"{path}: label {label!r} of {new} contradicts its original name {original}")
        out.append({"file": new.strip(), "original_name": original.strip(), **parsed})
    return pd.DataFrame(out).set_index("file")


def parse_paths(relative: list[str], base: Path, prelim: pd.DataFrame | None) -> Listing:
    """Classify relative paths into training, preliminary-test and ignored files."""
    rows, ignored, bad = [], [], []
    for rel in relative:
        parts = PurePosixPath(rel).parts
        parent = parts[-2].lower() if len(parts) > 1 else ""
        path = str(base / rel)
        if len(parts) >= 3 and _FOLD.match(parts[-3]) and parent in ("all", "hem"):
            try:
                parsed = parse_cell_name(parts[-1])
            except CellNameError as err:
                bad.append((path, err.reason))
                continue
            if CLASS_NAMES[parsed["label"]] != parent:
                bad.append((path, f"a '{CLASS_NAMES[parsed['label']]}' cell in a '{parent}' folder"))
                continue
            fold = int(_FOLD.match(parts[-3]).group(1))
            rows.append(_row(path, parsed, parts[-1], fold, "train"))
        elif parent == _PRELIM_DIR and PurePosixPath(rel).suffix.lower() in IMAGE_SUFFIXES:
            if prelim is None:
                ignored.append((path, "preliminary test without its labels CSV"))
            elif parts[-1] not in prelim.index:
                raise DatasetLayoutError(f"{path}: not listed in the preliminary test's labels CSV")
            else:
                info = prelim.loc[parts[-1]].to_dict()
                rows.append(_row(path, info, info.pop("original_name"), None, "prelim-test"))
        elif parent == _FINAL_DIR:
            ignored.append((path, "final test (no public labels)"))
        elif not rel.lower().endswith(_LABELS_SUFFIX):
            ignored.append((path, "not part of the C-NMC layout"))
    frame = rows_frame(rows) if rows else pd.DataFrame(columns=["path"])
    if rows:
        frame["fold"] = frame["fold"].astype("Int64")
    return Listing(frame, ignored, bad)


def _row(path: str, parsed: dict, original_name: str, fold: int | None, split: str) -> dict:
    return {
        "path": path,
        "label": parsed["label"],
        "class_name": CLASS_NAMES[parsed["label"]],
        "subject": parsed["subject"],
        "dataset": "c-nmc",
        "fold": fold,
        "official_split": split,
        "original_name": original_name,
        "image_id": parsed["image_id"],
        "cell_id": parsed["cell_id"],
    }
