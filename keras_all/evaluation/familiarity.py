"""The refusal: a score of how unlike the training images an input is, and a cut-off past which a verdict is
flagged as not to be trusted.

The score is the Mahalanobis distance of an image's colour and texture statistics (``layers.ImageStatistics``:
hue, saturation, value and edge histograms, read at the front's image size) from the training images', with a
Ledoit-Wolf covariance; an image with nearly no edges at all (``layers.familiarity.FLAT_SHARE``) is flagged whatever
its distance. It is fitted by the run's own splits, as the colour-histogram baseline is: on each fold's
training part, scoring its validation part; the cut-off is the ``QUANTILE`` of those out-of-fold validation
distances, and the final fit takes every development image. A run keeps it as familiarity.json, an export serves
it beside the verdict (``unfamiliarity``, ``unfamiliar``).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from keras_all.artifacts import FAMILIARITY_JSON
from keras_all.estimators import MahalanobisNovelty, development_folds, fold_fits
from keras_all.front import FrontConfig, load_images
from keras_all.layers import AreaResizing, area_resize_many
from keras_all.layers.familiarity import FEATURES, GROUPS, ImageStatistics, Unfamiliarity, is_flat
from keras_all.run_folder import read_json
from keras_all.tables import na

FAMILIARITY = FAMILIARITY_JSON
QUANTILE = 0.98  # of the out-of-fold validation distances: about 2% of images like the training ones are flagged
CHUNK = 64  # images whose statistics are computed in one call


def image_statistics(images: np.ndarray) -> np.ndarray:
    """``ImageStatistics`` of uint8 RGB images (n, h, w, 3) of one size, as a served model computes them."""
    return keras.ops.convert_to_numpy(ImageStatistics()(images))


def statistics_of_files(paths, front: FrontConfig, batch_size: int = 64) -> np.ndarray:
    """(n, 55) statistics of the files at ``paths``, each read at the front's image size."""
    paths = list(paths)
    return np.concatenate([image_statistics(load_images(paths[i : i + batch_size], front))
                           for i in range(0, len(paths), batch_size)])


class Familiarity(MahalanobisNovelty):
    """The refusal: a ``MahalanobisNovelty`` of images' statistics read at ``image_size``, flagging past ``cutoff``;
    ``judge(images)``, ``assess(statistics)`` and ``layers()`` (the score inside a served model)."""

    def __init__(self, image_size: int = 224, cutoff: float = np.inf):
        super().__init__(cutoff)
        self.image_size = image_size

    def reasons(self, statistics: np.ndarray) -> list[str]:
        """For each image, what makes it most unlike the training images: hue, saturation, brightness or texture."""
        centred = np.asarray(statistics, float) - self.location_
        share = centred * (centred @ self.precision_)
        names = list(GROUPS)
        totals = np.stack([share[:, part].sum(axis=1) for part in GROUPS.values()], axis=1)
        return [names[k] for k in totals.argmax(axis=1)]

    def judge(self, images) -> pd.DataFrame:
        """Raw uint8 RGB images (a batch, or a list of any sizes) -> unfamiliarity, unfamiliar (0/1) and why."""
        images, chunks = iter(images), []
        while chunk := list(itertools.islice(images, CHUNK)):  # read at the image size, scored CHUNK at a time
            chunks.append(image_statistics(area_resize_many(chunk, self.image_size, self.image_size)))
        return self.assess(np.concatenate(chunks) if chunks else np.zeros((0, FEATURES)))

    def assess(self, statistics: np.ndarray) -> pd.DataFrame:
        """``judge`` of images whose statistics (``image_statistics`` at the image size) are already made."""
        flat = _flat(statistics)
        reasons = ["flatness (no edges at all)" if f else reason for f, reason in zip(flat, self.reasons(statistics))]
        return pd.DataFrame({"unfamiliarity": self.distance(statistics),
                             "unfamiliar": self.flagged(statistics).astype(int), "unlike_in": reasons})

    def flagged(self, statistics: np.ndarray) -> np.ndarray:
        """True where an image's statistics pass the cut-off, or say it is flat."""
        return (self.distance(statistics) > self.cutoff) | _flat(statistics)

    def layers(self) -> list[keras.layers.Layer]:
        """The score inside a served model: raw images -> (unfamiliarity, unfamiliar)."""
        return [AreaResizing(self.image_size, self.image_size, name="familiarity_resize"),
                ImageStatistics(name="image_statistics"),
                Unfamiliarity(self.location_, self.precision_, self.cutoff, name="unfamiliarity")]

    def to_dict(self) -> dict:
        return {**super().to_dict(), "image_size": self.image_size}

    @classmethod
    def from_dict(cls, values: dict) -> Familiarity:
        fitted = super().from_dict(values)
        fitted.image_size = values["image_size"]
        return fitted


def familiarity_of(model) -> Familiarity | None:
    """The score fitted by a ``LoadedModel``'s run, where its run or export folder holds one (familiarity.json)."""
    found = model.beside(FAMILIARITY)
    return None if found is None else Familiarity.from_dict(read_json(found))


def _flat(statistics: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(is_flat(np.asarray(statistics, "float32"))) == 1


def by_splits(statistics: np.ndarray, splits: pd.DataFrame, image_size: int) -> tuple[Familiarity, dict]:
    """The score fitted by a run's ``splits`` (rows aligned with ``statistics``: split, fold): the final fit on
    every development row, its cut-off the ``QUANTILE`` of the out-of-fold validation distances; with a summary
    (the cut-off, the share of validation and holdout-test images flagged)."""
    dev, test = development_folds(splits)[0], (splits["split"] == "test").to_numpy()
    validation = np.full(len(splits), np.nan)
    for _, fitted, held in fold_fits(Familiarity(image_size), statistics, None, splits):
        validation[held] = fitted.distance(statistics[held])
    cutoff = float(np.quantile(validation[dev], QUANTILE))
    final = Familiarity(image_size, cutoff).fit(statistics[dev])
    flagged_test = final.flagged(statistics[test])
    summary = {"score": "Mahalanobis distance of hue, saturation, value and edge histograms (Ledoit-Wolf)",
               "quantile": QUANTILE, "cutoff": cutoff, "validation_flagged": float(np.mean(validation[dev] > cutoff)),
               "test_flagged": float(flagged_test.mean()) if test.any() else None, "test_n": int(test.sum()),
               "test_flagged_n": int(flagged_test.sum())}
    return final, summary


def familiarity_lines(run: str | Path) -> list[str]:
    """The report's section on a run's familiarity.json (none where there is none)."""
    path = Path(run) / FAMILIARITY
    if not path.is_file():
        return []
    summary = read_json(path)["summary"]
    test = "n/a" if summary["test_flagged"] is None else (
        f"{summary['test_flagged_n']} of {summary['test_n']} ({na(summary['test_flagged'], 1, percent=True)})")
    return ["## Refusal: inputs unlike the training images",
            f"Every prediction carries an unfamiliarity score: the {summary['score']} from the development images'. "
            f"Cut-off {summary['cutoff']:.4g}, the {summary['quantile']:.0%} quantile of the out-of-fold validation "
            f"images' scores (each fold's fit scoring its validation part; {summary['validation_flagged']:.1%} of "
            f"them past it). Holdout-test images flagged: {test}. `keras-all predict` flags inputs past the cut-off "
            "and says why; an export serves the score as `unfamiliarity` and `unfamiliar`.", ""]
