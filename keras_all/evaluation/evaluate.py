"""Score a trained model on any labelled data set: `keras-all evaluate`."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd

from keras_all.data import LoadedDataset
from keras_all.data.summary import summarize
from keras_all.evaluation.metrics import binary_metrics
from keras_all.evaluation.plots import confusion_plot, roc_plot
from keras_all.evaluation.report import data_lines, environment, environment_lines, interval_lines, paper_table
from keras_all.layers import Decision
from keras_all.models import find_layer, load_model_file
from keras_all.training.arrays import load_images
from keras_all.training.run_dir import read_json, write_json

TRAINING_HASHES = "training_sha256.txt"  # in an export folder: the images its model was trained on


def locate_model(model: str | Path) -> tuple[Path, Path | None]:
    """(the .keras file, the run or export folder it belongs to, or None) from a folder or a .keras file."""
    model = Path(model)
    if model.is_dir():
        if not (model / "model.keras").is_file():
            raise ValueError(f"{model}: no model.keras here; give a finished run folder, an export folder or a "
                             ".keras file")
        model = model / "model.keras"
    elif model.suffix != ".keras" or not model.is_file():
        raise ValueError(f"{model}: not a .keras file, a run folder or an export folder")
    home = model.parent
    is_home = (home / "metrics.json").is_file() or (home / TRAINING_HASHES).is_file()
    return model, home if is_home else None


def chosen_threshold(model: keras.Model, home: Path | None, threshold: float | None) -> tuple[float, str]:
    if threshold is not None:
        if not 0 <= threshold <= 1:
            raise ValueError(f"--threshold {threshold}: a cut-off on the ALL probability lies in [0, 1]")
        return threshold, "given on the command line"
    decision = next((layer for layer in model.layers if isinstance(layer, Decision)), None)
    if decision is not None:
        return decision.cutoff, "the exported model's own (chosen on its run's validation predictions)"
    if home is not None and (home / "metrics.json").is_file():
        point = read_json(home / "metrics.json")["operating_points"]["youden"]
        return point["cutoff"], f"Youden's J on the run's out-of-fold validation predictions ({home})"
    return 0.5, "default (no run folder to take a validated cut-off from)"


def training_hashes(home: Path | None) -> set[str]:
    """sha256 of every image the model was trained on (its run's development part), where known."""
    if home is None:
        return set()
    if (home / TRAINING_HASHES).is_file():
        return set((home / TRAINING_HASHES).read_text().split())
    splits = home / "splits.csv"
    if not splits.is_file():
        return set()
    table = pd.read_csv(splits, dtype=str)
    if "sha256" not in table:
        raise ValueError(f"{splits}: has no sha256 column (written by an older keras-all); train again to "
                         "check evaluation images against the training images")
    return set(table.loc[table["split"] == "dev", "sha256"].str.split(":").str[0])  # paper copies: "<hash>:<k>"


def class_probabilities(model: keras.Model, images, batch_size: int = 32):
    """ALL probabilities from a run's model (class probabilities) or an exported one (a dict)."""
    out = model.predict(images, batch_size=batch_size, verbose=0)
    return np.asarray(out["probability"]) if isinstance(out, dict) else out[:, 1]


def evaluate(model_ref: str | Path, data: LoadedDataset, out: Path, threshold: float | None = None,
             batch_size: int = 32) -> dict:
    """Predict every image of ``data``, write metrics.json, predictions.csv, plots and report.md into ``out``."""
    model_file, home = locate_model(model_ref)
    model = load_model_file(model_file)
    cutoff, source = chosen_threshold(model, home, threshold)
    samples = data.samples.reset_index(drop=True)
    images = load_images(samples["path"], find_layer(model, "spike_resize").height)
    probability = class_probabilities(model, images, batch_size)
    overlap = int(samples["sha256"].isin(training_hashes(home)).sum())  # by content: any path, any copy
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


def render_evaluation_report(out: str | Path) -> Path:
    """Plots and report.md of an evaluation folder, from its metrics.json and predictions.csv."""
    out = Path(out)
    result = read_json(out / "metrics.json")
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

