"""Images of a data set into memory at one size, to stack into a batch."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from .io import read_image


def load_images(paths, size: int) -> np.ndarray:
    """(n, size, size, 3) uint8: each image read and resized with area averaging (no aliasing)."""

    def load(path):
        return cv2.resize(read_image(path), (size, size), interpolation=cv2.INTER_AREA)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return np.stack(list(pool.map(load, paths)))
