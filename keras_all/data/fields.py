"""Smear fields with their marked cells: Pascal VOC folders (BCCD), YOLO folders and ALL-IDB1's centroids.

Every reader returns one ``FieldSet``: a table of fields (one row per image) and a table of marks (one row per
box, in pixels of the field; a centroid is a box of no size). An annotation file that cannot be read stops the
reader with one line naming the file and what is wrong in it; a box that encloses nothing (published sets hold
a few) or lies wholly outside its field is left out and listed in ``bad_marks`` with its annotation file, and a box
that reaches past the border is cut at it.
"""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from keras_all.data.all_idb import list_all_idb
from keras_all.data.io import IMAGE_SUFFIXES, BadImageError, printable, read_image
from keras_all.data.layout import require_dir, text_lines, visible_files
from keras_all.data.registry import REGISTRY, layouts_of
from keras_all.data.samples import DatasetLayoutError

SPLITS = ("train", "val", "test")
MARK_COLUMNS = ["path", "cls", "x0", "y0", "x1", "y1", "truncated"]
FIELD_COLUMNS = ["path", "split", "width", "height"]


@dataclass(frozen=True)
class FieldSet:
    """Fields and their marks.

    fields: path, split (train/val/test, or "" where the set has none), width, height.
    marks: path, cls, x0, y0, x1, y1 (pixels; x1 == x0 and y1 == y0 for a centroid), truncated (cut by the
        field's border, where the annotation says so).
    kind: "boxes" or "centroids".
    bad_marks: path, reason: boxes left out.
    """

    name: str
    root: str
    fields: pd.DataFrame
    marks: pd.DataFrame
    kind: str = "boxes"
    bad_marks: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["path", "reason"]))

    def only(self, split: str | None) -> FieldSet:
        """The fields of one published split (all of them for None); an unknown split is named."""
        if split is None:
            return self
        known = sorted(set(self.fields["split"]) - {""})
        if split not in known:
            raise ValueError(f"{self.root}: no split {split!r}; this set has {', '.join(known) or 'no splits'}")
        fields = self.fields[self.fields["split"] == split].reset_index(drop=True)
        marks = self.marks[self.marks["path"].isin(fields["path"])].reset_index(drop=True)
        bad = self.bad_marks[self.bad_marks["path"].isin(fields["path"])].reset_index(drop=True)
        return FieldSet(self.name, self.root, fields, marks, self.kind, bad)

    def counts(self) -> dict:
        """Fields, and marks per class, per split and overall (what `keras-all inspect` prints)."""
        def count(fields, marks):
            per_class = marks["cls"].value_counts().sort_index()
            return {"fields": len(fields), "marks": {str(k): int(v) for k, v in per_class.items()},
                    "fields_without_marks": int((~fields["path"].isin(marks["path"])).sum()),
                    "bad_marks": int(self.bad_marks["path"].isin(fields["path"]).sum())}

        parts = {s: self.only(s) for s in sorted(set(self.fields["split"]) - {""})}
        splits = {s: count(part.fields, part.marks) for s, part in parts.items()}
        return {"kind": self.kind, "all": count(self.fields, self.marks), **({"splits": splits} if splits else {}),
                "marks_left_out": self.bad_marks.to_dict("records")}


def _marks_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=MARK_COLUMNS)
    return frame.astype({"x0": float, "y0": float, "x1": float, "y1": float, "truncated": bool})


def read_voc(root: str | Path) -> FieldSet:
    """A Pascal VOC folder: ``JPEGImages/``, ``Annotations/*.xml`` and the split lists in ``ImageSets/Main/``,
    directly under ``root`` or one folder down (BCCD ships as ``BCCD/``)."""
    root = require_dir(root)
    home = next((d for d in (root, *sorted(p for p in root.iterdir() if p.is_dir())) if (d / "Annotations").is_dir()),
                None)
    if home is None or not (home / "JPEGImages").is_dir():
        raise DatasetLayoutError(f"{root}: not a Pascal VOC folder; expected JPEGImages/ and Annotations/ in it")
    split_of = {}
    for split in SPLITS:
        listed = home / "ImageSets" / "Main" / f"{split}.txt"
        if listed.is_file():
            split_of.update({stem: split for stem in listed.read_text().split()})
    fields, marks, bad = [], [], []
    for xml in visible_files(home / "Annotations"):
        if xml.suffix.lower() == ".xml":
            image, boxes = _voc_file(xml, home / "JPEGImages", bad)
            fields.append({**image, "split": split_of.get(xml.stem, "")})
            marks += boxes
    if not fields:
        raise DatasetLayoutError(f"{home / 'Annotations'}: no .xml annotation found")
    return FieldSet("voc", str(root), pd.DataFrame(fields, columns=FIELD_COLUMNS), _marks_frame(marks), "boxes",
                    pd.DataFrame(bad, columns=["path", "reason"]))


def _voc_file(xml: Path, images: Path, bad: list) -> tuple[dict, list[dict]]:
    """One annotation: its field (path, width, height) and its boxes; boxes that enclose nothing go to ``bad``."""
    try:
        node = ElementTree.parse(xml).getroot()
    except ElementTree.ParseError as err:
        raise DatasetLayoutError(f"{xml}: not readable XML ({err}); fix or remove it") from None

    def text(parent, tag: str) -> str:
        value = None if parent is None else parent.findtext(tag)
        if value is None or not value.strip():
            raise DatasetLayoutError(f"{xml}: no <{tag}> where a Pascal VOC annotation has one; fix or remove it")
        return value.strip()

    image = images / text(node, "filename")
    if not image.is_file():
        raise DatasetLayoutError(f"{xml}: names {image.name}, which is not in {images}")
    width, height = (_number(xml, text(node.find("size"), tag), int) for tag in ("width", "height"))
    boxes = []
    for number, item in enumerate(node.iter("object"), start=1):
        box = item.find("bndbox")
        marked = tuple(_number(xml, text(box, tag), float) for tag in ("xmin", "ymin", "xmax", "ymax"))
        x0, x1 = np.clip(marked[::2], 0, width)
        y0, y1 = np.clip(marked[1::2], 0, height)
        if x1 <= x0 or y1 <= y0:
            where = ("encloses nothing of" if marked[2] <= marked[0] or marked[3] <= marked[1]
                     else "lies wholly outside")
            corners = ", ".join(f"{v:g}" for v in marked)
            bad.append((printable(image), f"{printable(xml)}: object {number} box ({corners}) {where} the "
                                          f"{width}x{height} field"))
            continue
        boxes.append({"path": str(image), "cls": text(item, "name"), "x0": x0, "y0": y0, "x1": x1, "y1": y1,
                      "truncated": (item.findtext("truncated") or "0").strip() == "1"})
    return {"path": str(image), "width": width, "height": height}, boxes


def _number(path: Path, text: str, kind):
    try:
        return kind(float(text))
    except ValueError:
        raise DatasetLayoutError(f"{path}: {text!r} is not a number; fix it") from None


def read_yolo(root: str | Path) -> FieldSet:
    """A YOLO folder: ``images/`` and ``labels/`` mirrored (``images/a.jpg`` with ``labels/a.txt``, one
    "class cx cy w h" line per box, in fractions of the field), with or without ``train/``, ``val/`` (or
    ``valid/``) and ``test/`` either above or below them; class names from ``classes.txt`` or ``data.yaml``."""
    root = require_dir(root)
    pairs = _yolo_folders(root)
    if not pairs:
        raise DatasetLayoutError(f"{root}: not a YOLO folder; expected images/ and labels/ (optionally with train/, "
                                 "val/ and test/ above or below them)")
    names = _yolo_names(root)
    fields, marks = [], []
    for split, images, labels in pairs:
        for image in visible_files(images):
            if image.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            height, width = _image_size(image)
            fields.append({"path": printable(image), "split": split, "width": width, "height": height})
            marks += _yolo_boxes(labels / f"{image.stem}.txt", printable(image), width, height, names)
    return FieldSet("yolo", str(root), pd.DataFrame(fields, columns=FIELD_COLUMNS), _marks_frame(marks))


def _yolo_names(root: Path) -> list[str]:
    if (root / "classes.txt").is_file():
        return [line.strip() for line in (root / "classes.txt").read_text().splitlines() if line.strip()]
    for name in ("data.yaml", "dataset.yaml"):
        if (root / name).is_file():
            try:
                names = (yaml.safe_load((root / name).read_text()) or {}).get("names")
            except yaml.YAMLError as err:
                raise DatasetLayoutError(f"{root / name}: not readable YAML ({err}); fix it") from None
            if isinstance(names, dict):
                return [str(names[k]) for k in sorted(names)]
            if isinstance(names, list):
                return [str(n) for n in names]
            raise DatasetLayoutError(f"{root / name}: no 'names' list of classes; add one")
    raise DatasetLayoutError(f"{root}: no classes.txt or data.yaml naming the YOLO classes; add one")


def _yolo_folders(root: Path) -> list[tuple[str, Path, Path]]:
    """(split, images folder, labels folder) for each split present, or one ("", images, labels) without."""
    aliases = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
    pairs = []
    for folder, split in aliases.items():
        for images, labels in ((root / "images" / folder, root / "labels" / folder),
                               (root / folder / "images", root / folder / "labels")):
            if images.is_dir():
                pairs.append((split, images, labels))
    if not pairs and (root / "images").is_dir():
        pairs.append(("", root / "images", root / "labels"))
    return pairs


def _image_size(path: str | Path) -> tuple[int, int]:
    try:
        return read_image(path).shape[:2]
    except BadImageError as error:
        raise DatasetLayoutError(f"{printable(path)}: {error.reason}; replace or remove it") from None


def _yolo_boxes(labels: Path, image: str, width: int, height: int, names: list[str]) -> list[dict]:
    if not labels.is_file():
        return []  # YOLO's convention: a field with no label file holds no object
    rows = []
    for number, line in text_lines(labels):
        values = line.split()
        try:
            cls, cx, cy, w, h = int(values[0]), *(float(v) for v in values[1:])
        except ValueError:
            cls = None
        if cls is None or len(values) != 5 or not 0 <= cls < len(names) or not all(
                0 <= v <= 1 for v in (cx, cy, w, h)):
            raise DatasetLayoutError(f"{labels}:{number}: expected 'class cx cy w h' (a class of 0..{len(names) - 1}, "
                                     f"four fractions of the field), found {line!r}; fix the line")
        rows.append({"path": image, "cls": names[cls], "x0": max(0, cx - w / 2) * width,
                     "y0": max(0, cy - h / 2) * height, "x1": min(1, cx + w / 2) * width,
                     "y1": min(1, cy + h / 2) * height, "truncated": False})
    return rows


def read_all_idb1(root: str | Path) -> FieldSet:
    """ALL-IDB1's slides (``im/ImNNN_L.jpg``) with their blast centroids (``xyc/ImNNN_L.xyc``), as marks of
    class "blast" and no size; a slide without an .xyc file holds none."""
    listing = list_all_idb(root, "all-idb1")
    if listing.bad:
        path, why = listing.bad[0]
        raise DatasetLayoutError(f"{path}: {why}")
    fields, marks = [], []
    for path, points in zip(listing.rows["path"], listing.rows["points"]):
        height, width = _image_size(path)
        fields.append({"path": path, "split": "", "width": width, "height": height})
        marks += [{"path": path, "cls": "blast", "x0": x, "y0": y, "x1": x, "y1": y, "truncated": False}
                  for x, y in points or []]
    return FieldSet("all-idb1", str(root), pd.DataFrame(fields, columns=FIELD_COLUMNS), _marks_frame(marks),
                    "centroids")


def read_fields(name: str, root: str | Path) -> FieldSet:
    """The field set at ``root`` read as ``name``, a layout of marked fields in the registry (bccd, voc, yolo, or
    all-idb1 with its blast centroids)."""
    marked = layouts_of("marked")
    if name not in marked:
        raise ValueError(f"unknown field set {name!r}: use one of {', '.join(marked)}")
    return replace(REGISTRY[name].reader(root), name=name)


def __getattr__(name):
    """``FIELD_LAYOUTS``, kept for one release: the registry's layouts of marked fields."""
    if name != "FIELD_LAYOUTS":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn("keras_all.data.fields.FIELD_LAYOUTS is now keras_all.data.registry.layouts_of('marked'); the old "
                  "name goes in the next release", FutureWarning, stacklevel=2)
    return {n: REGISTRY[n] for n in layouts_of("marked")}


def format_counts(name: str, root: str, counts: dict) -> str:
    """`keras-all inspect`'s lines for a field set: fields and marks per class, overall and per split."""
    def line(label: str, part: dict) -> str:
        marks = ", ".join(f"{cls} {n:,}" for cls, n in part["marks"].items()) or "none"
        left_out = f"; {part['bad_marks']} boxes left out (below)" if part["bad_marks"] else ""
        return (f"{label}: {part['fields']:,} fields, marks by class: {marks}; "
                f"{part['fields_without_marks']} fields without a mark{left_out}")

    lines = [line(f"{name} at {root} ({counts['kind']})", counts["all"])]
    lines += [line(f"  {split}", part) for split, part in counts.get("splits", {}).items()]
    lines += [f"box left out: {mark['reason']}" for mark in counts["marks_left_out"]]
    return "\n".join(lines)


def boxes_of(marks: pd.DataFrame) -> np.ndarray:
    """The marks' boxes as an (n, 4) float array x0, y0, x1, y1."""
    return marks[["x0", "y0", "x1", "y1"]].to_numpy(float).reshape(-1, 4)
