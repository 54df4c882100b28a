"""What a run fits by its own splits besides its model, in scikit-learn's shape: ``fit`` returns self, what is
fitted ends in ``_``, a classifier gives ``predict_proba`` and a novelty score ``score_samples``; each is saved as
plain numbers (``to_dict`` / ``from_dict``). ``fold_fits`` fits one on every fold of a run's splits (a
``PredefinedSplit`` of the development rows), as cross-validation fits the model."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, OutlierMixin, clone
from sklearn.covariance import LedoitWolf
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import PredefinedSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


class ScaledLogisticRegression(ClassifierMixin, BaseEstimator):
    """A logistic regression on standardised features with balanced class weights (as the trainer balances its
    classes), kept as plain numbers: ``mean_``, ``scale_``, ``coef_``, ``intercept_``. ``cutoff``: the probability of
    class 1 at or above which it answers 1 (chosen by whoever fits it, on validation predictions); ``name``: what it
    reads, for the reports."""

    def __init__(self, cutoff: float = 0.5, name: str = "logistic regression"):
        self.cutoff, self.name = cutoff, name

    def fit(self, features: np.ndarray, labels: np.ndarray) -> ScaledLogisticRegression:
        pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, class_weight="balanced"))
        pipeline.fit(features, labels)
        scaler, regression = pipeline.named_steps["standardscaler"], pipeline.named_steps["logisticregression"]
        self.mean_, self.scale_ = scaler.mean_, scaler.scale_
        self.coef_, self.intercept_ = regression.coef_[0], float(regression.intercept_[0])
        self.classes_ = regression.classes_
        return self

    def probability(self, features: np.ndarray) -> np.ndarray:
        """P(class 1) of each row."""
        logit = ((np.asarray(features) - self.mean_) / self.scale_) @ self.coef_ + self.intercept_
        return expit(logit)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        p = self.probability(features)
        return np.stack([1 - p, p], axis=1)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return (self.probability(features) >= self.cutoff).astype(int)

    def to_dict(self) -> dict:
        return {"name": self.name, "cutoff": self.cutoff, "mean": self.mean_.tolist(), "scale": self.scale_.tolist(),
                "coef": self.coef_.tolist(), "intercept": self.intercept_}

    @classmethod
    def from_dict(cls, values: dict) -> ScaledLogisticRegression:
        fitted = cls(values["cutoff"], values.get("name", "logistic regression"))
        fitted.mean_, fitted.scale_ = np.asarray(values["mean"]), np.asarray(values["scale"])
        fitted.coef_, fitted.intercept_ = np.asarray(values["coef"]), float(values["intercept"])
        fitted.classes_ = np.array([0, 1])
        return fitted


class MahalanobisNovelty(OutlierMixin, BaseEstimator):
    """How unlike the training rows a row is: its Mahalanobis distance from their mean under a Ledoit-Wolf
    covariance (``location_``, ``precision_``). ``score_samples`` is minus the distance (higher: more like them, as
    scikit-learn's novelty scores go); ``cutoff``: the distance past which a row is flagged."""

    def __init__(self, cutoff: float = np.inf):
        self.cutoff = cutoff

    def fit(self, features: np.ndarray, labels=None) -> MahalanobisNovelty:
        covariance = LedoitWolf().fit(features)
        self.location_, self.precision_ = covariance.location_, covariance.precision_
        return self

    def distance(self, features: np.ndarray) -> np.ndarray:
        centred = np.asarray(features, float) - self.location_
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", centred, self.precision_, centred), 0))

    def score_samples(self, features: np.ndarray) -> np.ndarray:
        return -self.distance(features)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """1 where a row is like the training rows, -1 where it is flagged (scikit-learn's outlier labels)."""
        return np.where(self.distance(features) > self.cutoff, -1, 1)

    def to_dict(self) -> dict:
        return {"mean": self.location_.tolist(), "precision": self.precision_.tolist(), "cutoff": self.cutoff}

    @classmethod
    def from_dict(cls, values: dict) -> MahalanobisNovelty:
        fitted = cls(cutoff=values["cutoff"])
        fitted.location_, fitted.precision_ = np.asarray(values["mean"], float), np.asarray(values["precision"], float)
        return fitted


def development_folds(splits: pd.DataFrame) -> tuple[np.ndarray, PredefinedSplit]:
    """The development rows of a run's ``splits`` (split, fold) and their folds as a ``PredefinedSplit``."""
    dev = np.flatnonzero(splits["split"].to_numpy() == "dev")
    return dev, PredefinedSplit(splits["fold"].to_numpy()[dev])


def fold_fits(estimator, features: np.ndarray, labels: np.ndarray | None,
              splits: pd.DataFrame) -> Iterator[tuple[int, object, np.ndarray]]:
    """For each fold of ``splits``: its number, a clone of ``estimator`` fitted on the other folds' development
    rows, and its own validation rows (indices into ``features``)."""
    dev, folds = development_folds(splits)
    numbers = splits["fold"].to_numpy()[dev]
    for train, validation in folds.split():
        fitted = clone(estimator).fit(features[dev[train]], None if labels is None else labels[dev[train]])
        yield int(numbers[validation[0]]), fitted, dev[validation]
