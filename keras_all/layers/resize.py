"""SkipSameSizeResizing: Keras' Resizing, which leaves images already at the target size alone.

An antialiased bilinear resize between equal sizes returns its input unchanged (bit for bit, TensorFlow and
JAX alike) but still costs about as much as the Gabor stage. Training feeds the front images already resized to
the spike size, and served crops often come at it.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_all")
class SkipSameSizeResizing(keras.layers.Resizing):
    """``keras.layers.Resizing`` (same arguments) that passes images of the target size through: decided when
    tracing where the size is known, else (a TensorFlow graph of any image size) by a condition at run time."""

    def transform_images(self, images, transformation=None, training=True):
        height, width = images.shape[1], images.shape[2]
        if (height, width) == (self.height, self.width):
            return images
        if height is not None and width is not None:
            return super().transform_images(images, transformation, training)
        shape = ops.shape(images)
        same = ops.logical_and(ops.equal(shape[1], self.height), ops.equal(shape[2], self.width))
        resized = ops.cond(same, lambda: images, lambda: super(SkipSameSizeResizing, self).transform_images(images))
        return ops.reshape(resized, (-1, self.height, self.width, images.shape[-1]))
