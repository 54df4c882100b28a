"""The trainer: one run's context (configuration, run folder, resume state, console, compiled model) and its two
strategies, injected once: where the maps come from (``map_source``) and who trains (``coordinator``)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

from keras_all.artifacts import LOG_CSV, METRICS_JSON, MODEL_KERAS, PREDICTIONS_CSV, TRAINING_SCORES_CSV
from keras_all.config import TrainConfig
from keras_all.metrics import binary_metrics
from keras_all.run_folder import RunFolder
from keras_all.training.coordinator import Coordinator
from keras_all.training.map_source import InMemoryMaps
from keras_all.training.model import FoldModel, recalibrate_batch_norm
from keras_all.training.streaming import EpochOrder, MapBatches

# A small set's epoch is a handful of optimizer steps (130 images per class: 5), too few to judge a plateau by:
# under early stopping, patience is counted in epochs but never spans fewer than these many steps.
STOP_PATIENCE_STEPS = 150
TRAINING_SCORES = TRAINING_SCORES_CSV  # a fold's own training rows, scored where its Fold asks
LR_PATIENCE_STEPS = 75


@dataclass(frozen=True)
class Fold:
    """One model to train: what it is called, its folder in the run, its rows and its seed."""

    label: str  # shown on the console, e.g. "fold 2/4"
    name: str  # its folder: fold_0, ..., final
    train: np.ndarray
    validation: np.ndarray | None
    test: np.ndarray | None
    seed: int
    epochs: int | None = None  # trained every epoch up to this many (the final model's); None: the config's budget
    score_training: bool = False  # also score its own training rows, into training_scores.csv (path, probability)


@dataclass(frozen=True)
class FoldResult:
    """What a fold gives back: its metrics.json, and its validation and test rows scored (path, subject, label,
    probability, prediction at 0.5, part, fold); on a multi-worker run's other workers, no rows."""

    metrics: dict
    predictions: pd.DataFrame | None


@dataclass
class RunContext:
    """Where a trainer writes, whether it resumes finished folds, where its lines go, and whether it keeps each
    fold's model.keras (a search does not)."""

    run: RunFolder
    resume: bool = False
    echo: Callable[[str], None] = print
    keep_models: bool = True


class Trainer:
    """Trains a run's folds, one compiled model reused from fold to fold.

    Args:
        config: the run's configuration.
        context: its run folder, resume state and console.
        source: the maps the folds index (``InMemoryMaps`` or ``CachedMaps``).
        coordinator: who trains (``coordinator_for(config)``).
        balance: add augmented copies of the minority class to each training part (the honest protocol's).
    """

    def __init__(self, config: TrainConfig, context: RunContext, source: InMemoryMaps, coordinator: Coordinator,
                 balance: bool = False):
        self.config, self.context, self.source, self.coordinator = config, context, source, coordinator
        self.balance = balance
        self.fold_model = FoldModel(config)

    def run_folds(self, folds: list[Fold], standardizer=None) -> list[FoldResult]:
        """Each fold in turn (one finished in the run folder is kept when resuming). ``standardizer``: one fitted
        for every fold (the paper protocol's), else each fold fits its own on its training part."""
        return [self.train_fold(fold, standardizer) for fold in folds]

    def train_fold(self, fold: Fold, standardizer=None) -> FoldResult:
        """Train one model on ``fold.train`` into its sub-folder; score its validation and test rows. metrics.json,
        written last, marks the fold finished. What the chief decides (a fold finished before a resume, each epoch's
        scores, the fold's metrics) is what every worker goes by."""
        config, echo, source = self.config, self.context.echo, self.source
        folder = self.context.run.part(fold.name)
        finished = self.coordinator.from_chief(self._finished(folder))
        if finished is not None:
            echo(f"{fold.label}: already finished, kept")
            return FoldResult(finished, folder.read_csv(PREDICTIONS_CSV) if self.coordinator.is_chief else None)
        keras.utils.set_random_seed(fold.seed)
        x, y = source.training_rows(fold.train, self.balance, fold.seed, folder)
        standardizer = standardizer or source.standardizer(x, config.front, fold.seed)
        epochs = fold.epochs or config.fit.epochs
        stop_patience, lr_patience = patiences(config, len(x))
        validation = None if fold.validation is None else source.labels[fold.validation]
        monitor, stopping = monitored(config, validation, stop_patience)
        with self.coordinator.building() as replicas:
            if replicas > 1:
                echo(f"{fold.label}: data-parallel over {replicas} devices{self.coordinator.about}")
            model = self.fold_model.start(standardizer, fold.seed, len(x))[1]
        callbacks = [
            keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode="min" if monitor.endswith("loss") else "max",
                                              factor=config.fit.lr_factor, patience=lr_patience),
            keras.callbacks.CSVLogger(str(folder / LOG_CSV)),
            EpochProgress(echo, fold.label, epochs),
        ]
        if stopping is not None:
            callbacks.insert(0, stopping)
        if fold.validation is not None:
            callbacks.insert(0, ValidationScores(self, source.rows(fold.validation), validation, x, fold.seed))
        # Every fit takes epoch k's batches in the k-th order drawn from the fold's seed: a multi-worker run of
        # either protocol trains on what one process would.
        batches = MapBatches(x, config.fit.batch_size, y, seed=fold.seed, shard=self.coordinator.shard)
        with self.coordinator.fitting():
            history = model.fit(self.coordinator.training_input(batches), epochs=epochs, verbose=0, shuffle=False,
                                callbacks=[EpochOrder(batches), *callbacks])
        trained = len(history.history["loss"])
        best = trained if stopping is None else stopping.best_epoch + 1
        if stopping is not None:
            echo(f"{fold.label}: best {monitor} {stopping.best:.4f} at epoch {best} of {trained}; its weights kept")
        metrics = {"n_train": int(len(fold.train)), "n_train_with_copies": int(len(x)),
                   "eager": model.run_eagerly, "epochs_trained": trained, "best_epoch": best,
                   "patience": {"stop": stop_patience if stopping is not None else None, "learning_rate": lr_patience}}
        predictions = self._score(fold, folder, x, metrics) if self.coordinator.is_chief else None
        source.release(x)
        return FoldResult(self.coordinator.from_chief(metrics), predictions)

    def _finished(self, folder: RunFolder) -> dict | None:
        """The metrics of a fold an interrupted run finished, where resuming and this process writes the run."""
        done = self.context.resume and self.coordinator.is_chief and (folder / METRICS_JSON).exists()
        return folder.read_json(METRICS_JSON) if done else None

    def _score(self, fold: Fold, folder: RunFolder, x, metrics: dict) -> pd.DataFrame:
        """After training: batch norms recalibrated on ``x`` (where asked), the classifier saved (where kept), the
        validation and test rows scored into predictions.csv, and ``metrics`` with those scores as metrics.json."""
        config, source = self.config, self.source
        classifier, model = self.fold_model.scoring()
        with self.fold_model.on_this_machine():
            if config.fit.recalibrate_bn:
                recalibrate_batch_norm(classifier, x, config.fit.batch_size, fold.seed,
                                       plain=self.fold_model.plain(classifier))
            if self.context.keep_models:
                self.fold_model.finish().save(folder / MODEL_KERAS)
            parts = {name: index for name, index in (("validation", fold.validation), ("test", fold.test))
                     if index is not None}
            scored = np.concatenate(list(parts.values()))
            probability = source.predict(model, source.rows(scored), config.fit.batch_size)[:, 1]
            if fold.score_training:
                own = source.predict(model, source.rows(fold.train), config.fit.batch_size)[:, 1]
                folder.write_csv(TRAINING_SCORES, source.samples.iloc[fold.train][["path"]].assign(
                    probability=as_written(own)))
        tables, start = [], 0
        for part, index in parts.items():
            p = probability[start : start + len(index)]
            start += len(index)
            metrics[part] = binary_metrics(source.labels[index], p)
            tables.append(source.samples.iloc[index][["path", "subject", "label"]].assign(
                probability=p, prediction=(p >= 0.5).astype(int), part=part, fold=fold.name))
        predictions = pd.concat(tables)
        folder.write_csv(PREDICTIONS_CSV, predictions)
        folder.write_json(METRICS_JSON, metrics)  # written last: its presence marks the fold finished
        return predictions.assign(probability=as_written(predictions["probability"]))


def as_written(probability) -> np.ndarray:
    """float32 probabilities as predictions.csv holds them (each one's shortest decimal, read as float64): a fold
    just trained and a fold read back from its file on resume give the run the same numbers."""
    return np.array([float(str(v)) for v in np.asarray(probability, "float32")])


class ValidationScores(keras.callbacks.Callback):
    """The validation part's loss, accuracy and AUC after each epoch, put into the epoch's logs for the callbacks
    after it (learning-rate schedule, early stopping, log.csv); Keras' own AUC metric would score both one-hot
    columns together, not the ALL probability. A run that recalibrates its batch norms re-estimates them first, on
    16 batches of the training maps ``train``, so that each epoch is scored as it would be delivered. On a
    multi-worker run the chief scores, and every worker takes its scores."""

    def __init__(self, trainer: Trainer, rows, labels: np.ndarray, train, seed: int):
        super().__init__()
        self.trainer, self.rows, self.labels, self.train, self.seed = trainer, rows, labels, train, seed

    def on_epoch_end(self, epoch, logs=None):
        coordinator = self.trainer.coordinator
        logs.update(coordinator.from_chief(self.scores() if coordinator.is_chief else None))

    def scores(self) -> dict:
        config, fold_model = self.trainer.config, self.trainer.fold_model
        classifier, model = fold_model.scoring()
        with fold_model.on_this_machine():
            if config.fit.recalibrate_bn:
                recalibrate_batch_norm(classifier, self.train, config.fit.batch_size, self.seed, max_batches=16,
                                       plain=fold_model.plain(classifier))
            probability = self.trainer.source.predict(model, self.rows, config.fit.batch_size)
        scores = {"val_loss": float(log_loss(self.labels, probability, labels=[0, 1])),
                  "val_accuracy": float(np.mean(probability.argmax(axis=1) == self.labels))}
        if len(np.unique(self.labels)) == 2:
            scores["val_auc"] = float(roc_auc_score(self.labels, probability[:, 1]))
        return scores


class EpochProgress(keras.callbacks.Callback):
    """One line per epoch: metrics, and seconds taken (validation included)."""

    def __init__(self, echo, label, epochs):
        super().__init__()
        self.echo, self.label, self.epochs = echo, label, epochs

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        shown = "  ".join(f"{k} {v:.3f}" for k, v in (logs or {}).items() if k != "learning_rate")
        seconds = time.perf_counter() - self.started
        self.echo(f"{self.label}  epoch {epoch + 1}/{self.epochs}  {shown}  ({seconds:.1f} s)")


def patiences(config: TrainConfig, n_train: int) -> tuple[int, int]:
    """Epochs without a better score before a fold stops and before its learning rate is cut: the configured ones,
    stretched under early stopping to span at least STOP_PATIENCE_STEPS and LR_PATIENCE_STEPS optimizer steps of
    ``n_train`` maps (the paper's fixed schedule, stop_on off, is left as configured)."""
    if config.fit.stop_on == "off":
        return config.fit.stop_patience, config.fit.lr_patience
    steps = math.ceil(n_train / config.fit.batch_size)
    return (max(config.fit.stop_patience, math.ceil(STOP_PATIENCE_STEPS / steps)),
            max(config.fit.lr_patience, math.ceil(LR_PATIENCE_STEPS / steps)))


def monitored(config: TrainConfig, validation_labels: np.ndarray | None, patience: int):
    """What the learning-rate schedule watches, and the early stopping (or None): the validation part's score
    that ``stop_on`` names (its loss where it holds one class only, which has no AUC), validation accuracy where
    stopping is off (the paper's), training accuracy without a validation part."""
    if validation_labels is None:
        return "accuracy", None
    if config.fit.stop_on == "off":
        return "val_accuracy", None
    both = len(np.unique(validation_labels)) == 2
    monitor = "val_auc" if config.fit.stop_on == "auc" and both else "val_loss"
    return monitor, keras.callbacks.EarlyStopping(monitor=monitor, mode="min" if monitor == "val_loss" else "max",
                                                  patience=patience, restore_best_weights=True)
