"""A data set of fields turned into a data set of their white cells (``--unit cell``).

Every field's white cells are found (``find_cells``; the scale measured on each field where it is sure of it,
else the median of the sure fields', as ALL-IDB1's two cameras need, or given), each is cut at one physical size
(``cell_crops``) and written as a PNG, and the crops become a data set the classifier trains on as it does on
images. A cell's label comes from what the data set carries:

- marked centroids (ALL-IDB1's blasts): a cell whose mask holds one is a blast (1), every other cell, and every
  cell of a slide marked healthy, is not (0); a centroid on no found cell is counted as missed;
- the field's label alone (Aria): every cell inherits it (the multiple-instance baseline).

A cell's subject is its field's, or the field itself where subjects are unknown, so that a field's cells never
fall on both sides of a split. ``cells.csv`` beside the crops lists each cell with its field, box and label, and
the crops of the pipeline controls (``path_cell``, ``path_background``: the cell alone, the background alone)
where they are asked for. ``field_features.csv`` holds what the field-level controls read: each field's white
cells, and the colour histograms of the whole field and of its background alone (every found cell's pixels left
out).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from keras_all.artifacts import CELLS_CSV, FIELD_FEATURES_CSV, FIELDS_JSON
from keras_all.cells.crops import cell_crops
from keras_all.cells.field import colour_features, for_field, measured_scales, median_scale, searched
from keras_all.cells.overlay import write_rgb
from keras_all.cells.scale import Scale
from keras_all.config import CellConfig
from keras_all.data.layout import rows_frame
from keras_all.data.samples import Listing, LoadedDataset, build_dataset
from keras_all.run_folder import write_json

SINGLE_CELLS = ("c-nmc", "all-idb2")  # their images are single cells already
CELL_NAMES = {0: "not blast", 1: "blast"}


FIELD_FEATURES = FIELD_FEATURES_CSV


def cells_of(data: LoadedDataset, settings: CellConfig, out: Path,
             echo: Callable[[str], None] = print) -> LoadedDataset:
    """The white cells of ``data``'s fields as a data set, their crops written under ``out`` (reused where a
    finished ``out/cells.csv`` is there already, as on ``--resume``)."""
    if data.name in SINGLE_CELLS or set(data.samples["dataset"]) <= set(SINGLE_CELLS):
        raise ValueError(f"{data.name}: its images are single cells already; train them with --unit image")
    out = Path(out)
    table = out / CELLS_CSV
    if not table.is_file():
        _write_cells(data, settings, out, echo)
    cells = pd.read_csv(table, keep_default_na=False)
    listing = Listing(rows_frame(cells.to_dict("records")))
    loaded = build_dataset(f"{data.name} cells", str(out), listing)
    return dataclasses.replace(loaded, cells_of=json.loads((out / FIELDS_JSON).read_text()))


def _write_cells(data: LoadedDataset, settings: CellConfig, out: Path, echo) -> None:
    fields = data.samples
    given = Scale.from_um_per_px(settings.um_per_px) if settings.um_per_px is not None else None
    own = {} if given else measured_scales(fields["path"].tolist(), echo, echo)[0]
    median = given or median_scale(own, "cells.um_per_px (micrometres per pixel)")
    marked = "points" in fields
    out.mkdir(parents=True, exist_ok=True)
    rows, features, missed, centroids = [], [], 0, 0
    for number, field in enumerate(fields.itertuples(index=False), start=1):
        scale = for_field(own.get(field.path), median)
        image, found = searched(field.path, scale)
        labels = np.full(len(found), field.label)
        if marked:
            points = np.asarray(field.points if isinstance(field.points, list) else [], float).reshape(-1, 2)
            centroids += len(points)
            missed += int((found.holding(points) == 0).sum())
            labels = found.marked(points)
        subject = field.subject or Path(field.path).stem
        shown = {show: cell_crops(image, found, settings.side, settings.pixels, show)
                 for show in (settings.show, *settings.crop_controls)}
        features.append({"field": field.path, "field_label": int(field.label), "subject": field.subject,
                         **colour_features(image, found)})
        for k, (label, box) in enumerate(zip(labels, found.boxes), start=1):
            paths = {show: out / f"{number:05d}_{Path(field.path).stem}_c{k:03d}"
                     f"{'' if show == settings.show else '_' + show}.png" for show in shown}
            for show, path in paths.items():
                write_rgb(path, shown[show][k - 1])
            rows.append({"path": str(paths[settings.show]), "label": int(label),
                         "class_name": CELL_NAMES[int(label)] if marked else field.class_name,
                         "subject": subject, "dataset": data.name, "field": field.path, "field_label": field.label,
                         "cell": k, "x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3],
                         "at_border": bool(found.at_border[k - 1]), "red_cell_px": scale.red_cell_px,
                         **{f"path_{show}": str(paths[show]) for show in settings.crop_controls}})
        if number % 200 == 0 or number == len(fields):
            echo(f"cells found on {number}/{len(fields)} fields: {len(rows)}")
    if not rows:
        raise ValueError(f"{data.root}: no white cell found on any of its {len(fields)} fields")
    summary = {"fields": int(len(fields)), "cells": len(rows), "labels": "centroids" if marked else "field label",
               "scale": "given" if given else "each field's own where sure, else the median of the sure ones",
               "median_red_cell_px": median.red_cell_px, "crop_red_cells": settings.side,
               "crop_pixels": settings.pixels, "show": settings.show,
               **({"centroids": centroids, "centroids_missed": missed} if marked else {})}
    write_json(out / FIELDS_JSON, summary)
    pd.DataFrame(features).to_csv(out / FIELD_FEATURES, index=False)
    pd.DataFrame(rows).to_csv(out / "cells.csv.partial", index=False)
    (out / "cells.csv.partial").replace(out / CELLS_CSV)
