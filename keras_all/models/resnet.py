"""The paper's bottleneck ResNet (functional API), with its stage widths as parameters.

The classifier keeps its two parts apart, as keras-hub does: the backbone (stem, stages, pooling, flatten:
image features) and the head (the softmax layer ``fc``). ``build_resnet`` joins them in one flat model,
the layout of the authors' Keras 2 files.
"""

from __future__ import annotations

import keras
from keras import layers

from keras_all.vocabulary import PAPER_WIDTHS

from .blocks import conv_block, identity_block


def _check(input_shape, widths) -> None:
    if len(input_shape) != 3 or not input_shape[-1] or input_shape[-1] < 1:
        raise ValueError(f"input_shape={tuple(input_shape)}: give (height, width, channels), e.g. (224, 224, 3)")
    if not widths or any(len(w) != 3 or min(w) < 1 for w in widths):
        raise ValueError(f"widths={widths!r}: give one (f1, f2, f3) triple of positive widths per stage")


def _features(x, widths, identity_blocks: int, stem_filters: int, bn_momentum: float):
    """7x7/2 conv stem, 3x3/2 max-pool, then per stage a convolutional block (stride 1 in the first
    stage, 2 after) and ``identity_blocks`` identity blocks; 2x2 average pooling and flatten."""
    x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
    x = layers.Conv2D(stem_filters, 7, strides=2, kernel_initializer="he_normal", name="conv1")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name="bn_conv1")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, stage_widths in enumerate(widths, start=2):
        x = conv_block(x, tuple(stage_widths), stage, "a", strides=1 if stage == 2 else 2, momentum=bn_momentum)
        for block in "bcdefghijklmnopqrstuvwxyz"[:identity_blocks]:
            x = identity_block(x, tuple(stage_widths), stage, block, momentum=bn_momentum)
    x = layers.AveragePooling2D(2, name="avg_pool")(x)
    return layers.Flatten(name="flatten")(x)


def build_head(classes: int = 2) -> layers.Dense:
    """The classification head: softmax over the classes, named ``fc`` as in Keras-applications."""
    return layers.Dense(classes, activation="softmax", name="fc")


def build_backbone(input_shape=(224, 224, 3), widths=PAPER_WIDTHS, identity_blocks: int = 2, stem_filters: int = 64,
                   bn_momentum: float = 0.99, name: str = "backbone") -> keras.Model:
    """The ResNet without its head: an image (h, w, channels) -> flattened features.

    Args:
        input_shape: (height, width, channels) of the standardized maps.
        widths: one (f1, f2, f3) triple per stage (the paper: ``PAPER_WIDTHS``).
        identity_blocks: identity blocks per stage, after its convolutional block.
        stem_filters: filters of the 7x7 stem convolution.
        bn_momentum: momentum of every batch norm's moving statistics (0.99 as in Keras 2).
        name: the model's name.
    """
    _check(input_shape, widths)
    inputs = keras.Input(input_shape, name="backbone_input")
    return keras.Model(inputs, _features(inputs, widths, identity_blocks, stem_filters, bn_momentum), name=name)


def build_resnet(input_shape=(224, 224, 3), widths=PAPER_WIDTHS, identity_blocks: int = 2, classes: int = 2,
                 stem_filters: int = 64, bn_momentum: float = 0.99) -> keras.Model:
    """Backbone and head as one flat model (arguments as ``build_backbone``, and ``classes``).

    The paper's configuration has 489,922 parameters on 224x224x3 and 31 Conv2D layers.
    """
    _check(input_shape, widths)
    inputs = keras.Input(input_shape, name="resnet_input")
    features = _features(inputs, widths, identity_blocks, stem_filters, bn_momentum)
    return keras.Model(inputs, build_head(classes)(features), name="resnet")
