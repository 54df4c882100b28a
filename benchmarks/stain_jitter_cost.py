"""What jittering the stain of every training batch costs: an epoch on spike maps against one on images.

    python benchmarks/stain_jitter_cost.py [--images 256] [--repeats 3]

A run with ``fit.stain_jitter`` trains its models on raw images (a ``StainJitter`` layer, then the spike maps, made
batch by batch) where a run without it trains on maps computed once. Both fold models are readied by one
``FoldModel`` each (the whole-set Aria configuration: rgb_first_spike maps at 224 px, a 64x64 input), then one
epoch of each is timed in turn, after a first epoch each that traces the step. One process, TensorFlow backend,
synthetic smear-coloured images.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from machine import describe  # noqa: E402  benchmarks/machine.py, beside this script


def _fold_model(images, stain_jitter: float):
    """The compiled fold model of the whole-set Aria configuration, with or without the stain jitter, and its
    training input (images or their maps)."""
    from keras_all import SpikePreprocessor
    from keras_all.config import load_config
    from keras_all.front import Standardizer
    from keras_all.training.model import FoldModel

    config = load_config(preset="honest", overrides={"front.input_size": 64, "fit.stain_jitter": stain_jitter})
    maps = SpikePreprocessor(config.front).map_model(images.shape[1:3]).predict(images, batch_size=32, verbose=0)
    model = FoldModel(config).start(Standardizer(config.front).fit(maps), seed=0, n_train=len(images),
                                    run_eagerly=False)[1]
    return model, images if stain_jitter else maps


def _epoch(model, x, y) -> float:
    start = time.perf_counter()
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    images = np.clip(rng.normal((214, 170, 200), 30, (args.images, 224, 224, 3)), 0, 255).astype(np.uint8)
    y = keras.utils.to_categorical(rng.integers(0, 2, args.images), 2)
    plain, on_maps = _fold_model(images, 0.0)
    jittered, on_images = _fold_model(images, 0.2)
    _epoch(plain, on_maps, y), _epoch(jittered, on_images, y)  # traced
    print(describe())
    print(f"{args.images} images a epoch, batch 32; seconds per epoch, in turn:")
    ratios = []
    for k in range(args.repeats):
        maps_s, images_s = _epoch(plain, on_maps, y), _epoch(jittered, on_images, y)
        ratios.append(images_s / maps_s)
        print(f"  pair {k + 1}: on maps {maps_s:.2f} s, on images with stain jitter {images_s:.2f} s, "
              f"ratio {ratios[-1]:.2f}")
    print(f"median ratio {np.median(ratios):.2f}")


if __name__ == "__main__":
    main()
