"""Finding the white cells of a smear field, at their physical size.

A white cell is found by its nucleus: in optical density (the stain's absorbance, -log of the light a pixel
lets through, relative to the field's bright background), a Romanowsky-stained nucleus absorbs red light much
more than blue, while red cells, platelets' granules aside, and the background do not. The field is first
resized so that a red cell (7.5 um) spans ``WORK_RED_CELL`` pixels, so every size below is in red cells and
fields of any microscope are treated alike once the scale is known (given, or estimated from the red cells by
``keras_all.cells.scale``). The nuclear mask is closed over gaps of 0.3 red cells (the lobes of one neutrophil
join), parts smaller than half a red cell (platelets, specks) or larger than nine (no nucleus is; a field of
noise or of stain is) are dropped, and each nucleus takes in the cytoplasm around it: the pixels within 0.2 red
cells of it, each given to the nearest nucleus, so that touching cells are split between their nuclei.

Cells already cut out on a black background (C-NMC's, for one) have no field around them: where a fifth of the
image is black, each part that is not (and is at least half a red cell large) is a cell.

A picture that is blank, or has no colour (a grayscale camera's, or a field saved in one channel), is no stained
smear: the finder says so (``FoundCells.judged`` is False) and finds nothing, and callers judge nothing on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from keras_all.cells.scale import Scale, estimate_scale, optical_density

WORK_RED_CELL = 24  # pixels a red cell spans where the finder works
NUCLEUS_OD = 0.15  # red minus blue optical density of a nucleus pixel (chosen on BCCD's training list)
JOIN = 0.3  # nuclear parts this close (in red cells) belong to one cell
LEAST_NUCLEUS = 0.5  # a nucleus covers at least this share of a red cell's area
MOST_NUCLEUS = 9.0  # and at most this many red cells' areas (a blast's nucleus: about 2 to 4)
CYTOPLASM = 0.23  # red cells of cytoplasm around a nucleus (chosen on BCCD's training list)
LOBE_GAP = 0.0  # nuclear parts whose boxes touch or overlap (a gap in red cells) may be lobes of one nucleus
NUCLEUS_EXTENT = 2.6  # if together they span at most this many red cells (both chosen on BCCD train and val)
BLANK = 8  # a field whose values span fewer levels than this is blank
COLOURLESS = 12  # a field whose pixels' spread between channels stays below this (99th percentile) has no stain
# (measured: stained fields and cells of BCCD, Raabin, Aria, PBC and C-NMC 51 or more; their grayscale copies 0)
BLANK_FIELD = "blank (one colour), not a smear"
NO_COLOUR = "no colour (grayscale), not a stained smear"
BLACK = 10  # a pixel no brighter than this in any channel is black: no field there
CUT_OUT = 0.2  # the share of black pixels that marks cells cut out on a black background


@dataclass(frozen=True)
class FoundCells:
    """The white cells found on one field: boxes (n, 4) x0, y0, x1, y1 in the field's pixels, a score each
    (the nucleus's area in red cells, at most 1), whether each touches the field's border, the scale, the cells'
    masks as one label image (height x width; 0 outside every cell, i + 1 on cell i) and what the field looked
    like ("smear", "cut out on black", or why it cannot be judged: ``BLANK_FIELD``, ``NO_COLOUR``)."""

    boxes: np.ndarray
    scores: np.ndarray
    at_border: np.ndarray
    scale: Scale
    labels: np.ndarray
    field: str = "smear"

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def judged(self) -> bool:
        """Whether the field could be read as a stained smear (or as cells cut out on black): where not, finding no
        cell on it says nothing, and no verdict may be drawn from it."""
        return self.field in ("smear", "cut out on black")

    @property
    def why_not_judged(self) -> str:
        """"cannot be judged: " and why, for the field's note and warning ("" where it was judged)."""
        return "" if self.judged else f"cannot be judged: {self.field}"

    def outlines(self) -> list:
        """Each cell's outline (OpenCV contours in the field's pixels), traced within its box only."""
        traced = []
        for number, (x0, y0, x1, y1) in enumerate(np.round(self.boxes).astype(int), start=1):
            x0, y0 = max(0, x0 - 1), max(0, y0 - 1)
            inside = (self.labels[y0:y1 + 1, x0:x1 + 1] == number).astype(np.uint8)
            traced.append(cv2.findContours(inside, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE, offset=(x0, y0))[0])
        return traced

    def holding(self, points: np.ndarray) -> np.ndarray:
        """For each (x, y) point of the field, the number of the cell whose mask holds it (0: none)."""
        points = np.asarray(points, float).reshape(-1, 2)
        height, width = self.labels.shape
        x = np.clip(np.round(points[:, 0]).astype(int), 0, width - 1)
        y = np.clip(np.round(points[:, 1]).astype(int), 0, height - 1)
        return self.labels[y, x].astype(int)

    def marked(self, points) -> np.ndarray:
        """1 for each cell whose mask holds one of the (x, y) ``points`` (a marked blast's centroid), else 0."""
        holding = self.holding(points)
        return np.isin(np.arange(1, len(self) + 1), holding[holding > 0]).astype(int)


def find_cells(image: np.ndarray, scale: Scale | None = None) -> FoundCells:
    """The white cells of an RGB field (uint8, height x width x 3), at ``scale`` (estimated from the field's red
    cells where not given)."""
    if scale is None:
        scale = estimate_scale(image)
        if scale is None:
            raise ValueError("no red cell outlines on this field to measure its scale by; give the scale: "
                             "Scale(red_cell_px) or Scale.from_um_per_px(um)")
    height, width = image.shape[:2]
    if int(image.max()) - int(image.min()) < BLANK:
        return _nothing(image, scale, BLANK_FIELD)
    factor = WORK_RED_CELL / scale.red_cell_px
    small = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    if np.percentile(small.max(axis=2) - small.min(axis=2), 99) < COLOURLESS:
        return _nothing(image, scale, NO_COLOUR)
    red_cell_area = np.pi * (WORK_RED_CELL / 2) ** 2
    black = small.max(axis=2) <= BLACK
    field = "cut out on black" if black.mean() >= CUT_OUT else "smear"
    seeds = ~black if field != "smear" else _nuclei(small)
    count, parts, stats, _ = cv2.connectedComponentsWithStats(seeds.astype(np.uint8))
    group = np.arange(count - 1) if field != "smear" else _lobes_grouped(stats[1:])
    area = np.bincount(group, stats[1:, cv2.CC_STAT_AREA], minlength=count - 1)
    kept = area >= LEAST_NUCLEUS * red_cell_area
    if field == "smear":
        kept &= area <= MOST_NUCLEUS * red_cell_area
    numbers = np.zeros(len(area) + 1, np.int32)
    numbers[1:][kept] = np.arange(1, kept.sum() + 1)
    seeds = numbers[np.concatenate([[0], group + 1])][parts]
    area = area[kept]
    labels = _filled(seeds if field != "smear" else _with_cytoplasm(seeds, CYTOPLASM * WORK_RED_CELL))
    boxes, at_border = _boxes(labels, int(kept.sum()))
    scale_back = np.array([width / small.shape[1], height / small.shape[0]] * 2)
    full = cv2.resize(labels.astype(np.uint16), (width, height), interpolation=cv2.INTER_NEAREST)
    return FoundCells(boxes * scale_back, np.minimum(1.0, area / red_cell_area), at_border, scale, full, field)


def _nuclei(small: np.ndarray) -> np.ndarray:
    density = optical_density(small)
    nuclei = (density[..., 0] - density[..., 2] > NUCLEUS_OD).astype(np.uint8)
    join = max(3, int(JOIN * WORK_RED_CELL) | 1)
    return cv2.morphologyEx(nuclei, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (join, join)))


def _lobes_grouped(stats: np.ndarray) -> np.ndarray:
    """A group number per nuclear part (rows of connectedComponentsWithStats, background left out): parts whose
    boxes lie within ``LOBE_GAP`` of each other join while the group's box stays within ``NUCLEUS_EXTENT``, as the
    lobes of one granulocyte do and the nuclei of two cells side by side do not."""
    boxes = np.column_stack([stats[:, 0], stats[:, 1], stats[:, 0] + stats[:, 2], stats[:, 1] + stats[:, 3]])
    boxes = boxes.astype(float)
    group = np.arange(len(boxes))
    gap, extent = LOBE_GAP * WORK_RED_CELL, NUCLEUS_EXTENT * WORK_RED_CELL
    merged = True
    while merged:
        merged = False
        for i, j in zip(*np.triu_indices(len(boxes), 1)):
            a, b = group[i], group[j]
            if a == b:
                continue
            union = np.concatenate([np.minimum(boxes[a, :2], boxes[b, :2]), np.maximum(boxes[a, 2:], boxes[b, 2:])])
            apart = max(boxes[a, 0] - boxes[b, 2], boxes[b, 0] - boxes[a, 2], boxes[a, 1] - boxes[b, 3],
                        boxes[b, 1] - boxes[a, 3])
            if apart <= gap and max(union[2] - union[0], union[3] - union[1]) <= extent:
                boxes[a] = union
                group[group == b] = a
                merged = True
    return np.unique(group, return_inverse=True)[1]


def _with_cytoplasm(nuclei: np.ndarray, reach: float) -> np.ndarray:
    """Each nucleus's label spread over the pixels within ``reach`` of it, a pixel going to the nearest one."""
    if not nuclei.any():
        return nuclei
    distance, (rows, cols) = ndimage.distance_transform_edt(nuclei == 0, return_indices=True)
    return np.where(distance <= reach, nuclei[rows, cols], 0)


def _filled(labels: np.ndarray) -> np.ndarray:
    """Cells without holes or bays: a pixel within a cell's convex hull that no cell holds (a blast nucleus's pale
    centre, open to the outside where its chromatin is faint; the gap between a granulocyte's lobes) goes to the
    nearest cell."""
    hulls = np.zeros(labels.shape, np.uint8)
    for number, where in enumerate(ndimage.find_objects(labels), start=1):
        if where is not None:
            rows, cols = where
            points = cv2.findNonZero((labels[where] == number).astype(np.uint8))
            cv2.fillConvexPoly(hulls, cv2.convexHull(points) + np.array([cols.start, rows.start]), 1)
    inside = (hulls > 0) & (labels == 0)
    if not inside.any():
        return labels
    _, (rows, cols) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    return np.where(inside, labels[rows, cols], labels)


def _boxes(labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Each label's box (x0, y0, x1, y1; pixel edges) and whether it touches the image's edge."""
    boxes = np.zeros((count, 4))
    for number, where in enumerate(ndimage.find_objects(labels, count)):
        rows, cols = where
        boxes[number] = cols.start, rows.start, cols.stop, rows.stop
    height, width = labels.shape
    at_border = (boxes[:, 0] <= 0) | (boxes[:, 1] <= 0) | (boxes[:, 2] >= width) | (boxes[:, 3] >= height)
    return boxes, at_border


def _nothing(image: np.ndarray, scale: Scale, why: str) -> FoundCells:
    return FoundCells(np.zeros((0, 4)), np.zeros(0), np.zeros(0, bool), scale,
                      np.zeros(image.shape[:2], np.uint16), why)
