"""How unlike the training images an image is: its colour and texture statistics, and their distance from the
training images' (``keras_all.evaluation.familiarity`` fits it; a served model computes it beside its verdict)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

BINS = 16  # each of hue, saturation and value
EDGE_BINS = (0.0, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32)  # lower edges of the luma-step bins (the last is open)
GROUPS = {"hue": slice(0, BINS), "saturation": slice(BINS, 2 * BINS), "brightness": slice(2 * BINS, 3 * BINS),
          "texture (edges)": slice(3 * BINS, 3 * BINS + len(EDGE_BINS))}
FEATURES = 3 * BINS + len(EDGE_BINS)
FLAT = 3 * BINS  # the statistic of pixels with no step to their neighbours
FLAT_SHARE = 0.995  # an image this flat holds nothing to judge: flagged whatever its distance (a black field is near
# C-NMC's black backgrounds)


def is_flat(statistics):
    """1 where an image's statistics say it is flat: nearly every pixel level with its neighbours."""
    return ops.cast(statistics[:, FLAT] >= FLAT_SHARE, "int32")


def _shares(index, count: int):
    """(n, h, w) bin indices -> (n, count): the share of each image's pixels in each bin."""
    return ops.stack([ops.mean(ops.cast(ops.equal(index, k), "float32"), axis=(1, 2)) for k in range(count)], axis=-1)


@keras.saving.register_keras_serializable(package="keras_all")
class ImageStatistics(keras.layers.Layer):
    """RGB images (n, h, w, 3) in 0..255 -> (n, 55): the shares of their pixels in 16 bins each of hue, saturation
    and value, and in 7 bins of the luma step to the next pixel right and below (flat background to sharp edges)."""

    def call(self, images):
        x = ops.cast(images, "float32") / 255.0
        r, g, b = x[..., 0], x[..., 1], x[..., 2]
        value, low = ops.max(x, axis=-1), ops.min(x, axis=-1)
        chroma = value - low
        safe = ops.where(chroma > 0, chroma, 1.0)
        hue = ops.where(value == r, ops.mod((g - b) / safe, 6.0),
                        ops.where(value == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
        hue = ops.where(chroma > 0, hue / 6.0, 0.0)
        saturation = ops.where(value > 0, chroma / ops.where(value > 0, value, 1.0), 0.0)
        luma = 0.299 * r + 0.587 * g + 0.114 * b
        step = ops.abs(luma[:, :-1, 1:] - luma[:, :-1, :-1]) + ops.abs(luma[:, 1:, :-1] - luma[:, :-1, :-1])
        edges = ops.sum(ops.stack([ops.cast(step >= edge, "int32") for edge in EDGE_BINS[1:]], axis=-1), axis=-1)
        parts = [_shares(ops.cast(ops.clip(ops.floor(c * BINS), 0, BINS - 1), "int32"), BINS)
                 for c in (hue, saturation, value)]
        return ops.concatenate([*parts, _shares(edges, len(EDGE_BINS))], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], FEATURES)


@keras.saving.register_keras_serializable(package="keras_all")
class Unfamiliarity(keras.layers.Layer):
    """Image statistics (n, 55) -> (their Mahalanobis distance from the training images' mean, 1 where it passes
    the cut-off chosen on validation images or the image is flat)."""

    def __init__(self, mean, precision, cutoff: float, **kwargs):
        super().__init__(**kwargs)
        self.mean = np.asarray(mean, "float32")
        self.precision = np.asarray(precision, "float32")
        self.cutoff = float(cutoff)

    def call(self, statistics):
        centred = statistics - ops.convert_to_tensor(self.mean)
        squared = ops.sum(ops.matmul(centred, ops.convert_to_tensor(self.precision)) * centred, axis=-1)
        distance = ops.sqrt(ops.maximum(squared, 0.0))
        return distance, ops.maximum(ops.cast(distance > self.cutoff, "int32"), is_flat(statistics))

    def compute_output_spec(self, statistics):
        batch = statistics.shape[0]
        return keras.KerasTensor((batch,), "float32"), keras.KerasTensor((batch,), "int32")

    def get_config(self):
        return {**super().get_config(), "mean": self.mean.tolist(), "precision": self.precision.tolist(),
                "cutoff": self.cutoff}
