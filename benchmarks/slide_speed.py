"""A 2592x1944 slide from its file to a verdict and an overlay: the time `keras-all slides` takes per slide, and
where it goes (decode, scale, finding, crops, the cell model, the overlay written).

    python benchmarks/slide_speed.py --model CELL_RUN [--slides 6] [--repeats 3] [--one-core]

The slides are synthetic ALL-IDB1 slides at its large camera's 2592x1944 (``write_dataset``), written to a
temporary folder; the model is any cell run (its weights do not change the time, its front and size do). The
whole command's time per slide is ``score_slides`` over them all (page and tables included), the best of
--repeats; the stages are timed one by one on the same slides.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from machine import describe, pin_to_one_core  # benchmarks/machine.py, beside this script

from keras_all.cells.crops import cell_crops
from keras_all.cells.finder import find_cells
from keras_all.cells.scale import estimate_scale
from keras_all.commands.slides import score_slides
from keras_all.data.io import read_image
from keras_all.data.synthetic import write_dataset
from keras_all.evaluation.slide_judge import SlideJudge

SIZE = (2592, 1944)
GOAL_SECONDS = 2.0


def large_slides(root: Path, wanted: int) -> list[str]:
    """``wanted`` synthetic ALL-IDB1 slides of SIZE (the writer draws its three camera sizes in turn)."""
    write_dataset("all-idb1", root, 3 * wanted, seed=0)
    paths = [str(p) for p in sorted(root.rglob("*.jpg")) if cv2.imread(str(p)).shape[1::-1] == SIZE]
    return paths[:wanted]


def stages(paths: list[str], model, cells) -> dict[str, float]:
    """Seconds per slide of each stage, summed over ``paths``."""
    spent = dict.fromkeys(["decode", "scale", "find", "crops", "cell model", "overlay written"], 0.0)
    with tempfile.TemporaryDirectory() as out:
        for number, path in enumerate(paths):
            clock = time.perf_counter()
            image = read_image(path)
            spent["decode"] += time.perf_counter() - clock
            clock = time.perf_counter()
            scale = estimate_scale(image)
            spent["scale"] += time.perf_counter() - clock
            clock = time.perf_counter()
            found = find_cells(image, scale)
            spent["find"] += time.perf_counter() - clock
            clock = time.perf_counter()
            crops = cell_crops(image, found, cells.side, cells.pixels, cells.show)
            spent["crops"] += time.perf_counter() - clock
            clock = time.perf_counter()
            p_blast = model.predict(crops)[0] if len(found) else np.zeros(0)
            spent["cell model"] += time.perf_counter() - clock
            clock = time.perf_counter()
            picture = image.copy()
            for outline, p in zip(found.outlines(), p_blast):
                cv2.drawContours(picture, outline, -1, (int(220 * p), int(200 * (1 - p)), 0), 6)
            cv2.imwrite(f"{out}/{number}.jpg", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
            spent["overlay written"] += time.perf_counter() - clock
    return {stage: seconds / len(paths) for stage, seconds in spent.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a cell run folder (`keras-all train --unit cell`)")
    parser.add_argument("--slides", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one-core", action="store_true", help="pin the process to one core")
    args = parser.parse_args()
    machine = pin_to_one_core() if args.one_core else (
        f"Machine: {describe()}, all used; Python {platform.python_version()}, OpenCV {cv2.__version__}")
    judge = SlideJudge.from_run(args.model)
    model, cells = judge.model, judge.cells
    with tempfile.TemporaryDirectory() as tmp:
        paths = large_slides(Path(tmp) / "slides", args.slides)
        model.predict(np.zeros((1, cells.pixels, cells.pixels, 3), np.uint8))  # the first call builds the graph
        whole = float("inf")
        for repeat in range(args.repeats):
            clock = time.perf_counter()
            result = score_slides(pd.DataFrame({"path": paths}), judge, Path(tmp) / f"out{repeat}",
                                  echo=lambda _: None, warn=print)
            whole = min(whole, (time.perf_counter() - clock) / len(paths))
        parts = min((stages(paths, model, cells) for _ in range(args.repeats)), key=lambda s: sum(s.values()))
    print(f"{len(paths)} synthetic ALL-IDB1 slides of {SIZE[0]}x{SIZE[1]}, {result['cells']} white cells; cell model "
          f"{args.model} ({cells.pixels} px crops); {machine}\n")
    print("| per slide | seconds | goal |\n|---|---|---|")
    print(f"| `keras-all slides`, file to verdict, overlay and page | {whole:.2f} | <= {GOAL_SECONDS:g} |")
    for stage, seconds in parts.items():
        print(f"| {stage} | {seconds:.3f} |  |")


if __name__ == "__main__":
    main()
