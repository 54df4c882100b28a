"""AreaResizing: the one resize from a raw image to the spike size, in training, evaluation and serving alike.

Each output pixel is the mean of the input area it covers (pixels cut by its edges count by the share covered),
as OpenCV's INTER_AREA shrinks an image, rounded to whole 8-bit levels (halves up). Written as two matrix products in
``keras.ops``, so that the served model (inside the graph) and the training images (``area_resize`` on each file)
compute the same pixels under every backend.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def area_weights(size_in, size_out: int):
    """(size_out, size_in) float32: the share of each input pixel inside each output pixel, rows summing to 1."""
    scale = ops.cast(size_in, "float32") / size_out
    starts = ops.arange(size_out, dtype="float32")[:, None] * scale
    pixel = ops.arange(size_in, dtype="float32")[None, :]
    overlap = ops.minimum(pixel + 1.0, starts + scale) - ops.maximum(pixel, starts)
    return ops.maximum(overlap, 0.0) / scale


def _area_resize(images, height: int, width: int):
    """(n, h, w, c) in 0..255 -> (n, height, width, c) float32 of whole levels."""
    shape = ops.shape(images)
    n, h, w, c = shape[0], shape[1], shape[2], images.shape[-1]
    x = ops.reshape(ops.cast(images, "float32"), (n, h, w * c))
    x = ops.matmul(area_weights(h, height), x)  # (n, height, w * c)
    x = ops.transpose(ops.reshape(x, (n, height, w, c)), (0, 1, 3, 2))  # (n, height, c, w)
    x = ops.matmul(x, ops.transpose(area_weights(w, width)))  # (n, height, c, width)
    return ops.clip(ops.floor(ops.transpose(x, (0, 1, 3, 2)) + 0.5), 0.0, 255.0)  # halves up, as OpenCV


@keras.saving.register_keras_serializable(package="keras_all")
class AreaResizing(keras.layers.Layer):
    """Images (n, h, w, c) in 0..255 of any size -> (n, height, width, c) float32 by area averaging, rounded to whole
    levels; images already of that size pass unchanged (decided when tracing where the size is known, else by a
    condition at run time)."""

    def __init__(self, height: int, width: int, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("height", height), ("width", width)):
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}={value!r}: a resize target is a whole number of pixels, at least 1")
        self.height, self.width = int(height), int(width)

    def call(self, images):
        height, width = images.shape[1], images.shape[2]
        if (height, width) == (self.height, self.width):
            return ops.cast(images, "float32")
        if height is not None and width is not None:
            return _area_resize(images, self.height, self.width)
        shape = ops.shape(images)
        same = ops.logical_and(ops.equal(shape[1], self.height), ops.equal(shape[2], self.width))
        resized = ops.cond(same, lambda: ops.cast(images, "float32"),
                           lambda: _area_resize(images, self.height, self.width))
        return ops.reshape(resized, (-1, self.height, self.width, images.shape[-1]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


def area_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """One uint8 image (h, w, c) resized as ``AreaResizing`` resizes it inside a model, as uint8."""
    if image.shape[:2] == (height, width):
        return image
    resized = _area_resize(ops.convert_to_tensor(image[None]), height, width)
    return ops.convert_to_numpy(resized)[0].astype(np.uint8)
