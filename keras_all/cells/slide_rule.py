"""From cell probabilities to a slide's: the rule a cell run fits on its validation folds.

Candidate rules turn a slide's P(blast) values into one score: its most blast-like cell (``max``), the mean of
its three most blast-like (``top3``), the mean over all its cells (``mean``), the share called blasts at the
cell cut-off (``fraction``) and the chance that at least one is a blast were they independent (``noisy_or``).
Each field of the development part is scored from its cells' out-of-fold validation probabilities; the rule
with the highest slide AUC there is kept, with the slide cut-off that maximises Youden's J there. The holdout
test's fields, scored from the final model's probabilities, are read once with both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from keras_all.artifacts import SLIDE_RULE_JSON
from keras_all.metrics import auc_with_ci, binary_metrics, youden_cutoff
from keras_all.tables import with_ci

SLIDE_RULE = SLIDE_RULE_JSON  # in a cell run's folder


def _top3(p: np.ndarray, cutoff: float) -> float:
    return float(np.sort(p)[-3:].mean())


RULES = {
    "max": lambda p, cutoff: float(p.max()),
    "top3": _top3,
    "mean": lambda p, cutoff: float(p.mean()),
    "fraction": lambda p, cutoff: float((p >= cutoff).mean()),
    "noisy_or": lambda p, cutoff: float(1 - np.prod(1 - np.clip(p, 0, 1))),
}


RULE_NAMES = {"max": "P(blast) of its most blast-like cell", "top3": "mean P(blast) of its three most blast-like cells",
              "mean": "mean P(blast) of its cells", "fraction": "share of its cells called blasts",
              "noisy_or": "chance that one of its cells is a blast"}


def slide_scores(cells: pd.DataFrame, rule: str, cutoff: float) -> pd.DataFrame:
    """Per field of ``cells`` (columns field, field_label, probability): its label and its score by ``rule``."""
    grouped = cells.groupby("field", sort=True)
    return pd.DataFrame({"label": grouped["field_label"].first().astype(int),
                         "score": grouped["probability"].apply(lambda p: RULES[rule](p.to_numpy(), cutoff))})


def field_table(predictions: pd.DataFrame, cells: pd.DataFrame, rule: str, cell_cutoff: float) -> pd.DataFrame:
    """Per field and part (validation: out-of-fold; test) of ``predictions`` (cells' path, probability, part):
    its label and its score by ``rule`` from its cells (``cells``: path, field, field_label)."""
    scored = predictions.merge(cells[["path", "field", "field_label"]], on="path")
    return pd.concat([slide_scores(scored[scored["part"] == part], rule, cell_cutoff).assign(part=part)
                      for part in ("validation", "test") if (scored["part"] == part).any()]).rename_axis("field")


def fit_slide_rule(predictions: pd.DataFrame, cells: pd.DataFrame, cell_cutoff: float) -> dict | None:
    """The rule and slide cut-off chosen on the development fields' out-of-fold validation probabilities, and
    what they give on the holdout test's fields; None where the validation fields hold one class only."""
    tables = {rule: field_table(predictions, cells, rule, cell_cutoff) for rule in RULES}
    validation = {rule: table[table["part"] == "validation"] for rule, table in tables.items()}
    if validation["max"]["label"].nunique() < 2:
        return None
    aucs = {rule: auc_with_ci(*_columns(validation[rule]))["auc"] for rule in RULES}
    chosen = max(RULES, key=lambda rule: aucs[rule])
    labels, scores = _columns(validation[chosen])
    cutoff = youden_cutoff(labels, scores)
    result = {"rule": chosen, "cutoff": float(cutoff), "cell_cutoff": float(cell_cutoff),
              "validation_fields": int(len(labels)), "validation_auc": aucs,
              "validation": binary_metrics(labels, scores, cutoff)}
    test = tables[chosen][tables[chosen]["part"] == "test"]
    if len(test):
        result["test"] = binary_metrics(*_columns(test), cutoff)
    return result


def _columns(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return table["label"].to_numpy(), table["score"].to_numpy()


def slide_rule_lines(fitted: dict | None) -> list[str]:
    """The cell run report's section on slides (fields) judged from their cells."""
    if fitted is None:
        return []
    aucs = ", ".join(f"{rule} {auc:.3f}" for rule, auc in fitted["validation_auc"].items())
    lines = ["## Fields judged from their cells",
             f"Each development field scored from its cells' out-of-fold probabilities ({fitted['validation_fields']} "
             f"fields); slide AUC by rule: {aucs}. Kept: `{fitted['rule']}`, ALL at a score of "
             f"{fitted['cutoff']:.4g} or more (Youden's J on those fields)."]
    if "test" in fitted:
        t = fitted["test"]
        auc = with_ci(t["auc"], t["auc_ci"])
        lines.append(f"On the holdout test's {t['n']} fields: AUC {auc}, accuracy {t['accuracy']:.3f}, sensitivity "
                     f"{t['sensitivity'] or 0:.3f}, specificity {t['specificity'] or 0:.3f}.")
    return lines + [""]
