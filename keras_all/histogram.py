"""The colour histogram of an image: 48 numbers that the baselines, the field controls and the stress test read."""

from __future__ import annotations

import cv2
import numpy as np

BINS = 16  # each of hue, saturation and value
RANGES = (180, 256, 256)  # OpenCV's 8-bit hue runs 0..179


def hsv_histogram(image: np.ndarray) -> np.ndarray:
    """16 bins each of hue, saturation and value of a uint8 RGB image, as fractions of its pixels: a level v of a
    channel running 0..top-1 falls in bin (16 v) // top, the bins of ``np.histogram(..., bins=16, range=(0, top))``
    counted by integers."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).reshape(-1, 3).astype(np.int32)
    parts = [np.bincount(hsv[:, c] * BINS // top, minlength=BINS)[:BINS] for c, top in enumerate(RANGES)]
    return np.concatenate(parts) / (image.shape[0] * image.shape[1])
