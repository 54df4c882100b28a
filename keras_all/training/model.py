"""The trained model: spike maps -> augmentation -> z-score -> PCA -> ResNet, and its raw-image twin."""

from __future__ import annotations

import contextlib

import keras
import numpy as np

from keras_all.config import TrainConfig
from keras_all.front import FittedHead, apply_head, build_map_model, raw_input
from keras_all.models import build_resnet


def augmentation(seed: int) -> keras.Sequential:
    """Online augmentation of training batches (inactive at inference): the paper's flips, shifts, zoom, rotation."""
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomTranslation(0.1, 0.1, seed=seed + 1),
            keras.layers.RandomZoom(0.2, seed=seed + 2),
            keras.layers.RandomRotation(30 / 360, seed=seed + 3),
        ],
        name="augment",
    )


@contextlib.contextmanager
def distribution_scope(config: TrainConfig):
    """Build and train data-parallel over all local devices when asked: TensorFlow's MirroredStrategy,
    or Keras' DataParallel distribution under JAX."""
    if config.distribute == "none":
        yield 1
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
        with strategy.scope():
            yield strategy.num_replicas_in_sync
    elif keras.backend.backend() == "jax":
        devices = keras.distribution.list_devices()
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        try:
            yield len(devices)
        finally:
            keras.distribution.set_distribution(previous)
    else:
        raise ValueError(f"--distribute mirrored is not supported under the {keras.backend.backend()} backend")


def build_classifier(config: TrainConfig, head: FittedHead, map_shape: tuple, seed: int) -> keras.Model:
    """Maps (as the front computes them) -> class probabilities, compiled as the paper trains."""
    front = config.front
    inputs = keras.Input(map_shape, name="spike_maps")
    x = apply_head(inputs, front, head)
    if config.augment:  # after the z-score: an edge moved onto a rarely-edged pixel stays in scale
        x = augmentation(seed)(x)
    resnet = build_resnet((front.input_size, front.input_size, front.model_channels), config.widths,
                          config.identity_blocks, bn_momentum=config.bn_momentum)
    model = keras.Model(inputs, resnet(x), name="classifier")
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def head_output(classifier: keras.Model):
    """The classifier's tensor after its fitted head (z-score, PCA, channels), before augmentation or ResNet."""
    names = [layer.name for layer in classifier.layers]
    return classifier.layers[names.index("augment" if "augment" in names else "resnet") - 1].output


def recalibrate_batch_norm(classifier: keras.Model, maps: np.ndarray, batch_size: int, seed: int) -> None:
    """Re-estimate the ResNet's batch-norm statistics on un-augmented training ``maps``, in place.

    Training sees only augmented batches. Shift, zoom and rotation each resample the map bilinearly,
    which smooths it (on Aria's spike maps the per-image standard deviation falls by 14%), so the
    moving statistics learnt in training mis-scale the unsmoothed maps of inference. As precise BN
    does, each statistic becomes the average of its per-batch values over shuffled full batches, run in
    training mode (every layer normalised by its batch, as in training); the weights do not change.
    """
    resnet = classifier.get_layer("resnet")
    plain = keras.Model(classifier.input, resnet(head_output(classifier)))  # the same layers, no augmentation
    norms = [layer for layer in resnet.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    size = min(batch_size, len(maps))
    order = np.random.default_rng(seed).permutation(len(maps))
    try:
        for k, start in enumerate(range(0, len(order) - size + 1, size)):
            for layer in norms:
                layer.momentum = k / (k + 1)  # the running value becomes the mean of the k + 1 batches so far
            plain(maps[order[start : start + size]], training=True)
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum


def inference_model(config: TrainConfig, classifier: keras.Model) -> keras.Model:
    """Raw uint8 RGB images of any size -> class probabilities: the front's map layers, then the classifier."""
    inputs = raw_input()
    maps = build_map_model(config.front)(inputs)
    # training=False is stored with the call: augmentation layers default to training=True, so a bare
    # model(x) (as a SavedModel's serve makes) would otherwise augment its input
    return keras.Model(inputs, classifier(maps, training=False), name="keras_all")


def balance_with_copies(maps: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Add augmented copies of the minority class until both classes are equally many."""
    counts = np.bincount(labels, minlength=2)
    minority = int(np.argmin(counts))
    missing = int(counts.max() - counts.min())
    if missing == 0 or counts.min() == 0:
        return maps, labels
    rng = np.random.default_rng(seed)
    chosen = rng.choice(np.flatnonzero(labels == minority), size=missing, replace=True)
    copies = keras.ops.convert_to_numpy(augmentation(seed)(maps[chosen], training=True))
    return np.concatenate([maps, copies]), np.concatenate([labels, np.full(missing, minority)])
