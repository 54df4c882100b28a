"""What a trained run adds up to, from the folds' own results in memory: the run's predictions (out-of-fold
validation, then the delivered model's holdout test), its operating points, the fold ensemble on the holdout test,
and, under the honest protocol, the colour-histogram baseline by the same splits with the paired tests.
``keras_all.api`` writes it; the report renders it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from keras_all.estimators import ScaledLogisticRegression
from keras_all.evaluation.baseline import by_splits, histogram_features
from keras_all.evaluation.comparison import paired_tests
from keras_all.evaluation.operating_points import operating_points
from keras_all.metrics import binary_metrics
from keras_all.run_folder import VALIDATED_POINT
from keras_all.training.cross_validate import TrainedRun
from keras_all.training.trainer import FoldResult

COLUMNS = ["path", "subject", "label", "probability", "prediction", "fold", "part"]


@dataclass(frozen=True)
class RunResult:
    """A finished run's figures.

    Attributes:
        metrics: what metrics.json holds (the trainer's summary, the delivered model, the fold ensemble on the
            holdout test, operating points and, honest runs, the baseline and the paired tests).
        predictions: predictions.csv, decided at the validated cut-off.
        baseline: the colour-histogram baseline's final fit (honest runs), else None.
        baseline_predictions: its out-of-fold validation and holdout-test predictions, else None.
    """

    metrics: dict
    predictions: pd.DataFrame
    baseline: ScaledLogisticRegression | None = None
    baseline_predictions: pd.DataFrame | None = None

    @property
    def cutoff(self) -> float:
        return self.metrics["operating_points"][VALIDATED_POINT]["cutoff"]


def assess(trained: TrainedRun) -> RunResult:
    """The figures of ``trained``: its delivered model is its configuration's ``final`` (``refit`` or ``ensemble``),
    and the baseline's histograms are cropped as its front crops."""
    delivered = trained.config.run.final
    predictions = run_predictions(trained, delivered)
    points = operating_points(predictions)
    cutoff = points[VALIDATED_POINT]["cutoff"]
    ensemble = fold_ensemble_test(trained.folds)
    metrics = {**trained.summary, "delivered": delivered,
               "ensemble_on_test": binary_metrics(ensemble["label"], ensemble["probability"])}
    baseline = baseline_predictions = None
    if not trained.summary["leaky"]:
        features = histogram_features(trained.splits["path"], trained.config.front.crop)
        baseline, summary, baseline_predictions = by_splits(features, trained.splits)
        test = predictions[predictions["part"] == "test"]
        both = test.merge(baseline_predictions.query("part == 'test'"), on="path", suffixes=("", "_baseline"))
        metrics.update(baseline=summary, versus_baseline=paired_tests(
            both["label"], both["probability"], cutoff, both["probability_baseline"], baseline.cutoff))
    metrics["operating_points"] = points
    decided = predictions.assign(prediction=(predictions["probability"] >= cutoff).astype(int))
    return RunResult(metrics, decided, baseline, baseline_predictions)


def run_predictions(trained: TrainedRun, delivered: str = "refit") -> pd.DataFrame:
    """Out-of-fold validation predictions of the fold models, then the delivered model's test predictions: the
    final model's (``refit``) or the mean of the fold models' probabilities (``ensemble``)."""
    parts = [fold.predictions.query("part == 'validation'").assign(fold=k) for k, fold in enumerate(trained.folds)]
    parts.append(trained.final.predictions.assign(fold="final") if delivered == "refit"
                 else fold_ensemble_test(trained.folds))
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def fold_ensemble_test(folds: list[FoldResult]) -> pd.DataFrame:
    """The fold models' mean probability for each holdout-test image (what ``FoldEnsemble`` predicts), at 0.5."""
    tests = [fold.predictions.query("part == 'test'").reset_index(drop=True) for fold in folds]
    probability = np.mean([t["probability"].to_numpy() for t in tests], axis=0)
    return tests[0].assign(probability=probability, prediction=(probability >= 0.5).astype(int), fold="ensemble")
