"""What a run fits by its splits besides its model follows scikit-learn's estimator protocol (keras_all.estimators)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_predict

from keras_all.estimators import MahalanobisNovelty, ScaledLogisticRegression, development_folds, fold_fits
from keras_all.evaluation.familiarity import Familiarity


def _splits(n=240, seed=0):
    rng = np.random.default_rng(seed)
    splits = pd.DataFrame({"label": rng.integers(0, 2, n), "split": np.where(rng.random(n) < 0.2, "test", "dev")})
    splits["fold"] = np.where(splits["split"] == "dev", rng.integers(0, 4, n), -1)
    features = rng.normal(size=(n, 6)) + splits["label"].to_numpy()[:, None] * 0.5
    return features, splits


def test_fold_fits_are_cross_val_predict_over_the_runs_development_folds():
    features, splits = _splits()
    labels = splits["label"].to_numpy()
    out_of_fold = np.full(len(splits), np.nan)
    folds = []
    for k, fitted, validation in fold_fits(ScaledLogisticRegression(), features, labels, splits):
        assert set(splits.loc[validation, "fold"]) == {k} and (splits.loc[validation, "split"] == "dev").all()
        out_of_fold[validation] = fitted.predict_proba(features[validation])[:, 1]
        folds.append(k)
    dev, predefined = development_folds(splits)
    expected = cross_val_predict(ScaledLogisticRegression(), features[dev], labels[dev], cv=predefined,
                                 method="predict_proba")[:, 1]
    assert folds == [0, 1, 2, 3] and np.allclose(out_of_fold[dev], expected)
    assert np.isnan(out_of_fold[splits["split"] == "test"]).all()  # the holdout is never predicted out of fold


@pytest.mark.parametrize("estimator", [ScaledLogisticRegression(0.4, "a name"), MahalanobisNovelty(3.0),
                                       Familiarity(64, 3.0)])
def test_each_estimator_fits_to_itself_clones_and_round_trips_as_plain_numbers(estimator):
    features, splits = _splits()
    labels = splits["label"].to_numpy()
    assert estimator.fit(features, labels) is estimator
    assert clone(estimator).get_params() == estimator.get_params()  # its settings, and nothing fitted, carry over
    again = type(estimator).from_dict(estimator.to_dict())
    assert again.get_params() == estimator.get_params()
    if isinstance(estimator, ScaledLogisticRegression):
        assert np.array_equal(again.predict_proba(features), estimator.predict_proba(features))
        assert np.array_equal(estimator.predict(features), (estimator.predict_proba(features)[:, 1] >= 0.4) * 1)
    else:
        assert np.array_equal(again.score_samples(features), estimator.score_samples(features))
        far = features.mean(axis=0) + 50
        assert estimator.predict(far[None])[0] == -1 and estimator.score_samples(far[None])[0] < -3


def test_the_old_name_of_the_baseline_still_imports_for_a_release():
    from keras_all.evaluation import baseline

    with pytest.warns(FutureWarning, match="HistogramBaseline is now keras_all.estimators.ScaledLogisticRegression"):
        old = baseline.HistogramBaseline
    assert old is ScaledLogisticRegression
