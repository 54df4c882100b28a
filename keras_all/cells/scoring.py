"""Cells found on fields scored against marked ones: matching by box overlap or by centre, precision, recall,
F1 with Wilson intervals, and average precision.

Matching is greedy from the surest found cell down, each marked cell taken once (as PASCAL VOC scores
detections): a found cell matches the unmatched mark it overlaps most, if that overlap (intersection over union)
reaches the threshold; by centre, it matches an unmatched mark whose box holds its centre.
"""

from __future__ import annotations

import numpy as np

from keras_all.metrics import wilson

IOU = 0.5  # the overlap a found cell needs to count, as in PASCAL VOC's AP50


def overlaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` (n, 4) with every box in ``b`` (m, 4): (n, m)."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    width = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    height = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = width * height
    union = _area(a)[:, None] + _area(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def centres_inside(found: np.ndarray, marks: np.ndarray) -> np.ndarray:
    """(n, m): whether found box i's centre lies in mark j's box (1.0) or not (0.0)."""
    found, marks = np.asarray(found, float).reshape(-1, 4), np.asarray(marks, float).reshape(-1, 4)
    cx, cy = (found[:, 0] + found[:, 2]) / 2, (found[:, 1] + found[:, 3]) / 2
    inside = ((marks[None, :, 0] <= cx[:, None]) & (cx[:, None] <= marks[None, :, 2])
              & (marks[None, :, 1] <= cy[:, None]) & (cy[:, None] <= marks[None, :, 3]))
    return inside.astype(float)


def match(found: np.ndarray, scores: np.ndarray, marks: np.ndarray, by: str = "iou") -> np.ndarray:
    """For each found box, whether it matched a mark (by ``iou`` >= IOU, or by ``centre``)."""
    affinity = overlaps(found, marks) if by == "iou" else centres_inside(found, marks)
    least = IOU if by == "iou" else 1.0
    taken = np.zeros(affinity.shape[1], bool)
    hit = np.zeros(affinity.shape[0], bool)
    for i in np.argsort(-np.asarray(scores, float), kind="stable"):
        free = np.where(taken, -1.0, affinity[i])
        if free.size and free.max() >= least:
            taken[int(np.argmax(free))] = hit[i] = True
    return hit


def average_precision(scores: np.ndarray, hits: np.ndarray, n_marks: int) -> float | None:
    """Area under the precision-recall curve, precision made non-increasing (PASCAL VOC from 2010, all points)."""
    if n_marks == 0:
        return None
    order = np.argsort(-np.asarray(scores, float), kind="stable")
    hits = np.asarray(hits, bool)[order]
    tp, fp = np.cumsum(hits), np.cumsum(~hits)
    recall = np.concatenate([[0.0], tp / n_marks])
    precision = np.concatenate([[1.0], tp / np.maximum(tp + fp, 1)])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum(np.diff(recall) * precision[1:]))


def detection_scores(fields: list[tuple[np.ndarray, np.ndarray, np.ndarray]], by: str = "iou") -> dict:
    """Precision, recall and F1 (with 95% Wilson intervals) and average precision over ``fields``, each a
    (found boxes, their scores, marked boxes) triple."""
    hits = [match(found, scores, marks, by) for found, scores, marks in fields]
    tp = int(sum(h.sum() for h in hits))
    n_found = int(sum(len(h) for h in hits))
    n_marks = int(sum(len(np.asarray(m).reshape(-1, 4)) for _, _, m in fields))
    precision = tp / n_found if n_found else None
    recall = tp / n_marks if n_marks else None
    f1 = 2 * tp / (n_found + n_marks) if n_found + n_marks else None
    scores = np.concatenate([np.asarray(s, float).ravel() for _, s, _ in fields]) if fields else np.zeros(0)
    return {"matched": tp, "found": n_found, "marked": n_marks, "precision": precision,
            "precision_ci": wilson(tp, n_found), "recall": recall, "recall_ci": wilson(tp, n_marks), "f1": f1,
            "average_precision": average_precision(scores, np.concatenate(hits) if hits else np.zeros(0, bool),
                                                   n_marks)}
