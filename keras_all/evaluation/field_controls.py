"""What a cell run's verdict on fields reads: the model beside controls scored on the same fields by the same
splits.

Each field holding cells of the run takes its cells' split and fold. Every contender scores the development
fields out of fold and the holdout test's fields once, and is decided at its own cut-off (Youden's J on its
validation fields):

- the cell model, fields judged by its slide rule (``slide_rule``);
- the pipeline fed the cells alone, the background alone, and whole fields (trained beside the model by
  ``training.cross_validate``; the crop controls' fields judged by a rule chosen for each the same way);
- the colour histogram of the cell crops (the run's baseline), fields judged by a rule chosen for it;
- logistic regressions on each field's colour histogram, on the histogram of its background alone (every found
  cell's pixels left out) and on its white-cell count alone.

On the holdout test each stands beside the model (paired DeLong on the same fields), with the share of the
model's skill it reaches: (AUC - 0.5) / (model's AUC - 0.5).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from keras_all.artifacts import CONTROLS_JSON, METRICS_JSON, SPLITS_CSV
from keras_all.cells.slide_rule import SLIDE_RULE, field_table, fit_slide_rule, slide_rule_lines
from keras_all.evaluation.baseline import by_splits
from keras_all.evaluation.operating_points import operating_points
from keras_all.evaluation.run_result import run_predictions
from keras_all.metrics import auc_with_ci, binary_metrics, paired_delong, youden_cutoff
from keras_all.run_folder import VALIDATED_POINT, RunFolder, read_json
from keras_all.tables import markdown_table, na, with_ci
from keras_all.training.cell_data import FIELD_FEATURES
from keras_all.training.cross_validate import CONTROL_INPUTS, TrainedRun

CONTROLS_FILE = CONTROLS_JSON  # in a cell run's folder
MODEL = "the cell model"
FIELD_INPUTS = {"whole field histogram": ("whole_", "the colour histogram of the whole field"),
                "background histogram": ("background_", "the colour histogram of the field's background alone"),
                "white-cell count": ("white_cells", "the number of white cells found on the field")}


def field_controls(run: RunFolder, trained: TrainedRun, predictions: pd.DataFrame, cutoff: float,
                   baseline_predictions: pd.DataFrame | None, baseline_cutoff: float | None) -> dict | None:
    """The fields' verdicts of the cell model (``predictions`` at cell ``cutoff``) and of every control, as
    controls.json holds them; None where the validation fields hold one class only."""
    cells = run.read_csv("cells/cells.csv", keep_default_na=False)
    scored = {MODEL: _by_rule(predictions, cells, cutoff, "its cells, by the slide rule")}
    if scored[MODEL] is None:
        return None
    for control, control_run in (trained.controls or {}).items():
        control_predictions = run_predictions(control_run)
        control_cutoff = operating_points(control_predictions)[VALIDATED_POINT]["cutoff"]
        run.write_csv(f"controls/{control}/predictions.csv", control_predictions)
        what = f"the pipeline fed {CONTROL_INPUTS[control]}"
        scored[f"{control} pipeline"] = (_fields_direct(control_predictions, what) if control == "image" else
                                         _by_rule(control_predictions, cells.assign(path=cells[f"path_{control}"]),
                                                  control_cutoff, what))
    if baseline_predictions is not None:
        scored["cell crop histogram"] = _by_rule(baseline_predictions, cells, baseline_cutoff,
                                                 "the colour histogram of its cell crops, by a slide rule")
    features = run.read_csv(f"cells/{FIELD_FEATURES}", keep_default_na=False).set_index("field")
    splits = _field_splits(cells, run.read_csv(SPLITS_CSV))
    for name, (prefix, what) in FIELD_INPUTS.items():
        columns = [c for c in features.columns if c.startswith(prefix)]
        rows = features.loc[splits["path"], columns].to_numpy(float)
        predictions = by_splits(rows, splits, f"logistic regression on {what}")[2]
        scored[name] = _fields_direct(predictions, what)
    return _summary({name: s for name, s in scored.items() if s is not None})


def _field_splits(cells: pd.DataFrame, splits: pd.DataFrame) -> pd.DataFrame:
    """One row per field holding cells of the run (path: the field): its label, and its cells' split and fold."""
    joined = splits[["path", "split", "fold"]].merge(cells[["path", "field", "field_label"]], on="path")
    first = joined.groupby("field", sort=True).first()
    return pd.DataFrame({"path": first.index, "label": first["field_label"].astype(int).to_numpy(),
                         "split": first["split"].to_numpy(), "fold": first["fold"].to_numpy()})


def _by_rule(predictions: pd.DataFrame, cells: pd.DataFrame, cutoff: float, what: str) -> dict | None:
    fitted = fit_slide_rule(predictions, cells, cutoff)
    if fitted is None:
        return None
    table = field_table(predictions, cells, fitted["rule"], cutoff)
    return {"what": what, "rule": fitted["rule"], "cutoff": fitted["cutoff"], "table": table}


def _fields_direct(predictions: pd.DataFrame, what: str) -> dict:
    """A contender that scores fields itself (predictions' path is the field)."""
    table = predictions.set_index("path").rename_axis("field").rename(columns={"probability": "score"})
    validation = table[table["part"] == "validation"]
    return {"what": what, "cutoff": float(youden_cutoff(validation["label"], validation["score"])),
            "table": table[["label", "score", "part"]]}


def _summary(scored: dict) -> dict:
    model_test = scored[MODEL]["table"].query("part == 'test'")
    result = {"test_fields": int(len(model_test)), "test_fields_all": int(model_test["label"].sum()), "contenders": {}}
    for name, s in scored.items():
        table = s["table"]
        validation, test = table[table["part"] == "validation"], table[table["part"] == "test"]
        entry = {"what": s["what"], "rule": s.get("rule"), "cutoff": s["cutoff"],
                 "validation_auc": (auc_with_ci(validation["label"], validation["score"]) or {}).get("auc"),
                 "test": binary_metrics(test["label"], test["score"], s["cutoff"]) if len(test) else None}
        if name != MODEL and len(test):
            both = model_test.join(test["score"].rename("other"), how="inner")
            entry["versus_model"] = paired_delong(both["label"], both["score"], both["other"])
        result["contenders"][name] = entry
    return result


def share_of_skill(auc: float | None, model_auc: float | None) -> float | None:
    """How much of the model's skill above chance ``auc`` reaches: (auc - 0.5) / (model_auc - 0.5)."""
    if auc is None or model_auc is None or model_auc <= 0.5:
        return None
    return (auc - 0.5) / (model_auc - 0.5)


def controls_lines(result: dict | None) -> list[str]:
    """The cell run report's section on the controls."""
    if result is None:
        return []
    contenders = result["contenders"]
    model_auc = (contenders[MODEL]["test"] or {}).get("auc")
    rows = []
    for name, c in contenders.items():
        test = c["test"] or {}
        versus = c.get("versus_model")
        against = "" if name == MODEL else ("n/a" if versus is None else
                                            f"{-versus['difference']:+.3f}, p {versus['p_value']:.2g}")
        share = share_of_skill(test.get("auc"), model_auc)
        rule = f" (rule `{c['rule']}`)" if c.get("rule") else ""
        rows.append({"contender": name, "what it reads": f"{c['what']}{rule}",
                     "validation AUC": na(c["validation_auc"]),
                     "holdout test AUC (95% CI)": with_ci(test.get("auc"), test.get("auc_ci")),
                     "accuracy at its cut-off": na(test.get("accuracy")),
                     "AUC minus the model's (paired DeLong p)": against,
                     "share of the model's skill": "" if name == MODEL else na(share, 0, percent=True)})
    rows = markdown_table(rows)
    carried = [f"{what} {share_of_skill((contenders[name]['test'] or {}).get('auc'), model_auc):.0%}"
               for name, what in (("cell pipeline", "the cells alone"), ("background pipeline", "the background alone"),
                                  ("background histogram", "the background's colours alone"),
                                  ("white-cell count", "the white-cell count alone"))
               if name in contenders and share_of_skill((contenders[name]["test"] or {}).get("auc"), model_auc)
               is not None]
    told = (f"Share of the model's skill above chance reached on these fields: {', '.join(carried)} (over 100%: "
            "the control does better than the model)." if carried else
            "The model is no better than chance on these fields: no control's share can be told.")
    rows += ["", told]
    return ["## Controls: what the fields' verdict reads",
            f"Every contender judged the same {result['test_fields']} holdout-test fields "
            f"({result['test_fields_all']} ALL) by the run's splits, each at its own cut-off chosen on its "
            "validation fields. A control that reads the background, the stain or the cell count and scores as "
            "well as the model says the labels can be read without looking at a cell; the share of the model's "
            "skill is (AUC - 0.5) / (the model's AUC - 0.5).", "", *rows, ""]


def cell_run_lines(run: Path) -> list[str]:
    """A cell run report's sections, from its slide_rule.json and controls.json (none for an image run)."""
    files = [Path(run) / SLIDE_RULE, Path(run) / CONTROLS_FILE, Path(run) / METRICS_JSON]
    bags = read_json(files[2]).get("bags") if files[2].is_file() else None
    return [*bags_lines(bags), *slide_rule_lines(read_json(files[0]) if files[0].is_file() else None),
            *controls_lines(read_json(files[1]) if files[1].is_file() else None)]


def bags_lines(bags: dict | None) -> list[str]:
    """How cells labelled by their field learned it (``training.bags``), for the cell run's report."""
    if bags is None:
        return []
    auc = {name: na(value) for name, value in bags["validation_field_auc"].items()}
    cells = {name: sum(n) / len(n) for name, n in bags["fold_training_cells"].items()}
    return ["## How the cells learned their field's label",
            f"Out-of-fold validation field AUC (each by its best slide rule): {auc['inherit']} with every cell "
            f"inheriting its field's label ({cells['inherit']:.0f} training cells a fold); {auc['top']} trained again "
            f"on every cell of the healthy fields and only the {bags['top_share']:.0%} most blast-like cells of each "
            f"ALL field, as the inheriting fold model scored them ({cells['top']:.0f} a fold). Kept: "
            f"`{bags['kept']}` (asked: `{bags['asked']}`); the figures above and below are its. The controls "
            "learn by inheritance.", ""]
