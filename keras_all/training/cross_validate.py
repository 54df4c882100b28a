"""Cross-validated training under the honest protocol (default) or the paper's, in one run folder.

honest: holdout test first (grouped by subject where known), then (grouped) stratified folds on the
rest; z-score, PCA and class-balancing copies are fitted inside each training part; online
augmentation on training batches only; the leakage guard checks every split.
paper:  the published procedure, for comparison only: augmented copies of the pooled images, z-score
and PCA fitted on the whole pool, images (not subjects) split, the test set z-scored with its own
statistics. Every output it writes says it is leaky.

Both protocols (and the tuner) train their models through one loop, ``run_folds``. The trainer writes
each fold's files and returns the summary; choosing cut-offs and writing the report is the caller's
(``keras_all.api.train``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from keras_all.config import TrainConfig
from keras_all.data import LoadedDataset
from keras_all.data.summary import summarize
from keras_all.front import Standardizer
from keras_all.metrics import SUMMARY_KEYS, binary_metrics, mean_sd
from keras_all.run_folder import RunFolder
from keras_all.training.arrays import spike_maps
from keras_all.training.model import (
    FoldModel,
    augmentation,
    balance_with_copies,
    distribution_scope,
    recalibrate_batch_norm,
)
from keras_all.training.splits import assign_splits, check_no_leak, fold_indices

LEAK_WARNING = ("LEAKY: paper protocol. Augmented copies of one image sit in training and test, z-score and "
                "PCA saw the test images, and images (not subjects) were split. For comparison only.")


@dataclass(frozen=True)
class Fold:
    """One model to train: what it is called, its folder in the run, its rows and its seed."""

    label: str  # shown on the console, e.g. "fold 2/4"
    name: str  # its folder: fold_0, ..., final
    train: np.ndarray
    validation: np.ndarray | None
    test: np.ndarray | None
    seed: int


@dataclass(frozen=True)
class FoldInputs:
    """The rows every fold indexes: their samples table and their spike maps."""

    samples: pd.DataFrame
    maps: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        return self.samples["label"].to_numpy()


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


def train(data: LoadedDataset, config: TrainConfig, run: RunFolder, resume: bool = False,
          echo: Callable[[str], None] = print) -> dict:
    """Train every fold and the final model into ``run``, which is left marked INCOMPLETE for the caller to
    finish; returns the summary (what metrics.json holds, less the operating points)."""
    check_trainable(data, config)
    run = RunFolder(run).open(resume)
    try:
        seed_everything(config.seed)
        run.write_or_check("config.yaml", config.to_yaml(), resume, "configuration")
        run.write_json("data_summary.json", summarize(data))
        samples = data.samples.reset_index(drop=True)
        echo(f"computing spike maps of {len(samples)} images at {config.front.spike_size} px")
        maps = spike_maps(samples["path"], config.front)
        protocol = _honest if config.protocol == "honest" else _paper
        return protocol(samples, maps, config, run, resume, echo)
    except BaseException as error:
        run.mark_failed(error)
        raise


def check_trainable(data: LoadedDataset, config: TrainConfig) -> None:
    """Before any folder is made: both classes present and, under the honest protocol, enough of each for
    the holdout and the folds (one line naming what is missing)."""
    labels = data.samples["label"]
    if labels.nunique() < 2:
        only = "ALL (label 1)" if labels.iloc[0] == 1 else "healthy (label 0)"
        raise ValueError(f"{data.root}: all {len(labels)} images are {only}; training needs images of both classes")
    if config.protocol == "honest":
        assign_splits(data.samples, config.folds, config.test_fraction, config.seed)


def seed_everything(seed: int) -> None:
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def _honest(samples, maps, config, run, resume, echo):
    splits = assign_splits(samples, config.folds, config.test_fraction, config.seed)
    run.write_or_check("splits.csv", splits.to_csv(index=False), resume, "split assignment")
    test = np.flatnonzero(splits["split"] == "test")
    dev = np.flatnonzero(splits["split"] == "dev")
    check_no_leak(samples, dev, test, "dev vs holdout test")
    folds = cross_validation_folds(splits, config, samples, test=test)
    results = run_folds([*folds, _final(dev, test, config, "")], FoldInputs(samples, maps), config, run,
                        resume=resume, echo=echo)
    return _summary("honest", results[:-1], results[-1], len(dev), len(test))


def cross_validation_folds(splits: pd.DataFrame, config: TrainConfig, samples: pd.DataFrame | None = None,
                           test: np.ndarray | None = None, label: str = "fold", suffix: str = "") -> list[Fold]:
    """The folds of ``splits``, each checked for leaks across its training and validation parts when
    ``samples`` are given (the paper protocol's pooled copies are not)."""
    folds = []
    for k in range(config.folds):
        train_idx, val_idx = fold_indices(splits, k)
        if samples is not None:
            check_no_leak(samples, train_idx, val_idx, f"{label} {k}")
        folds.append(Fold(f"{label} {k + 1}/{config.folds}{suffix}", f"fold_{k}", train_idx, val_idx, test,
                          config.seed + 1 + k))
    return folds


def _final(dev, test, config, suffix) -> Fold:
    return Fold(f"final model{suffix}", "final", dev, None, test, config.seed + 1000)


def _paper(samples, maps, config, run, resume, echo):
    copies = config.paper_augment_factor - 1
    origin = np.concatenate([np.arange(len(maps))] + [np.arange(len(maps))] * copies)
    extra = [keras.ops.convert_to_numpy(augmentation(config.seed + c)(maps, training=True)) for c in range(copies)]
    pool = np.concatenate([maps, *extra])
    pooled = samples.iloc[origin].reset_index(drop=True).assign(copy=np.repeat(np.arange(copies + 1), len(maps)))
    pooled["subject_group"] = ""  # the paper splits images, whatever their subject
    pooled["sha256"] = pooled["sha256"] + ":" + pooled["copy"].astype(str)
    splits = assign_splits(pooled, config.folds, config.test_fraction, config.seed)
    splits.insert(1, "copy", pooled["copy"])
    run.write_or_check("splits.csv", splits.to_csv(index=False), resume, "split assignment")
    standardizer = Standardizer(config.front, config.seed).fit(pool)  # fitted on everything, test included: the leak
    test = np.flatnonzero(splits["split"] == "test")
    dev = np.flatnonzero(splits["split"] == "dev")
    pool = pool.copy()
    pool[test] = own_statistics(pool[test], standardizer)
    folds = cross_validation_folds(splits, config, test=test, suffix=" (paper)")
    results = run_folds([*folds, _final(dev, test, config, " (paper)")], FoldInputs(pooled, pool), config, run,
                        resume=resume, echo=echo, standardizer=standardizer)
    return _summary("paper", results[:-1], results[-1], len(dev), len(test))


def own_statistics(test_maps: np.ndarray, standardizer: Standardizer) -> np.ndarray:
    """What the authors did to the test set: z-score it with its own statistics (expressed so that the
    model's pool z-score then yields exactly that)."""
    mean, std = test_maps.mean(axis=0), test_maps.std(axis=0)
    std[std == 0] = 1.0
    return (test_maps - mean) / std * np.sqrt(standardizer.variance_) + standardizer.mean_


def run_folds(folds: list[Fold], inputs: FoldInputs, config: TrainConfig, run: RunFolder, *, resume: bool,
              echo: Callable[[str], None], standardizer: Standardizer | None = None,
              keep_models: bool = True) -> list[dict]:
    """Train each fold in turn (a fold already finished in ``run`` is kept when resuming); their metrics.

    Args:
        folds: the models to train.
        inputs: the rows the folds index (samples and spike maps).
        config: the run's configuration.
        run: the run (or trial) folder; each fold writes into its sub-folder.
        resume: keep folds whose metrics.json exists.
        echo: where progress lines go.
        standardizer: one fitted standardizer for every fold (the paper protocol's), else each fold fits its own.
        keep_models: save each fold's classifier as model.keras (a search does not).
    """
    fold_model = FoldModel(config)
    return [train_fold(fold, inputs, config, run, resume=resume, echo=echo, standardizer=standardizer,
                       keep_model=keep_models, fold_model=fold_model) for fold in folds]


def train_fold(fold: Fold, inputs: FoldInputs, config: TrainConfig, run: RunFolder, *, resume: bool,
               echo: Callable[[str], None], standardizer: Standardizer | None = None, keep_model: bool = True,
               fold_model: FoldModel | None = None) -> dict:
    """Train one model on ``fold.train`` into its sub-folder of ``run``; metrics on its validation and holdout
    test rows (each where given). metrics.json, written last, marks the fold finished. ``fold_model`` is the
    run's compiled model, reused from fold to fold (a new one where not given)."""
    folder = RunFolder(run).part(fold.name)
    if resume and (folder / "metrics.json").exists():
        echo(f"{fold.label}: already finished, kept")
        return folder.read_json("metrics.json")
    keras.utils.set_random_seed(fold.seed)
    maps, labels = inputs.maps, inputs.labels
    x, y = maps[fold.train], labels[fold.train]
    if config.balance and config.protocol == "honest":
        x, y = balance_with_copies(x, y, fold.seed)
    standardizer = standardizer or Standardizer(config.front, fold.seed).fit(x)
    validation = None if fold.validation is None else (maps[fold.validation],
                                                       keras.utils.to_categorical(labels[fold.validation], 2))
    callbacks = [
        keras.callbacks.ReduceLROnPlateau(monitor="val_accuracy" if validation else "accuracy",
                                          factor=config.lr_factor, patience=config.lr_patience),
        keras.callbacks.CSVLogger(str(folder / "log.csv")),
        EpochProgress(echo, fold.label, config.epochs),
    ]
    with distribution_scope(config) as replicas:
        if replicas > 1:
            echo(f"{fold.label}: data-parallel over {replicas} devices")
        fold_model = fold_model or FoldModel(config)
        classifier, model = fold_model.start(standardizer, fold.seed, len(x))
        model.fit(x, keras.utils.to_categorical(y, 2), validation_data=validation, epochs=config.epochs,
                  batch_size=config.batch_size, shuffle=True, verbose=0, callbacks=callbacks)
    if config.recalibrate_bn:
        recalibrate_batch_norm(classifier, x, config.batch_size, fold.seed)
    if keep_model:
        fold_model.finish().save(folder / "model.keras")
    parts = {name: index for name, index in (("validation", fold.validation), ("test", fold.test))
             if index is not None}
    scored = np.concatenate(list(parts.values()))
    probability = model.predict(maps[scored], batch_size=config.batch_size, verbose=0)[:, 1]
    metrics = {"n_train": int(len(fold.train)), "n_train_with_copies": int(len(x)),
               "eager": model.run_eagerly}
    rows, start = [], 0
    for part, index in parts.items():
        p = probability[start : start + len(index)]
        start += len(index)
        metrics[part] = binary_metrics(labels[index], p)
        rows.append(inputs.samples.iloc[index][["path", "subject", "label"]].assign(
            probability=p, prediction=(p >= 0.5).astype(int), part=part, fold=fold.name))
    folder.write_csv("predictions.csv", pd.concat(rows))
    folder.write_json("metrics.json", metrics)  # written last: its presence marks the fold finished
    return metrics


def run_predictions(run: RunFolder, folds: int) -> pd.DataFrame:
    """Out-of-fold validation predictions of the fold models, then the final model's test predictions."""
    parts = [run.read_csv(f"fold_{k}/predictions.csv").query("part == 'validation'").assign(fold=k)
             for k in range(folds)]
    parts.append(run.read_csv("final/predictions.csv").assign(fold="final"))
    return pd.concat(parts, ignore_index=True)[["path", "subject", "label", "probability", "prediction", "fold",
                                                "part"]]


def _summary(protocol, folds, final, n_dev, n_test):
    result = {
        "protocol": protocol,
        "leaky": protocol == "paper",
        "n_dev": n_dev,
        "n_test": n_test,
        "folds": folds,
        "validation_mean_sd": mean_sd([f["validation"] for f in folds], SUMMARY_KEYS),
        "fold_models_on_test_mean_sd": mean_sd([f["test"] for f in folds], SUMMARY_KEYS),
        "final_on_test": final["test"],
    }
    if protocol == "paper":
        result["warning"] = LEAK_WARNING
    return result
