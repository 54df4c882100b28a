"""Who trains a run, and where: one process (on one device, or mirrored over its devices), or every worker of a
cluster. The trainer asks its coordinator, never the configuration, so the choice is made once, here."""

from __future__ import annotations

import contextlib

import keras

from keras_all.config import TrainConfig
from keras_all.training.cluster import Cluster, join, local, training_input


class Coordinator:
    """One process: it is the chief, decides alone, trains on every row of each batch, and builds the model under
    TensorFlow's MirroredStrategy (or Keras' DataParallel under JAX) where ``distribute`` is ``mirrored``."""

    is_chief = True
    cluster: Cluster | None = None

    def __init__(self, distribute: str = "none"):
        self.distribute = distribute

    about = ""  # what the console adds to a line about data-parallel training

    def from_chief(self, value):
        """The chief's ``value`` on every worker (here: the value)."""
        return value

    def check_same(self, what: str, text: str) -> None:
        """Stop where a worker's data or settings differ from the chief's (here: nothing to compare)."""

    @property
    def shard(self) -> tuple[int, int]:
        """(this worker's slice, slices) of every global batch."""
        return 0, 1

    def training_input(self, batches):
        """What ``fit`` reads of ``batches`` on this worker."""
        return batches

    def on_this_machine(self):
        """The context to score, recalibrate and save in."""
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def building(self):
        """Build the fold's model data-parallel where asked; yields the number of replicas."""
        if self.distribute == "none":
            yield 1
        elif keras.backend.backend() == "tensorflow":
            strategy = self._strategy()
            with strategy.scope():
                yield strategy.num_replicas_in_sync
        elif keras.backend.backend() == "jax":
            with self._data_parallel() as replicas:
                yield replicas
        else:
            raise ValueError(f"--distribute {self.distribute} is not supported under the {keras.backend.backend()} "
                             "backend")

    @contextlib.contextmanager
    def fitting(self):
        """Fit data-parallel where asked (a TensorFlow model keeps the strategy it was built under, so it fits
        outside the scope, which leaves callbacks free to work on this machine alone)."""
        if self.distribute == "none" or keras.backend.backend() == "tensorflow":
            yield
        else:
            with self._data_parallel():
                yield

    def _strategy(self):
        import tensorflow as tf

        return tf.distribute.MirroredStrategy()

    @contextlib.contextmanager
    def _data_parallel(self):
        devices = keras.distribution.list_devices()
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(keras.distribution.DataParallel(
            devices=devices, auto_shard_dataset=self.cluster is None))
        try:
            yield len(devices)
        finally:
            keras.distribution.set_distribution(previous)


class ClusterCoordinator(Coordinator):
    """A worker of a cluster (``--distribute multi-worker``): the chief decides and writes, every worker trains on
    its slice of each global batch, and scoring runs on a copy of the model on this machine alone."""

    def __init__(self, cluster: Cluster):
        super().__init__("multi-worker")
        self.cluster = cluster

    @property
    def about(self) -> str:
        return f" ({self.cluster.count} workers; this is {self.cluster})"

    @property
    def is_chief(self) -> bool:
        return self.cluster.is_chief

    def from_chief(self, value):
        return self.cluster.from_chief(value)

    def check_same(self, what: str, text: str) -> None:
        self.cluster.check_same(what, text)

    @property
    def shard(self) -> tuple[int, int]:
        return self.cluster.index, self.cluster.count

    def training_input(self, batches):
        return training_input(self.cluster, batches)

    def on_this_machine(self):
        return local()

    def _strategy(self):
        return self.cluster.strategy


def coordinator_for(config: TrainConfig) -> Coordinator:
    """The coordinator of a run of ``config``; a multi-worker run joins its cluster here (once per process)."""
    return ClusterCoordinator(join()) if config.fit.distribute == "multi-worker" else Coordinator(config.fit.distribute)
