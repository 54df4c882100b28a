"""`keras-all preprocess`: the paper's Fig. 3 for a few images of a data set."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from keras_all.artifacts import CONTACT_SHEET_PNG
from keras_all.data import read_image
from keras_all.evaluation.plots import preprocessing_figure
from keras_all.front import FrontConfig, load_images
from keras_all.models import SpikePreprocessor


def pick(samples: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Up to ``n`` images, alternating classes, drawn with ``seed``."""
    shuffled = samples.sample(frac=1.0, random_state=seed)
    ranked = shuffled.assign(_turn=shuffled.groupby("label").cumcount()).sort_values(["_turn", "label"])
    return ranked.head(n).drop(columns="_turn")


def write_figure3(samples: pd.DataFrame, config: FrontConfig, out: Path, n: int = 8, fit_n: int = 64,
                  seed: int = 0) -> list[Path]:
    """Per-image PNGs and a contact sheet of the paper's Fig. 3.

    Args:
        samples: the data set's samples table (path, label, class_name).
        config: the front to show.
        out: the folder for the PNGs (made if missing).
        n: images shown, alternating classes.
        fit_n: images of the set on which the z-score (and PCA) are fitted.
        seed: which images are shown and fitted on.

    Returns:
        The PNGs written, the contact sheet last.
    """
    shown = pick(samples, n, seed)
    fit_rows = samples.sample(n=min(fit_n, len(samples)), random_state=seed)

    preprocessor = SpikePreprocessor.fitted_on(load_images(fit_rows["path"], config), config, seed)
    stages = preprocessor.stages(load_images(shown["path"], config))
    if config.mode == "spike_wave":
        stages["first-spike map"] = stages["first-spike map"][:, 0]  # the first step of the wave
    out.mkdir(parents=True, exist_ok=True)
    rows, written = [], []
    for i, row in enumerate(shown.itertuples()):
        figure_row = {"title": f"{Path(row.path).name} ({row.class_name})", "original": read_image(row.path)}
        figure_row.update({title: stage[i] for title, stage in stages.items()})
        rows.append(figure_row)
        written.append(preprocessing_figure([figure_row], out / f"{i:02d}_{Path(row.path).stem}.png"))
    caption = (f"{config.mode}, spike size {config.spike_size}, input {config.input_size}, z-score"
               f"{' + PCA ' + str(config.pca_components) if config.pca_components else ''} fitted on "
               f"{len(fit_rows)} images of the set")
    written.append(preprocessing_figure(rows, out / CONTACT_SHEET_PNG, caption))
    return written
