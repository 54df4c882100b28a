"""Streamed spike maps: the cache file, rows across caches, the standardizer's fit from chunks, resuming the cache,
and a streamed run from the shell against the same run held in memory."""

import json

import keras
import numpy as np
import pytest

from keras_all.data import load_dataset
from keras_all.front import FrontConfig, Standardizer, load_images
from keras_all.loader import load_model
from keras_all.models import SpikePreprocessor
from keras_all.run_folder import RunFolder
from keras_all.training import streaming
from keras_all.training.streaming import EpochOrder, MapBatches, MapCache, Rows, cached_maps, choose_storage

from .helpers import shell, tiny_config

pytestmark = pytest.mark.portable


def maps_of(count, shape=(6, 5, 2), seed=0):
    return np.random.default_rng(seed).random((count, *shape)).astype("float32")


def test_a_float16_cache_gives_back_its_rows_rounded_to_float16(tmp_path):
    maps = maps_of(10)
    cache = MapCache.create(tmp_path / "maps.npy", 10, maps.shape[1:], binary=False)
    cache.write(0, maps[:4])
    cache.write(4, maps[4:])
    for index in ([3, 4, 5], [9, 0, 9, 2], slice(2, 7)):
        np.testing.assert_array_equal(cache[index], maps[index].astype("float16").astype("float32"))
    assert np.load(tmp_path / "maps.npy", mmap_mode="r").shape == (10, 6, 5, 2)  # a plain .npy file
    with pytest.raises(IndexError, match="rows 0..10 asked of 10"):
        cache[[0, 10]]


def test_binary_maps_are_bit_packed_exactly_and_nothing_else_is_taken(tmp_path):
    spikes = (maps_of(7, (5, 5, 3)) > 0.7).astype("float32")
    cache = MapCache.create(tmp_path / "bits.npy", 7, spikes.shape[1:], binary=True)
    cache.write(0, spikes)
    np.testing.assert_array_equal(cache[np.arange(7)[::-1]], spikes[::-1])
    header = np.load(tmp_path / "bits.npy", mmap_mode="r").offset
    assert (tmp_path / "bits.npy").stat().st_size == header + 7 * 10  # 75 bits in 10 bytes a row
    with pytest.raises(ValueError, match="0s and 1s only"):
        cache.write(0, spikes * 0.5)


def test_rows_read_across_caches_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(streaming, "CHUNK_BYTES", 2 * 60 * 4)  # two maps a chunk
    first, second = maps_of(8, seed=1), maps_of(5, seed=2)
    caches = []
    for name, maps in (("a.npy", first), ("b.npy", second)):
        caches.append(MapCache.create(tmp_path / name, len(maps), maps.shape[1:], binary=False))
        caches[-1].write(0, maps)
    rows = Rows([(caches[0], np.array([7, 1, 3])), (caches[1], np.array([4, 0]))])
    expected = np.concatenate([first[[7, 1, 3]], second[[4, 0]]]).astype("float16").astype("float32")
    assert len(rows) == 5
    np.testing.assert_array_equal(rows[[4, 0, 3, 2]], expected[[4, 0, 3, 2]])
    chunks = list(rows.chunks())
    assert [len(chunk) for chunk in chunks] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate(chunks), expected)
    batches = MapBatches(rows, 2, labels=np.array([0, 1, 1, 0, 1]), seed=3)
    seen = [batches[k] for k in range(len(batches))]
    assert len(batches) == 3 and [len(x) for x, _ in seen] == [2, 2, 1]
    shown = np.concatenate([x for x, _ in seen])
    order = [int(np.flatnonzero((expected == row).all(axis=(1, 2, 3)))[0]) for row in shown]
    assert sorted(order) == [0, 1, 2, 3, 4]  # every row once, shuffled
    np.testing.assert_array_equal(np.concatenate([y for _, y in seen]).argmax(1), np.array([0, 1, 1, 0, 1])[order])


class BatchLosses(keras.callbacks.Callback):
    """Each training batch's own mean loss, from the running means Keras logs (equal batches)."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append([])

    def on_train_batch_end(self, batch, logs=None):
        self.epochs[-1].append(logs["loss"] * (batch + 1) - sum(self.epochs[-1]))


def test_fit_trains_on_each_epochs_batches_in_order_once_each():
    """What fit trains on, under the suite's backend: row k is worth 2^k, so a batch's loss names its rows. (Keras'
    own read-ahead handed the JAX trainer batches left from its first look at the data: shifted or repeated.)"""
    rows = (2.0 ** np.arange(12, dtype="float32")).reshape(12, 1, 1, 1)
    labels = np.zeros(12, int)
    model = keras.Sequential([keras.Input((1, 1, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(2, kernel_initializer="ones")])
    model.compile(keras.optimizers.SGD(0.0), "mean_absolute_error")  # per row: (|2^k - 1| + 2^k) / 2 = 2^k - 1/2
    batches, losses = MapBatches(rows, 3, labels, seed=4), BatchLosses()
    rng = np.random.default_rng(4)
    orders = [rng.permutation(12) for _ in range(3)]
    model.fit(batches, epochs=3, verbose=0, shuffle=False, callbacks=[EpochOrder(batches), losses])
    for order, seen in zip(orders, losses.epochs, strict=True):
        expected = [rows[batch].mean() - 0.5 for batch in order.reshape(4, 3)]
        np.testing.assert_allclose(seen, expected, rtol=1e-6)


def test_worker_slices_make_the_global_batch_and_each_epoch_has_its_own_order():
    rows = np.arange(11, dtype="float32").reshape(11, 1, 1, 1)
    labels = np.arange(11) % 2
    whole = MapBatches(rows, 4, labels, seed=5)
    halves = [MapBatches(rows, 4, labels, seed=5, shard=(k, 2)) for k in range(2)]
    assert len(whole) == 3 and all(len(h) == 3 for h in halves)  # the last batch of 3 rows keeps 2, one each
    for epoch in (0, 2):
        for batches in (whole, *halves):
            EpochOrder(batches).on_epoch_begin(epoch)
        for b in range(2):  # full batches: the two slices are the global batch, in order
            joined = np.concatenate([h[b][0] for h in halves])
            np.testing.assert_array_equal(joined, whole[b][0])
        assert [len(h[2][0]) for h in halves] == [1, 1] and len(whole[2][0]) == 3
    later = whole.order.copy()
    EpochOrder(whole).on_epoch_begin(2)  # the same epoch again: the same order
    np.testing.assert_array_equal(whole.order, later)
    assert not np.array_equal(MapBatches(rows, 4, labels, seed=5).order, later)


@pytest.mark.parametrize("zscore", ["pixel", "global"])
def test_the_standardizer_fitted_from_chunks_matches_the_one_fitted_in_memory(zscore):
    front = FrontConfig(spike_size=8, input_size=8, zscore=zscore, pca_components=3)
    maps = maps_of(40, (8, 8, 1), seed=4) * 3 + 1
    whole = Standardizer(front).fit(maps)
    chunked = Standardizer(front).fit_chunks((maps[k : k + 7] for k in range(0, 40, 7)), pca_sample=maps)
    np.testing.assert_allclose(chunked.mean_, whole.mean_, rtol=1e-6)
    np.testing.assert_allclose(chunked.variance_, whole.variance_, rtol=1e-5)
    np.testing.assert_allclose(np.abs(chunked.pca_.components_), np.abs(whole.pca_.components_), atol=1e-4)


def test_auto_streams_only_what_would_crowd_memory(monkeypatch):
    front = FrontConfig(spike_size=100, input_size=100)  # 40,000 bytes a map as float32
    monkeypatch.setattr(streaming, "physical_memory", lambda: 8 * 40_000 * 1000)
    assert choose_storage("auto", 1000, front)[0] == "memory"
    assert choose_storage("auto", 1001, front)[0] == "stream"
    assert choose_storage("memory", 10**9, front)[0] == "memory"
    assert choose_storage("stream", 10**9, front, protocol="paper")[0] == "memory"


def test_an_interrupted_cache_is_resumed_from_its_last_chunk(synthetic_tree, tmp_path, monkeypatch):
    paths = load_dataset("c-nmc", synthetic_tree("c-nmc", 33)).samples["path"].tolist()
    front = FrontConfig(spike_size=24, input_size=24)
    monkeypatch.setattr(streaming, "CHUNK", 8)
    run = RunFolder(tmp_path / "run")
    (tmp_path / "run").mkdir()
    written, stop = [], [True]
    original = MapCache.write

    def write_then_stop(cache, start, maps):
        original(cache, start, maps)
        written.append(start)
        if stop[0] and len(written) == 2:
            raise InterruptedError("stopped after two chunks")

    monkeypatch.setattr(MapCache, "write", write_then_stop)
    with pytest.raises(InterruptedError):
        cached_maps(paths, front, run, resume=False, echo=lambda line: None)
    assert json.loads((tmp_path / "run" / "maps" / "progress.json").read_text())["done"] == 8  # the second unsaid
    written.clear()
    stop[0] = False
    cache = cached_maps(paths, front, run, resume=True, echo=lambda line: None)
    assert written == list(range(8, len(paths), 8))
    expected = SpikePreprocessor(front).map_model((24, 24)).predict(load_images(paths, front), verbose=0)
    np.testing.assert_array_equal(cache[np.arange(len(paths))], expected.astype("float16").astype("float32"))
    cache.close()

    # a cache cut short on disk is computed again, and the console names it
    maps_file = tmp_path / "run" / "maps" / "maps.npy"
    maps_file.write_bytes(maps_file.read_bytes()[:200])
    lines, written[:] = [], []
    again = cached_maps(paths, front, run, resume=True, echo=lines.append)
    assert lines[0].startswith(f"{maps_file}: unreadable (") and lines[0].endswith("computing the spike maps again")
    assert written[0] == 0
    np.testing.assert_array_equal(again[np.arange(len(paths))], expected.astype("float16").astype("float32"))


@pytest.mark.slow
def test_a_streamed_run_from_the_shell_fits_what_memory_fits_and_leaves_no_cache(synthetic_tree, tmp_path):
    data = synthetic_tree("c-nmc", 54)
    config = tiny_config(tmp_path, {"fit.epochs": 2})
    runs, printed = {}, {}
    for storage in ("stream", "memory"):
        runs[storage] = tmp_path / storage
        result = shell("train", "--dataset", "c-nmc", "--data-dir", data, "--config", config, "--maps", storage,
                       "--output", runs[storage])
        assert result.returncode == 0, result.stderr
        printed[storage] = result.stdout
    assert "streamed from a cache in the run folder: as asked" in printed["stream"]
    assert "held in memory: as asked" in printed["memory"]
    metrics = json.loads((runs["stream"] / "metrics.json").read_text())
    assert metrics["maps"]["storage"] == "stream" and not (runs["stream"] / "maps").exists()
    assert not list(runs["stream"].rglob("*.npy"))
    assert "spike maps streamed" in (runs["stream"] / "report.md").read_text()
    for fold in ("fold_0", "fold_1", "final"):  # the same splits and balancing copies, maps rounded to float16
        streamed, held = (load_model(runs[s] / fold / "model.keras").classifier.preprocessor.zscore
                          for s in ("stream", "memory"))
        np.testing.assert_allclose(keras.ops.convert_to_numpy(streamed.mean), keras.ops.convert_to_numpy(held.mean),
                                   atol=2e-3)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(streamed.variance),
                                   keras.ops.convert_to_numpy(held.variance), rtol=2e-2, atol=1e-4)
        assert (runs["stream"] / fold / "predictions.csv").read_text().count("\n") == \
            (runs["memory"] / fold / "predictions.csv").read_text().count("\n")
