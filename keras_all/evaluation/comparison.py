"""Two models on the same test images: paired DeLong (AUC) and McNemar (accuracy at each one's cut-off).

Used beside every honest run and evaluation (the model against the colour-histogram baseline) and by
`keras-all compare RUN_A RUN_B` (two runs, or two evaluations, on one test set).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from keras_all.artifacts import METRICS_JSON, PREDICTIONS_CSV
from keras_all.loader import load_model
from keras_all.metrics import mcnemar, paired_delong
from keras_all.run_folder import RunFolder, read_json


def paired_tests(labels, probability_a, cutoff_a: float, probability_b, cutoff_b: float) -> dict:
    """Paired DeLong of the two AUCs and McNemar of the two accuracies, each model at its own cut-off."""
    probability_a, probability_b = np.asarray(probability_a, float), np.asarray(probability_b, float)
    return {"n": int(len(labels)), "cutoff_a": float(cutoff_a), "cutoff_b": float(cutoff_b),
            "auc": paired_delong(labels, probability_a, probability_b),
            "accuracy": mcnemar(labels, probability_a >= cutoff_a, probability_b >= cutoff_b)}


def paired_lines(tests: dict, name_a: str, name_b: str) -> list[str]:
    """The paired tests in words, for report.md and the console."""
    auc, accuracy = tests["auc"], tests["accuracy"]
    lines = []
    if auc is None:
        lines.append("- AUC: undefined (fewer than 2 images of a class)")
    else:
        low, high = auc["ci"]
        lines.append(f"- AUC: {name_a} {auc['auc_a']:.3f}, {name_b} {auc['auc_b']:.3f}; difference "
                     f"{auc['difference']:+.3f} (95% CI {low:+.3f} to {high:+.3f}), paired DeLong p = "
                     f"{auc['p_value']:.3g}")
    lines.append(f"- accuracy: {name_a} {accuracy['accuracy_a']:.3f} at cut-off {tests['cutoff_a']:.4g}, {name_b} "
                 f"{accuracy['accuracy_b']:.3f} at cut-off {tests['cutoff_b']:.4g}; right only by {name_a} "
                 f"{accuracy['only_a_right']}, only by {name_b} {accuracy['only_b_right']} of {tests['n']} images, "
                 f"McNemar exact p = {accuracy['p_value']:.3g}")
    return lines


def holdout_predictions(folder: str | Path) -> tuple[pd.DataFrame, float, str]:
    """A finished run's holdout-test predictions (its delivered model's) or an evaluation's predictions, with
    the cut-off they were decided at and a short description."""
    folder = RunFolder(folder)
    if folder.is_run() or folder.incomplete:
        cutoff = load_model(folder).cutoff  # an unfinished run, or one whose metrics.json is unreadable, is refused
        table = folder.read_csv(PREDICTIONS_CSV).query("part == 'test'")
        found = table, cutoff, f"run `{folder.config().run.name}` ({folder}), holdout test"
    elif (folder / METRICS_JSON).is_file() and (folder / PREDICTIONS_CSV).is_file():
        values = read_json(folder / METRICS_JSON)
        if "cutoff" not in values:
            raise ValueError(f"{folder / 'metrics.json'}: holds no cut-off (written by an older keras-all); evaluate "
                             "again")
        cutoff = values["cutoff"]
        found = folder.read_csv(PREDICTIONS_CSV), cutoff, f"evaluation {folder}"
    else:
        raise ValueError(f"{folder}: not a finished run or evaluation folder (no metrics.json and predictions.csv)")
    if found[0]["path"].duplicated().any():
        raise ValueError(f"{folder}: its test rows repeat images (a paper-protocol run's augmented copies); paired "
                         "tests need each image once: compare honest runs or evaluations")
    return found


def compare_folders(folder_a: str | Path, folder_b: str | Path) -> dict:
    """Paired tests of two runs' (or evaluations') predictions on the same test images, matched by path."""
    a, cutoff_a, about_a = holdout_predictions(folder_a)
    b, cutoff_b, about_b = holdout_predictions(folder_b)
    joined = a.merge(b, on="path", suffixes=("_a", "_b"))
    if len(joined) != len(a) or len(joined) != len(b):
        raise ValueError(f"the two test sets differ ({len(a)} and {len(b)} images, {len(joined)} shared): compare "
                         "runs made on the same data with the same seed, folds and test fraction")
    if (joined["label_a"] != joined["label_b"]).any():
        raise ValueError("the two test sets label some images differently; compare runs of the same data set")
    tests = paired_tests(joined["label_a"], joined["probability_a"], cutoff_a, joined["probability_b"], cutoff_b)
    return {"a": about_a, "b": about_b, **tests}
