"""Score a trained model on any labelled data set: `keras-all evaluate`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from keras_all.data import LoadedDataset, load_images
from keras_all.data.summary import summarize
from keras_all.evaluation.baseline import NAME, HistogramBaseline, histogram_features
from keras_all.evaluation.comparison import paired_lines, paired_tests
from keras_all.evaluation.plots import confusion_plot, roc_plot
from keras_all.evaluation.report import data_lines, environment, environment_lines, interval_lines, paper_table
from keras_all.metrics import binary_metrics
from keras_all.models import SpikeResNetClassifier
from keras_all.run_folder import RunFolder, read_json

TRAINING_HASHES = "training_sha256.txt"  # in an export folder: the images its model was trained on
BASELINE = "baseline.json"  # in a run or export folder: the colour-histogram baseline fitted beside the model


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


def chosen_threshold(classifier: SpikeResNetClassifier, home: Path | None,
                     threshold: float | None) -> tuple[float, str]:
    """The cut-off to score at, and where it comes from: given, else the model's own validated one."""
    if threshold is not None:
        if not 0 <= threshold <= 1:
            raise ValueError(f"--threshold {threshold}: a cut-off on the ALL probability lies in [0, 1]")
        return threshold, "given on the command line"
    if home is not None and (home / TRAINING_HASHES).is_file():
        return classifier.cutoff, "the exported model's own (chosen on its run's validation predictions)"
    if home is not None and RunFolder(home).is_run():
        return classifier.cutoff, RunFolder(home).cutoff_source
    return classifier.cutoff, "the model file's own (0.5 unless it was saved by a finished run)"


def training_hashes(home: Path | None) -> set[str]:
    """sha256 of every image the model was trained on (its run's development part), where known."""
    if home is None:
        return set()
    if (home / TRAINING_HASHES).is_file():
        return set((home / TRAINING_HASHES).read_text().split())
    return RunFolder(home).training_hashes()


def evaluate(model_ref: str | Path, data: LoadedDataset, out: Path, threshold: float | None = None,
             batch_size: int = 32) -> dict:
    """Predict every image of ``data``, write metrics.json, predictions.csv, plots and report.md into ``out``.

    Args:
        model_ref: a finished run folder, an export folder or a keras-all ``.keras`` file.
        data: the labelled data set to score.
        out: the evaluation folder.
        threshold: the cut-off on the ALL probability (default: the model's validated one).
        batch_size: images per prediction batch.

    Returns:
        What metrics.json holds.
    """
    model_file, home = locate_model(model_ref)
    classifier = SpikeResNetClassifier.load(model_file)
    cutoff, source = chosen_threshold(classifier, home, threshold)
    samples = data.samples.reset_index(drop=True)
    images = load_images(samples["path"], classifier.preprocessor.front.spike_size)
    probability = classifier.predict(images, batch_size=batch_size, verbose=0)[:, 1]
    overlap = int(samples["sha256"].isin(training_hashes(home)).sum())  # by content: any path, any copy
    out = RunFolder(out)
    out.path.mkdir(parents=True, exist_ok=True)
    predictions = samples[["path", "subject", "label"]].assign(
        probability=probability, prediction=(probability >= cutoff).astype(int), fold="evaluation")
    result = {"model": str(model_file), "threshold": cutoff, "threshold_source": source,
              "images_used_in_training": overlap, "metrics": binary_metrics(samples["label"], probability, cutoff),
              "data_summary": summarize(data), "environment": environment()}
    if home is not None and (home / BASELINE).is_file():  # the run's colour-histogram baseline, on the same images
        baseline = HistogramBaseline.from_dict(read_json(home / BASELINE))
        base = baseline.probability(histogram_features(samples["path"], classifier.preprocessor.front.crop))
        predictions["baseline_probability"] = base
        result["baseline"] = {"name": NAME, "cutoff": baseline.cutoff,
                              "metrics": binary_metrics(samples["label"], base, baseline.cutoff)}
        result["versus_baseline"] = paired_tests(samples["label"], probability, cutoff, base, baseline.cutoff)
    out.write_csv("predictions.csv", predictions)
    out.write_json("metrics.json", result)
    render_evaluation_report(out.path)
    return result


def _baseline_lines(result: dict) -> list[str]:
    if "baseline" not in result:
        return ["## Colour-histogram baseline", "- not available: the model has no run (or export) folder beside it "
                "holding its baseline.json", ""]
    base = result["baseline"]
    return ["## Against the colour-histogram baseline", f"The run's {base['name']}, fitted on the model's development "
            "images, scored on the same images:", "", *interval_lines(base["metrics"]), "",
            *paired_lines(result["versus_baseline"], "model", "baseline"), ""]


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
              "![confusion matrix](confusion.png) ![ROC](roc.png)", "", *_baseline_lines(result),
              "## Environment", *environment_lines(result["environment"]), "",
              "Files: `metrics.json`, `predictions.csv` (path, subject, label, probability, prediction), plots."]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path

