"""The front's one resize, measured against the alternatives: area averaging (AreaResizing, what the package
uses), Keras' antialiased bilinear resize (what the served graph used before), and OpenCV's area averaging (what
training files were read with before).

    python benchmarks/resize_choice.py [--repeats 5]

For real images of the shared data (C-NMC cells 450 px -> 224 and 100, Aria fields 224 -> 64 where a front
shrinks them, BCCD smear fields 640x480 -> 224): how far each resize lands from OpenCV's area averaging
(mean and largest level difference), how many first-spike pixels change against it, and milliseconds per image,
side by side in one run. A synthetic 2592x1944 slide (ALL-IDB1's size) times the largest input.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from machine import describe  # benchmarks/machine.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"


def images_of(pattern: str, count: int = 16) -> list[np.ndarray]:
    from keras_all.data import read_image

    return [read_image(path) for path in sorted(SHARED.glob(pattern))[:count]]


def compare(images: list[np.ndarray], size: int, repeats: int) -> dict:
    import cv2
    import keras

    from keras_all.layers import AreaResizing, FirstSpikeGabor

    ours, bilinear = AreaResizing(size, size), keras.layers.Resizing(size, size, antialias=True)
    spikes = FirstSpikeGabor()
    row = {}
    reference = [cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA) for image in images]
    reference_spikes = keras.ops.convert_to_numpy(spikes(np.stack(reference)))
    for name, resize in (("area (AreaResizing)", ours), ("antialiased bilinear (Keras)", bilinear)):
        out = [np.clip(np.round(keras.ops.convert_to_numpy(resize(image[None]))[0]), 0, 255).astype("uint8")
               for image in images]
        difference = np.abs(np.stack(out).astype(int) - np.stack(reference).astype(int))
        changed = np.mean(keras.ops.convert_to_numpy(spikes(np.stack(out))) != reference_spikes)
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            for image in images:
                keras.ops.convert_to_numpy(resize(image[None]))
            seconds.append((time.perf_counter() - start) / len(images))
        row[name] = {"mean_level_difference": float(difference.mean()), "largest": int(difference.max()),
                     "first_spike_pixels_changed": float(changed), "ms_per_image": 1000 * float(np.median(seconds))}
    start = time.perf_counter()
    for _ in range(repeats):
        for image in images:
            cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    row["OpenCV area (reference)"] = {"ms_per_image": 1000 * (time.perf_counter() - start) / repeats / len(images)}
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    cases = {
        "C-NMC cells 450 -> 224": (images_of("cnmc-sample/**/*.bmp"), 224),
        "C-NMC cells 450 -> 100": (images_of("cnmc-sample/**/*.bmp"), 100),
        "Aria fields 224 -> 64": (images_of("aria-all/**/*.jpg"), 64),
        "BCCD fields 640x480 -> 224": (images_of("bccd/**/*.jpg"), 224),
        "a 2592x1944 slide -> 224": ([np.random.default_rng(0).integers(0, 256, (1944, 2592, 3), "uint8")], 224),
    }
    print(f"Machine: {describe()}")
    for case, (images, size) in cases.items():
        if not images:
            print(f"{case}: no images under {SHARED}; skipped")
            continue
        print(f"\n{case} ({len(images)} images)")
        for name, figures in compare(images, size, repeats).items():
            print(f"  {name:<30} " + "  ".join(f"{k} {v:.4g}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
