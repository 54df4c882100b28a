"""`keras-all preprocess`: the paper's Fig. 3 for a few images of a data set."""

from __future__ import annotations

from pathlib import Path

import keras
import pandas as pd

from keras_all.data import read_image
from keras_all.evaluation.plots import preprocessing_figure
from keras_all.front import RAW_MODES, FrontConfig, fit_front
from keras_all.training.arrays import load_images  # images of any size, resized to stack into one batch


def pick(samples: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Up to ``n`` images, alternating classes, drawn with ``seed``."""
    shuffled = samples.sample(frac=1.0, random_state=seed)
    ranked = shuffled.assign(_turn=shuffled.groupby("label").cumcount()).sort_values(["_turn", "label"])
    return ranked.head(n).drop(columns="_turn")


def write_figure3(samples: pd.DataFrame, config: FrontConfig, out: Path, n: int = 8, fit_n: int = 64,
                  seed: int = 0) -> list[Path]:
    """Per-image PNGs and a contact sheet; z-score (and PCA) fitted on up to ``fit_n`` images of the set."""
    shown = pick(samples, n, seed)
    fit_rows = samples.sample(n=min(fit_n, len(samples)), random_state=seed)

    front = fit_front(load_images(fit_rows["path"], config.spike_size), config, random_state=seed).model
    if config.mode in RAW_MODES:  # the ablations' raw input: no spike map, no blur
        names = {config.mode: f"{config.mode} input"}
    else:
        names = {"first_spike_gabor": "first-spike map", "gaussian_blur": "blurred"}
    stages = keras.Model(front.input, [front.get_layer(layer).output for layer in names] + [front.output])
    outputs = stages.predict(load_images(shown["path"], config.spike_size), verbose=0)
    if config.mode == "spike_wave":
        outputs[0] = outputs[0][:, 0]  # the first step of the wave
    out.mkdir(parents=True, exist_ok=True)
    rows, written = [], []
    for i, row in enumerate(shown.itertuples()):
        figure_row = {"title": f"{Path(row.path).name} ({row.class_name})", "original": read_image(row.path)}
        figure_row.update({title: stage[i] for title, stage in zip([*names.values(), "model input"], outputs)})
        rows.append(figure_row)
        written.append(preprocessing_figure([figure_row], out / f"{i:02d}_{Path(row.path).stem}.png"))
    caption = (f"{config.mode}, spike size {config.spike_size}, input {config.input_size}, z-score"
               f"{' + PCA ' + str(config.pca_components) if config.pca_components else ''} fitted on "
               f"{len(fit_rows)} images of the set")
    written.append(preprocessing_figure(rows, out / "contact_sheet.png", caption))
    return written
