"""The Python entry points behind `keras-all train`: a run from data and a preset or configuration."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from keras_all.artifacts import (
    BASELINE_JSON,
    BASELINE_PREDICTIONS_CSV,
    METRICS_JSON,
    MODEL_KERAS,
    PREDICTIONS_CSV,
    PREPROCESSING_PNG,
    SALIENCY_PNG,
)
from keras_all.cells.slide_rule import SLIDE_RULE, fit_slide_rule
from keras_all.config import TrainConfig, load_config
from keras_all.data import LoadedDataset
from keras_all.evaluation.familiarity import FAMILIARITY, by_splits, familiarity_lines, statistics_of_files
from keras_all.evaluation.field_controls import CONTROLS_FILE, cell_run_lines, field_controls
from keras_all.evaluation.report import environment, write_run_report
from keras_all.evaluation.run_result import RunResult, assess
from keras_all.evaluation.saliency import saliency_figure
from keras_all.evaluation.stress import stress_lines, write_stress
from keras_all.loader import LoadedModel, load_model
from keras_all.models import FoldEnsemble
from keras_all.run_folder import RunFolder
from keras_all.training import cross_validate
from keras_all.training.coordinator import coordinator_for
from keras_all.training.trainer import RunContext


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
    coordinator = coordinator_for(config)
    if not coordinator.is_chief:
        with tempfile.TemporaryDirectory(prefix="keras-all-worker-") as scratch:
            cross_validate.train(data, config, RunContext(RunFolder(Path(scratch) / "run"), resume, echo), coordinator)
        return None
    run = RunFolder(output) if output is not None else RunFolder.new("saved_models", config.run.name)
    trained = cross_validate.train(data, config, RunContext(run, resume, echo), coordinator)
    try:
        finish(run, trained, data.samples.reset_index(drop=True))
        run.close()
    except BaseException as error:
        run.mark_failed(error)
        raise
    return run


def finish(run: RunFolder, trained: cross_validate.TrainedRun, samples: pd.DataFrame) -> None:
    """After the folds: their figures (``evaluation.run_result.assess``) written as metrics.json, predictions.csv
    and the baseline's files; the delivered model with its cut-off as model.keras; the report and its figures."""
    config, result = trained.config, assess(trained)
    metrics = {**result.metrics, "environment": environment()}
    run.write_json(METRICS_JSON, metrics)
    run.write_csv(PREDICTIONS_CSV, result.predictions)
    if result.baseline is not None:
        run.write_json(BASELINE_JSON, result.baseline.to_dict())
        run.write_csv(BASELINE_PREDICTIONS_CSV, result.baseline_predictions)
    model = _delivered_model(run, trained, result)
    model.save(run / MODEL_KERAS)
    saliency_figure(model, result.predictions[result.predictions["part"] == "test"], run / SALIENCY_PNG)
    _preprocessing_figure(samples, config, run)
    _cell_run_files(run, trained, result)
    if config.run.protocol == "honest":
        statistics = statistics_of_files(trained.splits["path"], config.front)
        familiarity, summary = by_splits(statistics, trained.splits, config.front.image_size)
        run.write_json(FAMILIARITY, {**familiarity.to_dict(), "summary": summary})
    if config.run.protocol == "honest" and config.run.stress:
        test = result.predictions[result.predictions["part"] == "test"]
        write_stress(run.path, LoadedModel(run / MODEL_KERAS, "run", run.path), test["path"], test["label"],
                     config.run.seed, echo=lambda line: None)
    write_run_report(run.path, config, trained.data, metrics, result.predictions, report_sections(run.path))


def report_sections(run: Path) -> list[str]:
    """The sections a run's report adds after its operating points, from its files: the refusal of unfamiliar
    inputs, the stress test, and a cell run's fields beside their controls."""
    return familiarity_lines(run) + stress_lines(run) + cell_run_lines(run)


def _cell_run_files(run: RunFolder, trained: cross_validate.TrainedRun, result: RunResult) -> None:
    """For a cell run: the rule from cells to their field's verdict fitted on the validation folds
    (slide_rule.json), and the fields' verdicts of the model beside its controls (controls.json)."""
    if trained.config.cells.unit != "cell":
        return
    fitted = fit_slide_rule(result.predictions, run.read_csv("cells/cells.csv", keep_default_na=False), result.cutoff)
    if fitted is not None:
        run.write_json(SLIDE_RULE, fitted)
    baseline_cutoff = None if result.baseline is None else result.baseline.cutoff
    controls = field_controls(run, trained, result.predictions, result.cutoff, result.baseline_predictions,
                              baseline_cutoff)
    if controls is not None:
        run.write_json(CONTROLS_FILE, controls)


def _delivered_model(run: RunFolder, trained: cross_validate.TrainedRun, result: RunResult):
    """The final model, or the fold models' ensemble, at the run's validated cut-off."""
    config = trained.config
    home = run.path / trained.folder  # the kept way of learning's fold models (top-instance training's: top/)
    if config.run.final == "refit":
        model = load_model(home / "final" / MODEL_KERAS).classifier
    else:
        folds = range(config.run.folds)
        model = FoldEnsemble([load_model(home / f"fold_{k}" / MODEL_KERAS).classifier for k in folds],
                             name="keras_all_ensemble")
    model.cutoff = result.cutoff
    return model


def _preprocessing_figure(samples: pd.DataFrame, config: TrainConfig, run: RunFolder) -> None:
    """The paper's Fig. 3 for four images of the run, z-score fitted on up to 64 of them."""
    from keras_all.figure3 import write_figure3

    front = dataclasses.replace(config.front, pca_components=None)
    with tempfile.TemporaryDirectory() as tmp:
        sheet = write_figure3(samples, front, Path(tmp), n=4, fit_n=64, seed=config.run.seed)[-1]
        shutil.copy(sheet, run / PREPROCESSING_PNG)
