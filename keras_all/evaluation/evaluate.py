"""Score a trained model on any labelled data set: `keras-all evaluate`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from keras_all.artifacts import CONFUSION_PNG, METRICS_JSON, PREDICTIONS_CSV, REPORT_MD, ROC_PNG
from keras_all.data import LoadedDataset, read_image
from keras_all.data.summary import summarize
from keras_all.estimators import ScaledLogisticRegression
from keras_all.evaluation.baseline import NAME, histogram_features
from keras_all.evaluation.comparison import paired_lines, paired_tests
from keras_all.evaluation.familiarity import familiarity_of, statistics_of_files
from keras_all.evaluation.plots import confusion_plot, roc_plot
from keras_all.evaluation.report import (
    data_lines,
    environment,
    environment_lines,
    interval_lines,
    markdown_table,
    na,
    paper_table,
)
from keras_all.evaluation.stress import STRESS_FILE
from keras_all.front import load_images
from keras_all.loader import BASELINE, LoadedModel, load_model
from keras_all.metrics import binary_metrics
from keras_all.run_folder import RunFolder, read_json


def evaluate(model_ref: str | Path, data: LoadedDataset, out: Path, cutoff: float | None = None,
             batch_size: int = 32) -> dict:
    """Predict every image of ``data``, write metrics.json, predictions.csv, plots and report.md into ``out``.

    Args:
        model_ref: what ``keras_all.load_model`` takes: a finished run folder, an export folder, a keras-all
            ``.keras`` file or a SavedModel.
        data: the labelled data set to score.
        out: the evaluation folder.
        cutoff: the cut-off on the ALL probability (default: the model's validated one).
        batch_size: images per prediction batch.

    Returns:
        What metrics.json holds.
    """
    model = load_model(model_ref)
    if cutoff is not None and not 0 <= cutoff <= 1:
        raise ValueError(f"--cutoff {cutoff}: a cut-off on the ALL probability lies in [0, 1]")
    cutoff, source = (cutoff, "given on the command line") if cutoff is not None else (model.cutoff,
                                                                                        model.cutoff_source)
    samples = data.samples.reset_index(drop=True)
    probability = probabilities_of_files(model, samples["path"], batch_size)
    overlap = int(samples["sha256"].isin(model.training_hashes()).sum())  # by content: any path, any copy
    out = RunFolder(out)
    out.path.mkdir(parents=True, exist_ok=True)
    predictions = samples[["path", "subject", "label"]].assign(
        probability=probability, prediction=(probability >= cutoff).astype(int), fold="evaluation")
    result = {"model": str(model.path), "cutoff": cutoff, "cutoff_source": source,
              "images_used_in_training": overlap, "metrics": binary_metrics(samples["label"], probability, cutoff),
              "data_summary": summarize(data), "environment": environment(), "trained_on": model.trained_on}
    familiarity = familiarity_of(model)
    if familiarity is not None and model.front is not None:  # the inputs it would refuse; how it does on the others
        judged = familiarity.assess(statistics_of_files(samples["path"], model.front))
        predictions = predictions.assign(**judged)
        kept = judged["unfamiliar"].to_numpy() == 0
        result["unfamiliar"] = {"n": int((~kept).sum()), "share": float(1 - kept.mean()),
                                "cutoff": familiarity.cutoff,
                                "metrics_of_the_rest": binary_metrics(samples["label"][kept], probability[kept], cutoff)
                                if kept.any() else None}
    if model.beside(BASELINE) is not None:  # the run's colour-histogram baseline, on the same images
        baseline = ScaledLogisticRegression.from_dict(read_json(model.beside(BASELINE)))
        base = baseline.probability(histogram_features(samples["path"], model.front.crop))
        predictions["baseline_probability"] = base
        result["baseline"] = {"name": NAME, "cutoff": baseline.cutoff,
                              "metrics": binary_metrics(samples["label"], base, baseline.cutoff)}
        result["versus_baseline"] = paired_tests(samples["label"], probability, cutoff, base, baseline.cutoff)
    stress = model.beside(STRESS_FILE)
    if stress is not None:  # the model's own stress test, shown beside a cross-set evaluation
        result["stress"] = read_json(stress)
    out.write_csv(PREDICTIONS_CSV, predictions)
    out.write_json(METRICS_JSON, result)
    render_evaluation_report(out.path)
    return result


def probabilities_of_files(model: LoadedModel, paths, batch_size: int = 32) -> np.ndarray:
    """The model's ALL probability for each file: read at the front's size in batches (as training read them), or
    one raw file at a time where the front is unknown (a lone SavedModel)."""
    paths = list(paths)
    if model.front is None:
        return np.array([model.predict(read_image(path)[None])[0][0] for path in paths])
    return np.concatenate([model.predict(load_images(paths[i : i + batch_size], model.front))[0]
                           for i in range(0, len(paths), batch_size)]) if paths else np.zeros(0)


def _baseline_lines(result: dict) -> list[str]:
    if "baseline" not in result:
        return ["## Colour-histogram baseline", "- not available: the model has no run (or export) folder beside it "
                "holding its baseline.json", ""]
    base = result["baseline"]
    return ["## Against the colour-histogram baseline", f"The run's {base['name']}, fitted on the model's development "
            "images, scored on the same images:", "", *interval_lines(base["metrics"]), "",
            *paired_lines(result["versus_baseline"], "model", "baseline"), ""]


def _unfamiliar_lines(result: dict) -> list[str]:
    if "unfamiliar" not in result:
        return []
    found = result["unfamiliar"]
    rest = found["metrics_of_the_rest"]
    lines = ["## Inputs unlike the training images",
             f"- {found['n']} of {result['metrics']['n']} images ({found['share']:.1%}) are past the model's "
             f"unfamiliarity cut-off {found['cutoff']:.4g}: `predict` would flag their verdicts as not to be trusted "
             "(predictions.csv: unfamiliarity, unfamiliar, unlike_in)"]
    if rest is not None and found["n"]:
        lines.append(f"- on the other {rest['n']} images: accuracy {na(rest['accuracy'])}, AUC {na(rest['auc'])}")
    return [*lines, ""]


def _cross_set_lines(result: dict) -> list[str]:
    """Where the model was trained on another data set: that it is a cross-set evaluation, with the stress test
    of the model's own holdout beside it (the middle strength of each shift)."""
    trained_on, scored_on = result.get("trained_on"), result["data_summary"]["dataset"]
    if trained_on is None or trained_on == scored_on:
        return []
    lines = ["## Another source",
             f"The model was trained on `{trained_on}` and is scored here on `{scored_on}`: other hands, stain, "
             "microscope, camera and magnification. Its figures above measure that transfer, not the model's "
             "accuracy on images like its training images."]
    stress = result.get("stress")
    if stress is not None:
        lines += ["", f"Its own stress test ({stress['n']} holdout images of `{trained_on}`, middle strength): how "
                  "much each kind of shift alone moves its AUC, and the colour histogram's.", ""]
        shifts = [{"shift": "none", "setting": "", **stress["unshifted"]}] + [
            row for row in stress["shifts"] if row["strength"] == "middle"]
        lines += markdown_table([{"shift": row["shift"], "setting": row["setting"],
                                  "model AUC": na(row["model"]["auc"]),
                                  "histogram AUC": na((row["baseline"] or {}).get("auc"))} for row in shifts])
    return [*lines, ""]


def render_evaluation_report(out: str | Path) -> Path:
    """Plots and report.md of an evaluation folder, from its metrics.json and predictions.csv."""
    out = Path(out)
    result = read_json(out / METRICS_JSON)
    predictions = pd.read_csv(out / PREDICTIONS_CSV)
    m = result["metrics"]
    confusion_plot(m, out / CONFUSION_PNG, f"cut-off {result['cutoff']:.4g}")
    roc_plot(predictions["label"], predictions["probability"], out / ROC_PNG, "ROC", result["cutoff"])
    lines = [f"# keras-all evaluation of `{result['model']}`", ""]
    if result["images_used_in_training"]:
        lines += [f"> **{result['images_used_in_training']} of these images were used to train this model: "
                  "its numbers here are optimistic.**", ""]
    lines += ["## Data", *data_lines(result["data_summary"]), "",
              "## Cut-off", f"- {result['cutoff']:.4g}: {result['cutoff_source']}", "",
              "## Results (the paper's Tables 4 and 5 layout)", *paper_table(m), "", *interval_lines(m), "",
              "![confusion matrix](confusion.png) ![ROC](roc.png)", "", *_baseline_lines(result),
              *_unfamiliar_lines(result), *_cross_set_lines(result),
              "## Environment", *environment_lines(result["environment"]), "",
              "Files: `metrics.json`, `predictions.csv` (path, subject, label, probability, prediction), plots."]
    path = out / REPORT_MD
    path.write_text("\n".join(lines) + "\n")
    return path

