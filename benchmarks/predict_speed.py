"""SavedModel serving speed on this CPU: one 2592x1944 ALL-IDB1-sized slide, and batches of 224x224 crops.

    python benchmarks/predict_speed.py [--repeats 5]

The exported model is the paper's ALL-IDB configuration (224x224x3 ResNet, PCA 1,200 components); its
weights are untrained (speed does not depend on them) and the PCA components random orthonormal rows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from machine import describe  # benchmarks/machine.py, beside this script

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure(repeats: int = 5) -> dict:
    """Median latency of one slide and throughput of 32-crop batches through the exported SavedModel."""
    import tensorflow as tf

    from keras_all import SpikeResNetClassifier, Standardizer, load_config

    config = load_config(preset="paper_all_idb")
    size, k = config.front.input_size, config.front.pca_components
    rng = np.random.default_rng(0)
    components = np.linalg.qr(rng.standard_normal((size * size, k)).astype("float32"))[0].T
    standardizer = Standardizer(config.front)  # a stand-in fit: timing does not depend on the values
    standardizer.mean_ = np.zeros((size, size, 1), "float32")
    standardizer.variance_ = np.ones((size, size, 1), "float32")
    standardizer.pca_ = SimpleNamespace(n_components_=k, mean_=np.zeros(size * size, "float32"), components_=components)
    serving = SpikeResNetClassifier.from_config_of(config, standardizer).serving_model()
    with tempfile.TemporaryDirectory() as tmp:
        serving.export(str(Path(tmp) / "saved_model"), format="tf_saved_model", verbose=False)
        served = tf.saved_model.load(str(Path(tmp) / "saved_model"))
        slide = tf.constant(rng.integers(0, 256, (1, 1944, 2592, 3), dtype=np.uint8))
        crops = tf.constant(rng.integers(0, 256, (32, 224, 224, 3), dtype=np.uint8))
        served.serve(slide)
        served.serve(crops)
        latencies = []
        for _ in range(repeats):
            start = time.perf_counter()
            served.serve(slide)["probability"].numpy()
            latencies.append(time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(repeats):
            served.serve(crops)["probability"].numpy()
        throughput = repeats * 32 / (time.perf_counter() - start)
    return {"setup": f"TensorFlow {tf.__version__}; paper ALL-IDB configuration ({serving.count_params():,} "
                     "parameters with the PCA matrix)", "repeats": repeats,
            "slide_ms": float(np.median(latencies) * 1000), "crops_per_s": throughput}


def print_report(result: dict) -> None:
    print(f"Machine: {describe()}; {result['setup']}")
    print("| input | measure | value |")
    print("|---|---|---|")
    print(f"| one 2592x1944 slide | latency, median of {result['repeats']} | {result['slide_ms']:.0f} ms |")
    print(f"| batches of 32 crops, 224x224 | throughput | {result['crops_per_s']:.1f} img/s |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    print_report(measure(parser.parse_args().repeats))


if __name__ == "__main__":
    main()
