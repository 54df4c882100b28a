"""Multiple-instance learning for cells that carry only their field's label (Aria's): each field a bag of its cells.

A field of ALL holds normal cells beside its blasts, yet inheritance (``inherit``) calls every one of its cells a
blast. Top-instance training (``top``) trains each fold again on every cell of the healthy fields and, of each
ALL field, only its most blast-like cells (``top_share`` of them, at least one), as the inheriting fold model
scores its own training cells. ``best`` trains both and keeps the one whose out-of-fold validation fields score
the higher AUC, each judged by the slide rule that suits it best.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from keras_all.cells.slide_rule import fit_slide_rule
from keras_all.metrics import youden_cutoff


def top_cells(train: np.ndarray, samples: pd.DataFrame, scores: pd.DataFrame, share: float) -> np.ndarray:
    """The rows of ``train`` kept for top-instance training: every cell of a healthy field (label 0) and, of each
    ALL field, its ``share`` most blast-like cells by ``scores`` (path, probability), at least one."""
    table = samples.iloc[train][["path", "field", "label"]].assign(row=train).merge(scores, on="path", how="left")
    if table["probability"].isna().any():
        raise ValueError("the inheriting fold model scored only some of its training cells; train the run afresh")
    by_field = table.groupby("field")["probability"]
    rank = by_field.rank(ascending=False, method="first")
    kept = (table["label"] == 0) | (rank <= np.maximum(1, np.ceil(share * by_field.transform("size"))))
    return np.sort(table.loc[kept, "row"].to_numpy())


def validation_field_auc(validation: pd.DataFrame, cells: pd.DataFrame) -> float | None:
    """The out-of-fold validation fields' AUC by the best slide rule, from their cells' predictions (path, label,
    probability, part); None where those fields hold one class only."""
    cutoff = youden_cutoff(validation["label"], validation["probability"])
    fitted = fit_slide_rule(validation, cells, cutoff)
    return None if fitted is None else fitted["validation_auc"][fitted["rule"]]
