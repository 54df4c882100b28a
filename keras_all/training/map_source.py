"""Where a run's spike maps come from: held in memory, or streamed from the run folder's cache. Both answer the
trainer the same questions, so it never asks which it has."""

from __future__ import annotations

import shutil

import keras
import numpy as np
import pandas as pd

from keras_all.front import FrontConfig, Standardizer, load_images
from keras_all.models import SpikePreprocessor
from keras_all.run_folder import RunFolder
from keras_all.training.arrays import spike_maps
from keras_all.training.model import balance_with_copies
from keras_all.training.streaming import (
    MapBatches,
    MapCache,
    Rows,
    balanced_rows,
    discard_copies,
    fit_standardizer,
)


class InMemoryMaps:
    """Maps (n, h, w, channels) held in memory, one row per row of ``samples``."""

    storage = "memory"

    def __init__(self, samples: pd.DataFrame, maps: np.ndarray):
        self.samples, self.maps = samples, maps

    @property
    def labels(self) -> np.ndarray:
        return self.samples["label"].to_numpy()

    def rows(self, index: np.ndarray) -> np.ndarray:
        return self.maps[index]

    def training_rows(self, index: np.ndarray, balance: bool, seed: int, folder: RunFolder):
        """A fold's training maps and labels, with augmented copies of the minority class where ``balance``."""
        x, y = self.maps[index], self.labels[index]
        return balance_with_copies(x, y, seed) if balance else (x, y)

    def standardizer(self, rows: np.ndarray, front: FrontConfig, seed: int) -> Standardizer:
        return Standardizer(front, seed).fit(rows)

    def predict(self, model: keras.Model, rows: np.ndarray, batch_size: int) -> np.ndarray:
        return model.predict(rows, batch_size=batch_size, verbose=0)

    def release(self, rows) -> None:
        """Drop what ``training_rows`` made for a fold (in memory: nothing to do)."""

    def close(self) -> None:
        """Every fold is done (in memory: nothing to do)."""


class InMemoryImages(InMemoryMaps):
    """Raw images (n, image_size, image_size, 3) uint8 held in memory, for a run whose training jitters the stain
    of each batch (``fit.stain_jitter``): its models take images and make their spike maps batch by batch."""

    storage = "memory, as images"

    def standardizer(self, rows: np.ndarray, front: FrontConfig, seed: int) -> Standardizer:
        maps = SpikePreprocessor(front).map_model(rows.shape[1:3]).predict(rows, batch_size=32, verbose=0)
        return Standardizer(front, seed).fit(maps)


def held_in_memory(samples: pd.DataFrame, config) -> InMemoryMaps:
    """What a run holds in memory for ``samples``: their raw images where training jitters the stain, else
    their spike maps."""
    if config.fit.stain_jitter:
        return InMemoryImages(samples, load_images(samples["path"], config.front))
    return InMemoryMaps(samples, spike_maps(samples["path"], config.front))


class CachedMaps(InMemoryMaps):
    """Maps in the run folder's cache (``streaming.cached_maps``), read batch by batch; a fold's balancing copies go
    to a file of its own, removed after the fold, and the cache is removed when every fold is done."""

    storage = "stream"

    def __init__(self, samples: pd.DataFrame, cache: MapCache, folder: RunFolder):
        super().__init__(samples, cache)
        self.folder = folder

    def rows(self, index: np.ndarray) -> Rows:
        return Rows([(self.maps, index)])

    def training_rows(self, index: np.ndarray, balance: bool, seed: int, folder: RunFolder):
        x, y = self.rows(index), self.labels[index]
        return balanced_rows(x, y, seed, folder) if balance else (x, y)

    def standardizer(self, rows: Rows, front: FrontConfig, seed: int) -> Standardizer:
        return fit_standardizer(rows, front, seed)

    def predict(self, model: keras.Model, rows: Rows, batch_size: int) -> np.ndarray:
        return model.predict(MapBatches(rows, batch_size), verbose=0)

    def release(self, rows: Rows) -> None:
        discard_copies(rows)

    def close(self) -> None:
        self.maps.close()
        shutil.rmtree(self.folder / "maps")
