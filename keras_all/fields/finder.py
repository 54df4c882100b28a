"""Finding the white cells of a smear field, at their physical size.

A white cell is found by its nucleus: in optical density (the stain's absorbance, -log of the light a pixel
lets through, relative to the field's bright background), a Romanowsky-stained nucleus absorbs red light much
more than blue, while red cells, platelets' granules aside, and the background do not. The field is first
resized so that a red cell (7.5 um) spans ``WORK_RED_CELL`` pixels, so every size below is in red cells and
fields of any microscope are treated alike once the scale is known. The nuclear mask is closed over gaps of
0.3 red cells (the lobes of one neutrophil join), parts smaller than half a red cell (platelets, specks) or
larger than nine (no nucleus is; a field of noise or of stain is) are dropped, and each nucleus's box is grown
by 0.2 red cells to take in its cytoplasm.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

RED_CELL_UM = 7.5  # a red cell's diameter
WORK_RED_CELL = 24  # pixels a red cell spans where the finder works
NUCLEUS_OD = 0.15  # red minus blue optical density of a nucleus pixel (chosen on BCCD's training list)
JOIN = 0.3  # nuclear parts this close (in red cells) belong to one cell
LEAST_NUCLEUS = 0.5  # a nucleus covers at least this share of a red cell's area
MOST_NUCLEUS = 9.0  # and at most this many red cells' areas (a blast's nucleus: about 2 to 4)
CYTOPLASM = 0.2  # red cells added on each side of a nucleus's box (chosen on BCCD's training list)


@dataclass(frozen=True)
class Scale:
    """How many pixels a red cell spans in a field; given, or estimated from the field with the spread of the
    red cells' sizes (the interquartile range over the median: how sure the estimate is)."""

    red_cell_px: float
    source: str = "given"
    spread: float | None = None

    def __post_init__(self):
        if not 4 <= self.red_cell_px <= 2000:
            raise ValueError(f"a red cell of {self.red_cell_px:g} pixels: give a scale between 0.004 and 2 um per "
                             "pixel (a red cell of 4 to 2,000 pixels)")

    @classmethod
    def from_um_per_px(cls, um_per_px: float) -> Scale:
        if not um_per_px > 0:
            raise ValueError(f"--um-per-px {um_per_px:g}: must be a positive number of micrometres per pixel")
        return cls(RED_CELL_UM / um_per_px)

    @property
    def um_per_px(self) -> float:
        return RED_CELL_UM / self.red_cell_px


@dataclass(frozen=True)
class FoundCells:
    """The white cells found on one field: boxes (n, 4) x0, y0, x1, y1 in the field's pixels, a score each
    (the nucleus's area in red cells, at most 1), whether each touches the field's border, and the scale."""

    boxes: np.ndarray
    scores: np.ndarray
    at_border: np.ndarray
    scale: Scale

    def __len__(self) -> int:
        return len(self.boxes)


def optical_density(image: np.ndarray) -> np.ndarray:
    """Per channel, -log of each pixel's light relative to the field's background (its 99th percentile)."""
    background = np.percentile(image.reshape(-1, 3), 99, axis=0).astype(np.float32)
    return np.clip(-np.log((image.astype(np.float32) + 1) / (background + 1)), 0, None)


def find_cells(image: np.ndarray, scale: Scale) -> FoundCells:
    """The white cells of an RGB field (uint8, height x width x 3), at ``scale``."""
    factor = WORK_RED_CELL / scale.red_cell_px
    small = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    density = optical_density(small)
    nuclei = (density[..., 0] - density[..., 2] > NUCLEUS_OD).astype(np.uint8)
    join = max(3, int(JOIN * WORK_RED_CELL) | 1)
    nuclei = cv2.morphologyEx(nuclei, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (join, join)))
    count, _, stats, _ = cv2.connectedComponentsWithStats(nuclei)
    red_cell_area = np.pi * (WORK_RED_CELL / 2) ** 2
    area = stats[1:, cv2.CC_STAT_AREA]
    kept = stats[1:][(area >= LEAST_NUCLEUS * red_cell_area) & (area <= MOST_NUCLEUS * red_cell_area)].astype(float)
    x, y, w, h, area = kept.T if len(kept) else np.zeros((5, 0))
    grow = CYTOPLASM * WORK_RED_CELL
    height, width = image.shape[:2]
    boxes = np.stack([x - grow, y - grow, x + w + grow, y + h + grow], axis=1) / factor
    boxes = np.clip(boxes, 0, [width, height, width, height])
    at_border = (x <= 0) | (y <= 0) | (x + w >= small.shape[1]) | (y + h >= small.shape[0])
    return FoundCells(boxes.reshape(-1, 4), np.minimum(1.0, area / red_cell_area), at_border, scale)
