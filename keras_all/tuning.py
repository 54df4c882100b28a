"""keras-tuner search over the ResNet's stage widths, identity blocks and learning rate.

Each trial is scored by the trainer's own cross-validation on the development images (the same holdout
split, the same (grouped) stratified folds, z-score and PCA fitted inside each training part); the
holdout test images are never read. The base configuration (the paper's, from a preset) is the space's
default point and always its first trial.

Distributed search uses keras-tuner's chief/worker mode: with KERASTUNER_ORACLE_IP and
KERASTUNER_ORACLE_PORT set, the process whose KERASTUNER_TUNER_ID contains "chief" serves the oracle and
writes the results; every other one runs trials.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pandas as pd
import yaml

from keras_all.artifacts import (
    BEST_CONFIG_YAML,
    CONFIG_YAML,
    REPORT_MD,
    RESULTS_CSV,
    SCORES_JSON,
    SEARCH_YAML,
    SPLITS_CSV,
)
from keras_all.config import TrainConfig
from keras_all.data import LoadedDataset
from keras_all.evaluation.report import markdown_table, na
from keras_all.metrics import mean_sd
from keras_all.models import build_resnet
from keras_all.run_folder import RunFolder, write_json, write_or_check
from keras_all.training.coordinator import Coordinator
from keras_all.training.cross_validate import check_trainable, cross_validation_folds, seed_everything
from keras_all.training.map_source import InMemoryMaps, held_in_memory
from keras_all.training.splits import assign_splits, check_no_leak
from keras_all.training.trainer import RunContext, Trainer

OBJECTIVES = ("val_accuracy", "val_auc")
TUNERS = ("random", "bayesian")
WIDTH_SCALES = (0.5, 1, 2)  # each stage's filters: half, once and twice the base configuration's
IDENTITY_BLOCKS = (0, 1, 2, 3)
LEARNING_RATES = (3e-4, 1e-3, 3e-3)


def _choices(base, extra) -> list:
    return sorted({base, *extra})


class ResNetHyperModel(keras_tuner.HyperModel):
    """Per stage the bottleneck (f1, f2) and output (f3) filters, identity blocks per stage and learning rate,
    around a base configuration, which is the default point of the space."""

    def __init__(self, base: TrainConfig):
        super().__init__(name="resnet_widths")
        self.base = base

    def config_for(self, hp: keras_tuner.HyperParameters) -> TrainConfig:
        """The base configuration with this point's widths, identity blocks and learning rate."""
        widths = []
        for stage, (f1, f2, f3) in enumerate(self.base.model.widths, start=2):
            bottleneck = hp.Choice(f"stage{stage}_bottleneck", _choices(f1, (max(1, round(f1 * s)) for s in
                                                                              WIDTH_SCALES)), default=f1)
            out = hp.Choice(f"stage{stage}_output", _choices(f3, (max(1, round(f3 * s)) for s in WIDTH_SCALES)),
                            default=f3)
            widths.append((bottleneck, max(1, round(bottleneck * f2 / f1)), out))
        blocks = hp.Choice("identity_blocks", _choices(self.base.model.identity_blocks, IDENTITY_BLOCKS),
                           default=self.base.model.identity_blocks)
        rate = hp.Choice("learning_rate", _choices(float(self.base.fit.learning_rate), LEARNING_RATES),
                         default=float(self.base.fit.learning_rate))
        return self.base.with_values({"model.widths": widths, "model.identity_blocks": blocks,
                                      "fit.learning_rate": rate})

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """This point's ResNet at the base configuration's input shape (trials train it through the trainer)."""
        config = self.config_for(hp)
        front = config.front
        return build_resnet((front.input_size, front.input_size, front.model_channels), config.model.widths,
                            config.model.identity_blocks, bn_momentum=config.model.bn_momentum)


class _BaseFirst:
    """An oracle whose first trial is the space's default point: the base configuration is always scored."""

    def populate_space(self, trial_id):
        if not self.trials:
            return {"status": "RUNNING", "values": {hp.name: hp.default for hp in self.hyperparameters.space}}
        return super().populate_space(trial_id)


class BaseFirstRandomSearchOracle(_BaseFirst, keras_tuner.oracles.RandomSearchOracle):
    """Random search after the base configuration."""


class BaseFirstBayesianOracle(_BaseFirst, keras_tuner.oracles.BayesianOptimizationOracle):
    """Gaussian-process Bayesian optimisation after the base configuration."""


@dataclass
class DevFolds:
    """The development images (the holdout removed), their spike maps and their fold assignment."""

    source: InMemoryMaps
    splits: pd.DataFrame
    echo: object = print


class CrossValidatedTuner(keras_tuner.Tuner):
    """run_trial trains the trial's configuration on every fold's training part and returns the mean of
    the folds' validation accuracy and AUC; fold results are kept, so a retried trial resumes."""

    def run_trial(self, trial, dev: DevFolds):
        config = self.hypermodel.config_for(trial.hyperparameters)
        folder = Path(self.get_trial_dir(trial.trial_id))
        started = time.perf_counter()
        trial_folds = cross_validation_folds(dev.splits, config, dev.source.samples,
                                             label=f"trial {trial.trial_id} fold")
        context = RunContext(RunFolder(folder), resume=True, echo=dev.echo, keep_models=False)
        results = Trainer(config, context, dev.source, Coordinator(), balance=config.fit.balance).run_folds(trial_folds)
        folds = [result.metrics["validation"] for result in results]
        scores = {f"val_{key}": [fold[key] for fold in folds] for key in ("accuracy", "auc")}
        write_json(folder / SCORES_JSON, {**scores, "seconds": time.perf_counter() - started})
        if any(v is None for v in scores["val_auc"]):
            raise keras_tuner.errors.FailedTrialError("a validation fold holds one class only; AUC undefined")
        return {name: float(np.mean(values)) for name, values in scores.items()}


def role() -> str:
    """single, chief or worker, from keras-tuner's environment variables."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "single"
    for name in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        if name not in os.environ:
            raise ValueError(f"KERASTUNER_ORACLE_IP is set but {name} is not; set both for a distributed search")
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


@dataclass(frozen=True)
class SearchSettings:
    """How a search runs: the tuner (``random`` or ``bayesian``), its trials, and the objective it maximises (the
    mean over the folds' validation parts of ``val_accuracy`` or ``val_auc``)."""

    tuner: str = "random"
    max_trials: int = 10
    objective: str = "val_accuracy"

    def __post_init__(self):
        if self.tuner not in TUNERS:
            raise ValueError(f"tuner={self.tuner!r}: use one of {', '.join(TUNERS)}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective={self.objective!r}: use one of {', '.join(OBJECTIVES)}")


def make_tuner(base: TrainConfig, output: Path, search: SearchSettings, overwrite: bool) -> CrossValidatedTuner:
    settings = {"objective": keras_tuner.Objective(search.objective, "max"), "max_trials": search.max_trials,
                "seed": base.run.seed}
    if search.tuner == "random":
        oracle = BaseFirstRandomSearchOracle(**settings)
    else:  # a third of the trials (at least 2, the base among them) explore before the model guides
        oracle = BaseFirstBayesianOracle(**settings, num_initial_points=max(2, search.max_trials // 3))
    return CrossValidatedTuner(oracle=oracle, hypermodel=ResNetHyperModel(base), directory=str(output),
                               project_name="search", overwrite=overwrite)


def prepare_dev(data: LoadedDataset, base: TrainConfig, output: Path, echo) -> DevFolds:
    """The trainer's holdout split and folds (written to splits.csv), and spike maps of the dev images only."""
    if base.run.max_per_class is not None:
        data = data.subsample(base.run.max_per_class, base.run.seed)
    samples = data.samples.reset_index(drop=True)
    splits = assign_splits(samples, base.run.folds, base.run.test_fraction, base.run.seed)
    write_or_check(output / SPLITS_CSV, splits.to_csv(index=False), True, "split assignment")
    dev = np.flatnonzero(splits["split"] == "dev")
    check_no_leak(samples, dev, np.flatnonzero(splits["split"] == "test"), "dev vs holdout test")
    dev_samples = samples.iloc[dev].reset_index(drop=True)
    echo(f"tuning on {len(dev)} development images; {len(samples) - len(dev)} holdout test images left unread")
    echo(f"computing spike maps of {len(dev)} images at {base.front.spike_size} px")
    return DevFolds(held_in_memory(dev_samples, base),
                    splits.iloc[dev].reset_index(drop=True), echo)


def tune(data: LoadedDataset | None, base: TrainConfig, output: Path, settings: SearchSettings = SearchSettings(),
         resume: bool = False, echo=print) -> pd.DataFrame | None:
    """Run (or resume) the search into ``output``.

    Args:
        data: the data set (None on a distributed chief, which only serves the oracle and writes results).
        base: the base configuration, the search's default point and first trial.
        output: the search folder.
        settings: the tuner, its trials and its objective.
        resume: continue an interrupted search in ``output``.
        echo: where progress lines go.

    Returns:
        The results table, one row per trial (None on a distributed worker).
    """
    if base.run.protocol != "honest":
        raise ValueError("tuning scores trials by the honest protocol only; set protocol: honest in the preset")
    if base.fit.distribute == "multi-worker":
        raise ValueError("distribute: multi-worker is for keras-all train; a search spreads its trials over machines "
                         "with KERASTUNER_TUNER_ID and KERASTUNER_ORACLE_* (README); set distribute: none or mirrored")
    where = role()
    output = Path(output)
    if data is not None:
        check_trainable(data, base)
    if where == "worker":
        output.mkdir(parents=True, exist_ok=True)
    else:
        RunFolder(output).open(resume, command="tune")
    try:
        write_or_check(output / CONFIG_YAML, base.to_yaml(), resume or where == "worker", "configuration")
        write_or_check(output / SEARCH_YAML, yaml.safe_dump(dataclasses.asdict(settings)),
                       resume or where == "worker", "search settings")
        search = make_tuner(base, output, settings, overwrite=where != "worker" and not resume)
        objective = settings.objective
        seed_everything(base.run.seed)
        dev = None if where == "chief" else prepare_dev(data, base, output, echo)
        search.search(dev)
        if where == "worker":
            return None
        table = results_table(search, objective)
        table.to_csv(output / RESULTS_CSV, index=False)
        write_best_config(table, search.hypermodel, search.oracle, output, objective)
        render_tuning_report(output)
        RunFolder(output).close()
        return table
    except BaseException as error:
        if where != "worker":
            RunFolder(output).mark_failed(error)
        raise


def results_table(search: CrossValidatedTuner, objective: str) -> pd.DataFrame:
    """One row per trial: hyperparameters, parameter count, fold scores of the objective, mean and sd."""
    rows = []
    for trial_id, trial in sorted(search.oracle.trials.items()):
        hp = trial.hyperparameters
        config = search.hypermodel.config_for(hp.copy())
        scores_file = Path(search.get_trial_dir(trial_id)) / SCORES_JSON
        scores = json.loads(scores_file.read_text()) if scores_file.exists() else {}
        folds = scores.get(objective, [])
        summary = mean_sd([{objective: v} for v in folds], (objective,)).get(objective, {})
        row = {"trial": trial_id, "status": trial.status,
               "base": all(hp.values.get(h.name) == h.default for h in hp.space)}
        row.update({f"stage{s}": "-".join(map(str, w)) for s, w in enumerate(config.model.widths, start=2)})
        row.update(identity_blocks=config.model.identity_blocks, learning_rate=config.fit.learning_rate,
                   parameters=search.hypermodel.build(hp.copy()).count_params())
        row.update({f"fold_{k + 1}": v for k, v in enumerate(folds)})
        row.update(mean=summary.get("mean"), sd=summary.get("sd"), seconds=scores.get("seconds"),
                   message=_last_line(trial.message))
        rows.append(row)
    return pd.DataFrame(rows)


def _last_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else ""


def write_best_config(table: pd.DataFrame, hypermodel: ResNetHyperModel, oracle, output: Path,
                      objective: str) -> None:
    """best_config.yaml: the best completed trial as a preset that `keras-all train --config` takes."""
    done = table[(table["status"] == "COMPLETED") & table["mean"].notna()]
    if done.empty:
        raise ValueError(f"{output}: no trial completed; see the trial messages in {output / 'search'}")
    best = done.sort_values(["mean", "trial"], ascending=[False, True]).iloc[0]
    config = hypermodel.config_for(oracle.trials[best["trial"]].hyperparameters.copy())
    config = config.with_values({"run.name": f"{hypermodel.base.run.name}-tuned"})
    header = (f"# Best of {len(done)} completed trials (trial {best['trial']}) by mean {objective} "
              f"{best['mean']:.4f} over {config.run.folds} folds; written by keras-all tune.\n"
              "#   keras-all train --dataset ... --data-dir ... --config best_config.yaml\n")
    write_or_check(output / BEST_CONFIG_YAML, header + config.to_yaml(), False, "best configuration")


def render_tuning_report(output: Path) -> Path:
    """report.md of a search, from its config.yaml, search.yaml, splits.csv and results.csv."""
    table = pd.read_csv(output / RESULTS_CSV, dtype={"trial": str})
    settings = yaml.safe_load((output / SEARCH_YAML).read_text())
    splits = pd.read_csv(output / SPLITS_CSV) if (output / SPLITS_CSV).exists() else None
    objective = settings["objective"]
    fold_columns = [c for c in table.columns if c.startswith("fold_")]
    shown = table.sort_values("mean", ascending=False, na_position="last")
    stages = [c for c in table.columns if c.startswith("stage")]  # one per stage of the searched ResNet
    columns = ["trial", *stages, "identity_blocks", "learning_rate", "parameters", *fold_columns, "mean", "sd",
               "status"]
    lines = [f"# Search over the ResNet's block widths ({settings['tuner']}, {settings['max_trials']} trials)", "",
             f"Objective: mean {objective} over the folds of the development images, each fold's z-score and PCA "
             "fitted on its own training part. Trial marked * is the base configuration (config.yaml).", ""]
    if splits is not None:
        lines += [f"Images: {int((splits['split'] == 'dev').sum())} development, "
                  f"{int((splits['split'] == 'test').sum())} holdout test (never read by the search).", ""]
    rows = []
    for row in shown.itertuples(index=False):
        cells = {}
        for column in columns:
            value = getattr(row, column)
            if column == "trial" and bool(row.base):
                value = f"{value}*"
            elif column == "learning_rate":
                value = f"{value:.4g}"
            elif isinstance(value, float):
                value = na(None if np.isnan(value) else value)
            cells[column] = str(value)
        rows.append(cells)
    lines += markdown_table(rows)
    lines += ["", "Best configuration: best_config.yaml (`keras-all train --config best_config.yaml`)."]
    path = output / REPORT_MD
    path.write_text("\n".join(lines) + "\n")
    return path
