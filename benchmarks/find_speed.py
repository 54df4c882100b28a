"""White-cell finding on BCCD's validation fields at a given scale: how well (F1 at IoU >= 0.5 and by centre)
and how fast, at 640x480 and at ALL-IDB1's 2592x1944 (the same fields enlarged, at the enlarged scale).

    python benchmarks/find_speed.py [--repeats 3]

The scale is the median red-cell box of BCCD's training list. Times are the finder's alone (the image in
memory), the best of --repeats passes over all fields, on one core.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from machine import pin_to_one_core  # benchmarks/machine.py, beside this script

from keras_all.fields.annotations import boxes_of, read_fields
from keras_all.fields.finder import Scale, find_cells
from keras_all.fields.scoring import detection_scores

BCCD = Path(__file__).resolve().parents[2] / "shared" / "data" / "bccd"


def seconds_per_field(images: list[np.ndarray], scale: Scale, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for image in images:
            find_cells(image, scale)
        best = min(best, (time.perf_counter() - start) / len(images))
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    machine = pin_to_one_core()
    bccd = read_fields("bccd", BCCD)
    red = bccd.only("train").marks.query("cls == 'RBC'")
    scale = Scale(float(np.median(np.sqrt((red["x1"] - red["x0"]) * (red["y1"] - red["y0"])))))
    val = bccd.only("val")
    images = [cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB) for path in val.fields["path"]]
    fields = []
    for path, image in zip(val.fields["path"], images):
        found = find_cells(image, scale)
        white = val.marks[(val.marks["cls"] == "WBC") & (val.marks["path"] == path)]
        fields.append((found.boxes, found.scores, boxes_of(white)))
    by_box, by_centre = detection_scores(fields), detection_scores(fields, by="centre")
    enlarged = [cv2.resize(image, (2592, 1944), interpolation=cv2.INTER_LINEAR) for image in images[:10]]
    small = seconds_per_field(images, scale, repeats)
    large = seconds_per_field(enlarged, Scale(scale.red_cell_px * 2592 / 640), repeats)
    print(f"BCCD validation list, {len(images)} fields, {by_box['marked']} white cells, a red cell = "
          f"{scale.red_cell_px:.1f} px ({scale.um_per_px:.4f} um/px); {machine}\n")
    print("| measure | figure | goal |")
    print("|---|---|---|")
    print(f"| F1 at IoU >= 0.5 | {by_box['f1']:.3f} (precision {by_box['precision']:.3f}, recall "
          f"{by_box['recall']:.3f}) | >= 0.98 |")
    print(f"| F1 by centre in box | {by_centre['f1']:.3f} | |")
    print(f"| average precision (IoU >= 0.5) | {by_box['average_precision']:.3f} | |")
    print(f"| ms per 640x480 field | {1000 * small:.1f} | <= 50 |")
    print(f"| ms per 2592x1944 field | {1000 * large:.1f} | <= 500 |")


if __name__ == "__main__":
    main()
