"""Holdout and fold assignment, grouped by subject where subjects are known, and the leakage guard."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold


class LeakageError(ValueError):
    """A subject or a byte-identical image on both sides of a split."""


def groups_of(samples: pd.DataFrame) -> np.ndarray | None:
    """Split groups: the subject group where known, the image itself elsewhere; None if no subject is known."""
    subjects = samples["subject_group"].astype(str)
    if (subjects == "").all():
        return None
    return np.where(subjects != "", "subject:" + subjects, "image:" + samples["sha256"].astype(str))


def _splitter(n_splits: int, grouped: bool, seed: int):
    cls = StratifiedGroupKFold if grouped else StratifiedKFold
    return cls(n_splits=n_splits, shuffle=True, random_state=seed)


def _check_enough(labels, groups, n_splits, what, fewer_parts):
    for label in np.unique(labels):
        units = len(np.unique(groups[labels == label])) if groups is not None else int((labels == label).sum())
        if units < n_splits:
            kind = "subjects" if groups is not None else "images"
            advice = f"add {kind} of class {label}" + (f" or {fewer_parts}" if n_splits > 2 else "")
            raise ValueError(f"{what}: class {label} has only {units} {kind}, fewer than the {n_splits} parts "
                             f"needed; {advice}")


def assign_splits(samples: pd.DataFrame, folds: int, test_fraction: float, seed: int) -> pd.DataFrame:
    """``split`` (dev or test) and ``fold`` (the fold in which a dev image is validated; -1 for test).

    The holdout test is one part of a stratified (grouped) K-way split with K = round(1 / test_fraction);
    the dev images are then split into ``folds`` stratified (grouped) folds.

    Args:
        samples: the data set's samples table (label, subject_group, sha256, path, subject).
        folds: cross-validation folds of the development images.
        test_fraction: the holdout's share of the images (of the subjects, where known).
        seed: the shuffles' seed.

    Returns:
        path, subject, label, sha256, split and fold of every sample, in the samples' order.
    """
    labels = samples["label"].to_numpy()
    groups = groups_of(samples)
    parts = max(2, round(1 / test_fraction))
    _check_enough(labels, groups, parts, "holdout split", "use a larger test_fraction")
    _, test_index = next(_splitter(parts, groups is not None, seed).split(labels, labels, groups))
    is_test = np.zeros(len(samples), bool)
    is_test[test_index] = True
    dev = np.flatnonzero(~is_test)
    dev_groups = None if groups is None else groups[dev]
    _check_enough(labels[dev], dev_groups, folds, "cross-validation", "use fewer folds (--folds)")
    fold = np.full(len(samples), -1)
    for k, (_, val) in enumerate(_splitter(folds, groups is not None, seed).split(dev, labels[dev], dev_groups)):
        fold[dev[val]] = k
    out = samples[["path", "subject", "label", "sha256"]].copy()  # the hash lets evaluate spot training images
    out["split"] = np.where(is_test, "test", "dev")
    out["fold"] = fold
    return out


def fold_indices(splits: pd.DataFrame, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows (training, validation) of fold ``k``: the dev images outside fold k, and fold k."""
    return np.flatnonzero((splits["split"] == "dev") & (splits["fold"] != k)), np.flatnonzero(splits["fold"] == k)


def check_no_leak(samples: pd.DataFrame, a: np.ndarray, b: np.ndarray, where: str) -> None:
    """Raise LeakageError if rows ``a`` and ``b`` share a subject group or a file hash."""
    for column, what in (("subject_group", "subject"), ("sha256", "identical image")):
        left = set(samples[column].to_numpy()[a]) - {""}
        shared = sorted(left & set(samples[column].to_numpy()[b]))
        if shared:
            shown = ", ".join(map(str, shared[:5])) + (" ..." if len(shared) > 5 else "")
            raise LeakageError(f"leak in {where}: {len(shared)} {what}(s) on both sides ({shown})")
