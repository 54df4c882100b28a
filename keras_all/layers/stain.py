"""Stain in and out of the model: a haematoxylin-eosin-DAB jitter for training, and Reinhard's colour transfer.

``hed_shift`` is the one formula both the training jitter (``StainJitter``) and the stress test
(``keras_all.evaluation.stress``) apply. Colour deconvolution (Ruifrok & Johnston 2001) turns an RGB pixel into
its optical density and that into the amounts of three stains; each stain's amount becomes ``alpha * c + beta``
(the HED jitter of Tellez et al. 2018) and the pixel is put back together. Optical density is taken as
``-ln((I + 1) / 256) / ln 256``, so that the 8-bit range spans [0, 1] and ``beta`` reads as a share of it.

``ReinhardNormalization`` moves each image's mean and spread in Reinhard et al.'s (2001) l-alpha-beta space to a
fixed target's, which removes a lab's overall colour cast before the spike maps are made.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

# Ruifrok & Johnston's stain vectors (optical density of R, G, B), one row per stain, each of unit length
STAINS = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
STAINS = STAINS / np.linalg.norm(STAINS, axis=1, keepdims=True)
DENSITY_SCALE = math.log(256.0)
OFFSET_SHARE = 0.2  # a jitter of strength s draws beta within +-OFFSET_SHARE * s


def hed_shift(images, alpha, beta):
    """RGB images (n, h, w, 3) in 0..255 with each stain's amount scaled by ``alpha`` and moved by ``beta`` (each
    (n, 3): haematoxylin, eosin, DAB) -> float32 images in 0..255, rounded to whole levels."""
    density = -ops.log((ops.cast(images, "float32") + 1.0) / 256.0) / DENSITY_SCALE
    amounts = ops.matmul(density, ops.convert_to_tensor(np.linalg.inv(STAINS), "float32"))
    amounts = amounts * ops.cast(alpha, "float32")[:, None, None, :] + ops.cast(beta, "float32")[:, None, None, :]
    density = ops.matmul(amounts, ops.convert_to_tensor(STAINS, "float32"))
    return ops.clip(ops.round(256.0 * ops.exp(-density * DENSITY_SCALE) - 1.0), 0.0, 255.0)


def stain_draws(strength: float, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``alpha`` and ``beta`` of ``hed_shift`` for ``n`` images at a jitter of ``strength``, from ``rng``."""
    alpha = rng.uniform(1 - strength, 1 + strength, (n, 3))
    beta = rng.uniform(-OFFSET_SHARE * strength, OFFSET_SHARE * strength, (n, 3))
    return alpha, beta


@keras.saving.register_keras_serializable(package="keras_all")
class StainJitter(keras.layers.Layer):
    """Training only: each RGB image (0..255) gets stain amounts drawn anew, ``alpha`` within 1 +- ``strength``
    and ``beta`` within +- 0.2 ``strength`` per stain (``hed_shift``). At inference it passes images through.

    Args:
        strength: how far the stains move (0.1: each stain's amount within +-10%).
        seed: seed of the draws.
    """

    def __init__(self, strength: float = 0.1, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0 < strength < 1:
            raise ValueError(f"strength={strength!r}: a stain jitter's strength lies in (0, 1), e.g. 0.1")
        self.strength, self.seed = float(strength), seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=None):
        if not training:
            return images
        n, s = ops.shape(images)[0], self.strength
        alpha = keras.random.uniform((n, 3), 1 - s, 1 + s, seed=self.generator)
        beta = keras.random.uniform((n, 3), -OFFSET_SHARE * s, OFFSET_SHARE * s, seed=self.generator)
        return hed_shift(images, alpha, beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "strength": self.strength, "seed": self.seed}


# Reinhard et al. (2001): RGB -> LMS cone space; the log of LMS -> l-alpha-beta (decorrelated)
RGB_TO_LMS = np.array([[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]])
LOG_LMS_TO_LAB = np.diag([1 / math.sqrt(3), 1 / math.sqrt(6), 1 / math.sqrt(2)]) @ np.array(
    [[1, 1, 1], [1, 1, -2], [1, -1, 0]])
# The target: the mean and spread of l, alpha and beta of a typical stained smear field (the means over the
# 400 images of the Aria set drawn with seed 0; any fixed target serves, as the z-score after it rescales the maps)
REINHARD_TARGET = {"mean": (-0.1090, -0.0326, -0.0032), "std": (0.1129, 0.0444, 0.0034)}


def _to_lab(images):
    rgb = (ops.cast(images, "float32") + 1.0) / 256.0
    lms = ops.matmul(rgb, ops.convert_to_tensor(RGB_TO_LMS.T, "float32"))
    return ops.matmul(ops.log(lms) / math.log(10.0), ops.convert_to_tensor(LOG_LMS_TO_LAB.T, "float32"))


def _from_lab(lab):
    log_lms = ops.matmul(lab, ops.convert_to_tensor(np.linalg.inv(LOG_LMS_TO_LAB).T, "float32"))
    rgb = ops.matmul(ops.power(10.0, log_lms), ops.convert_to_tensor(np.linalg.inv(RGB_TO_LMS).T, "float32"))
    return ops.clip(ops.round(256.0 * rgb - 1.0), 0.0, 255.0)


def lab_statistics(images) -> tuple[np.ndarray, np.ndarray]:
    """Each image's mean and standard deviation of l, alpha and beta: two arrays (n, 3)."""
    lab = _to_lab(images)
    return (ops.convert_to_numpy(ops.mean(lab, axis=(1, 2))), ops.convert_to_numpy(ops.std(lab, axis=(1, 2))))


@keras.saving.register_keras_serializable(package="keras_all")
class ReinhardNormalization(keras.layers.Layer):
    """RGB images (0..255) -> the same images with each one's mean and spread of l, alpha and beta moved to the
    target's (``REINHARD_TARGET`` unless given), as float32 in 0..255. Nothing is learnt from data.

    Args:
        mean: the target's means of l, alpha and beta.
        std: the target's standard deviations of l, alpha and beta.
    """

    def __init__(self, mean=REINHARD_TARGET["mean"], std=REINHARD_TARGET["std"], **kwargs):
        super().__init__(**kwargs)
        self.mean, self.std = tuple(float(v) for v in mean), tuple(float(v) for v in std)
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean={mean!r}, std={std!r}: give three means and three positive spreads")

    def call(self, images):
        lab = _to_lab(images)
        mean = ops.mean(lab, axis=(1, 2), keepdims=True)
        spread = ops.std(lab, axis=(1, 2), keepdims=True)
        target_mean = ops.convert_to_tensor(np.array(self.mean), "float32")
        target_std = ops.convert_to_tensor(np.array(self.std), "float32")
        return _from_lab((lab - mean) / ops.maximum(spread, 1e-4) * target_std + target_mean)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mean": list(self.mean), "std": list(self.std)}
