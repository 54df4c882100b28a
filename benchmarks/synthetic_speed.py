"""Synthetic single-cell images written per second on ONE core, per layout (goal: at least 50/s).

    python benchmarks/synthetic_speed.py [--n 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from machine import pin_to_one_core  # benchmarks/machine.py, beside this script

from keras_all.data.synthetic import write_dataset


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    print(pin_to_one_core())
    print("| layout | image size | images | seconds | images/s |")
    print("|---|---|---|---|---|")
    for layout, size in (("c-nmc", "450x450 BMP"), ("all-idb2", "257x257 TIFF"), ("aria", "224x224 JPEG")):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            written = write_dataset(layout, out, args.n, seed=0)
            seconds = time.perf_counter() - start
        print(f"| {layout} | {size} | {len(written)} | {seconds:.2f} | {len(written) / seconds:.0f} |")


if __name__ == "__main__":
    main()
