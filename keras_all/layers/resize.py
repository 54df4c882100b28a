"""AreaResizing: the one resize from a raw image to the spike size, in training, evaluation and serving alike.

Each output pixel is the mean of the input area it covers (pixels cut by its edges count by the share covered),
as OpenCV's INTER_AREA shrinks an image, rounded to whole 8-bit levels (halves up). Written in ``keras.ops`` as a
gather of the few input rows (then columns) each output pixel covers and their weighted sum, so that the served
model (inside the graph) and the training images (``area_resize`` on each file) compute the same pixels under
every backend.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def area_band(size_in, size_out: int):
    """The input pixels each output pixel covers and their shares: indices and weights, both (size_out, taps),
    each row's weights summing to 1. Taps past a pixel's area (or the image's edge) weigh 0. A size known when
    tracing (always under JAX) gives constants; an unknown one (a TensorFlow graph of any image size), tensors."""
    known = isinstance(size_in, int | np.integer)
    xp = np if known else ops
    scale = np.float32(size_in) / np.float32(size_out) if known else ops.cast(size_in, "float32") / size_out
    starts = xp.arange(size_out, dtype="float32")[:, None] * scale
    taps = int(np.ceil(scale)) + 1 if known else ops.cast(ops.ceil(scale), "int32") + 1
    index = xp.floor(starts).astype("int32") if known else ops.cast(ops.floor(starts), "int32")
    index = index + xp.arange(taps, dtype="int32")[None, :]
    pixel = index.astype("float32") if known else ops.cast(index, "float32")
    overlap = xp.minimum(pixel + 1.0, starts + scale) - xp.maximum(pixel, starts)
    last = size_in - 1 if known else ops.cast(size_in, "int32") - 1
    return xp.minimum(index, last), xp.maximum(overlap, 0.0) / scale


def _shrink_axis(x, size: int, axis: int):
    """``x`` resized along ``axis`` (1: rows, 2: columns) to ``size`` by area averaging."""
    index, weights = area_band(ops.shape(x)[axis], size)
    taken = ops.take(x, index, axis=axis)  # the axis becomes (size, taps)
    shares = weights[:, :, None, None] if axis == 1 else weights[:, :, None]
    return ops.sum(taken * shares, axis=axis + 1)


def _area_resize(images, height: int, width: int):
    """(n, h, w, c) in 0..255 -> (n, height, width, c) float32 of whole levels: each image on its own, so a batch
    gives what its images give one at a time."""
    x = _shrink_axis(_shrink_axis(ops.cast(images, "float32"), height, 1), width, 2)
    return ops.clip(ops.floor(x + 0.5), 0.0, 255.0)  # halves up, as OpenCV


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


def area_resize_many(images: list[np.ndarray], height: int, width: int, chunk: int = 16) -> np.ndarray:
    """uint8 images (h, w, c) of any sizes resized as ``area_resize`` resizes each, (n, height, width, c) uint8:
    the images of one size ``chunk`` at a time (a batch gives what its images give one at a time)."""
    out = np.empty((len(images), height, width, images[0].shape[-1] if images else 3), np.uint8)
    by_size: dict[tuple, list[int]] = {}
    for number, image in enumerate(images):
        by_size.setdefault(image.shape, []).append(number)
    for shape, numbers in by_size.items():
        for start in range(0, len(numbers), chunk):  # the gathered rows of a whole batch would take gigabytes
            part = numbers[start : start + chunk]
            batch = np.stack([images[k] for k in part])
            if shape[:2] != (height, width):
                batch = ops.convert_to_numpy(_area_resize(ops.convert_to_tensor(batch), height, width))
            out[part] = batch
    return out
