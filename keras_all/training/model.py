"""What training adds around the classifier: augmentation, the compiled model on maps, batch-norm recalibration
and class-balancing copies."""

from __future__ import annotations

import contextlib
import math

import keras
import numpy as np

from keras_all.config import TrainConfig
from keras_all.front import Standardizer
from keras_all.layers import StainJitter
from keras_all.models import SpikeResNetClassifier
from keras_all.training.cluster import local


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


# TensorFlow traces a new model's train step before its first step, which costs as much as 23 (the demo's ResNet)
# to 29 (the tests' tiny one) eager steps more than traced ones (benchmarks/eager_or_traced.py, 2-core CPU).
# A training shorter than this many steps is over sooner run eagerly.
EAGER_BELOW_STEPS = 20


def _traced_by_tensorflow_on_one_device(config: TrainConfig) -> bool:
    return keras.backend.backend() == "tensorflow" and config.fit.distribute == "none"


def trains_eagerly(config: TrainConfig, n_train: int) -> bool:
    """Whether a model trained on ``n_train`` maps runs eagerly: only under TensorFlow on one device, and only
    where tracing would cost more time than it saves (JAX reuses its compiled step across a run's models)."""
    steps = config.fit.epochs * math.ceil(n_train / config.fit.batch_size)
    return _traced_by_tensorflow_on_one_device(config) and steps < EAGER_BELOW_STEPS


class FoldModel:
    """The model the trainer fits: a fold's classifier on spike maps (on images, their stain jittered, where
    ``fit.stain_jitter`` is on), augmentation between the standardizer and the backbone, compiled as the paper
    trains. One per run: each fold's fresh classifier, augmentation state and reset
    optimizer are loaded into a model an earlier fold compiled, so a run traces its steps once or twice, not once
    per fold. Folds with whole and with short last batches, of another shape, data-parallel, eager, or under JAX
    get models of their own. On a multi-worker run, ``scoring`` is a copy on this machine alone.
    """

    def __init__(self, config: TrainConfig):
        self.config = config
        self._shared: dict[bool, tuple[SpikeResNetClassifier, list[keras.layers.Layer], keras.Model]] = {}
        self._fold: tuple[SpikeResNetClassifier, SpikeResNetClassifier] | None = None
        self._copy: tuple[SpikeResNetClassifier, keras.Model] | None = None

    def start(self, standardizer: Standardizer, seed: int, n_train: int, *,
              run_eagerly: bool | None = None) -> tuple[SpikeResNetClassifier, keras.Model]:
        """Ready a fold that trains on ``n_train`` maps (eagerly where ``trains_eagerly`` says so, unless
        ``run_eagerly`` is given): the classifier whose layers the model trains (recalibrate and predict with it)
        and the compiled model."""
        if run_eagerly is None:
            run_eagerly = trains_eagerly(self.config, n_train)
        fresh = SpikeResNetClassifier.from_config_of(self.config, standardizer)
        augment = augmentation(seed) if self.config.fit.augment else None
        stain = StainJitter(self.config.fit.stain_jitter, seed + 4, name="stain_jitter") if self.on_images else None
        extras = [layer for layer in (augment, stain) if layer is not None]
        reusable = not run_eagerly and _traced_by_tensorflow_on_one_device(self.config)
        kind = n_train % self.config.fit.batch_size == 0
        shared = self._shared.get(kind) if reusable else None
        if shared is not None and _shapes(shared[:2]) == _shapes((fresh, extras)):
            classifier, _, model = shared
            for variable, value in zip(_state(shared[:2]), _state((fresh, extras))):
                variable.assign(value.value)
            for variable in model.optimizer.variables:
                variable.assign(np.zeros(variable.shape, variable.dtype))
            model.optimizer.learning_rate = self.config.fit.learning_rate
        else:
            classifier = fresh
            model = fresh.on_images(stain, augment) if self.on_images else fresh.on_maps(augment)
            model.compile(optimizer=keras.optimizers.Adam(self.config.fit.learning_rate),
                          loss="categorical_crossentropy", metrics=["accuracy"], run_eagerly=run_eagerly)
            if reusable:
                self._shared[kind] = (fresh, extras, model)
            if self.config.fit.distribute != "none" and keras.backend.backend() == "tensorflow":
                # batch statistics over the global batch, as on one device (JAX's data parallelism does so itself)
                for layer in fresh.batch_norms:
                    layer.synchronized = True
        self._fold, self._model, self._copy = (fresh, classifier), model, None
        return classifier, model

    @property
    def on_images(self) -> bool:
        """Whether the fold's models take images (their stain jittered in training), not spike maps."""
        return bool(self.config.fit.stain_jitter)

    def plain(self, classifier: SpikeResNetClassifier) -> keras.Model:
        """``classifier`` on what the fold's models take, with no augmentation."""
        return classifier.on_images() if self.on_images else classifier.on_maps()

    def scoring(self) -> tuple[SpikeResNetClassifier, keras.Model]:
        """The classifier to recalibrate and score with, and its model on maps: the fold's own, or on a multi-worker
        run a copy on this machine alone holding the trained weights as they are now."""
        fresh, classifier = self._fold
        if self.config.fit.distribute != "multi-worker":
            return classifier, self._model
        with local():
            if self._copy is None:
                copy = SpikeResNetClassifier.from_config_of(self.config, fresh.preprocessor.standardizer)
                self._copy = copy, self.plain(copy)
            self._copy[0].set_weights(classifier.get_weights())
        return self._copy

    def on_this_machine(self):
        """The context to score in: ``cluster.local`` on a multi-worker run (nothing otherwise)."""
        return local() if self.config.fit.distribute == "multi-worker" else contextlib.nullcontext()

    def finish(self) -> SpikeResNetClassifier:
        """The fold's own classifier (its standardizer, the trained weights): the one to save (on a multi-worker
        run, the copy ``scoring`` last filled)."""
        fresh, classifier = self._fold
        if self._copy is not None:
            return self._copy[0]
        if classifier is not fresh:
            fresh.set_weights(classifier.get_weights())
        return fresh


def _state(parts) -> list:
    """Every variable of a classifier and its augmentation layers, random-generator states included."""
    classifier, extras = parts
    return classifier.variables + [variable for layer in extras for variable in layer.variables]


def _shapes(parts) -> list[tuple]:
    return [tuple(variable.shape) for variable in _state(parts)]


def recalibrate_batch_norm(classifier: SpikeResNetClassifier, maps: np.ndarray, batch_size: int, seed: int,
                           max_batches: int | None = None, plain: keras.Model | None = None) -> None:
    """Re-estimate the ResNet's batch-norm statistics on un-augmented training ``maps``, in place (or on images,
    where ``plain`` is the classifier on images: ``FoldModel.plain``).

    Training sees only augmented batches. Shift, zoom and rotation each resample the map bilinearly,
    which smooths it (measured in experiments/README.md), so the moving statistics learnt in training
    mis-scale the unsmoothed maps of inference. As precise BN
    does, each statistic becomes the average of its per-batch values over shuffled full batches, run in
    training mode (every layer normalised by its batch, as in training); the weights do not change. With
    ``max_batches``, only that many batches (the quick estimate early stopping scores each epoch with).
    """
    plain = plain or classifier.on_maps()  # the same layers, no augmentation
    norms = classifier.batch_norms
    momenta = [layer.momentum for layer in norms]
    size = min(batch_size, len(maps))
    order = np.random.default_rng(seed).permutation(len(maps))
    try:
        starts = range(0, len(order) - size + 1, size)
        for k, start in enumerate(starts[:max_batches]):
            for layer in norms:
                layer.momentum = k / (k + 1)  # the running value becomes the mean of the k + 1 batches so far
            plain(maps[order[start : start + size]], training=True)
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum


def copies_to_balance(labels: np.ndarray, seed: int) -> tuple[int, np.ndarray]:
    """The minority class and the rows to copy (drawn with replacement) until both classes are equally many."""
    counts = np.bincount(labels, minlength=2)
    minority = int(np.argmin(counts))
    missing = int(counts.max() - counts.min())
    if missing == 0 or counts.min() == 0:
        return minority, np.zeros(0, dtype=int)
    return minority, np.random.default_rng(seed).choice(np.flatnonzero(labels == minority), size=missing, replace=True)


def balance_with_copies(maps: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Add augmented copies of the minority class until both classes are equally many (raw uint8 images stay
    uint8)."""
    minority, chosen = copies_to_balance(labels, seed)
    if not len(chosen):
        return maps, labels
    copies = keras.ops.convert_to_numpy(augmentation(seed)(maps[chosen], training=True))
    if maps.dtype == np.uint8:
        copies = np.clip(np.round(copies), 0, 255).astype(np.uint8)
    return np.concatenate([maps, copies]), np.concatenate([labels, np.full(len(chosen), minority)])
