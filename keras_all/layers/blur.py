"""GaussianBlur: a separable, per-channel Gaussian blur with the sigma OpenCV's formula derives from 0.

The paper blurs with cv2.GaussianBlur(9x9, 0), i.e. sigma = 0.3 * ((9 - 1) / 2 - 1) + 0.8 = 1.7 by
OpenCV's documented formula. (OpenCV 5 replaced that formula with a fixed 9-tap table for sigma = 0;
this layer keeps the formula, which is what OpenCV 4 and the paper used.)
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def opencv_sigma(kernel_size: int) -> float:
    """The sigma OpenCV derives when given 0: 0.3 * ((k - 1) / 2 - 1) + 0.8 (1.7 for k = 9)."""
    return 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8


def gaussian_taps(kernel_size: int, sigma: float | None = None) -> np.ndarray:
    """Normalised 1-D Gaussian taps; sigma None or <= 0 means OpenCV's default for the size."""
    sigma = opencv_sigma(kernel_size) if not sigma or sigma <= 0 else sigma
    x = np.arange(kernel_size) - (kernel_size - 1) / 2
    taps = np.exp(-(x**2) / (2 * sigma**2))
    return taps / taps.sum()


@keras.saving.register_keras_serializable(package="keras_all")
class GaussianBlur(keras.layers.Layer):
    """Gaussian blur of every channel, reflect-padded (OpenCV's default border), output the input's size."""

    def __init__(self, kernel_size=9, sigma=0.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size={kernel_size!r}: must be an odd positive integer")
        if sigma < 0:
            raise ValueError(f"sigma={sigma!r}: must be >= 0 (0 derives it from kernel_size as OpenCV does)")
        self.kernel_size, self.sigma = kernel_size, float(sigma)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("GaussianBlur needs a known channel count")
        taps = np.tile(gaussian_taps(self.kernel_size, self.sigma)[:, None, None], (1, channels, 1))
        self.rows = self.add_weight(name="rows", shape=(self.kernel_size, 1, channels, 1),
                                    initializer=keras.initializers.Constant(taps[:, None]), trainable=False)
        self.cols = self.add_weight(name="cols", shape=(1, self.kernel_size, channels, 1),
                                    initializer=keras.initializers.Constant(taps[None]), trainable=False)

    def call(self, inputs):
        half = self.kernel_size // 2
        x = ops.pad(ops.cast(inputs, self.compute_dtype), [[0, 0], [half, half], [half, half], [0, 0]], mode="reflect")
        x = ops.depthwise_conv(x, ops.cast(self.rows, x.dtype), padding="valid")
        return ops.depthwise_conv(x, ops.cast(self.cols, x.dtype), padding="valid")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "sigma": self.sigma}
