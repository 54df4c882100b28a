"""The preprocessing front: its fixed map layers and the standardizer it fits on training maps (its settings,
``FrontConfig``, live with every other configuration group in ``keras_all.config``).

raw RGB -> AreaResizing(image_size; skipped at that size) -> centre crop to spike_size
        -> stain normalisation (optional: ReinhardNormalization) -> FirstSpikeGabor (on 8-bit luma)
        -> GaussianBlur -> Resizing(input_size) -> z-score (ZScore, fitted on training images)
        -> PCA reconstruction (optional, fitted on training images) -> 1 or 3 channels.

The raw modes of the ablations (``gray``: the same 8-bit luma; ``rgb``: the colour image), each scaled
to [0, 1], skip the Gabor stage and the blur and go through the same resizing, z-score and PCA.

The colour-aware spike modes (keras_all/layers/colour.py): ``first_spike_rgb``, the first-spike map of each
of R, G and B (3 channels); ``rgb_first_spike`` and ``rgb_spike_wave``, the colour image with the luma
first-spike map (1 channel) or spike wave (60) beside it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
from sklearn.preprocessing import StandardScaler

from keras_all.config import FrontConfig
from keras_all.data.io import read_image
from keras_all.layers import (
    AreaResizing,
    ChannelFirstSpikeGabor,
    FirstSpikeGabor,
    GaussianBlur,
    Luma,
    ReinhardNormalization,
    SpikesBesideColour,
    area_resize,
    fit_pca,
)
from keras_all.vocabulary import SPIKE_MODES

VARIANCE_FLOOR = 0.01


def map_layers(config: FrontConfig) -> list[keras.layers.Layer]:
    """Raw image to blurred spike map at the input size (nothing fitted on data)."""
    size, steps, whole = config.spike_size, config.timesteps, config.image_size
    layers = [AreaResizing(whole, whole, name="spike_resize")]
    if whole != size:
        layers.append(keras.layers.CenterCrop(size, size, name="centre_crop"))
    if config.stain == "reinhard":
        layers.append(ReinhardNormalization(name="stain_normalisation"))
    if config.mode == "gray":
        layers.append(Luma(name="gray"))
    elif config.mode == "rgb":
        layers.append(keras.layers.Rescaling(1 / 255, name="rgb"))
    elif config.mode == "first_spike_rgb":
        layers.append(ChannelFirstSpikeGabor(timesteps=steps, name="channel_first_spike_gabor"))
    elif config.mode in ("rgb_first_spike", "rgb_spike_wave"):  # blurs its spike channels itself
        layers.append(SpikesBesideColour(config.mode[4:], steps, config.blur_size, name="spikes_beside_colour"))
    else:
        layers.append(FirstSpikeGabor(mode=config.mode, timesteps=steps, name="first_spike_gabor"))
    if config.mode == "spike_wave":  # (T, h, w, L) -> (h, w, T * L)
        layers += [keras.layers.Permute((2, 3, 1, 4), name="wave_to_channels"),
                   keras.layers.Reshape((size, size, steps * 4), name="wave_flatten")]
    if config.mode in (*SPIKE_MODES, "first_spike_rgb"):
        layers.append(GaussianBlur(config.blur_size, name="gaussian_blur"))
    if config.input_size != config.spike_size:
        layers.append(keras.layers.Resizing(config.input_size, config.input_size, antialias=True, name="input_resize"))
    return layers


def load_images(paths, config: FrontConfig) -> np.ndarray:
    """(n, image_size, image_size, 3) uint8: each file read and resized as the front's ``AreaResizing`` resizes a
    raw image inside a served model, so that training and evaluation see the pixels serving sees."""
    size = config.image_size

    def load(path):
        return area_resize(read_image(path), size, size)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return np.stack(list(pool.map(load, paths)))


def centre_crop(image: np.ndarray, crop: float) -> np.ndarray:
    """The centred ``crop`` share of each side of an image (as the front's ``crop`` keeps it)."""
    if crop == 1:
        return image
    height, width = image.shape[:2]
    h, w = max(1, round(height * crop)), max(1, round(width * crop))
    top, left = (height - h) // 2, (width - w) // 2
    return image[top : top + h, left : left + w]


class Standardizer:
    """What the front learns from training maps, in scikit-learn's shape: ``Standardizer(config).fit(maps)``.

    Sets ``mean_`` and ``variance_`` (per pixel or per channel, as ``config.zscore`` says) and ``pca_`` (a
    fitted ``sklearn.decomposition.PCA`` on the z-scored, flattened maps, or None when PCA is off).

    Args:
        config: the front whose maps are standardized (``zscore`` and ``pca_components`` are read).
        random_state: seed of the randomized PCA fit.
    """

    def __init__(self, config: FrontConfig, random_state: int = 0):
        self.config = config
        self.random_state = random_state

    def fit(self, maps: np.ndarray) -> Standardizer:
        """Fit on training maps (n, size, size, channels) only; returns self."""
        maps = np.asarray(maps)
        if maps.ndim != 4 or len(maps) < 2:
            raise ValueError(f"a standardizer is fitted on at least 2 maps as (n, h, w, channels); got {maps.shape}")
        self._set_moments(maps.mean(axis=self._axes), maps.var(axis=self._axes))
        self.pca_ = None if self.config.pca_components is None else self._fit_pca(maps)
        return self

    def fit_chunks(self, chunks, pca_sample: np.ndarray | None = None) -> Standardizer:
        """Fit on training maps that do not fit in memory: ``chunks`` yields them in blocks (n_i, h, w, channels)
        for the running moments (scikit-learn's streaming ``StandardScaler.partial_fit``); PCA, where on, is fitted
        on ``pca_sample``, a random subset small enough to hold. Returns self."""
        scaler, maps, shape = StandardScaler(), 0, None
        for chunk in chunks:
            chunk = np.asarray(chunk)
            maps, shape = maps + len(chunk), chunk.shape[1:]
            rows = chunk.reshape(len(chunk), -1) if self._axes == (0,) else chunk.reshape(-1, chunk.shape[-1])
            scaler.partial_fit(rows)
        if maps < 2:
            raise ValueError("a standardizer is fitted on at least 2 maps")
        moments = shape if self._axes == (0,) else shape[-1:]
        self._set_moments(scaler.mean_.reshape(moments), scaler.var_.reshape(moments))
        self.pca_ = None if self.config.pca_components is None else self._fit_pca(np.asarray(pca_sample))
        return self

    @property
    def _axes(self) -> tuple[int, ...]:
        return (0,) if self.config.zscore == "pixel" else (0, 1, 2)

    def _set_moments(self, mean: np.ndarray, variance: np.ndarray) -> None:
        self.mean_ = mean.astype("float32")
        variance = variance.astype("float32")
        # A pixel (nearly) constant in training must not blow up an image with an edge there: variances
        # below 1% of the average are raised to it (StandardScaler would divide by ~0, or by 1 at exactly 0).
        floor = VARIANCE_FLOOR * float(variance.mean())
        self.variance_ = np.maximum(variance, floor) if floor > 0 else np.ones_like(variance)

    def _fit_pca(self, maps: np.ndarray):
        scaled = ((maps - self.mean_) / np.sqrt(self.variance_)).reshape(len(maps), -1)
        return fit_pca(scaled, self.config.pca_components, random_state=self.random_state)

    @property
    def n_components_(self) -> int | None:
        """Components the PCA kept (it caps the count asked for below the training images), or None."""
        return None if self.pca_ is None else int(self.pca_.n_components_)
