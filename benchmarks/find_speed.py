"""White-cell finding on BCCD: how well (F1 at IoU >= 0.5 and by centre, beside a trivial finder), how well the
red cells measure each field's scale, whether cells cut out on black (the C-NMC sample) are one cell each, and how
fast, at 640x480 and at ALL-IDB1's 2592x1944 (BCCD fields enlarged, at the enlarged scale).

    python benchmarks/find_speed.py [--split val] [--repeats 3]

The given scale is the median red-cell box of BCCD's training list; the truth for a field's estimated scale is
its own median red-cell box (boxes the border cuts left out). The trivial finder thresholds saturation (Otsu) and
keeps every component of at least half a red cell's area, as a colour rule alone would. Times are the best of
--repeats passes over the fields, the image in memory, on one core.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from machine import pin_to_one_core  # benchmarks/machine.py, beside this script

from keras_all.cells.finder import find_cells
from keras_all.cells.scale import Scale, estimate_scale
from keras_all.cells.scoring import detection_scores
from keras_all.data.fields import boxes_of, read_fields

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def trivial_finder(image: np.ndarray, scale: Scale) -> tuple[np.ndarray, np.ndarray]:
    """Boxes of the saturated parts of a field (Otsu's threshold), at least half a red cell large."""
    saturation = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)[..., 1]
    _, mask = cv2.threshold(saturation, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    kept = stats[1:][stats[1:, cv2.CC_STAT_AREA] >= 0.5 * np.pi * (scale.red_cell_px / 2) ** 2].astype(float)
    boxes = np.column_stack([kept[:, 0], kept[:, 1], kept[:, 0] + kept[:, 2], kept[:, 1] + kept[:, 3]])
    return boxes, kept[:, 4]


def best_seconds(images: list[np.ndarray], work, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for image in images:
            work(image)
        best = min(best, (time.perf_counter() - start) / len(images))
    return best


def red_cell_truth(marks) -> dict:
    red = marks[(marks["cls"] == "RBC") & ~marks["truncated"].astype(bool)]
    sizes = np.sqrt((red["x1"] - red["x0"]) * (red["y1"] - red["y0"]))
    return red.assign(size=sizes).groupby("path")["size"].median().to_dict()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="val", choices=["train", "val", "test"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    machine = pin_to_one_core()
    bccd = read_fields("bccd", SHARED / "bccd")
    red = bccd.only("train").marks.query("cls == 'RBC'")
    scale = Scale(float(np.median(np.sqrt((red["x1"] - red["x0"]) * (red["y1"] - red["y0"])))))
    part = bccd.only(args.split)
    images = [cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB) for path in part.fields["path"]]
    truth = [boxes_of(part.marks[(part.marks["cls"] == "WBC") & (part.marks["path"] == p)])
             for p in part.fields["path"]]
    given = [find_cells(image, scale) for image in images]
    estimates = [estimate_scale(image) for image in images]
    sure = [e.red_cell_px for e in estimates if e is not None and e.sure]
    run_median = Scale(float(np.median(sure)), "median of fields")
    own = [find_cells(image, e if e is not None and e.sure else run_median) for image, e in zip(images, estimates)]
    median = [find_cells(image, run_median) for image in images]
    trivial = [trivial_finder(image, scale) for image in images]

    def scores(found, by="iou"):
        return detection_scores([(f.boxes, f.scores, t) for f, t in zip(found, truth)], by=by)

    trivial_scores = {by: detection_scores([(b, s, t) for (b, s), t in zip(trivial, truth)], by=by)
                      for by in ("iou", "centre")}
    sizes = red_cell_truth(part.marks)
    errors = np.array([abs(e.red_cell_px / sizes[p] - 1) if e is not None else np.inf
                       for p, e in zip(part.fields["path"], estimates) if p in sizes])
    sure_errors = np.array([abs(e.red_cell_px / sizes[p] - 1) for p, e in zip(part.fields["path"], estimates)
                            if p in sizes and e is not None and e.sure])
    cnmc = sorted((SHARED / "cnmc-sample").rglob("*.bmp"))
    one_cell = sum(len(find_cells(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB), Scale(100))) == 1 for p in cnmc)
    enlarged = [cv2.resize(image, (2592, 1944), interpolation=cv2.INTER_LINEAR) for image in images[:10]]
    large_scale = Scale(scale.red_cell_px * 2592 / 640)
    times = {
        "find, 640x480": best_seconds(images, lambda i: find_cells(i, scale), args.repeats),
        "estimate the scale, 640x480": best_seconds(images, estimate_scale, args.repeats),
        "find, 2592x1944": best_seconds(enlarged, lambda i: find_cells(i, large_scale), args.repeats),
        "estimate the scale, 2592x1944": best_seconds(enlarged, estimate_scale, args.repeats),
    }
    by_box = scores(given)
    print(f"BCCD {args.split} list, {len(images)} fields, {by_box['marked']} white cells; given scale: a red cell = "
          f"{scale.red_cell_px:.1f} px ({scale.um_per_px:.4f} um/px); {machine}\n")
    print("| measure | finder, given scale | at the fields' median estimate (the default) | at each field's own "
          "(--scale-per-field) | trivial finder | goal |")
    print("|---|---|---|---|---|---|")
    rows = [("F1 at IoU >= 0.5", "f1", "iou", ">= 0.98"), ("precision at IoU >= 0.5", "precision", "iou", ""),
            ("recall at IoU >= 0.5", "recall", "iou", ""),
            ("average precision (IoU >= 0.5)", "average_precision", "iou", ""),
            ("F1 by centre in box", "f1", "centre", "")]
    for label, key, by, goal in rows:
        figures = [scores(found, by)[key] for found in (given, median, own)] + [trivial_scores[by][key]]
        print(f"| {label} | " + " | ".join(f"{f:.3f}" for f in figures) + f" | {goal} |")
    print(f"\nScale estimated on each field (truth: the field's median red-cell box; {len(errors)} fields with one):")
    print(f"within 15% on {np.mean(errors < 0.15):.1%} of fields; {len(sure_errors)} fields sure of their estimate, "
          f"{np.mean(sure_errors < 0.15):.1%} of them within 15%; median of the sure estimates "
          f"{np.median(sure):.1f} px against {np.median(list(sizes.values())):.1f} px (goal: within 15%).")
    print(f"C-NMC sample: exactly one cell found in {one_cell} of {len(cnmc)} images (goal: at least 50).\n")
    print("| time per field | ms | goal |")
    print("|---|---|---|")
    goals = {"find, 640x480": "<= 50 with the estimate", "find, 2592x1944": "<= 500 with the estimate"}
    for label, seconds in times.items():
        goal = goals.get(label, "")
        print(f"| {label} | {1000 * seconds:.1f} | {goal} |")


if __name__ == "__main__":
    main()
