"""A field with its found cells outlined, each in its own colour, and marked boxes where it carries them."""

from __future__ import annotations

import cv2
import numpy as np

from keras_all.cells.finder import FoundCells

FOUND, CUT, MARKED = (0, 200, 0), (220, 0, 0), (0, 90, 255)  # RGB: a found cell, one cut by the border, a mark


def outlined(image: np.ndarray, found: FoundCells, colours=None, marks: np.ndarray | None = None) -> np.ndarray:
    """A copy of ``image`` (RGB) with cell i of ``found`` outlined in ``colours[i]`` (by default green, red where the
    field's border cuts it) and the boxes ``marks`` (x0, y0, x1, y1) in blue."""
    picture = image.copy()
    thickness = max(2, round(max(image.shape[:2]) / 320))
    for box in [] if marks is None else marks:
        x0, y0, x1, y1 = np.round(box).astype(int)
        cv2.rectangle(picture, (x0, y0), (x1, y1), MARKED, thickness)
    colours = [CUT if cut else FOUND for cut in found.at_border] if colours is None else colours
    for outline, colour in zip(found.outlines(), colours):
        cv2.drawContours(picture, outline, -1, colour, thickness)
    return picture


def by_probability(p: np.ndarray) -> list[tuple[int, int, int]]:
    """A colour per cell from green (P 0) to red (P 1)."""
    return [(int(round(220 * q)), int(round(200 * (1 - q))), 0) for q in p]


def write_rgb(path, image: np.ndarray) -> None:
    """Write an RGB picture (JPEG or PNG by the name's suffix)."""
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
