"""Spike maps kept in a file of the run folder rather than in memory, and the batches training reads from it.

Maps held in memory grow with the data set: C-NMC's 10,661 training cells at 224x224 are about 2 GB of
first-spike maps and 130 GB of spike waves (60 channels). A streamed run computes each image's map once,
chunk by chunk, into ``maps/maps.npy`` (float16 rows, or bit-packed rows where the maps are binary), and
training, validation, batch-norm recalibration and the standardizer's fit read rows from it by positioned
reads: only the rows in use are resident, whatever the set's size. float16 keeps 11 significant bits of maps
that lie in [0, 1] (blurred spikes, colour), an error of at most 2^-12 per value.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np

from keras_all.artifacts import PROGRESS_JSON
from keras_all.data.io import physical_memory
from keras_all.front import FrontConfig, Standardizer, load_images
from keras_all.models import SpikePreprocessor
from keras_all.run_folder import RunFolder
from keras_all.training.model import augmentation, copies_to_balance

MEMORY_SHARE = 8  # auto streams where the maps, as float32, would take more than 1/8 of the physical memory
CHUNK = 256  # images read, mapped and written at a time, at most
CHUNK_BYTES = 64 * 2**20  # ... and at most this many bytes of float32 maps at a time (a 224x224 spike wave is 12 MB)
PCA_SAMPLE = 2000  # streamed runs fit PCA on at most this many training maps, drawn at random
READERS = ThreadPoolExecutor(2, thread_name_prefix="map-reader")  # MapBatches' read-ahead
BINARY_MODES = ("first_spike", "spike_wave", "first_spike_rgb")  # spikes only: binary maps where nothing blurs them


def map_bytes(count: int, front: FrontConfig) -> int:
    """What ``count`` maps take in memory (float32)."""
    return count * front.input_size**2 * front.map_channels * 4


def choose_storage(asked: str, count: int, front: FrontConfig, protocol: str = "honest",
                   stain_jitter: float = 0.0) -> tuple[str, str]:
    """Where a run holds its maps, ``memory`` or ``stream``, and why (for the console and the report)."""
    size = map_bytes(count, front) / 2**30
    if protocol == "paper":
        return "memory", "the paper protocol pools augmented copies of every map in memory"
    if stain_jitter:
        return "memory", "the stain of every training batch is jittered: its images are held, and mapped batch by batch"
    if asked != "auto":
        return asked, f"as asked ({count} maps, {size:.2f} GiB as float32)"
    limit = physical_memory() / MEMORY_SHARE / 2**30
    chosen = "stream" if size > limit else "memory"
    return chosen, f"auto: {count} maps take {size:.2f} GiB as float32, 1/{MEMORY_SHARE} of this machine's memory " \
                   f"is {limit:.2f} GiB"


def chunk_rows(shape) -> int:
    """Maps of ``shape`` (h, w, channels) handled at a time: CHUNK, or fewer where they would pass CHUNK_BYTES."""
    return max(1, min(CHUNK, CHUNK_BYTES // (math.prod(shape) * 4)))


def is_binary(front: FrontConfig) -> bool:
    return front.mode in BINARY_MODES and front.blur_size == 1 and front.input_size == front.spike_size


class MapCache:
    """Maps (n, h, w, channels) in an .npy file: float16, or bit-packed rows (uint8, np.packbits of the flat map)
    where the maps are binary. Rows are written and read by position (``os.pwrite``/``os.pread``), so reading
    one batch makes only its rows resident, and threads may read at once.

    Args:
        path: the .npy file.
        shape: (h, w, channels) of one map.
        binary: bit-packed rows (exact for maps of 0s and 1s).
    """

    def __init__(self, path: str | Path, shape: tuple[int, int, int], binary: bool):
        self.path, self.shape, self.binary = Path(path), tuple(shape), binary
        self.values = math.prod(self.shape)
        stored = np.load(self.path, mmap_mode="r")
        self.count, self.offset = len(stored), stored.offset
        self.row_bytes = stored.dtype.itemsize * math.prod(stored.shape[1:])
        del stored
        self._fd = os.open(self.path, os.O_RDWR)

    @classmethod
    def create(cls, path: str | Path, count: int, shape: tuple[int, int, int], binary: bool) -> MapCache:
        """A new cache of ``count`` rows (the file is sized at once; its rows are written later)."""
        rows = (count, math.ceil(math.prod(shape) / 8)) if binary else (count, *shape)
        np.lib.format.open_memmap(path, mode="w+", dtype="uint8" if binary else "float16", shape=rows).flush()
        return cls(path, shape, binary)

    def __len__(self) -> int:
        return self.count

    def close(self) -> None:
        os.close(self._fd)

    def sync(self) -> None:
        """Put the rows written so far on disk (before progress says they are there)."""
        os.fsync(self._fd)

    def write(self, start: int, maps: np.ndarray) -> None:
        """Rows ``start`` .. ``start + len(maps) - 1``, from float maps."""
        flat = maps.reshape(len(maps), -1)
        if self.binary:
            if not np.isin(flat, (0.0, 1.0)).all():
                raise ValueError(f"{self.path}: a bit-packed cache takes maps of 0s and 1s only")
            rows = np.packbits(flat.astype("uint8"), axis=1)
        else:
            rows = flat.astype("float16")
        os.pwrite(self._fd, np.ascontiguousarray(rows).tobytes(), self.offset + start * self.row_bytes)

    def __getitem__(self, index) -> np.ndarray:
        """Rows by position (an int array, or a slice) as float32 maps (len(index), h, w, channels)."""
        index = np.arange(self.count)[index] if isinstance(index, slice) else np.asarray(index)
        if len(index) and (index.min() < 0 or index.max() >= self.count):
            raise IndexError(f"{self.path}: rows {index.min()}..{index.max()} asked of {self.count}")
        if len(index) > 1 and np.all(np.diff(index) == 1):  # a run of rows: one read
            raw = os.pread(self._fd, self.row_bytes * len(index), self.offset + int(index[0]) * self.row_bytes)
        else:
            raw = b"".join(os.pread(self._fd, self.row_bytes, self.offset + int(i) * self.row_bytes) for i in index)
        if self.binary:
            packed = np.frombuffer(raw, "uint8").reshape(len(index), -1)
            flat = np.unpackbits(packed, axis=1, count=self.values).astype("float32")
        else:
            flat = np.frombuffer(raw, "float16").astype("float32")
        return flat.reshape(len(index), *self.shape)


class Rows:
    """Rows drawn from one or more caches, seen as one sequence: a fold's training maps and its class-balancing
    copies, say.

    Args:
        parts: (cache, index) pairs: a MapCache and the positions of its rows taken, in order; every cache holds
            maps of one shape.
    """

    def __init__(self, parts: list[tuple[MapCache, np.ndarray]]):
        self.parts = [(cache, np.asarray(index, dtype="int64")) for cache, index in parts]
        self.ends = np.cumsum([len(index) for _, index in self.parts])

    @property
    def shape(self) -> tuple[int, int, int]:
        """(h, w, channels) of one map."""
        return self.parts[0][0].shape

    def __len__(self) -> int:
        return int(self.ends[-1])

    def __getitem__(self, positions) -> np.ndarray:
        positions = np.arange(len(self))[positions] if isinstance(positions, slice) else np.asarray(positions)
        part_of = np.searchsorted(self.ends, positions, side="right")
        out = np.empty((len(positions), *self.shape), "float32")
        for k, (cache, index) in enumerate(self.parts):
            mine = np.flatnonzero(part_of == k)
            if len(mine):
                out[mine] = cache[index[positions[mine] - (self.ends[k - 1] if k else 0)]]
        return out

    def chunks(self) -> Iterator[np.ndarray]:
        """Every row in order, ``chunk_rows`` at a time."""
        size = chunk_rows(self.shape)
        for start in range(0, len(self), size):
            yield self[start : start + size]


class MapBatches(keras.utils.PyDataset):
    """Batches of ``rows`` (a cache's or in memory) for every training ``fit`` (with one-hot ``labels``, in epoch
    k's order: the k-th permutation drawn from ``seed``, taken as the epoch begins by ``EpochOrder``) or for
    ``predict`` (no labels, in order).

    Batch i is always batch i of the current order: two threads read up to ``AHEAD`` batches past the one asked
    for, and what they read for one order is dropped when the order changes. (Keras' own read-ahead is not used:
    batches it read for a ``fit``'s first look at the data, which the JAX trainer takes, come back at the start
    of the first epoch, and the cut moves every later one: batches are then lost or repeated, by timing.)

    With ``shard`` (part, parts), each batch is that part of the global batch cut into ``parts`` equal slices: one
    worker's share of a multi-worker step (every worker draws the same order). A global batch whose size ``parts``
    does not divide loses its last rows (fewer than ``parts``; others each epoch, as the order changes).
    """

    AHEAD = 4

    def __init__(self, rows: Rows | np.ndarray, batch_size: int, labels: np.ndarray | None = None,
                 seed: int | None = None, shard: tuple[int, int] = (0, 1)):
        super().__init__(workers=1, use_multiprocessing=False)  # one worker: Keras reads batch by batch, in order
        self.rows, self.batch_size, self.labels, self.shard = rows, batch_size, labels, shard
        self.rng = None if seed is None else np.random.default_rng(seed)
        self.order = np.arange(len(rows)) if self.rng is None else self.rng.permutation(len(rows))
        self.epoch = 0
        self.ahead: dict[int, Future] = {}  # batch -> its read under the current order
        self.lock = threading.Lock()

    def __len__(self) -> int:
        return self.batches_of(self.shard[1])

    def batches_of(self, parts: int) -> int:
        """Batches an epoch holds where each is cut into ``parts`` (a last one with fewer rows is left out)."""
        full, last = divmod(len(self.rows), self.batch_size)
        return full + (last >= parts)

    def __getitem__(self, batch: int):
        with self.lock:
            order, read = self.order, self.ahead.pop(batch, None)
            for later in range(batch + 1, min(batch + 1 + self.AHEAD, len(self))):
                if later not in self.ahead:
                    self.ahead[later] = READERS.submit(self.part, later, *self.shard, order)
        return read.result() if read is not None else self.part(batch, *self.shard, order)

    def part(self, batch: int, part: int, parts: int, order: np.ndarray | None = None):
        """Slice ``part`` of ``parts`` of global batch ``batch`` (of ``order``, else the current order): maps, and
        one-hot labels where given."""
        order = self.order if order is None else order
        chosen = order[batch * self.batch_size : (batch + 1) * self.batch_size]
        chosen = chosen[: len(chosen) - len(chosen) % parts].reshape(parts, -1)[part]
        maps = self.rows[chosen]
        return maps if self.labels is None else (maps, keras.utils.to_categorical(self.labels[chosen], 2)
                                                 .astype("float32"))

    def advance_to(self, epoch: int) -> None:
        """Take epoch ``epoch``'s order (the same on every worker: the orders follow from ``seed`` one by one)."""
        with self.lock:
            for _ in range(self.epoch, epoch):
                if self.rng is not None:
                    self.order = self.rng.permutation(len(self.rows))
                    self.ahead.clear()
            self.epoch = max(self.epoch, epoch)


class EpochOrder(keras.callbacks.Callback):
    """Puts ``batches`` (a MapBatches) in each epoch's order as the epoch begins, by the epoch's number: the same
    orders whether ``fit`` reads the batches itself or through a dataset, however often it starts and stops them."""

    def __init__(self, batches: MapBatches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.advance_to(epoch)


def cached_maps(paths, front: FrontConfig, run: RunFolder, resume: bool, echo: Callable[[str], None],
                batch_size: int = 32) -> MapCache:
    """Every image's map, computed ``chunk_rows`` images at a time into ``run``'s maps/maps.npy. A resumed run keeps
    the chunks an interrupted one finished (maps/progress.json says how many rows, and for which images and
    front)."""
    folder = run.part("maps")
    paths = [str(p) for p in paths]
    key = hashlib.sha256(json.dumps([front.to_dict(), paths]).encode()).hexdigest()
    shape = (front.input_size, front.input_size, front.map_channels)
    cache, done = _resumed(folder, key, shape, is_binary(front), echo) if resume else (None, 0)
    cache = cache or MapCache.create(folder / "maps.npy", len(paths), shape, is_binary(front))
    model = SpikePreprocessor(front).map_model((front.image_size, front.image_size))
    size = chunk_rows(shape)
    for start in range(done, len(paths), size):
        images = load_images(paths[start : start + size], front)
        cache.write(start, model.predict(images, batch_size=batch_size, verbose=0))
        cache.sync()
        folder.write_json(PROGRESS_JSON, {"key": key, "done": min(start + size, len(paths))})
        echo(f"spike maps: {min(start + size, len(paths))}/{len(paths)} cached in {cache.path}")
    return cache


def _resumed(folder: RunFolder, key: str, shape, binary: bool, echo) -> tuple[MapCache | None, int]:
    """The cache an interrupted run left in ``folder`` and its rows done, or (None, 0) where there is none for these
    images and this front, or it cannot be read (it is then computed again, and the console says why)."""
    try:
        progress = json.loads((folder / PROGRESS_JSON).read_text())
    except FileNotFoundError:
        return None, 0
    except (OSError, ValueError) as error:
        echo(f"{folder / 'progress.json'}: unreadable ({error}); computing the spike maps again")
        return None, 0
    if progress.get("key") != key:
        return None, 0
    try:
        return MapCache(folder / "maps.npy", shape, binary), int(progress["done"])
    except (OSError, ValueError, KeyError) as error:
        echo(f"{folder / 'maps.npy'}: unreadable ({error}); computing the spike maps again")
        return None, 0


def balanced_rows(rows: Rows, labels: np.ndarray, seed: int, folder: RunFolder) -> tuple[Rows, np.ndarray]:
    """``rows`` and, as ``balance_with_copies`` adds them in memory, augmented copies of the minority class,
    written ``chunk_rows`` at a time into ``folder``/copies.npy (remove it after the fold)."""
    minority, chosen = copies_to_balance(labels, seed)
    if not len(chosen):
        return rows, labels
    copies = MapCache.create(folder / "copies.npy", len(chosen), rows.shape, binary=False)
    augment = augmentation(seed)
    size = chunk_rows(rows.shape)
    for start in range(0, len(chosen), size):
        part = chosen[start : start + size]
        copies.write(start, keras.ops.convert_to_numpy(augment(rows[part], training=True)))
    balanced = Rows([*rows.parts, (copies, np.arange(len(chosen)))])
    return balanced, np.concatenate([labels, np.full(len(chosen), minority)])


def discard_copies(rows: Rows) -> None:
    """Close and remove the copies ``balanced_rows`` wrote (every part after the first, the run's maps)."""
    for copies, _ in rows.parts[1:]:
        copies.close()
        copies.path.unlink()


def fit_standardizer(rows: Rows, front: FrontConfig, seed: int) -> Standardizer:
    """A standardizer fitted on streamed ``rows``: running moments over every row, PCA (where on) on at most
    ``PCA_SAMPLE`` rows drawn at random."""
    sample = None
    if front.pca_components is not None:
        sample = rows[np.sort(np.random.default_rng(seed).permutation(len(rows))[:PCA_SAMPLE])]
    return Standardizer(front, seed).fit_chunks(rows.chunks(), pca_sample=sample)
