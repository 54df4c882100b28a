"""Streamed training (issue 16), measured side by side in one run on this machine.

    python benchmarks/stream_memory.py [--small 2000] [--large 16000] [--epochs 1] [--skip-wave]

1. Peak resident memory of `keras-all train` (each run a process of its own, 2 folds, the TINY test widths)
   on synthetic C-NMC-like sets of --small and --large single cells at 100x100: first-spike maps streamed
   (--maps stream) and held in memory (--maps memory); then the spike-wave mode (60 channels) at 64x64,
   streamed.
2. Training speed: one process, the same classifier, batch 32 and maps; a bare `model.fit` on in-memory arrays
   against `model.fit` on MapBatches read from a MapCache (streamed training) and on MapBatches of the arrays
   (training with maps in memory); epochs 2..3 timed, the first traces.
3. PCA 50 fitted on a random sample of 2,000 maps (what streamed runs do) against one fitted on all of them:
   the variance each explains on held-out maps.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import keras
import numpy as np
import yaml
from machine import describe  # benchmarks/machine.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from keras_all.data.synthetic import random_stain, single_cell  # noqa: E402

TINY = {"run": {"name": "bench", "folds": 2}, "fit": {"batch_size": 32},
        "model": {"identity_blocks": 0, "widths": [[4, 4, 8], [8, 8, 16], [8, 8, 16]]}}


def write_cells(folder: Path, count: int, size: int = 100, seed: int = 0) -> Path:
    """``count`` single cells (a third blasts, as in C-NMC) as PNGs in folder/all and folder/hem."""
    rng = np.random.default_rng(seed)
    for name in ("all", "hem"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    for k in range(count):
        blast = k % 3 != 0
        cell = single_cell(size, blast, random_stain(rng), rng, smear=False)
        cv2.imwrite(str(folder / ("all" if blast else "hem") / f"{k:05d}.png"), cv2.cvtColor(cell, cv2.COLOR_RGB2BGR))
    return folder


def peak_rss_of_train(data: Path, work: Path, storage: str, epochs: int, size: int, mode: str) -> dict:
    """Run `keras-all train` in a process of its own; its peak RSS (MiB) and seconds."""
    config = work / f"{mode}-{size}.yaml"
    config.write_text(yaml.safe_dump({**TINY, "fit": {**TINY["fit"], "epochs": epochs},
                                      "front": {"spike_size": size, "input_size": size, "mode": mode}}))
    output = work / f"run-{data.name}-{storage}-{mode}"
    command = [str(Path(sys.executable).parent / "keras-all"), "train", "--dataset", "folder", "--data-dir",
               str(data), "--positive-class", "all", "--config", str(config), "--maps", storage, "--output",
               str(output)]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{process.stderr.read()[-2000:]}")
    return {"peak_rss_mib": usage.ru_maxrss / 1024, "seconds": seconds}


def fit_speed(count: int = 1536, size: int = 100, epochs: int = 3) -> dict:
    """img/s of model.fit on arrays and on streamed batches of the same maps (epochs 2..N)."""
    from keras_all.config import from_dict
    from keras_all.front import Standardizer
    from keras_all.models import SpikeResNetClassifier
    from keras_all.training.model import augmentation
    from keras_all.training.streaming import EpochOrder, MapBatches, MapCache, Rows

    config = from_dict({**TINY, "fit": {**TINY["fit"], "epochs": epochs},
                        "front": {"spike_size": size, "input_size": size}})
    rng = np.random.default_rng(0)
    maps = (rng.random((count, size, size, 1)) > 0.9).astype("float32")
    labels = np.arange(count) % 2
    standardizer = Standardizer(config.front).fit(maps[:256])
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        cache = MapCache.create(Path(tmp) / "maps.npy", count, maps.shape[1:], binary=False)
        cache.write(0, maps)
        for name in ("in memory", "streamed", "MapBatches in memory", "in memory again"):
            keras.utils.set_random_seed(0)
            model = SpikeResNetClassifier.from_config_of(config, standardizer).on_maps(augmentation(0))
            model.compile(optimizer="adam", loss="categorical_crossentropy")
            timer = EpochTimer()
            if name in ("streamed", "MapBatches in memory"):
                rows = Rows([(cache, np.arange(count))]) if name == "streamed" else maps
                batches = MapBatches(rows, 32, labels, seed=0)
                model.fit(batches, epochs=epochs, verbose=0, shuffle=False, callbacks=[EpochOrder(batches), timer])
            else:
                model.fit(maps, keras.utils.to_categorical(labels, 2), batch_size=32, epochs=epochs, shuffle=True,
                          verbose=0, callbacks=[timer])
            rates[name] = count * (epochs - 1) / sum(timer.seconds[1:])
        cache.close()
    return rates


class EpochTimer(keras.callbacks.Callback):
    """Seconds of each epoch."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)


def pca_sample_gap(data: Path, size: int = 100, components: int = 50, sample: int = 2000, held_out: int = 1000):
    """Variance explained on held-out z-scored maps by PCA fitted on all training maps and on a random sample."""
    from keras_all.data import load_dataset
    from keras_all.front import FrontConfig, Standardizer, load_images
    from keras_all.layers import fit_pca
    from keras_all.models import SpikePreprocessor

    front = FrontConfig(spike_size=size, input_size=size)
    paths = load_dataset("folder", data, positive_class="all").samples["path"]
    maps = SpikePreprocessor(front).map_model((size, size)).predict(load_images(paths, front), batch_size=64, verbose=0)
    held_out = min(held_out, len(maps) // 5)
    order = np.random.default_rng(0).permutation(len(maps))
    train, test = maps[order[held_out:]], maps[order[:held_out]]
    scaler = Standardizer(front).fit(train)

    def scaled(x):
        return ((x - scaler.mean_) / np.sqrt(scaler.variance_)).reshape(len(x), -1)

    def explained(pca):
        centred = scaled(test) - pca.mean_
        return 1 - np.square(centred - centred @ pca.components_.T @ pca.components_).sum() / np.square(centred).sum()

    whole = fit_pca(scaled(train), components)
    part = fit_pca(scaled(train[np.random.default_rng(1).permutation(len(train))[:sample]]), components)
    return {"train": len(train), "held_out": held_out, "sample": min(sample, len(train)), "whole": explained(whole),
            "sampled": explained(part)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=16000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--skip-wave", action="store_true", help="leave out the spike-wave runs")
    args = parser.parse_args()
    print(f"Machine: {describe()}; {time.strftime('%Y-%m-%d %H:%M')}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sets = {n: write_cells(work / f"cells-{n}", n) for n in (args.small, args.large)}
        print("\n| cells | maps | storage | peak RSS MiB | run s |\n|---|---|---|---|---|")
        peaks = {}
        runs = [(n, "first_spike", 100, storage) for storage in ("stream", "memory") for n in sets]
        runs += [] if args.skip_wave else [(n, "spike_wave", 64, "stream") for n in sets]
        for n, mode, size, storage in runs:
            result = peak_rss_of_train(sets[n], work, storage, args.epochs, size, mode)
            peaks[n, mode, storage] = result["peak_rss_mib"]
            print(f"| {n} | {mode} {size}x{size} | {storage} | {result['peak_rss_mib']:.0f} | "
                  f"{result['seconds']:.0f} |", flush=True)
        for mode, storage in {(mode, storage) for _, mode, _, storage in runs}:
            ratio = peaks[args.large, mode, storage] / peaks[args.small, mode, storage]
            print(f"\n{mode}, {storage}: peak RSS {args.large} cells / {args.small} cells = {ratio:.2f}x "
                  f"(goal for streaming <= 1.3x)")
        gap = pca_sample_gap(sets[args.large])
        print(f"\nPCA 50 on z-scored first-spike maps, variance explained on {gap['held_out']} held-out maps: "
              f"fitted on all {gap['train']} training maps {gap['whole']:.4f}, on a random {gap['sample']} "
              f"{gap['sampled']:.4f}")
    rates = fit_speed()
    print("\n| model.fit on | img/s |\n|---|---|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.1f} |")
    print(f"\nstreamed / in memory: {rates['streamed'] / np.mean([rates['in memory'], rates['in memory again']]):.0%}"
          " (goal >= 85%)")


if __name__ == "__main__":
    main()
