"""Score a trained model on any labelled data set: `keras-all evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import pandas as pd

from keras_all.data import LoadedDataset
from keras_all.data.summary import summarize
from keras_all.evaluation.metrics import binary_metrics
from keras_all.evaluation.plots import confusion_plot, roc_plot
from keras_all.evaluation.report import data_lines, environment, environment_lines, interval_lines, paper_table
from keras_all.training.arrays import load_images
from keras_all.training.run_dir import write_json


def locate_model(model: str | Path) -> tuple[Path, Path | None]:
    """(the .keras file, its run folder or None) from a run folder or a .keras file."""
    model = Path(model)
    if model.is_dir():
        if not (model / "model.keras").is_file():
            raise ValueError(f"{model}: no model.keras here; give a finished run folder or a .keras file")
        return model / "model.keras", model
    if model.suffix != ".keras" or not model.is_file():
        raise ValueError(f"{model}: not a .keras file or a run folder")
    run = model.parent if (model.parent / "metrics.json").is_file() else None
    return model, run


def chosen_threshold(run: Path | None, threshold: float | None) -> tuple[float, str]:
    if threshold is not None:
        if not 0 <= threshold <= 1:
            raise ValueError(f"--threshold {threshold}: a cut-off on the ALL probability lies in [0, 1]")
        return threshold, "given on the command line"
    if run is not None:
        point = json.loads((run / "metrics.json").read_text())["operating_points"]["youden"]
        return point["cutoff"], f"Youden's J on the run's out-of-fold validation predictions ({run})"
    return 0.5, "default (no run folder to take a validated cut-off from)"


def spike_size_of(model: keras.Model) -> int:
    return model.get_layer("spike_maps").get_layer("spike_resize").height


def evaluate(model_ref: str | Path, data: LoadedDataset, out: Path, threshold: float | None = None,
             batch_size: int = 32) -> dict:
    """Predict every image of ``data``, write metrics.json, predictions.csv, plots and report.md into ``out``."""
    model_file, run = locate_model(model_ref)
    cutoff, source = chosen_threshold(run, threshold)
    model = keras.saving.load_model(model_file)
    samples = data.samples.reset_index(drop=True)
    images = load_images(samples["path"], spike_size_of(model))
    probability = model.predict(images, batch_size=batch_size, verbose=0)[:, 1]
    overlap = 0
    if run is not None:
        trained_on = set(pd.read_csv(run / "splits.csv").query("split == 'dev'")["path"].map(_resolved))
        overlap = int(samples["path"].map(_resolved).isin(trained_on).sum())
    out.mkdir(parents=True, exist_ok=True)
    predictions = samples[["path", "subject", "label"]].assign(
        probability=probability, prediction=(probability >= cutoff).astype(int), fold="evaluation")
    predictions.to_csv(out / "predictions.csv", index=False)
    result = {"model": str(model_file), "threshold": cutoff, "threshold_source": source,
              "images_used_in_training": overlap, "metrics": binary_metrics(samples["label"], probability, cutoff),
              "data_summary": summarize(data), "environment": environment()}
    write_json(out / "metrics.json", result)
    render_evaluation_report(out)
    return result


def _resolved(path: str) -> str:
    return str(Path(path).resolve())


def render_evaluation_report(out: str | Path) -> Path:
    """Plots and report.md of an evaluation folder, from its metrics.json and predictions.csv."""
    out = Path(out)
    result = json.loads((out / "metrics.json").read_text())
    predictions = pd.read_csv(out / "predictions.csv")
    m = result["metrics"]
    confusion_plot(m, out / "confusion.png", f"cut-off {result['threshold']:.4g}")
    roc_plot(predictions["label"], predictions["probability"], out / "roc.png", "ROC", result["threshold"])
    lines = [f"# keras-all evaluation of `{result['model']}`", ""]
    if result["images_used_in_training"]:
        lines += [f"> **{result['images_used_in_training']} of these images were used to train this model: "
                  "its numbers here are optimistic.**", ""]
    lines += ["## Data", *data_lines(result["data_summary"]), "",
              "## Cut-off", f"- {result['threshold']:.4g}: {result['threshold_source']}", "",
              "## Results (the paper's Tables 4 and 5 layout)", *paper_table(m), "", *interval_lines(m), "",
              "![confusion matrix](confusion.png) ![ROC](roc.png)", "",
              "## Environment", *environment_lines(result["environment"]), "",
              "Files: `metrics.json`, `predictions.csv` (path, subject, label, probability, prediction), plots."]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path

