"""PCA fit time and peak memory for 1,000 training images of 224x224 (50,176 features), on this machine.

    python benchmarks/pca_memory.py [--images 1000]

Each fit runs in its own process on float32 standard-normal rows (z-scored maps have unit variance; random
rows are the slow case for randomized SVD, whose spectrum does not decay): 500 components (randomized SVD,
the paper's C-NMC count), 999 (the paper's 1,200 capped at n_train - 1, randomized) and a 0.99 variance
fraction (full SVD). Peak memory: the resident set sampled during the fit, minus the resident set before it
(TensorFlow, imported with the package, and the data).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

from machine import describe  # benchmarks/machine.py, beside this script

FEATURES = 224 * 224
SETTINGS = ("500", "1200", "0.99")


def child(images: int, setting: str) -> None:
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from keras_all.layers import fit_pca

    x = np.random.default_rng(0).standard_normal((images, FEATURES), dtype=np.float32)
    before = _resident_mib()
    peak, done = [before], threading.Event()

    def watch():  # the resident set sampled every 5 ms: LAPACK's workspace included
        while not done.wait(0.005):
            peak[0] = max(peak[0], _resident_mib())

    watcher = threading.Thread(target=watch)
    watcher.start()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cap of 1,200 to n_train - 1
        pca = fit_pca(x, float(setting) if "." in setting else int(setting))
    seconds = time.perf_counter() - start
    done.set()
    watcher.join()
    print(json.dumps({"setting": setting, "components": int(pca.n_components_), "seconds": seconds,
                      "data_mib": x.nbytes / 2**20, "extra_peak_mib": peak[0] - before, "peak_rss_mib": peak[0]}))


def _resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(images: int = 1000) -> dict:
    rows = []
    for setting in SETTINGS:
        done = subprocess.run([sys.executable, __file__, "--child", setting, "--images", str(images)],
                              capture_output=True, text=True, check=True,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {"images": images, "rows": rows}


def print_report(result: dict) -> None:
    print(f"Machine: {describe()}; {result['images']} x {FEATURES} float32 rows "
          f"({result['rows'][0]['data_mib']:.0f} MiB)")
    print("| asked for | components | fit s | peak beyond the data MiB | peak RSS MiB |")
    print("|---|---|---|---|---|")
    for r in result["rows"]:
        print(f"| {r['setting']} | {r['components']} | {r['seconds']:.1f} | {r['extra_peak_mib']:.0f} | "
              f"{r['peak_rss_mib']:.0f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--child", choices=SETTINGS)
    args = parser.parse_args()
    if args.child:
        return child(args.images, args.child)
    print_report(measure(args.images))


if __name__ == "__main__":
    main()
