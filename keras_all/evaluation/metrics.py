"""Binary metrics from probabilities (label 1 = ALL)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def _ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def binary_metrics(labels, probabilities, threshold: float = 0.5) -> dict:
    """Confusion counts, accuracy, sensitivity, specificity, precision, F1, balanced accuracy and ROC AUC.

    A ratio whose denominator is empty is None (not NaN); AUC is None when only one class is present.
    """
    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities, dtype=float)
    predicted = (probabilities >= threshold).astype(int)
    tp = int(((predicted == 1) & (labels == 1)).sum())
    tn = int(((predicted == 0) & (labels == 0)).sum())
    fp = int(((predicted == 1) & (labels == 0)).sum())
    fn = int(((predicted == 0) & (labels == 1)).sum())
    sensitivity, specificity = _ratio(tp, tp + fn), _ratio(tn, tn + fp)
    precision = _ratio(tp, tp + fp)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    balanced = None if sensitivity is None or specificity is None else (sensitivity + specificity) / 2
    auc = float(roc_auc_score(labels, probabilities)) if len(np.unique(labels)) == 2 else None
    return {
        "n": int(len(labels)), "tp": tp, "tn": tn, "fp": fp, "fn": fn, "threshold": threshold,
        "accuracy": _ratio(tp + tn, len(labels)), "sensitivity": sensitivity, "specificity": specificity,
        "precision": precision, "f1": f1, "balanced_accuracy": balanced, "auc": auc,
    }


def mean_sd(per_fold: list[dict], keys=("accuracy", "sensitivity", "specificity", "f1", "auc")) -> dict:
    """Mean and sample standard deviation of each metric over folds (None values left out)."""
    out = {}
    for key in keys:
        values = [m[key] for m in per_fold if m.get(key) is not None]
        if values:
            out[key] = {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}
    return out
