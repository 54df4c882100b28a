"""The Python entry points behind `keras-all train`: a run from data and a preset or configuration."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from keras_all.config import TrainConfig, load_config
from keras_all.data import LoadedDataset
from keras_all.evaluation.baseline import by_splits, histogram_features
from keras_all.evaluation.comparison import paired_tests
from keras_all.evaluation.operating_points import operating_points
from keras_all.evaluation.report import environment, render_run_report
from keras_all.evaluation.saliency import saliency_figure
from keras_all.loader import load_model
from keras_all.metrics import binary_metrics
from keras_all.models import FoldEnsemble
from keras_all.run_folder import VALIDATED_POINT, RunFolder
from keras_all.training import cross_validate
from keras_all.training.cluster import cluster_of


def train(data: LoadedDataset, config: TrainConfig | None = None, *, preset: str | None = None,
          output: str | Path | None = None, resume: bool = False,
          echo: Callable[[str], None] = print) -> RunFolder | None:
    """Cross-validate on ``data`` and deliver a finished run folder.

    Args:
        data: a loaded data set (``keras_all.data.load_dataset``).
        config: the run's configuration; or give ``preset`` (a name in ``keras_all.presets``) instead.
        output: the run folder (default saved_models/<timestamp>-<name>).
        resume: continue an interrupted run in ``output`` from its last finished fold.
        echo: where progress lines go.

    Returns:
        The run folder: ``run.metrics()``, ``keras_all.load_model(run)`` (its delivered model at the validated
        cut-off), report.md and the rest of its files. None on a multi-worker run's workers other than
        the chief, which writes the run folder alone.
    """
    if (config is None) == (preset is None):
        raise ValueError("give either a configuration or a preset")
    config = config or load_config(preset=preset)
    cluster = cluster_of(config)
    if cluster is not None and not cluster.is_chief:
        with tempfile.TemporaryDirectory(prefix="keras-all-worker-") as scratch:
            cross_validate.train(data, config, Path(scratch) / "run", resume, echo)
        return None
    run = RunFolder(output) if output is not None else RunFolder.new("saved_models", config.name)
    result = cross_validate.train(data, config, run, resume, echo)
    try:
        finish(run, result, config, data.samples.reset_index(drop=True))
        run.close()
    except BaseException as error:
        run.mark_failed(error)
        raise
    return run


def finish(run: RunFolder, result: dict, config: TrainConfig, samples: pd.DataFrame) -> None:
    """After the folds: cut-offs from the out-of-fold predictions, the colour-histogram baseline by the same splits
    (honest runs), metrics.json, predictions.csv, the delivered model with its cut-off as model.keras, the report
    and its figures."""
    predictions = cross_validate.run_predictions(run, config.folds, config.final)
    points = operating_points(predictions)
    cutoff = points[VALIDATED_POINT]["cutoff"]
    ensemble = cross_validate.fold_ensemble_test(run, config.folds)
    result = {**result, "delivered": config.final,
              "ensemble_on_test": binary_metrics(ensemble["label"], ensemble["probability"])}
    if not result["leaky"]:
        result.update(beside_baseline(run, predictions[predictions["part"] == "test"], cutoff, config.front.crop))
    run.write_json("metrics.json", {**result, "operating_points": points, "environment": environment()})
    run.write_csv("predictions.csv", predictions.assign(prediction=(predictions["probability"] >= cutoff).astype(int)))
    model = load_model(run / "final" / "model.keras").classifier if config.final == "refit" else FoldEnsemble(
        [load_model(run / f"fold_{k}" / "model.keras").classifier for k in range(config.folds)],
        name="keras_all_ensemble")
    model.cutoff = cutoff
    model.save(run / "model.keras")
    saliency_figure(model, predictions[predictions["part"] == "test"], run / "saliency.png")
    _preprocessing_figure(samples, config, run)
    render_run_report(run.path)


def beside_baseline(run: RunFolder, test: pd.DataFrame, cutoff: float, crop: float) -> dict:
    """The colour-histogram baseline cross-validated by the run's splits (baseline.json: its final fit;
    baseline_predictions.csv), and the paired tests of the delivered model against it on the holdout test."""
    splits = run.read_csv("splits.csv")
    fitted, summary, predictions = by_splits(histogram_features(splits["path"], crop), splits)
    run.write_json("baseline.json", fitted.to_dict())
    run.write_csv("baseline_predictions.csv", predictions)
    both = test.merge(predictions.query("part == 'test'"), on="path", suffixes=("", "_baseline"))
    return {"baseline": summary, "versus_baseline": paired_tests(both["label"], both["probability"], cutoff,
                                                                 both["probability_baseline"], fitted.cutoff)}


def _preprocessing_figure(samples: pd.DataFrame, config: TrainConfig, run: RunFolder) -> None:
    """The paper's Fig. 3 for four images of the run, z-score fitted on up to 64 of them."""
    from keras_all.figure3 import write_figure3

    front = dataclasses.replace(config.front, pca_components=None)
    with tempfile.TemporaryDirectory() as tmp:
        sheet = write_figure3(samples, front, Path(tmp), n=4, fit_n=64, seed=config.seed)[-1]
        shutil.copy(sheet, run / "preprocessing.png")
