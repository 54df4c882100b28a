"""Each found cell cut from its field at one physical size, the input a cell model sees.

A crop is a square of ``side`` red cells (2.5 by default: 19 um, a large blast and a rim of what lies beside it)
centred on the cell's box, resized by area averaging to ``pixels`` across, so that crops of every microscope
show cells at one size. Where the square reaches past the field, the field's background colour (its 99th
percentile, as the finder's optical density takes it) fills in. ``show`` picks what a crop keeps, for the
background controls: ``all`` of it, the ``cell`` alone (every pixel outside its own mask filled in) or the
``background`` alone (every found cell's mask filled in).
"""

from __future__ import annotations

import cv2
import numpy as np

from keras_all.cells.finder import FoundCells
from keras_all.vocabulary import CROP_PIXELS, CROP_RED_CELLS


def background_colour(image: np.ndarray) -> np.ndarray:
    """The field's bright background: the 99th percentile of each channel (of at most ~100,000 pixels)."""
    pixels = image.reshape(-1, 3)
    return np.percentile(pixels[::max(1, len(pixels) // 100_000)], 99, axis=0).astype(np.uint8)


def cell_crops(image: np.ndarray, found: FoundCells, side: float = CROP_RED_CELLS, pixels: int = CROP_PIXELS,
               show: str = "all") -> np.ndarray:
    """(n, pixels, pixels, 3) uint8: cell i of ``found`` centred in a square of ``side`` red cells."""
    span = max(1, int(round(side * found.scale.red_cell_px)))
    fill = background_colour(image)
    padded = cv2.copyMakeBorder(image, span, span, span, span, cv2.BORDER_CONSTANT, value=fill.tolist())
    labels = cv2.copyMakeBorder(found.labels, span, span, span, span, cv2.BORDER_CONSTANT, value=0)
    crops = np.empty((len(found), pixels, pixels, 3), np.uint8)
    for number, (x0, y0, x1, y1) in enumerate(found.boxes, start=1):
        left = int(round((x0 + x1) / 2 - span / 2)) + span
        top = int(round((y0 + y1) / 2 - span / 2)) + span
        square = padded[top:top + span, left:left + span].copy()
        if show != "all":
            cells = labels[top:top + span, left:left + span]
            square[cells != number if show == "cell" else cells > 0] = fill
        crops[number - 1] = cv2.resize(square, (pixels, pixels), interpolation=cv2.INTER_AREA)
    return crops
