"""Bottleneck residual blocks as functions, named as in Keras-applications ResNet50.

A block is 1x1 -> 3x3 -> 1x1 convolutions, batch norm after each (``momentum`` of its moving
statistics: 0.99 as in Keras 2; small data sets need fewer steps to settle with 0.9), ReLU after the first two and after
the add. Names: ``res{stage}{block}_branch2a``, ``bn{stage}{block}_branch2a``, ..., and for the
convolutional block's projection shortcut ``res{stage}{block}_branch1`` / ``bn{stage}{block}_branch1``.
"""

from __future__ import annotations

from keras import layers


def _names(stage: int, block: str) -> tuple[str, str]:
    return f"res{stage}{block}_branch", f"bn{stage}{block}_branch"


def _main_path(x, widths, stage, block, strides, momentum):
    conv, bn = _names(stage, block)
    f1, f2, f3 = widths
    x = layers.Conv2D(f1, 1, strides=strides, kernel_initializer="he_normal", name=f"{conv}2a")(x)
    x = layers.BatchNormalization(momentum=momentum, name=f"{bn}2a")(x)
    x = layers.Activation("relu", name=f"{conv}2a_relu")(x)
    x = layers.Conv2D(f2, 3, padding="same", kernel_initializer="he_normal", name=f"{conv}2b")(x)
    x = layers.BatchNormalization(momentum=momentum, name=f"{bn}2b")(x)
    x = layers.Activation("relu", name=f"{conv}2b_relu")(x)
    x = layers.Conv2D(f3, 1, kernel_initializer="he_normal", name=f"{conv}2c")(x)
    return layers.BatchNormalization(momentum=momentum, name=f"{bn}2c")(x)


def identity_block(x, widths: tuple[int, int, int], stage: int, block: str, momentum: float = 0.99):
    """Residual block whose shortcut is the input itself (input channels must equal widths[2])."""
    y = _main_path(x, widths, stage, block, strides=1, momentum=momentum)
    y = layers.Add(name=f"res{stage}{block}_add")([y, x])
    return layers.Activation("relu", name=f"res{stage}{block}_out")(y)


def conv_block(x, widths: tuple[int, int, int], stage: int, block: str, strides: int = 2, momentum: float = 0.99):
    """Residual block with a strided 1x1 projection shortcut (changes width and resolution)."""
    conv, bn = _names(stage, block)
    y = _main_path(x, widths, stage, block, strides=strides, momentum=momentum)
    shortcut = layers.Conv2D(widths[2], 1, strides=strides, kernel_initializer="he_normal", name=f"{conv}1")(x)
    shortcut = layers.BatchNormalization(momentum=momentum, name=f"{bn}1")(shortcut)
    y = layers.Add(name=f"res{stage}{block}_add")([y, shortcut])
    return layers.Activation("relu", name=f"res{stage}{block}_out")(y)
