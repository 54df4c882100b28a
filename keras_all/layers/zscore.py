"""ZScore: the z-score fitted on training maps, carried into the model as weights."""

from __future__ import annotations

import keras
from keras import ops

PER = ("pixel", "channel")


@keras.saving.register_keras_serializable(package="keras_all")
class ZScore(keras.layers.Layer):
    """x -> (x - mean) / max(sqrt(variance), epsilon), as ``keras.layers.Normalization`` computes it.

    ``mean`` and ``variance`` are non-trainable weights (per pixel: the input's (h, w, c); per channel:
    (c,)), set from a fitted ``Standardizer``; a fresh layer holds 0 and 1 until then. Reading the weights
    at every call (Normalization caches them at build) keeps ``set_weights`` and weight loading in effect.
    """

    def __init__(self, per: str = "pixel", **kwargs):
        super().__init__(**kwargs)
        if per not in PER:
            raise ValueError(f"per={per!r}: use one of {', '.join(PER)}")
        self.per = per

    def build(self, input_shape):
        shape = tuple(input_shape[1:]) if self.per == "pixel" else (input_shape[-1],)
        self.mean = self.add_weight(name="mean", shape=shape, initializer="zeros", trainable=False)
        self.variance = self.add_weight(name="variance", shape=shape, initializer="ones", trainable=False)

    def call(self, inputs):
        inputs = ops.cast(inputs, self.compute_dtype)
        return ops.divide(ops.subtract(inputs, self.mean),
                          ops.maximum(ops.sqrt(self.variance), keras.backend.epsilon()))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "per": self.per}
