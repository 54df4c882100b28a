"""Images into memory at the spike size, and their (fixed) spike maps computed once."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from keras_all.data import read_image
from keras_all.front import FrontConfig, build_map_model


def load_images(paths, size: int) -> np.ndarray:
    """(n, size, size, 3) uint8: each image read and resized with area averaging (no aliasing)."""

    def load(path):
        return cv2.resize(read_image(path), (size, size), interpolation=cv2.INTER_AREA)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return np.stack(list(pool.map(load, paths)))


def spike_maps(paths, config: FrontConfig, batch_size: int = 32) -> np.ndarray:
    """The front's maps of every image. The Gabor kernels are fixed, so a map never changes:
    computing it once per run (not once per epoch) is exact."""
    images = load_images(paths, config.spike_size)
    return build_map_model(config).predict(images, batch_size=batch_size, verbose=0)
