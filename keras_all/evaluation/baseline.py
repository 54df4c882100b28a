"""The colour-histogram baseline beside every honest run: a logistic regression on 48 colour numbers.

On the real sets (experiments/README.md) this baseline scores ~0.97, so a model's number means little until it
stands beside the baseline's on the same images. It is fitted by the run's own splits: on each fold's training
part (scored on its validation part) and on all development images (scored on the holdout test), with balanced
class weights as the trainer balances with copies. The final fit is kept in the run (baseline.json) so that
`keras-all evaluate` scores it beside the model on any labelled set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from keras_all.data import read_image
from keras_all.front import centre_crop
from keras_all.histogram import hsv_histogram
from keras_all.metrics import SUMMARY_KEYS, binary_metrics, mean_sd, youden_cutoff

NAME = "logistic regression on a 48-bin HSV histogram"


def histogram_features(paths, crop: float = 1.0) -> np.ndarray:
    """(n, 48) histograms of the images at ``paths``, each centre-cropped to ``crop`` of its sides as the
    model's front crops it."""
    return np.stack([hsv_histogram(centre_crop(read_image(path), crop)) for path in paths])


def _model():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, class_weight="balanced"))


class HistogramBaseline:
    """A fitted baseline: ``HistogramBaseline().fit(features, labels)``; ``probability`` of ALL; its cut-off
    (Youden's J on its out-of-fold validation predictions, set by ``by_splits``); saved as plain numbers."""

    def __init__(self, cutoff: float = 0.5):
        self.cutoff = cutoff

    def fit(self, features: np.ndarray, labels: np.ndarray) -> HistogramBaseline:
        pipeline = _model().fit(features, labels)
        scaler, regression = pipeline.named_steps["standardscaler"], pipeline.named_steps["logisticregression"]
        self.mean_, self.scale_ = scaler.mean_, scaler.scale_
        self.coef_, self.intercept_ = regression.coef_[0], float(regression.intercept_[0])
        return self

    def probability(self, features: np.ndarray) -> np.ndarray:
        logit = ((np.asarray(features) - self.mean_) / self.scale_) @ self.coef_ + self.intercept_
        return expit(logit)

    def to_dict(self) -> dict:
        return {"name": NAME, "cutoff": self.cutoff, "mean": self.mean_.tolist(), "scale": self.scale_.tolist(),
                "coef": self.coef_.tolist(), "intercept": self.intercept_}

    @classmethod
    def from_dict(cls, values: dict) -> HistogramBaseline:
        baseline = cls(values["cutoff"])
        baseline.mean_, baseline.scale_ = np.asarray(values["mean"]), np.asarray(values["scale"])
        baseline.coef_, baseline.intercept_ = np.asarray(values["coef"]), float(values["intercept"])
        return baseline


def by_splits(features: np.ndarray, splits: pd.DataFrame) -> tuple[HistogramBaseline, dict, pd.DataFrame]:
    """The baseline cross-validated by a run's ``splits`` (rows aligned with ``features``: label, split, fold).

    Returns:
        The final fit (all development rows; its cut-off chosen on the out-of-fold validation predictions),
        its summary (the run's metrics.json layout: folds, validation_mean_sd, fold_models_on_test_mean_sd,
        final_on_test, plus cutoff) and its predictions (out-of-fold validation, then holdout test).
    """
    labels = splits["label"].to_numpy().astype(int)
    dev, test = np.flatnonzero(splits["split"] == "dev"), np.flatnonzero(splits["split"] == "test")
    folds, rows = [], []
    for k in sorted(splits.loc[splits["fold"] >= 0, "fold"].unique()):
        train = np.flatnonzero((splits["split"] == "dev") & (splits["fold"] != k))
        val = np.flatnonzero(splits["fold"] == k)
        fitted = HistogramBaseline().fit(features[train], labels[train])
        p_val = fitted.probability(features[val])
        folds.append({"validation": binary_metrics(labels[val], p_val),
                      "test": binary_metrics(labels[test], fitted.probability(features[test]))})
        rows.append(splits.iloc[val][["path", "label"]].assign(probability=p_val, part="validation", fold=int(k)))
    validation = pd.concat(rows)
    final = HistogramBaseline(youden_cutoff(validation["label"], validation["probability"]))
    final.fit(features[dev], labels[dev])
    p_test = final.probability(features[test])
    predictions = pd.concat([validation, splits.iloc[test][["path", "label"]].assign(
        probability=p_test, part="test", fold="final")], ignore_index=True)
    summary = {"name": NAME, "cutoff": final.cutoff, "folds": folds,
               "validation_mean_sd": mean_sd([f["validation"] for f in folds], SUMMARY_KEYS),
               "fold_models_on_test_mean_sd": mean_sd([f["test"] for f in folds], SUMMARY_KEYS),
               "final_on_test": binary_metrics(labels[test], p_test),
               "final_on_test_at_cutoff": binary_metrics(labels[test], p_test, final.cutoff)}
    return final, summary, predictions
