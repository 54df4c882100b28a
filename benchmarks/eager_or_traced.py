"""What tracing a train step costs, next to running it eagerly, and what one model per run saves.

    python benchmarks/eager_or_traced.py [--steps 8] [--folds 3]

For two models (the tests' tiny ResNet on 32x32 maps, the demo's on 64x64): the first epoch of a new
traced model less a steady epoch (the trace), a steady traced step, an eager step, and the break-even
(steps below which eager training is over sooner: training/model.EAGER_BELOW_STEPS). Then ``--folds``
trainings of one epoch each: a new model per fold against one FoldModel whose steps trace once.
One process, TensorFlow backend, synthetic maps.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from machine import describe  # noqa: E402  benchmarks/machine.py, beside this script

MODELS = {
    "tiny (tests)": {"model.identity_blocks": 0, "model.widths": ((4, 4, 8), (8, 8, 16), (8, 8, 16)), "size": 32},
    "demo": {"size": 64},
}


def _config(spec: dict):
    from keras_all.config import load_config

    overrides = {k: v for k, v in spec.items() if k != "size"}
    overrides.update({"front.spike_size": spec["size"], "front.input_size": spec["size"]})
    return load_config(preset="demo", overrides=overrides)


def _timed_fit(model, x, y, batch_size) -> float:
    start = time.perf_counter()
    model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)
    return time.perf_counter() - start


def measure(steps: int, folds: int) -> dict:
    import keras
    import numpy as np

    from keras_all.front import Standardizer
    from keras_all.training.model import FoldModel

    rows = {}
    for name, spec in MODELS.items():
        config = _config(spec)
        rng = np.random.default_rng(0)
        n = steps * config.fit.batch_size
        x = (rng.random((n, spec["size"], spec["size"], 1)) < 0.1).astype("float32")
        y = keras.utils.to_categorical(rng.integers(0, 2, n), 2)
        standardizer = Standardizer(config.front).fit(x)
        per_step = {}
        for eager in (False, True):
            _, model = FoldModel(config).start(standardizer, 0, n, run_eagerly=eager)
            first = _timed_fit(model, x, y, config.fit.batch_size)
            steady = min(_timed_fit(model, x, y, config.fit.batch_size) for _ in range(2))
            per_step[eager] = (first - steady, steady / steps)
        trace, traced = per_step[False]
        eager_step = per_step[True][1]
        runs = {}
        for shared in (False, True):
            start = time.perf_counter()
            fold_model = FoldModel(config)
            for seed in range(folds):
                _, model = (fold_model if shared else FoldModel(config)).start(standardizer, seed, n,
                                                                               run_eagerly=False)
                model.fit(x, y, epochs=1, batch_size=config.fit.batch_size, verbose=0)
            runs[shared] = time.perf_counter() - start
        rows[name] = {"trace_s": trace, "traced_step_s": traced, "eager_step_s": eager_step,
                      "break_even_steps": trace / max(eager_step - traced, 1e-9),
                      "new_per_fold_s": runs[False], "one_per_run_s": runs[True]}
    return {"steps": steps, "folds": folds, "rows": rows}


def print_report(result: dict) -> None:
    print(f"Machine: {describe()}; {result['steps']} steps per epoch, {result['folds']} folds of one epoch")
    print("| model | trace s | traced step s | eager step s | break-even steps | "
          f"{result['folds']} folds, new model each s | one FoldModel s |")
    print("|---|---|---|---|---|---|---|")
    for name, r in result["rows"].items():
        print(f"| {name} | {r['trace_s']:.1f} | {r['traced_step_s']:.3f} | {r['eager_step_s']:.3f} | "
              f"{r['break_even_steps']:.0f} | {r['new_per_fold_s']:.1f} | {r['one_per_run_s']:.1f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--folds", type=int, default=3)
    args = parser.parse_args()
    print_report(measure(args.steps, args.folds))


if __name__ == "__main__":
    main()
