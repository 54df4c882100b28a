"""The paper's bottleneck ResNet (functional API), with its stage widths as parameters."""

from __future__ import annotations

import keras
from keras import layers

from .blocks import conv_block, identity_block

PAPER_WIDTHS = ((32, 32, 64), (64, 64, 128), (64, 64, 256))


def build_resnet(input_shape=(224, 224, 3), widths=PAPER_WIDTHS, identity_blocks: int = 2, classes: int = 2,
                 stem_filters: int = 64, bn_momentum: float = 0.99, name: str = "resnet") -> keras.Model:
    """7x7/2 conv stem, 3x3/2 max-pool, then per stage a convolutional block (stride 1 in the first
    stage, 2 after) and ``identity_blocks`` identity blocks; 2x2 average pooling, flatten, softmax.

    The paper's configuration has 489,922 parameters on 224x224x3 and 31 Conv2D layers.
    """
    if len(input_shape) != 3 or not input_shape[-1] or input_shape[-1] < 1:
        raise ValueError(f"input_shape={tuple(input_shape)}: give (height, width, channels), e.g. (224, 224, 3)")
    if not widths or any(len(w) != 3 or min(w) < 1 for w in widths):
        raise ValueError(f"widths={widths!r}: give one (f1, f2, f3) triple of positive widths per stage")
    inputs = keras.Input(input_shape, name="resnet_input")
    x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = layers.Conv2D(stem_filters, 7, strides=2, kernel_initializer="he_normal", name="conv1")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name="bn_conv1")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, stage_widths in enumerate(widths, start=2):
        x = conv_block(x, tuple(stage_widths), stage, "a", strides=1 if stage == 2 else 2, momentum=bn_momentum)
        for block in "bcdefghijklmnopqrstuvwxyz"[:identity_blocks]:
            x = identity_block(x, tuple(stage_widths), stage, block, momentum=bn_momentum)
    x = layers.AveragePooling2D(2, name="avg_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(classes, activation="softmax", name="fc")(x)
    return keras.Model(inputs, outputs, name=name)
