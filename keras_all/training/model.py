"""What training adds around the classifier: augmentation, the compiled model on maps, batch-norm recalibration,
class-balancing copies and data-parallel scopes."""

from __future__ import annotations

import contextlib

import keras
import numpy as np

from keras_all.config import TrainConfig
from keras_all.front import Standardizer
from keras_all.models import SpikeResNetClassifier


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


def compiled_on_maps(config: TrainConfig, standardizer: Standardizer, seed: int) -> tuple[SpikeResNetClassifier,
                                                                                         keras.Model]:
    """A fresh classifier and the model the trainer fits: its own layers on spike maps, augmentation between
    the standardizer and the backbone, compiled as the paper trains."""
    classifier = SpikeResNetClassifier.from_config_of(config, standardizer)
    model = classifier.on_maps(augmentation(seed) if config.augment else None)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return classifier, model


def recalibrate_batch_norm(classifier: SpikeResNetClassifier, maps: np.ndarray, batch_size: int, seed: int) -> None:
    """Re-estimate the ResNet's batch-norm statistics on un-augmented training ``maps``, in place.

    Training sees only augmented batches. Shift, zoom and rotation each resample the map bilinearly,
    which smooths it (measured in experiments/README.md), so the moving statistics learnt in training
    mis-scale the unsmoothed maps of inference. As precise BN
    does, each statistic becomes the average of its per-batch values over shuffled full batches, run in
    training mode (every layer normalised by its batch, as in training); the weights do not change.
    """
    plain = classifier.on_maps()  # the same layers, no augmentation
    norms = classifier.batch_norms
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
