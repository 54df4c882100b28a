"""Image decoding on ONE core, side by side: OpenCV's decode and RGB conversion alone (what keras-all did
before issue 13), and keras-all's `decode_image`, which adds the checks of bad files (libjpeg-turbo's
stop-on-warning pass over every JPEG at 1/8 scale, the size limits).

    python benchmarks/read_speed.py [--repeats 3]

Real Aria images (224x224 JPEG) where ../shared/data is present, and synthetic ALL-IDB1 slides (up to
2592x1944 JPEG) and C-NMC cells (450x450 BMP) written for the run. Files are read from memory-cached
bytes in both columns, so the difference is decoding and checking only.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from machine import pin_to_one_core  # benchmarks/machine.py, beside this script

from keras_all.data.io import decode_image, to_rgb_uint8
from keras_all.data.synthetic import write_dataset

ARIA = Path(__file__).resolve().parents[2] / "shared" / "data" / "aria-all"


def seconds_per_image(decode, blobs: list[bytes], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for data in blobs:
            decode(data)
        best = min(best, time.perf_counter() - start)
    return best / len(blobs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(pin_to_one_core())
    print("| images | count | decode + RGB ms/image | with the checks ms/image | ratio |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        sets = {"synthetic ALL-IDB1 slides (JPEG, up to 2592x1944)": write_dataset("all-idb1", Path(tmp) / "a", 8),
                "synthetic C-NMC cells (BMP, 450x450)": write_dataset("c-nmc", Path(tmp) / "c", 72)}
        paths = {name: list(table["path"]) for name, table in sets.items()}
        if ARIA.is_dir():
            paths["Aria (real JPEG, 224x224)"] = sorted(ARIA.rglob("*.jpg"))[:1000]
        for name, files in paths.items():
            blobs = [Path(p).read_bytes() for p in files]
            plain = seconds_per_image(
                lambda d: to_rgb_uint8(cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_UNCHANGED)), blobs,
                args.repeats)
            checked = seconds_per_image(decode_image, blobs, args.repeats)
            print(f"| {name} | {len(blobs)} | {plain * 1e3:.2f} | {checked * 1e3:.2f} | {checked / plain:.2f} |")


if __name__ == "__main__":
    main()
