"""PNG figures (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

STAGES = ("original", "first-spike map", "blurred", "model input")


def _show(axis, image, title):
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] not in (1, 3):
        image = image.mean(axis=-1)  # several spike channels: their mean
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        limit = float(np.abs(image).max()) or 1.0
        signed = image.min() < 0
        axis.imshow(image, cmap="RdBu_r" if signed else "gray", vmin=-limit if signed else 0, vmax=limit)
    else:
        axis.imshow(image)
    axis.set_title(title, fontsize=9)
    axis.axis("off")


def preprocessing_figure(rows: list[dict], path: str | Path, caption: str = "") -> Path:
    """One row per image: original, spike map, blurred map, model input (the paper's Fig. 3)."""
    figure, axes = plt.subplots(len(rows), len(STAGES), figsize=(2.4 * len(STAGES), 2.5 * len(rows)), squeeze=False)
    for axis_row, row in zip(axes, rows):
        for axis, stage in zip(axis_row, STAGES):
            _show(axis, row[stage], f"{stage}\n{row['title']}" if stage == "original" else stage)
    if caption:
        figure.suptitle(caption, fontsize=9)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
