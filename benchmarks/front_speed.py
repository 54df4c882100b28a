"""Preprocessing front speed at 224x224, batch 32, on this machine, measured side by side in one run.

    python benchmarks/front_speed.py [--images 256] [--repeats 3]

Rows: the per-image NumPy/OpenCV reference (tests/reference.py: spike map, blur, z-score); the front
(FirstSpikeGabor + blur + z-score, on 224x224 images, so its resize to 224 is skipped), with and without
PCA 500; the bare paper ResNet (224x224x1). Each Keras model is timed two ways: ``model.predict`` (what
users call) and a compiled call on a tensor already in memory (the compute alone). Then one row per spike
mode: its front (spike maps + z-score) against the ResNet of as many input channels as the mode feeds it,
both compiled.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
from machine import describe  # benchmarks/machine.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from keras_all.data import load_dataset, read_image  # noqa: E402
from keras_all.data.synthetic import write_dataset  # noqa: E402
from keras_all.front import COLOUR_SPIKE_MODES, SPIKE_MODES, FrontConfig  # noqa: E402
from keras_all.models import SpikePreprocessor, build_resnet  # noqa: E402
from tests.reference import reference_blur, reference_spikes  # noqa: E402


def real_or_synthetic_images(count: int) -> tuple[np.ndarray, str]:
    aria = ROOT.parent / "shared" / "data" / "aria-all"
    if aria.is_dir():
        paths = load_dataset("aria", aria).samples["path"]
        source = "Aria 2021 (real, 224x224)"
    else:
        out = Path(tempfile.mkdtemp(prefix="keras-all-bench-aria-"))  # synth writes only into a new folder
        paths = write_dataset("aria", out, count, seed=0)["path"]
        source = "synthetic Aria layout (224x224)"
    chosen = paths.sample(n=min(count, len(paths)), random_state=0)
    return np.stack([read_image(p) for p in chosen]), source


def predict_rate(model, images, repeats):
    model.predict(images[:64], batch_size=32, verbose=0)
    start = time.perf_counter()
    for _ in range(repeats):
        model.predict(images, batch_size=32, verbose=0)
    return repeats * len(images) / (time.perf_counter() - start)


def compiled_rate(model, images, repeats):
    """Images/s of a compiled forward pass over in-memory batches of 32."""
    import tensorflow as tf

    call = tf.function(lambda x: model(x, training=False))
    batches = [tf.constant(images[i : i + 32]) for i in range(0, len(images) - 31, 32)]
    call(batches[0])
    start = time.perf_counter()
    for _ in range(repeats):
        for batch in batches:
            result = call(batch)
    result.numpy()
    return repeats * 32 * len(batches) / (time.perf_counter() - start)


def reference_rate(images, mean, std):
    start = time.perf_counter()
    for image in images:
        maps = reference_blur(reference_spikes(image, "first_spike"))
        (maps - mean) / std
    return len(images) / (time.perf_counter() - start)


def fitted_front(images, front: FrontConfig):
    """The preprocessor fitted on ``images`` as a model of 224x224 images, and its standardizer."""
    preprocessor = SpikePreprocessor.fitted_on(images, front)
    inputs = keras.Input((224, 224, 3), dtype="uint8")
    return keras.Model(inputs, preprocessor(inputs)), preprocessor.standardizer


def random_maps(count: int, channels: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((count, 224, 224, channels)).astype("float32")


def measure_modes(images, fit, repeats) -> dict:
    """Per spike mode: compiled img/s of its front and of the ResNet on its channels."""
    rows = {}
    for mode in (*SPIKE_MODES, *COLOUR_SPIKE_MODES):
        front, _ = fitted_front(fit, FrontConfig(mode=mode))
        channels = FrontConfig(mode=mode).model_channels
        rows[mode] = (channels, compiled_rate(front, images, repeats),
                      compiled_rate(build_resnet((224, 224, channels)), random_maps(len(images), channels), repeats))
    return rows


def measure(images_n: int = 256, fit_n: int = 512, repeats: int = 3, mode_fit_n: int = 64) -> dict:
    """img/s of the reference, the front (with and without PCA 500) and the bare ResNet, side by side; then
    every spike mode's front and ResNet (standardizers fitted on ``mode_fit_n`` images: 60-channel maps are
    large)."""
    import tensorflow as tf

    images, source = real_or_synthetic_images(images_n + fit_n)
    fit, images = images[:fit_n], images[fit_n:]
    plain, plain_fit = fitted_front(fit, FrontConfig())
    with_pca, _ = fitted_front(fit, FrontConfig(pca_components=500))
    resnet = build_resnet((224, 224, 1))
    rows = {"reference": (reference_rate(images[:8], plain_fit.mean_, np.sqrt(plain_fit.variance_)), None)}
    for name, model, data in (("front", plain, images), ("front_pca", with_pca, images),
                              ("resnet", resnet, random_maps(len(images), 1))):
        rows[name] = (predict_rate(model, data, repeats), compiled_rate(model, data, repeats))
    return {"rows": rows, "modes": measure_modes(images, fit[:mode_fit_n], repeats),
            "setup": f"TensorFlow {tf.__version__}, Keras {keras.__version__}; images: {source}, "
                     f"{len(images)} timed, {len(fit)} for fitting"}


NAMES = {"reference": "per-image reference (NumPy/OpenCV)", "front": "front: spike + blur + z-score",
         "front_pca": "front + PCA 500", "resnet": "bare ResNet (224x224x1)"}


def print_report(result: dict) -> None:
    rows = result["rows"]
    print(f"Machine: {describe()}; {result['setup']}")
    print("| stage | predict img/s | compiled img/s |")
    print("|---|---|---|")
    for key, (predicted, compiled) in rows.items():
        print(f"| {NAMES[key]} | {predicted:.1f} | {'-' if compiled is None else f'{compiled:.1f}'} |")
    print()
    print(f"front vs reference (predict): {rows['front'][0] / rows['reference'][0]:.0f}x faster (goal >= 20x)")
    print(f"front time per image as a share of the ResNet's: predict {rows['resnet'][0] / rows['front'][0]:.0%}, "
          f"compiled {rows['resnet'][1] / rows['front'][1]:.0%} (goal <= 10%); with PCA 500: predict "
          f"{rows['resnet'][0] / rows['front_pca'][0]:.0%}, compiled {rows['resnet'][1] / rows['front_pca'][1]:.0%}")
    print()
    print("| spike mode | ResNet input channels | front img/s | ResNet img/s | front time / ResNet time (goal <= 10%) "
          "|")
    print("|---|---|---|---|---|")
    for mode, (channels, front, resnet) in result["modes"].items():
        print(f"| {mode} | {channels} | {front:.1f} | {resnet:.1f} | {resnet / front:.0%} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--fit-images", type=int, default=512, help="training images for z-score and PCA 500")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print_report(measure(args.images, args.fit_images, args.repeats))


if __name__ == "__main__":
    main()
