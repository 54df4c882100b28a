"""Metrics against independent facts: hand counts, scikit-learn, a direct DeLong, published Wilson bounds."""

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from keras_all.metrics import (
    binary_metrics,
    delong,
    high_sensitivity_cutoff,
    wilson,
    youden_cutoff,
)


def test_hand_computed_confusion_and_tables():
    labels = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    probabilities = [0.9, 0.8, 0.4, 0.6, 0.1, 0.7, 0.2, 0.3, 0.55, 0.05]
    m = binary_metrics(labels, probabilities, cutoff=0.5)
    assert (m["tp"], m["fn"], m["tn"], m["fp"]) == (3, 1, 4, 2)
    assert m["accuracy"] == pytest.approx(0.7) and m["sensitivity"] == pytest.approx(0.75)
    assert m["specificity"] == pytest.approx(4 / 6) and m["precision"] == pytest.approx(0.6)
    normal = m["per_class"]["Normal"]
    assert normal["sensitivity"] == pytest.approx(4 / 6) and normal["precision"] == pytest.approx(0.8)
    assert m["per_class"]["Average"]["f1"] == pytest.approx((2 * 3 / 9 + 2 * 4 / 11) / 2)
    predicted = (np.array(probabilities) >= 0.5).astype(int)
    assert m["weighted_f1"] == pytest.approx(f1_score(labels, predicted, average="weighted"))
    assert m["balanced_accuracy"] == pytest.approx((0.75 + 4 / 6) / 2)


def test_auc_equals_scikit_learn_with_ties():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = np.round(rng.random(200) * 0.6 + labels * 0.3, 1)  # rounding makes many ties
    assert delong(labels, scores)[0] == pytest.approx(roc_auc_score(labels, scores))


def _direct_delong_variance(labels, scores):
    """DeLong et al. (1988) structural components, O(m*n)."""
    positive, negative = scores[labels == 1], scores[labels == 0]
    psi = (positive[:, None] > negative[None, :]) + 0.5 * (positive[:, None] == negative[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return v10.var(ddof=1) / len(positive) + v01.var(ddof=1) / len(negative)


@pytest.mark.parametrize("seed", range(3))
def test_fast_delong_variance_equals_the_direct_computation(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 150)
    scores = np.round(rng.normal(labels * 0.8, 1.0), 1)
    assert delong(labels, scores)[1] == pytest.approx(_direct_delong_variance(labels, scores), rel=1e-10)


@pytest.mark.parametrize(
    "k, n, low, high",  # Newcombe (1998), Statistics in Medicine 17:857, Table I, Wilson score method
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_matches_published_values(k, n, low, high):
    bounds = wilson(k, n)
    assert bounds == pytest.approx([low, high], abs=5e-5)


def test_perfect_and_constant_predictors_give_no_nan():
    labels = np.array([0, 0, 0, 1, 1, 1])
    perfect = binary_metrics(labels, labels.astype(float))
    assert perfect["auc"] == 1.0 and perfect["auc_ci"] == [1.0, 1.0] and perfect["accuracy"] == 1.0
    constant = binary_metrics(labels, np.full(6, 0.3))
    assert constant["auc"] == 0.5 and constant["sensitivity"] == 0.0 and constant["precision"] is None
    assert constant["per_class"]["Cancer"]["f1"] == 0.0 and constant["weighted_f1"] is not None
    one_class = binary_metrics(np.ones(4), np.full(4, 0.9))
    assert one_class["auc"] is None and one_class["specificity"] is None and one_class["specificity_ci"] is None
    for value in (perfect, constant, one_class):
        flat = [v for v in value.values() if isinstance(v, float)]
        assert not any(np.isnan(flat))


def test_cutoffs_are_chosen_on_validation():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    probabilities = np.array([0.1, 0.2, 0.35, 0.6, 0.3, 0.7, 0.8, 0.9])
    assert youden_cutoff(labels, probabilities) == pytest.approx(0.7)
    cutoff = high_sensitivity_cutoff(labels, probabilities, target=0.99)
    assert cutoff == pytest.approx(0.3)  # the highest cut-off that still catches every positive
    assert binary_metrics(labels, probabilities, cutoff)["sensitivity"] == 1.0
    assert high_sensitivity_cutoff(labels, probabilities, target=0.75) == pytest.approx(0.7)
