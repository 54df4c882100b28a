"""Cross-validated training under the honest protocol (default) or the paper's, in one run folder.

honest: holdout test first (grouped by subject where known), then (grouped) stratified folds on the
rest; z-score, PCA and class-balancing copies are fitted inside each training part; online
augmentation on training batches only; the leakage guard checks every split.
paper:  the published procedure, for comparison only: augmented copies of the pooled images, z-score
and PCA fitted on the whole pool, images (not subjects) split, the test set z-scored with its own
statistics. Every output it writes says it is leaky.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from keras_all.config import TrainConfig
from keras_all.data import LoadedDataset
from keras_all.data.summary import summarize
from keras_all.evaluation.metrics import binary_metrics, high_sensitivity_cutoff, mean_sd, youden_cutoff
from keras_all.evaluation.report import environment, render_run_report
from keras_all.front import fit_head
from keras_all.training.arrays import spike_maps
from keras_all.training.model import (
    augmentation,
    balance_with_copies,
    build_classifier,
    distribution_scope,
    inference_model,
    recalibrate_batch_norm,
)
from keras_all.training.run_dir import close_run, mark_failed, open_run, read_json, write_json, write_or_check
from keras_all.training.splits import assign_splits, check_no_leak, fold_indices

LEAK_WARNING = ("LEAKY: paper protocol. Augmented copies of one image sit in training and test, z-score and "
                "PCA saw the test images, and images (not subjects) were split. For comparison only.")


SUMMARY_KEYS = ("accuracy", "sensitivity", "specificity", "precision", "f1", "auc", "balanced_accuracy",
                "weighted_f1")


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


def train(data: LoadedDataset, config: TrainConfig, run: Path, resume: bool = False,
          echo: Callable[[str], None] = print) -> dict:
    """Run the whole cross-validation into ``run``; returns what metrics.json holds."""
    check_trainable(data, config)
    run = open_run(Path(run), resume)
    try:
        seed_everything(config.seed)
        write_or_check(run / "config.yaml", config.to_yaml(), resume, "configuration")
        write_json(run / "data_summary.json", summarize(data))
        samples = data.samples.reset_index(drop=True)
        echo(f"computing spike maps of {len(samples)} images at {config.front.spike_size} px")
        maps = spike_maps(samples["path"], config.front)
        protocol = _honest if config.protocol == "honest" else _paper
        result = protocol(samples, maps, config, run, resume, echo)
        predictions = _run_predictions(run, config.folds)
        result["operating_points"] = operating_points(predictions)
        result["environment"] = environment()
        cutoff = result["operating_points"]["youden"]["cutoff"]
        predictions.assign(prediction=(predictions["probability"] >= cutoff).astype(int)).to_csv(
            run / "predictions.csv", index=False)
        write_json(run / "metrics.json", result)
        _preprocessing_figure(samples, config, run)
        render_run_report(run)
        close_run(run)
        return result
    except BaseException as error:
        mark_failed(run, error)
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
    write_or_check(run / "splits.csv", splits.to_csv(index=False), resume, "split assignment")
    labels = samples["label"].to_numpy()
    test = np.flatnonzero(splits["split"] == "test")
    dev = np.flatnonzero(splits["split"] == "dev")
    check_no_leak(samples, dev, test, "dev vs holdout test")
    folds = []
    for k in range(config.folds):
        train_idx, val_idx = fold_indices(splits, k)
        check_no_leak(samples, train_idx, val_idx, f"fold {k}")
        folds.append(train_fold(f"fold {k + 1}/{config.folds}", run / f"fold_{k}", samples, maps, labels,
                                train_idx, val_idx, test, config, config.seed + 1 + k, resume, echo))
    final = train_fold("final model", run / "final", samples, maps, labels, dev, None, test, config,
                       config.seed + 1000, resume, echo, save_inference=True)
    return _summary("honest", folds, final, len(dev), len(test))


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
    write_or_check(run / "splits.csv", splits.to_csv(index=False), resume, "split assignment")
    head = fit_head(pool, config.front, config.seed)  # fitted on everything, test included: the leak
    labels = pooled["label"].to_numpy()
    test = np.flatnonzero(splits["split"] == "test")
    dev = np.flatnonzero(splits["split"] == "dev")
    pool = pool.copy()
    pool[test] = _own_statistics(pool[test], head)
    folds = []
    for k in range(config.folds):
        train_idx, val_idx = fold_indices(splits, k)
        folds.append(train_fold(f"fold {k + 1}/{config.folds} (paper)", run / f"fold_{k}", pooled, pool, labels,
                                train_idx, val_idx, test, config, config.seed + 1 + k, resume, echo, head=head))
    final = train_fold("final model (paper)", run / "final", pooled, pool, labels, dev, None, test, config,
                       config.seed + 1000, resume, echo, head=head, save_inference=True)
    return _summary("paper", folds, final, len(dev), len(test))


def _own_statistics(test_maps, head):
    """What the authors did to the test set: z-score it with its own statistics (expressed so that the
    model's pool z-score then yields exactly that)."""
    mean, std = test_maps.mean(axis=0), test_maps.std(axis=0)
    std[std == 0] = 1.0
    return (test_maps - mean) / std * np.sqrt(head.variance_) + head.mean_


def train_fold(label, folder, samples, maps, labels, train_idx, val_idx, test_idx, config, seed, resume, echo,
               head=None, save_inference=False, keep_model=True):
    """Train one model on ``train_idx`` into ``folder``; metrics on validation and holdout test (each if given)."""
    done = folder / "metrics.json"
    if resume and done.exists():
        echo(f"{label}: already finished, kept")
        return read_json(done)
    folder.mkdir(exist_ok=True)
    keras.utils.set_random_seed(seed)
    x, y = maps[train_idx], labels[train_idx]
    if config.balance and config.protocol == "honest":
        x, y = balance_with_copies(x, y, seed)
    head = head or fit_head(x, config.front, seed)
    validation = None if val_idx is None else (maps[val_idx], keras.utils.to_categorical(labels[val_idx], 2))
    callbacks = [
        keras.callbacks.ReduceLROnPlateau(monitor="val_accuracy" if validation else "accuracy",
                                          factor=config.lr_factor, patience=config.lr_patience),
        keras.callbacks.CSVLogger(str(folder / "log.csv")),
        EpochProgress(echo, label, config.epochs),
    ]
    with distribution_scope(config) as replicas:
        if replicas > 1:
            echo(f"{label}: data-parallel over {replicas} devices")
        model = build_classifier(config, head, maps.shape[1:], seed)
        model.fit(x, keras.utils.to_categorical(y, 2), validation_data=validation, epochs=config.epochs,
                  batch_size=config.batch_size, shuffle=True, verbose=0, callbacks=callbacks)
    if config.recalibrate_bn:
        recalibrate_batch_norm(model, x, config.batch_size, seed)
    if keep_model:
        model.save(folder / "model.keras")
    if save_inference:
        inference_model(config, model).save(folder.parent / "model.keras")
    parts = {name: index for name, index in (("validation", val_idx), ("test", test_idx)) if index is not None}
    scored = np.concatenate(list(parts.values()))
    probability = model.predict(maps[scored], batch_size=config.batch_size, verbose=0)[:, 1]
    metrics = {"n_train": int(len(train_idx)), "n_train_with_copies": int(len(x))}
    rows, start = [], 0
    for part, index in parts.items():
        p = probability[start : start + len(index)]
        start += len(index)
        metrics[part] = binary_metrics(labels[index], p)
        rows.append(samples.iloc[index][["path", "subject", "label"]].assign(
            probability=p, prediction=(p >= 0.5).astype(int), part=part, fold=folder.name))
    pd.concat(rows).to_csv(folder / "predictions.csv", index=False)
    write_json(done, metrics)  # written last: its presence marks the fold finished
    return metrics


def _run_predictions(run: Path, folds: int) -> pd.DataFrame:
    """Out-of-fold validation predictions of the fold models, then the final model's test predictions."""
    parts = [pd.read_csv(run / f"fold_{k}" / "predictions.csv").query("part == 'validation'").assign(fold=k)
             for k in range(folds)]
    parts.append(pd.read_csv(run / "final" / "predictions.csv").assign(fold="final"))
    return pd.concat(parts, ignore_index=True)[["path", "subject", "label", "probability", "prediction", "fold",
                                                "part"]]


def operating_points(predictions: pd.DataFrame, target: float = 0.99) -> dict:
    """Cut-offs chosen on the out-of-fold validation predictions only, then applied to the final
    model's holdout-test predictions."""
    validation = predictions[predictions["part"] == "validation"]
    test = predictions[predictions["part"] == "test"]
    chosen = {
        "youden": ("Youden's J", youden_cutoff(validation["label"], validation["probability"])),
        "high_sensitivity": (f"sensitivity >= {target}", high_sensitivity_cutoff(
            validation["label"], validation["probability"], target)),
    }
    return {name: {"description": text, "cutoff": cutoff, "chosen_on": "out-of-fold validation predictions",
                   "validation": binary_metrics(validation["label"], validation["probability"], cutoff),
                   "final_on_test": binary_metrics(test["label"], test["probability"], cutoff)}
            for name, (text, cutoff) in chosen.items()}


def _preprocessing_figure(samples: pd.DataFrame, config: TrainConfig, run: Path) -> None:
    """The paper's Fig. 3 for four images of the run, z-score fitted on up to 64 of them."""
    from keras_all.figure3 import write_figure3

    front = dataclasses.replace(config.front, pca_components=None)
    with tempfile.TemporaryDirectory() as tmp:
        sheet = write_figure3(samples, front, Path(tmp), n=4, fit_n=64, seed=config.seed)[-1]
        shutil.copy(sheet, run / "preprocessing.png")


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
