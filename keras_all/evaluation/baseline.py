"""The colour-histogram baseline beside every honest run: a logistic regression on 48 colour numbers.

On the real sets (experiments/README.md) this baseline scores ~0.97, so a model's number means little until it
stands beside the baseline's on the same images. It is fitted by the run's own splits: on each fold's training
part (scored on its validation part) and on all development images (scored on the holdout test), with balanced
class weights as the trainer balances with copies. The final fit is kept in the run (baseline.json) so that
`keras-all evaluate` scores it beside the model on any labelled set.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from keras_all.data import read_image
from keras_all.estimators import ScaledLogisticRegression, development_folds, fold_fits
from keras_all.front import centre_crop
from keras_all.histogram import hsv_histogram
from keras_all.metrics import SUMMARY_KEYS, binary_metrics, mean_sd, youden_cutoff

NAME = "logistic regression on a 48-bin HSV histogram"


def histogram_features(paths, crop: float = 1.0) -> np.ndarray:
    """(n, 48) histograms of the images at ``paths``, each centre-cropped to ``crop`` of its sides as the
    model's front crops it."""
    return np.stack([hsv_histogram(centre_crop(read_image(path), crop)) for path in paths])


def __getattr__(name):
    """``HistogramBaseline``, kept for one release: a ``ScaledLogisticRegression`` (estimators.py)."""
    if name != "HistogramBaseline":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn("keras_all.evaluation.baseline.HistogramBaseline is now "
                  "keras_all.estimators.ScaledLogisticRegression; the old name goes in the next release",
                  FutureWarning, stacklevel=2)
    return ScaledLogisticRegression


def by_splits(features: np.ndarray, splits: pd.DataFrame, name: str = NAME
              ) -> tuple[ScaledLogisticRegression, dict, pd.DataFrame]:
    """A ``ScaledLogisticRegression`` on ``features`` cross-validated by a run's ``splits`` (rows aligned with
    ``features``: label, split, fold); ``name`` says what it reads (the colour histogram by default).

    Returns:
        The final fit (all development rows; its cut-off chosen on the out-of-fold validation predictions),
        its summary (the run's metrics.json layout: folds, validation_mean_sd, fold_models_on_test_mean_sd,
        final_on_test, plus cutoff) and its predictions (out-of-fold validation, then holdout test).
    """
    labels = splits["label"].to_numpy().astype(int)
    test = np.flatnonzero(splits["split"] == "test")
    folds, rows = [], []
    for k, fitted, val in fold_fits(ScaledLogisticRegression(name=name), features, labels, splits):
        p_val = fitted.probability(features[val])
        folds.append({"validation": binary_metrics(labels[val], p_val),
                      "test": binary_metrics(labels[test], fitted.probability(features[test]))})
        rows.append(splits.iloc[val][["path", "label"]].assign(probability=p_val, part="validation", fold=k))
    validation = pd.concat(rows)
    dev = development_folds(splits)[0]
    final = ScaledLogisticRegression(youden_cutoff(validation["label"], validation["probability"]), name)
    final.fit(features[dev], labels[dev])
    p_test = final.probability(features[test])
    predictions = pd.concat([validation, splits.iloc[test][["path", "label"]].assign(
        probability=p_test, part="test", fold="final")], ignore_index=True)
    summary = {"name": name, "cutoff": final.cutoff, "folds": folds,
               "validation_mean_sd": mean_sd([f["validation"] for f in folds], SUMMARY_KEYS),
               "fold_models_on_test_mean_sd": mean_sd([f["test"] for f in folds], SUMMARY_KEYS),
               "final_on_test": binary_metrics(labels[test], p_test),
               "final_on_test_at_cutoff": binary_metrics(labels[test], p_test, final.cutoff)}
    return final, summary, predictions
