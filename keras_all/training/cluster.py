"""Training across machines (``--distribute multi-worker``): the cluster this process joined, its place in it, the
data-parallel scopes, every worker's slice of each global batch, and the values the chief decides for all.

TensorFlow reads the cluster from TF_CONFIG (MultiWorkerMirroredStrategy, created before any other TensorFlow work,
as collectives require); JAX from KERAS_DISTRIBUTION_JOB_ADDRESSES (the coordinator's host:port first),
KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID (``keras.distribution.initialize``), with gloo
for the collectives between CPU processes. Place 0 is the chief: the worker that writes the run folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re

import keras
import numpy as np

JAX_VARIABLES = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                 "KERAS_DISTRIBUTION_PROCESS_ID")
# What a collective says when a peer died or stopped answering (TensorFlow's heartbeat, gloo's closed socket).
LOST_PEER = re.compile(r"stopped sending heartbeats|heartbeat timeout|Connection reset by peer|Connection closed by "
                       r"peer|Gloo \w+ failed|UNAVAILABLE|Socket closed|Broken pipe")
TF_LOST_PEER = ("UnavailableError", "DeadlineExceededError", "AbortedError")


class Cluster:
    """This process's place among ``count`` workers (0: the chief), and the collectives between them.

    Args:
        index: this worker's place.
        count: how many workers train together.
        strategy: TensorFlow's MultiWorkerMirroredStrategy (None under JAX).
    """

    def __init__(self, index: int, count: int, strategy=None):
        self.index, self.count, self.strategy = index, count, strategy

    @property
    def is_chief(self) -> bool:
        return self.index == 0

    def __str__(self) -> str:
        return f"worker {self.index} of {self.count}" + (" (chief)" if self.is_chief else "")

    def gather(self, values: np.ndarray) -> np.ndarray:
        """Every worker's ``values`` (int32, one shape on all), stacked in the order of their places."""
        values = np.asarray(values, "int32")
        if self.strategy is None:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(values))
        import tensorflow as tf

        local = tf.constant(values[None])
        per_replica = self.strategy.experimental_distribute_values_from_function(lambda context: local)
        return self.strategy.gather(per_replica, axis=0).numpy()

    def from_chief(self, value):
        """The chief's ``value`` (anything JSON holds), on every worker; what the others pass is not used."""
        sent = json.dumps(value).encode() if self.is_chief else b""
        length = int(self.gather(np.array([len(sent)]))[0, 0])
        padded = np.zeros(length, "int32")
        padded[: len(sent)] = np.frombuffer(sent, "uint8")
        return json.loads(bytes(self.gather(padded)[0].astype("uint8")).decode())

    def check_same(self, what: str, text: str) -> None:
        """Stop every worker with one line where ``text`` (the data and settings) differs from the chief's."""
        digests = self.gather(np.frombuffer(hashlib.sha256(text.encode()).digest(), "uint8"))
        differ = [k for k, row in enumerate(digests) if not np.array_equal(row, digests[0])]
        if differ:
            raise ValueError(f"worker {', '.join(map(str, differ))}: its {what} differ from the chief's; give every "
                             "worker the same command, configuration and data")


_joined: Cluster | None = None


def join() -> Cluster:
    """This process's cluster, joined once per process from the environment (TF_CONFIG, or the JAX variables)."""
    global _joined
    if _joined is None:
        backend = keras.backend.backend()
        if backend == "tensorflow":
            _joined = _join_tensorflow()
        elif backend == "jax":
            _joined = _join_jax()
        else:
            raise ValueError(f"--distribute multi-worker is not supported under the {backend} backend; use "
                             "tensorflow or jax")
    return _joined


def _join_tensorflow() -> Cluster:
    if not os.environ.get("TF_CONFIG"):
        raise ValueError("--distribute multi-worker: TF_CONFIG is not set; set it on every worker to the cluster "
                         "and that worker's task (README, 'More than one machine')")
    import tensorflow as tf

    class MultiWorkerMirrored(tf.distribute.MultiWorkerMirroredStrategy):
        """Keras 3 reduces nests of per-replica values, and per-replica scalars over axis 0, which the collective
        strategy does not take (keras-team/keras#20585): each value is reduced on its own, scalars over none."""

        def reduce(self, reduce_op, value, axis=None):
            def one(part):
                rank = self.experimental_local_results(part)[0].shape.rank
                return super(MultiWorkerMirrored, self).reduce(reduce_op, part, None if rank == 0 else axis)

            return tf.nest.map_structure(one, value)

    try:
        strategy = MultiWorkerMirrored()
    except (ValueError, RuntimeError) as error:
        raise ValueError(f"--distribute multi-worker: cannot join the cluster in TF_CONFIG ({error}); start it "
                         "before any other TensorFlow work, with a valid TF_CONFIG") from None
    resolver = strategy.cluster_resolver
    jobs = resolver.cluster_spec().as_dict()
    place = resolver.task_id + (1 if resolver.task_type == "worker" and "chief" in jobs else 0)
    return Cluster(place, sum(len(tasks) for tasks in jobs.values()), strategy)


def _join_jax() -> Cluster:
    missing = [name for name in JAX_VARIABLES if not os.environ.get(name)]
    if missing:
        raise ValueError(f"--distribute multi-worker: {', '.join(missing)} not set; set {', '.join(JAX_VARIABLES)} "
                         "on every worker (README, 'More than one machine')")
    count, place = (os.environ[name] for name in JAX_VARIABLES[1:])
    if not (count.isdigit() and place.isdigit() and int(place) < int(count)):
        raise ValueError(f"--distribute multi-worker: KERAS_DISTRIBUTION_NUM_PROCESSES={count!r} and "
                         f"KERAS_DISTRIBUTION_PROCESS_ID={place!r}: give the number of workers and this worker's "
                         "place, 0 (the chief) up to that number less one")
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # between CPU processes; GPUs keep NCCL
    try:
        keras.distribution.initialize()
    except RuntimeError as error:
        raise ValueError(f"--distribute multi-worker: cannot join the cluster ({error})") from None
    return Cluster(jax.process_index(), jax.process_count())


@contextlib.contextmanager
def local():
    """Work on this machine alone (scoring, recalibrating, saving a copy of the model): no distribution set."""
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


def lost_peer(error: BaseException) -> str | None:
    """What ``error`` says of another worker that died or stopped answering, in one line; None where it is not
    about one. TensorFlow raises Unavailable (or DeadlineExceeded, Aborted) from a collective whose peer is gone,
    whatever its message says first; JAX's gloo names the closed connection."""
    said = [line.strip() for line in str(error).splitlines() if LOST_PEER.search(line)]
    if said:
        return re.sub(r"\{\{[^}]*\}\}\s*", "", said[0])[:200]  # less TensorFlow's {{function_node ...}} prefix
    kind = type(error)
    if kind.__module__.startswith("tensorflow") and kind.__name__ in TF_LOST_PEER:
        return f"{kind.__name__} in a collective operation"
    return None


def training_input(cluster: Cluster, batches):
    """What ``fit`` takes from this worker: its slice of every global batch of ``batches`` (a MapBatches cut for this
    worker); under TensorFlow a distributed dataset of those slices, one per local replica."""
    if cluster.strategy is None:
        return batches
    import tensorflow as tf

    example, target = batches.part(0, 0, 1)

    def pipeline(context):
        per_worker = context.num_replicas_in_sync // context.num_input_pipelines
        first = context.input_pipeline_id * per_worker

        steps = batches.batches_of(context.num_replicas_in_sync)

        def generate():
            for batch in range(steps):
                for part in range(first, first + per_worker):
                    yield batches.part(batch, part, context.num_replicas_in_sync)

        signature = (tf.TensorSpec((None, *example.shape[1:]), tf.float32),
                     tf.TensorSpec((None, *target.shape[1:]), tf.float32))
        # A known length: without it the strategy ends each epoch with one more step, on an empty batch, which
        # still advances Adam's moments and step count.
        return (tf.data.Dataset.from_generator(generate, output_signature=signature)
                .apply(tf.data.experimental.assert_cardinality(steps * per_worker)).prefetch(4))

    return cluster.strategy.distribute_datasets_from_function(pipeline)
