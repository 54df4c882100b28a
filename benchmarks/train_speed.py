"""Training speed at 224x224: `keras-all train` next to a bare `model.fit`, one run, same machine.

    python benchmarks/train_speed.py [--images 320] [--epochs 3] [--batch-size 32]

keras-all train: the honest protocol on synthetic Aria-layout images (224x224), paper ResNet on
224x224x1 maps, online augmentation, 4 folds; throughput = training images of a fold / seconds of
its epochs 2..N (the first epoch traces the graph), validation pass included. Bare: the same ResNet,
Adam, `model.fit` on random in-memory tensors of the same count, same epochs. Each runs in its own
process so that its peak resident memory is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe  # benchmarks/machine.py, beside this script

ROOT = Path(__file__).resolve().parents[1]


def pipeline(images: int, epochs: int, batch_size: int) -> dict:
    from keras_all.config import FitConfig, TrainConfig
    from keras_all.data import load_dataset
    from keras_all.data.synthetic import write_dataset
    from keras_all.front import FrontConfig
    from keras_all.run_folder import RunFolder
    from keras_all.training.coordinator import Coordinator
    from keras_all.training.cross_validate import train
    from keras_all.training.trainer import RunContext

    with tempfile.TemporaryDirectory() as tmp:
        write_dataset("aria", Path(tmp) / "data", images, seed=0)
        data = load_dataset("aria", Path(tmp) / "data")
        lines = []
        start = time.perf_counter()
        config = TrainConfig(fit=FitConfig(epochs=epochs, batch_size=batch_size), front=FrontConfig())
        result = train(data, config, RunContext(RunFolder(Path(tmp) / "run"), echo=lines.append), Coordinator())
        total = time.perf_counter() - start
    fold = result.summary["folds"][0]
    seconds = [float(m.group(1)) for line in lines if line.startswith("fold 1/")
               for m in [re.search(r"\(([\d.]+) s\)$", line)] if m][1:]
    return {"images_per_s": fold["n_train_with_copies"] * len(seconds) / sum(seconds),
            "train_images": fold["n_train_with_copies"], "whole_run_s": total}


def bare(images: int, epochs: int, batch_size: int) -> dict:
    import keras
    import numpy as np

    from keras_all.models import build_resnet

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).standard_normal((images, 224, 224, 1)).astype("float32")
    y = keras.utils.to_categorical(np.arange(images) % 2, 2)
    model = build_resnet((224, 224, 1))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)  # tracing
    start = time.perf_counter()
    model.fit(x, y, epochs=epochs - 1, batch_size=batch_size, verbose=0)
    return {"images_per_s": images * (epochs - 1) / (time.perf_counter() - start), "train_images": images}


def child(kind: str, images: int, epochs: int, batch_size: int) -> None:
    sys.path.insert(0, str(ROOT))
    out = (pipeline if kind == "pipeline" else bare)(images, epochs, batch_size)
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def measure(images: int = 320, epochs: int = 3, batch_size: int = 32) -> dict:
    """keras-all train and a bare fit of as many images, each in its own process (its own peak memory)."""
    results = {}
    for kind in ("pipeline", "bare"):
        count = results["pipeline"]["train_images"] if kind == "bare" else images
        done = subprocess.run([sys.executable, __file__, "--child", kind, "--images", str(count),
                               "--epochs", str(epochs), "--batch-size", str(batch_size)],
                              capture_output=True, text=True, check=True,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        results[kind] = json.loads(done.stdout.strip().splitlines()[-1])
    return {**results, "images": images, "epochs": epochs, "batch_size": batch_size,
            "ratio": results["pipeline"]["images_per_s"] / results["bare"]["images_per_s"]}


def print_report(result: dict) -> None:
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    print(f"Machine: {describe()}; {result['images']} images, {result['epochs']} epochs, "
          f"batch {result['batch_size']}, 224x224, Keras backend {backend}")
    print("| run | training images | img/s | peak RSS MiB |")
    print("|---|---|---|---|")
    for kind, name in (("pipeline", "keras-all train (fold 1, validation included)"), ("bare", "bare model.fit")):
        r = result[kind]
        print(f"| {name} | {r['train_images']} | {r['images_per_s']:.1f} | {r['peak_rss_mib']:.0f} |")
    print(f"\nkeras-all train runs at {result['ratio']:.0%} of the bare rate (goal >= 85%); the whole 4-fold run "
          f"with its final model took {result['pipeline']['whole_run_s']:.0f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=320)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--child", choices=["pipeline", "bare"])
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.images, args.epochs, args.batch_size)
    print_report(measure(args.images, args.epochs, args.batch_size))


if __name__ == "__main__":
    main()
