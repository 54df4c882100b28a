"""The spike maps of a run's images, computed once."""

from __future__ import annotations

import numpy as np

from keras_all.front import FrontConfig, load_images
from keras_all.models import SpikePreprocessor


def spike_maps(paths, config: FrontConfig, batch_size: int = 32) -> np.ndarray:
    """The front's maps of every image. The Gabor kernels are fixed, so a map never changes:
    computing it once per run (not once per epoch) is exact."""
    images = load_images(paths, config)
    return SpikePreprocessor(config).map_model(images.shape[1:3]).predict(images, batch_size=batch_size, verbose=0)
