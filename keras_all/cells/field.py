"""The one path a smear field takes in `cells`, `slides` and cell training: its red cells measure it, then its white
cells are found at the scale chosen for it. Read through ``read_image``, a field is decoded once within a command
(``data.io.decoded_once`` holds it between the two looks)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from keras_all.cells.finder import FoundCells, find_cells
from keras_all.cells.scale import Scale, estimate_scale
from keras_all.data.io import BadImageError, read_image
from keras_all.histogram import hsv_histogram

GIVE_SCALE = "--um-per-px (micrometres per pixel) or --red-cell-px (a red cell's diameter)"


def measured_scales(paths: list[str], echo: Callable[[str], None], warn: Callable[[str], None],
                    on_bad_image: str = "skip") -> tuple[dict[str, Scale | None], dict[str, str]]:
    """Each readable field's own scale estimate (None where it shows no red cell), and why each other was
    left out (``on_bad_image`` "error": the first unreadable file stops it)."""
    estimates, unreadable = {}, {}
    for number, path in enumerate(paths, start=1):
        try:
            estimates[path] = estimate_scale(read_image(path))
        except BadImageError as error:
            if on_bad_image == "error":
                raise
            warn(f"warning: left out {error.path}: {error.reason}")
            unreadable[path] = error.reason
        if number % 50 == 0 or number == len(paths):
            echo(f"red cells measured on {number}/{len(paths)} fields")
    return estimates, unreadable


def median_scale(estimates: dict[str, Scale | None], remedy: str = GIVE_SCALE) -> Scale:
    """The median of the fields' sure estimates, with their spread (the interquartile range over the median);
    where none is sure, an error asking for the scale by ``remedy``."""
    sure = [e.red_cell_px for e in estimates.values() if e is not None and e.sure]
    if not sure:
        raise ValueError(f"no field shows enough red cells to measure the scale by ({len(estimates)} tried); "
                         f"give it: {remedy}")
    low, middle, high = np.percentile(sure, [25, 50, 75])
    return Scale(float(middle), "median of the fields", float((high - low) / middle))


def for_field(own: Scale | None, fallback: Scale) -> Scale:
    """A field's own estimate where it is sure of it, else ``fallback``."""
    return own if own is not None and own.sure else fallback


def searched(path: str, scale: Scale) -> tuple[np.ndarray, FoundCells]:
    """The field at ``path`` (its RGB pixels) and its white cells found at ``scale``."""
    image = read_image(path)
    return image, find_cells(image, scale)


def colour_features(image: np.ndarray, found: FoundCells) -> dict:
    """What the field controls read of a field: its white cells, and the colour histograms of the whole field and of
    its background (the pixels of no found cell; the whole field where cells cover it all)."""
    background = image[found.labels == 0][:, None, :]
    background = background if len(background) else image
    return {"white_cells": len(found), **{f"whole_{k}": v for k, v in enumerate(hsv_histogram(image))},
            **{f"background_{k}": v for k, v in enumerate(hsv_histogram(background))}}
