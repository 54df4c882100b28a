"""Binary metrics from probabilities (label 1 = ALL), with confidence intervals and operating points.

- Wilson score intervals (SciPy's implementation) for accuracy, sensitivity and specificity;
- ROC AUC with a DeLong interval from the fast midrank algorithm (Sun & Xu 2014), on probabilities;
- the paper's Tables 4 and 5: per class ("Cancer" = ALL, "Normal") and their average;
- cut-offs chosen on validation data only (Youden's J, or the highest cut-off whose sensitivity
  reaches a target), then applied unchanged to test data;
- paired tests of two models on the same images: DeLong's test of their AUCs (DeLong, DeLong &
  Clarke-Pearson 1988) and McNemar's exact test of their accuracies at their cut-offs.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest, norm, rankdata
from sklearn.metrics import confusion_matrix, roc_curve

LEVEL = 0.95
# The metrics every summary shows, in the order of the reports' tables.
SUMMARY_KEYS = ("accuracy", "sensitivity", "specificity", "precision", "f1", "auc", "balanced_accuracy",
                "weighted_f1")
TABLE_KEYS = SUMMARY_KEYS[:6]


def _ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def confusion(labels, predicted) -> dict:
    """tp, tn, fp, fn of 0/1 predictions against 0/1 labels (1 = ALL)."""
    matrix = confusion_matrix(np.asarray(labels).astype(int), np.asarray(predicted).astype(int), labels=[0, 1])
    (tn, fp), (fn, tp) = matrix.tolist()
    return {"tp": tp, "tn": tn, "fp": fp, "fn": fn}


def wilson(successes: int, trials: int, level: float = LEVEL) -> list[float] | None:
    """Wilson score interval of a proportion; None when there are no trials."""
    if trials == 0:
        return None
    interval = binomtest(int(successes), int(trials)).proportion_ci(confidence_level=level, method="wilson")
    return [float(interval.low), float(interval.high)]


def _placements(labels, scores) -> tuple[float, np.ndarray, np.ndarray]:
    """ROC AUC and DeLong's structural components: per positive, the share of negatives it outranks (V10);
    per negative, the share of positives that outrank it (V01); ties count half."""
    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, dtype=float)
    positive, negative = scores[labels == 1], scores[labels == 0]
    m, n = len(positive), len(negative)
    if m == 0 or n == 0:
        raise ValueError("AUC needs both classes among the labels")
    joint = rankdata(np.concatenate([positive, negative]))
    auc = (joint[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (joint[:m] - rankdata(positive)) / n
    v01 = 1 - (joint[m:] - rankdata(negative)) / m
    return float(auc), v10, v01


def delong(labels, scores) -> tuple[float, float | None]:
    """ROC AUC and its DeLong variance; the variance is None with fewer than 2 cases of a class."""
    auc, v10, v01 = _placements(labels, scores)
    if len(v10) < 2 or len(v01) < 2:
        return auc, None
    return auc, float(v10.var(ddof=1) / len(v10) + v01.var(ddof=1) / len(v01))


def paired_delong(labels, scores_a, scores_b, level: float = LEVEL) -> dict | None:
    """DeLong's test of two AUCs on the same images: both AUCs, their difference (a - b) with its interval, and
    the two-sided p-value; None with fewer than 2 cases of a class."""
    labels = np.asarray(labels).astype(int)
    if min(np.sum(labels == 1), np.sum(labels == 0)) < 2:
        return None
    auc_a, v10_a, v01_a = _placements(labels, scores_a)
    auc_b, v10_b, v01_b = _placements(labels, scores_b)
    difference = auc_a - auc_b
    variance = (v10_a - v10_b).var(ddof=1) / len(v10_a) + (v01_a - v01_b).var(ddof=1) / len(v01_a)
    if variance <= 0:  # the two rank every pair alike
        return {"auc_a": auc_a, "auc_b": auc_b, "difference": difference, "ci": [difference, difference],
                "p_value": 1.0 if difference == 0 else 0.0}
    sd = float(np.sqrt(variance))
    half = norm.ppf(0.5 + level / 2) * sd
    return {"auc_a": auc_a, "auc_b": auc_b, "difference": difference, "ci": [difference - half, difference + half],
            "p_value": float(2 * norm.sf(abs(difference) / sd))}


def mcnemar(labels, predicted_a, predicted_b) -> dict:
    """McNemar's exact test of two classifiers' 0/1 predictions on the same images: both accuracies, the images
    only a got right and only b got right, and the two-sided p-value (binomial on the discordant pairs)."""
    labels = np.asarray(labels).astype(int)
    right_a, right_b = np.asarray(predicted_a).astype(int) == labels, np.asarray(predicted_b).astype(int) == labels
    only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    p_value = 1.0 if only_a + only_b == 0 else float(binomtest(only_a, only_a + only_b).pvalue)
    return {"accuracy_a": float(right_a.mean()), "accuracy_b": float(right_b.mean()), "only_a_right": only_a,
            "only_b_right": only_b, "p_value": p_value}


def auc_with_ci(labels, scores, level: float = LEVEL) -> dict | None:
    labels = np.asarray(labels).astype(int)
    if len(np.unique(labels)) < 2:
        return None
    auc, variance = delong(labels, scores)
    if variance is None:
        return {"auc": auc, "ci": None}
    half = norm.ppf(0.5 + level / 2) * np.sqrt(variance)
    return {"auc": auc, "ci": [max(0.0, auc - half), min(1.0, auc + half)]}


def _class_row(tp, tn, fp, fn) -> dict:
    return {
        "accuracy": _ratio(tp + tn, tp + tn + fp + fn),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "precision": _ratio(tp, tp + fp),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def class_table(counts: dict) -> dict:
    """The paper's Tables 4/5: each class taken as the positive one, and their (macro) average."""
    cancer = _class_row(counts["tp"], counts["tn"], counts["fp"], counts["fn"])
    normal = _class_row(counts["tn"], counts["tp"], counts["fn"], counts["fp"])
    average = {k: None if cancer[k] is None or normal[k] is None else (cancer[k] + normal[k]) / 2 for k in cancer}
    return {"Cancer": cancer, "Normal": normal, "Average": average}


def binary_metrics(labels, probabilities, cutoff: float = 0.5) -> dict:
    """Everything the reports show for one set of predictions at one cut-off. A ratio with an empty
    denominator is None (never NaN); AUC is None with a single class present."""
    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities, dtype=float)
    counts = confusion(labels, probabilities >= cutoff)
    tp, tn, fp, fn = counts["tp"], counts["tn"], counts["fp"], counts["fn"]
    table = class_table(counts)
    cancer, normal = table["Cancer"], table["Normal"]
    positives, negatives = tp + fn, tn + fp
    weighted = None if None in (cancer["f1"], normal["f1"]) else (
        (positives * cancer["f1"] + negatives * normal["f1"]) / len(labels))
    balanced = None if None in (cancer["sensitivity"], cancer["specificity"]) else (
        (cancer["sensitivity"] + cancer["specificity"]) / 2)
    auc = auc_with_ci(labels, probabilities)
    return {
        "n": int(len(labels)), **counts, "cutoff": float(cutoff),
        **cancer,
        "accuracy_ci": wilson(tp + tn, len(labels)),
        "sensitivity_ci": wilson(tp, positives),
        "specificity_ci": wilson(tn, negatives),
        "balanced_accuracy": balanced,
        "weighted_f1": weighted,
        "auc": None if auc is None else auc["auc"],
        "auc_ci": None if auc is None else auc["ci"],
        "per_class": table,
    }


def youden_cutoff(labels, probabilities) -> float:
    """The cut-off maximising sensitivity + specificity - 1 (on validation data)."""
    fpr, tpr, thresholds = roc_curve(labels, probabilities)
    return float(min(thresholds[np.argmax(tpr - fpr)], 1.0))


def high_sensitivity_cutoff(labels, probabilities, target: float = 0.99) -> float:
    """The highest cut-off whose sensitivity (on validation data) is at least ``target``."""
    labels, probabilities = np.asarray(labels).astype(int), np.asarray(probabilities, dtype=float)
    positives = np.sort(probabilities[labels == 1])
    if len(positives) == 0:
        raise ValueError("a sensitivity target needs positive cases in the validation data")
    allowed_misses = int(np.floor((1 - target) * len(positives) + 1e-9))
    return float(positives[allowed_misses])


def mean_sd(per_fold: list[dict], keys=SUMMARY_KEYS) -> dict:
    """Mean and sample standard deviation of each metric over folds (None values left out)."""
    out = {}
    for key in keys:
        values = [m[key] for m in per_fold if m.get(key) is not None]
        if values:
            sd = float(np.std(values, ddof=1)) if len(values) > 1 else None
            out[key] = {"mean": float(np.mean(values)), "sd": sd, "folds": len(values)}
    return out
