"""`keras-all cells`: the white cells of many fields, written whole as one folder.

- ``cells.csv``: a row per cell found: image, its number on the field (its value in the field's mask), box
  (x0, y0, x1, y1), centre, area in um^2 (of its mask), score, whether it touches the field's border, the scale;
- ``fields.csv``: a row per field: image, split, cells found, marked cells where the set has marks, the scale used
  and where it came from, whether it could be judged, and a note where the field could not be read, searched or
  judged (a blank or grayscale picture is no stained smear: it is named, and kept out of every figure);
- ``overlays/``: each field with its found cells outlined (green; red where cut by the border) and its marks
  (blue); ``masks/``: each field's cells as a 16-bit PNG label image (0 outside every cell, n on cell n);
- ``metrics.json`` and ``report.md``: counts, the scale, and where the fields carry marks of the cell class,
  precision, recall and F1 at IoU >= 0.5 and by centre in box, with Wilson intervals, and average precision;
  overall and per split; where they carry centroids (ALL-IDB1's blasts), how many lie on a found cell.

Every field's red cells measure its scale (``estimate_scale``), kept in fields.csv. Without a given scale the run
uses the median of the fields' sure estimates (a run's fields come from one microscope), or, with ``per_field``,
each field's own where it is sure. A field with too few red cells to be sure, or whose own estimate is more than
``SCALE_AGREES`` times off the scale used, says so in its note.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from keras_all import interruption
from keras_all.artifacts import CELLS_CSV, FIELDS_CSV, METRICS_JSON, REPORT_MD
from keras_all.cells.field import for_field, measured_scales, median_scale, searched
from keras_all.cells.finder import FoundCells
from keras_all.cells.overlay import outlined, write_rgb
from keras_all.cells.scale import Scale
from keras_all.cells.scoring import detection_scores
from keras_all.data.fields import FieldSet, boxes_of
from keras_all.metrics import wilson
from keras_all.run_folder import write_json
from keras_all.tables import markdown_table, na, with_ci
from keras_all.whole_folder import written_whole

CELL_COLUMNS = ["image", "cell", "x0", "y0", "x1", "y1", "cx", "cy", "area_um2", "score", "at_border", "um_per_px"]
SCALE_AGREES = 1.5  # a field's own estimate this close to a given scale agrees with it


def unmarked_fields(files: list[Path]) -> FieldSet:
    """Image files as a field set without marks (their sizes are read with the images)."""
    fields = pd.DataFrame({"path": [str(f) for f in files], "split": "", "width": 0, "height": 0})
    marks = pd.DataFrame(columns=["path", "cls", "x0", "y0", "x1", "y1", "truncated"])
    return FieldSet("files", "", fields, marks, "none")


@dataclass(frozen=True)
class Search:
    """How a `cells` run searches its fields: at ``scale`` where given, else the median of the fields' sure estimates
    (or with ``per_field`` each field's own where it is sure); ``cell_class``, the marks that are white cells."""

    scale: Scale | None = None
    cell_class: str = "WBC"
    per_field: bool = False
    on_bad_image: str = "skip"


def find_in_fields(fields: FieldSet, output: Path, search: Search = Search(), echo: Callable[[str], None] = print,
                   warn: Callable[[str], None] = print) -> dict:
    """Find the cells of every field of ``fields`` and write the folder ``output``; returns what metrics.json
    holds. Progress goes to ``echo``, files left out to ``warn``."""
    marks = _marks_of(fields, search.cell_class)
    for mark in fields.bad_marks.itertuples():
        warn(f"warning: box left out: {mark.reason}")
    paths = fields.fields["path"].tolist()
    estimates, unreadable = measured_scales(paths, echo, warn, search.on_bad_image)
    if not estimates:
        raise ValueError(f"none of the {len(paths)} files is a readable image (the warnings above say why)")
    run_scale = search.scale if search.scale is not None else median_scale(estimates)
    with written_whole(output) as partial:
        (partial / "overlays").mkdir()
        (partial / "masks").mkdir()
        rows, cells, scored, held = [], [], [], []
        for index, (path, split) in enumerate(zip(paths, fields.fields["split"])):
            interruption.check()
            truth = boxes_of(marks[marks["path"] == path]) if marks is not None else None
            if path in unreadable:
                rows.append({"image": path, "split": split, "cells": 0,
                             **({"marked": len(truth)} if truth is not None else {}),
                             "note": f"left out: {unreadable[path]}"})
                continue
            own = estimates[path]
            field_scale = for_field(own, run_scale) if search.per_field else run_scale
            image, found = searched(path, field_scale)
            stem = f"{index + 1:05d}_{Path(path).stem}"
            write_rgb(partial / "overlays" / f"{stem}.jpg", outlined(image, found, marks=truth))
            cv2.imwrite(str(partial / "masks" / f"{stem}.png"), found.labels)
            source = ("this field" if field_scale is own else "given" if search.scale is not None
                      else "median of the fields")
            rows.append(_field_row(path, split, found, source, own, None if truth is None else len(truth)))
            if not found.judged:
                warn(f"warning: {path}: {found.why_not_judged}; it is left out of the figures")
                continue
            if fields.kind == "centroids":
                held.append(_centroids_held(rows[-1], fields.marks, path, found))
            cells += _cell_rows(path, found)
            scored.append((split, (found.boxes, found.scores, truth)))
            if (index + 1) % 50 == 0 or index + 1 == len(paths):
                echo(f"fields {index + 1}/{len(paths)}: {len(cells)} cells found")
        tally = (rows, cells, scored if marks is not None else None)
        result = _written_tables(partial, fields, search, run_scale, tally)
        if fields.kind == "centroids":
            result["centroids_in_cells"] = _centroid_recall(held)
        write_json(partial / METRICS_JSON, result)
        (partial / REPORT_MD).write_text(render_report(result))
    return result


def _marks_of(fields: FieldSet, cell_class: str) -> pd.DataFrame | None:
    """The marked boxes of the white-cell class (None where the fields carry no boxes); a set of boxes without one
    of that class is an error naming the classes it has."""
    if fields.kind != "boxes":
        return None
    marks = fields.marks[fields.marks["cls"] == cell_class]
    if marks.empty:
        known = ", ".join(sorted(set(fields.marks["cls"]))) or "none"
        raise ValueError(f"{fields.root}: no marks of class {cell_class!r} (its classes: {known}); name the "
                         "white-cell class with --cell-class")
    return marks


def _centroids_held(row: dict, centroids: pd.DataFrame, path: str, found: FoundCells) -> tuple[int, int]:
    """How many of the field's marked centroids lie on a found cell (also put in its row)."""
    points = centroids.loc[centroids["path"] == path, ["x0", "y0"]].to_numpy()
    inside = int((found.holding(points) > 0).sum())
    row.update(centroids=len(points), centroids_in_cells=inside)
    return len(points), inside


def _centroid_recall(held: list[tuple[int, int]]) -> dict:
    points, inside = np.sum(held, axis=0) if held else (0, 0)
    return {"marked": int(points), "inside": int(inside), "recall": inside / points if points else None,
            "recall_ci": wilson(int(inside), int(points))}


def _written_tables(partial: Path, fields: FieldSet, search: Search, run_scale: Scale, tally: tuple) -> dict:
    """cells.csv and fields.csv written from ``tally`` (the fields' rows, the cells' rows, the scored fields or None);
    what metrics.json holds of them."""
    rows, cells, scored = tally
    pd.DataFrame(cells, columns=CELL_COLUMNS).to_csv(partial / CELLS_CSV, index=False)
    table = pd.DataFrame(rows)
    table.to_csv(partial / FIELDS_CSV, index=False)
    result = _summary(fields, search, run_scale, table, scored)
    result["marks_left_out"] = fields.bad_marks.to_dict("records")
    return result


def _field_row(path: str, split: str, found: FoundCells, source: str, own: Scale | None,
               marked: int | None) -> dict:
    notes = [found.why_not_judged or ("no cell found" if len(found) == 0 else
                                      found.field if found.field != "smear" else "")]
    if found.judged and found.field != "cut out on black":
        if own is None or not own.sure:
            notes.append("too few red cells to measure its scale (not a smear?)")
        elif not 1 / SCALE_AGREES <= own.red_cell_px / found.scale.red_cell_px <= SCALE_AGREES:
            notes.append(f"its red cells measure {own.red_cell_px:.0f} px, not the {found.scale.red_cell_px:.0f} px "
                         f"used ({source})")
    return {"image": path, "split": split, "cells": len(found), **({"marked": marked} if marked is not None else {}),
            "red_cell_px": round(found.scale.red_cell_px, 2), "scale_source": source,
            "own_red_cell_px": None if own is None else round(own.red_cell_px, 2),
            "own_spread": None if own is None else round(own.spread, 3), "own_arcs": None if own is None else own.arcs,
            "own_sure": own is not None and own.sure, "judged": found.judged, "note": "; ".join(n for n in notes if n)}


def _cell_rows(path: str, found: FoundCells) -> list[dict]:
    um = found.scale.um_per_px
    areas = np.bincount(found.labels.ravel(), minlength=len(found) + 1)[1:]
    return [{"image": path, "cell": number, "x0": x0, "y0": y0, "x1": x1, "y1": y1, "cx": (x0 + x1) / 2,
             "cy": (y0 + y1) / 2, "area_um2": area * um * um, "score": score, "at_border": bool(cut), "um_per_px": um}
            for number, ((x0, y0, x1, y1), area, score, cut) in
            enumerate(zip(found.boxes, areas, found.scores, found.at_border), start=1)]


def _summary(fields: FieldSet, search: Search, run_scale: Scale, table: pd.DataFrame, scored) -> dict:
    read = table[~table["note"].fillna("").str.startswith("left out")]
    judged = read[read["judged"].astype(bool)]
    result = {"fields": len(table), "cells": int(judged["cells"].sum()),
              "fields_without_cells": judged.loc[judged["cells"] == 0, "image"].tolist(),
              "fields_not_judged": read.loc[~read["judged"].astype(bool), "image"].tolist(),
              "fields_left_out": table.loc[~table.index.isin(read.index), "image"].tolist(),
              "scale": _scale_summary(search.scale, run_scale, search.per_field, judged),
              "data": {"layout": fields.name, "root": fields.root, "cell_class": search.cell_class}}
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


def _scale_summary(given: Scale | None, run_scale: Scale, per_field: bool, searched: pd.DataFrame) -> dict:
    sure = searched.loc[searched["own_sure"].fillna(False).astype(bool), "own_red_cell_px"]
    low, high = np.percentile(sure, [25, 75]) if len(sure) else (np.nan, np.nan)
    summary = {"source": "given" if given is not None else "each field's own" if per_field else "median of the fields",
               "red_cell_px": run_scale.red_cell_px, "um_per_px": run_scale.um_per_px,
               "fields_sure_of_their_own": int(len(sure)), "fields_not_sure": int(len(searched) - len(sure)),
               "own_estimates_iqr": [float(low), float(high)]}
    return summary


def render_report(result: dict) -> str:
    """report.md of a `keras-all cells` folder, from what metrics.json holds."""
    lines = [f"# White cells found on {result['fields']} fields", "", scale_line(result["scale"]), "",
             f"Cells found: {result['cells']}; fields without a cell found: {len(result['fields_without_cells'])}; "
             f"files left out (unreadable; fields.csv says why): {len(result['fields_left_out'])}.", ""]
    if result["fields_not_judged"]:
        lines += [f"Fields that cannot be judged (blank or grayscale pictures, not stained smears; left out of every "
                  f"figure): {len(result['fields_not_judged'])}: {', '.join(result['fields_not_judged'])}.", ""]
    if result["marks_left_out"]:
        lines += [f"Marked boxes left out ({len(result['marks_left_out'])}; not counted as marked cells):", "",
                  *(f"- {mark['reason']}" for mark in result["marks_left_out"]), ""]
    if "centroids_in_cells" in result:
        c = result["centroids_in_cells"]
        found = with_ci(c["recall"], c["recall_ci"])
        return "\n".join(lines + [
            f"Marked centroids ({result['data']['layout']}'s blasts) on a found cell's mask: {c['inside']} of "
            f"{c['marked']}, {found}. The marks name the blasts alone, so cells found without one are not counted "
            "as errors; fields.csv has the counts per field.", ""])
    if "iou_0.5" not in result:
        return "\n".join(lines + ["The fields carry no marks: nothing to score against.", ""])
    lines += [f"Against the marked {result['data']['cell_class']} cells of {result['data']['layout']} "
              f"({result['data']['root']}); a found cell matches at most one mark, the surest first.", ""]
    parts = [("all", result), *result.get("by_split", {}).items()]
    rows = [{"fields": name, "matching": label, "marked": str(s["marked"]), "found": str(s["found"]),
             "matched": str(s["matched"]), "precision (95% CI)": with_ci(s["precision"], s["precision_ci"]),
             "recall (95% CI)": with_ci(s["recall"], s["recall_ci"]), "F1": na(s["f1"]),
             "AP": na(s["average_precision"])}
            for name, part in parts for key, label in (("iou_0.5", "IoU >= 0.5"), ("centre_in_box", "centre in box"))
            for s in [part[key]]]
    return "\n".join(lines + markdown_table(rows) + [""])


def scale_line(scale: dict) -> str:
    """The scale a `keras-all cells` run used, where it came from and how sure its fields were of their own."""
    used = f"a red cell = {scale['red_cell_px']:.1f} px ({scale['um_per_px']:.4f} um per pixel)"
    low, high = scale["own_estimates_iqr"]
    own = (f"{scale['fields_sure_of_their_own']} fields measured their own from their red cells (7.5 um each)"
           + (f", interquartile range {low:.1f}-{high:.1f} px" if scale["fields_sure_of_their_own"] else "")
           + f"; {scale['fields_not_sure']} had too few red cells to be sure")
    if scale["source"] == "given":
        return f"Scale: {used}, given; {own}."
    if scale["source"] == "median of the fields":
        return f"Scale: {used}, the median of the fields' sure estimates; {own}."
    return f"Scale: each field's own where sure, else the median of the sure ones ({used}); {own}."

