"""`keras-all cells`: the white cells of many fields, written whole as one folder.

- ``cells.csv``: a row per cell found: image, box (x0, y0, x1, y1), centre, box area in um^2, score, whether it
  touches the field's border, and the scale (um per pixel);
- ``fields.csv``: a row per field: image, split, cells found, marked cells where the set has marks;
- ``overlays/``: each field with its found cells (green; red where cut by the border) and its marks (blue);
- where the fields carry marks of the cell class: ``metrics.json`` (precision, recall and F1 at IoU >= 0.5 and by
  centre in box, with Wilson intervals, and average precision; overall and per split) and ``report.md``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from keras_all.data.io import read_image
from keras_all.fields.annotations import FieldSet, boxes_of
from keras_all.fields.finder import Scale, find_cells
from keras_all.fields.scoring import detection_scores
from keras_all.whole_folder import written_whole

CELL_COLUMNS = ["image", "x0", "y0", "x1", "y1", "cx", "cy", "area_um2", "score", "at_border", "um_per_px"]
FOUND, CUT, MARKED = (0, 200, 0), (220, 0, 0), (0, 90, 255)  # RGB


def unmarked_fields(files: list[Path]) -> FieldSet:
    """Image files as a field set without marks."""
    fields = pd.DataFrame({"path": [str(f) for f in files], "split": "", "width": 0, "height": 0})
    marks = pd.DataFrame(columns=["path", "cls", "x0", "y0", "x1", "y1", "truncated"])
    return FieldSet("files", "", fields, marks, "none")


def find_in_fields(fields: FieldSet, scale: Scale, output: Path, cell_class: str = "WBC",
                   echo: Callable[[str], None] = print) -> dict:
    """Find the cells of every field of ``fields`` at ``scale`` and write the folder ``output``; returns what
    metrics.json holds (or the counts alone, for fields without marks)."""
    marks = fields.marks[fields.marks["cls"] == cell_class]
    marked = fields.kind == "boxes" and len(marks) > 0
    if fields.kind == "boxes" and not marked:
        known = ", ".join(sorted(set(fields.marks["cls"]))) or "none"
        raise ValueError(f"{fields.root}: no marks of class {cell_class!r} (its classes: {known}); name the "
                         "white-cell class with --cell-class")
    rows, per_field, scored = [], [], []
    with written_whole(output) as partial:
        (partial / "overlays").mkdir()
        for number, (path, split) in enumerate(zip(fields.fields["path"], fields.fields["split"]), start=1):
            image = read_image(path)
            found = find_cells(image, scale)
            truth = boxes_of(marks[marks["path"] == path])
            rows += _cell_rows(path, found)
            per_field.append({"image": path, "split": split, "cells": len(found),
                              **({"marked": len(truth)} if marked else {})})
            scored.append((split, (found.boxes, found.scores, truth)))
            _write_overlay(partial / "overlays" / f"{number:05d}_{Path(path).stem}.jpg", image, found,
                           truth if marked else None)
            if number % 50 == 0 or number == len(fields.fields):
                echo(f"fields {number}/{len(fields.fields)}: {len(rows)} cells found")
        pd.DataFrame(rows, columns=CELL_COLUMNS).to_csv(partial / "cells.csv", index=False)
        table = pd.DataFrame(per_field)
        table.to_csv(partial / "fields.csv", index=False)
        result = _summary(fields, scale, cell_class, table, scored if marked else None)
        (partial / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
        (partial / "report.md").write_text(render_report(result))
    return result


def _cell_rows(path: str, found) -> list[dict]:
    um = found.scale.um_per_px
    return [{"image": path, "x0": x0, "y0": y0, "x1": x1, "y1": y1, "cx": (x0 + x1) / 2, "cy": (y0 + y1) / 2,
             "area_um2": (x1 - x0) * (y1 - y0) * um * um, "score": score, "at_border": bool(cut), "um_per_px": um}
            for (x0, y0, x1, y1), score, cut in zip(found.boxes, found.scores, found.at_border)]


def _write_overlay(path: Path, image: np.ndarray, found, truth: np.ndarray | None) -> None:
    picture = image.copy()
    thickness = max(2, round(max(image.shape[:2]) / 320))
    for box in [] if truth is None else truth:
        x0, y0, x1, y1 = np.round(box).astype(int)
        cv2.rectangle(picture, (x0, y0), (x1, y1), MARKED, thickness)
    for box, cut in zip(found.boxes, found.at_border):
        x0, y0, x1, y1 = np.round(box).astype(int)
        cv2.rectangle(picture, (x0, y0), (x1, y1), CUT if cut else FOUND, thickness)
    cv2.imwrite(str(path), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))


def _summary(fields: FieldSet, scale: Scale, cell_class: str, table: pd.DataFrame, scored) -> dict:
    empty = table.loc[table["cells"] == 0, "image"].tolist()
    result = {"fields": len(table), "cells": int(table["cells"].sum()), "fields_without_cells": empty,
              "scale": {"red_cell_px": scale.red_cell_px, "um_per_px": scale.um_per_px, "source": scale.source},
              "data": {"layout": fields.name, "root": fields.root, "cell_class": cell_class}}
    if scored is not None:
        result["iou_0.5"] = detection_scores([s for _, s in scored])
        result["centre_in_box"] = detection_scores([s for _, s in scored], by="centre")
        splits = sorted({split for split, _ in scored} - {""})
        if len(splits) > 1:
            result["by_split"] = {split: {"iou_0.5": detection_scores([s for p, s in scored if p == split]),
                                          "centre_in_box": detection_scores([s for p, s in scored if p == split],
                                                                            by="centre")}
                                  for split in splits}
    return result


def render_report(result: dict) -> str:
    """report.md of a `keras-all cells` folder, from what metrics.json holds."""
    scale = result["scale"]
    lines = [f"# White cells found on {result['fields']} fields", "",
             f"Scale: a red cell = {scale['red_cell_px']:.1f} px ({scale['um_per_px']:.4f} um per pixel, "
             f"{scale['source']}). Cells found: {result['cells']}; fields without a cell found: "
             f"{len(result['fields_without_cells'])}.", ""]
    if "iou_0.5" not in result:
        return "\n".join(lines + ["The fields carry no marks: nothing to score against.", ""])
    lines += [f"Against the marked {result['data']['cell_class']} cells of {result['data']['layout']} "
              f"({result['data']['root']}); a found cell matches at most one mark, the surest first.", "",
              "| fields | matching | marked | found | matched | precision (95% CI) | recall (95% CI) | F1 | AP |",
              "|---|---|---|---|---|---|---|---|---|"]
    parts = [("all", result), *result.get("by_split", {}).items()]
    for name, part in parts:
        for key, label in (("iou_0.5", "IoU >= 0.5"), ("centre_in_box", "centre in box")):
            s = part[key]
            lines.append(f"| {name} | {label} | {s['marked']} | {s['found']} | {s['matched']} | "
                         f"{_with_ci(s['precision'], s['precision_ci'])} | {_with_ci(s['recall'], s['recall_ci'])} | "
                         f"{_number(s['f1'])} | {_number(s['average_precision'])} |")
    return "\n".join(lines + [""])


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _with_ci(value, ci) -> str:
    return "n/a" if value is None else f"{value:.3f} ({ci[0]:.3f}-{ci[1]:.3f})"
