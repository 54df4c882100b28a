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

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

from keras_all.config import TrainConfig
from keras_all.data import LoadedDataset
from keras_all.data.summary import summarize
from keras_all.front import Standardizer
from keras_all.metrics import SUMMARY_KEYS, binary_metrics, mean_sd
from keras_all.run_folder import RunFolder
from keras_all.training.arrays import spike_maps
from keras_all.training.cluster import Cluster, cluster_of, training_input
from keras_all.training.model import (
    FoldModel,
    augmentation,
    balance_with_copies,
    distribution_scope,
    recalibrate_batch_norm,
)
from keras_all.training.splits import assign_splits, check_no_leak, fold_indices
from keras_all.training.streaming import (
    EpochOrder,
    MapBatches,
    MapCache,
    Rows,
    balanced_rows,
    cached_maps,
    choose_storage,
    discard_copies,
    fit_standardizer,
    probabilities,
)

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
    epochs: int | None = None  # trained every epoch up to this many (the final model's); None: the config's budget


@dataclass(frozen=True)
class FoldInputs:
    """The rows every fold indexes: their samples table and their spike maps (in memory, or a run's cache)."""

    samples: pd.DataFrame
    maps: np.ndarray | MapCache

    @property
    def labels(self) -> np.ndarray:
        return self.samples["label"].to_numpy()


class ValidationScores(keras.callbacks.Callback):
    """The validation part's loss, accuracy and AUC after each epoch, put into the epoch's logs for the callbacks
    after it (learning-rate schedule, early stopping, log.csv); Keras' own AUC metric would score both one-hot
    columns together, not the ALL probability. A run that recalibrates its batch norms re-estimates them first, on
    16 batches of the training maps ``train``, so that each epoch is scored as it would be delivered (training-mode
    batch norm never reads those statistics, so the training itself is unchanged). On a multi-worker run the chief
    scores, and every worker takes its scores."""

    def __init__(self, maps: np.ndarray | Rows, labels: np.ndarray, config: TrainConfig, fold_model: FoldModel,
                 train: np.ndarray | Rows, seed: int, cluster: Cluster | None = None):
        super().__init__()
        self.maps, self.labels, self.config, self.fold_model = maps, labels, config, fold_model
        self.train, self.seed, self.cluster = train, seed, cluster

    def on_epoch_end(self, epoch, logs=None):
        scores = self.scores() if self.cluster is None or self.cluster.is_chief else None
        logs.update(scores if self.cluster is None else self.cluster.from_chief(scores))

    def scores(self) -> dict:
        classifier, model = self.fold_model.scoring()
        with self.fold_model.on_this_machine():
            if self.config.recalibrate_bn:
                recalibrate_batch_norm(classifier, self.train, self.config.batch_size, self.seed, max_batches=16)
            probability = probabilities(model, self.maps, self.config.batch_size)
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


def train(data: LoadedDataset, config: TrainConfig, run: RunFolder, resume: bool = False,
          echo: Callable[[str], None] = print) -> dict:
    """Train every fold and the final model into ``run``, which is left marked INCOMPLETE for the caller to
    finish; returns the summary (what metrics.json holds, less the operating points).

    On a multi-worker run every worker calls this with the same data and settings (checked); a worker other than
    the chief trains into a scratch ``run`` of its own and resumes the folds the chief resumes."""
    if config.max_per_class is not None:
        data = data.subsample(config.max_per_class, config.seed)
    check_trainable(data, config)
    cluster = cluster_of(config)
    run = RunFolder(run).open(resume and (cluster is None or cluster.is_chief))
    try:
        seed_everything(config.seed)
        run.write_or_check("config.yaml", config.to_yaml(), resume, "configuration")
        run.write_json("data_summary.json", summarize(data))
        samples = data.samples.reset_index(drop=True)
        storage, why = choose_storage(config.maps, len(samples), config.front, config.protocol)
        if cluster is not None:
            cluster.check_same("images, labels or settings", config.to_yaml() + samples[["sha256", "label"]].to_csv())
            storage, why = cluster.from_chief([storage, why])
        held = "held in memory" if storage == "memory" else "streamed from a cache in the run folder"
        echo(f"computing spike maps of {len(samples)} images at {config.front.spike_size} px, {held}: {why}")
        if storage == "memory":
            maps = spike_maps(samples["path"], config.front)
        else:
            maps = cached_maps(samples["path"], config.front, run, resume, echo, config.batch_size)
        protocol = _honest if config.protocol == "honest" else _paper
        result = {**protocol(samples, maps, config, run, resume, echo), "maps": {"storage": storage, "why": why}}
        if storage == "stream":  # every fold is finished: the cache has served its purpose
            maps.close()
            shutil.rmtree(run / "maps")
        return result
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
    results = run_folds_then_final(folds, lambda epochs: _final(dev, test, config, "", epochs),
                                   FoldInputs(samples, maps), config, run, resume=resume, echo=echo)
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


def _final(dev, test, config, suffix, epochs) -> Fold:
    return Fold(f"final model{suffix}", "final", dev, None, test, config.seed + 1000, epochs)


def final_epochs(config: TrainConfig, folds: list[dict]) -> int:
    """Epochs of the final model, which has no validation part to stop on: the median of the folds' best epochs
    (rounded up) where they stopped early, else the configured number."""
    if config.stop_on == "off":
        return config.epochs
    return int(np.ceil(np.median([fold["best_epoch"] for fold in folds])))


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
    results = run_folds_then_final(folds, lambda epochs: _final(dev, test, config, " (paper)", epochs),
                                   FoldInputs(pooled, pool), config, run, resume=resume, echo=echo,
                                   standardizer=standardizer)
    return _summary("paper", results[:-1], results[-1], len(dev), len(test))


def own_statistics(test_maps: np.ndarray, standardizer: Standardizer) -> np.ndarray:
    """What the authors did to the test set: z-score it with its own statistics (expressed so that the
    model's pool z-score then yields exactly that)."""
    mean, std = test_maps.mean(axis=0), test_maps.std(axis=0)
    std[std == 0] = 1.0
    return (test_maps - mean) / std * np.sqrt(standardizer.variance_) + standardizer.mean_


def run_folds(folds: list[Fold], inputs: FoldInputs, config: TrainConfig, run: RunFolder, *, resume: bool,
              echo: Callable[[str], None], standardizer: Standardizer | None = None,
              keep_models: bool = True, fold_model: FoldModel | None = None) -> list[dict]:
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
        fold_model: the run's compiled model, where an earlier call made one (else a new one).
    """
    fold_model = fold_model or FoldModel(config)
    return [train_fold(fold, inputs, config, run, resume=resume, echo=echo, standardizer=standardizer,
                       keep_model=keep_models, fold_model=fold_model) for fold in folds]


def run_folds_then_final(folds: list[Fold], final: Callable[[int], Fold], inputs: FoldInputs, config: TrainConfig,
                         run: RunFolder, *, resume: bool, echo: Callable[[str], None],
                         standardizer: Standardizer | None = None) -> list[dict]:
    """``run_folds`` over the folds, then over the final model that ``final`` makes for ``final_epochs``
    epochs; the folds' metrics, then the final model's."""
    fold_model = FoldModel(config)
    results = run_folds(folds, inputs, config, run, resume=resume, echo=echo, standardizer=standardizer,
                        fold_model=fold_model)
    epochs = final_epochs(config, results)
    if config.stop_on != "off":
        best = ", ".join(str(fold["best_epoch"]) for fold in results)
        echo(f"final model: {epochs} epochs, the median of the folds' best ({best})")
    return [*results, *run_folds([final(epochs)], inputs, config, run, resume=resume, echo=echo,
                                 standardizer=standardizer, fold_model=fold_model)]


def train_fold(fold: Fold, inputs: FoldInputs, config: TrainConfig, run: RunFolder, *, resume: bool,
               echo: Callable[[str], None], standardizer: Standardizer | None = None, keep_model: bool = True,
               fold_model: FoldModel | None = None) -> dict:
    """Train one model on ``fold.train`` into its sub-folder of ``run``; metrics on its validation and holdout
    test rows (each where given). metrics.json, written last, marks the fold finished. ``fold_model`` is the
    run's compiled model, reused from fold to fold (a new one where not given).

    On a multi-worker run every worker trains the model on its slice of each batch; the chief alone scores,
    saves and writes, and what it decides (a fold finished before a resume, each epoch's validation scores, the
    fold's metrics) is what every worker goes by."""
    cluster = cluster_of(config)
    folder = RunFolder(run).part(fold.name)
    finished = folder.read_json("metrics.json") if resume and (folder / "metrics.json").exists() else None
    if cluster is not None:
        finished = cluster.from_chief(finished)
    if finished is not None:
        echo(f"{fold.label}: already finished, kept")
        return finished
    keras.utils.set_random_seed(fold.seed)
    maps, labels = inputs.maps, inputs.labels
    streamed = isinstance(maps, MapCache)
    if streamed:
        x, y = Rows([(maps, fold.train)]), labels[fold.train]
        if config.balance:
            x, y = balanced_rows(x, y, fold.seed, folder)
        standardizer = standardizer or fit_standardizer(x, config.front, fold.seed)
    else:
        x, y = maps[fold.train], labels[fold.train]
        if config.balance and config.protocol == "honest":
            x, y = balance_with_copies(x, y, fold.seed)
        standardizer = standardizer or Standardizer(config.front, fold.seed).fit(x)
    epochs = fold.epochs or config.epochs
    stop_patience, lr_patience = patiences(config, len(x))
    monitor, stopping = _monitored(config, None if fold.validation is None else labels[fold.validation],
                                   stop_patience)
    fold_model = fold_model or FoldModel(config)
    with distribution_scope(config) as replicas:
        if replicas > 1:
            echo(f"{fold.label}: data-parallel over {replicas} devices" +
                 (f" ({cluster.count} workers; this is {cluster})" if cluster is not None else ""))
        model = fold_model.start(standardizer, fold.seed, len(x))[1]
    callbacks = [
        keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode="min" if monitor.endswith("loss") else "max",
                                          factor=config.lr_factor, patience=lr_patience),
        keras.callbacks.CSVLogger(str(folder / "log.csv")),
        EpochProgress(echo, fold.label, epochs),
    ]
    if stopping is not None:
        callbacks.insert(0, stopping)
    if fold.validation is not None:
        validation = Rows([(maps, fold.validation)]) if streamed else maps[fold.validation]
        callbacks.insert(0, ValidationScores(validation, labels[fold.validation], config, fold_model, x, fold.seed,
                                             cluster))
    # Every fit, streamed or held in memory, on one machine or several, takes epoch k's batches in the k-th order
    # drawn from the fold's seed: a multi-worker run of either protocol trains on what one process would.
    shard = (0, 1) if cluster is None else (cluster.index, cluster.count)
    batches = MapBatches(x, config.batch_size, y, seed=fold.seed, shard=shard)
    with distribution_scope(config, "fit"):
        history = model.fit(batches if cluster is None else training_input(cluster, batches), epochs=epochs,
                            verbose=0, shuffle=False, callbacks=[EpochOrder(batches), *callbacks])
    trained = len(history.history["loss"])
    best = trained if stopping is None else stopping.best_epoch + 1
    if stopping is not None:
        echo(f"{fold.label}: best {monitor} {stopping.best:.4f} at epoch {best} of {trained}; its weights kept")
    metrics = {"n_train": int(len(fold.train)), "n_train_with_copies": int(len(x)),
               "eager": model.run_eagerly, "epochs_trained": trained, "best_epoch": best,
               "patience": {"stop": stop_patience if stopping is not None else None, "learning_rate": lr_patience}}
    if cluster is None or cluster.is_chief:
        metrics = _score_fold(fold, inputs, config, folder, fold_model, x, keep_model, metrics)
    if streamed:
        discard_copies(x)
    return metrics if cluster is None else cluster.from_chief(metrics)


def _score_fold(fold: Fold, inputs: FoldInputs, config: TrainConfig, folder: RunFolder, fold_model: FoldModel,
                x: np.ndarray | Rows, keep_model: bool, metrics: dict) -> dict:
    """After training: batch norms recalibrated on ``x`` (where asked), the classifier saved (where kept), the
    validation and test rows scored into predictions.csv, and ``metrics`` with those scores as metrics.json."""
    classifier, model = fold_model.scoring()
    with fold_model.on_this_machine():
        if config.recalibrate_bn:
            recalibrate_batch_norm(classifier, x, config.batch_size, fold.seed)
        if keep_model:
            fold_model.finish().save(folder / "model.keras")
        parts = {name: index for name, index in (("validation", fold.validation), ("test", fold.test))
                 if index is not None}
        scored = np.concatenate(list(parts.values()))
        maps, labels = inputs.maps, inputs.labels
        rows = Rows([(maps, scored)]) if isinstance(maps, MapCache) else maps[scored]
        probability = probabilities(model, rows, config.batch_size)[:, 1]
    tables, start = [], 0
    for part, index in parts.items():
        p = probability[start : start + len(index)]
        start += len(index)
        metrics[part] = binary_metrics(labels[index], p)
        tables.append(inputs.samples.iloc[index][["path", "subject", "label"]].assign(
            probability=p, prediction=(p >= 0.5).astype(int), part=part, fold=fold.name))
    folder.write_csv("predictions.csv", pd.concat(tables))
    folder.write_json("metrics.json", metrics)  # written last: its presence marks the fold finished
    return metrics


# A small set's epoch is a handful of optimizer steps (130 images per class: 5), too few to judge a plateau by:
# under early stopping, patience is counted in epochs but never spans fewer than these many steps. On 260 Aria
# images the paper's front had barely begun to learn when 10 epochs (50 steps) without a better validation AUC
# stopped it (experiments/README.md).
STOP_PATIENCE_STEPS = 150
LR_PATIENCE_STEPS = 75


def patiences(config: TrainConfig, n_train: int) -> tuple[int, int]:
    """Epochs without a better score before a fold stops and before its learning rate is cut: the configured ones,
    stretched under early stopping to span at least STOP_PATIENCE_STEPS and LR_PATIENCE_STEPS optimizer steps of
    ``n_train`` maps (the paper's fixed schedule, stop_on off, is left as configured)."""
    if config.stop_on == "off":
        return config.stop_patience, config.lr_patience
    steps = math.ceil(n_train / config.batch_size)
    return (max(config.stop_patience, math.ceil(STOP_PATIENCE_STEPS / steps)),
            max(config.lr_patience, math.ceil(LR_PATIENCE_STEPS / steps)))


def _monitored(config: TrainConfig, validation_labels: np.ndarray | None, patience: int):
    """What the learning-rate schedule watches, and the early stopping (or None): the validation part's score
    that ``stop_on`` names (its loss where it holds one class only, which has no AUC), validation accuracy where
    stopping is off (the paper's), training accuracy without a validation part."""
    if validation_labels is None:
        return "accuracy", None
    if config.stop_on == "off":
        return "val_accuracy", None
    both = len(np.unique(validation_labels)) == 2
    monitor = "val_auc" if config.stop_on == "auc" and both else "val_loss"
    return monitor, keras.callbacks.EarlyStopping(monitor=monitor, mode="min" if monitor == "val_loss" else "max",
                                                  patience=patience, restore_best_weights=True)


def run_predictions(run: RunFolder, folds: int, delivered: str = "refit") -> pd.DataFrame:
    """Out-of-fold validation predictions of the fold models, then the delivered model's test predictions: the
    final model's (``refit``) or the mean of the fold models' probabilities (``ensemble``)."""
    parts = [run.read_csv(f"fold_{k}/predictions.csv").query("part == 'validation'").assign(fold=k)
             for k in range(folds)]
    parts.append(run.read_csv("final/predictions.csv").assign(fold="final") if delivered == "refit"
                 else fold_ensemble_test(run, folds))
    return pd.concat(parts, ignore_index=True)[["path", "subject", "label", "probability", "prediction", "fold",
                                                "part"]]


def fold_ensemble_test(run: RunFolder, folds: int) -> pd.DataFrame:
    """The fold models' mean probability for each holdout-test image (what ``FoldEnsemble`` predicts), at 0.5."""
    tests = [run.read_csv(f"fold_{k}/predictions.csv").query("part == 'test'").reset_index(drop=True)
             for k in range(folds)]
    probability = np.mean([t["probability"].to_numpy() for t in tests], axis=0)
    return tests[0].assign(probability=probability, prediction=(probability >= 0.5).astype(int), fold="ensemble")


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
