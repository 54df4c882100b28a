"""Cross-validated training under the honest protocol (default) or the paper's, in one run folder.

honest: holdout test first (grouped by subject where known), then (grouped) stratified folds on the
rest; z-score, PCA and class-balancing copies are fitted inside each training part; online
augmentation on training batches only; the leakage guard checks every split.
paper:  the published procedure, for comparison only: augmented copies of the pooled images, z-score
and PCA fitted on the whole pool, images (not subjects) split, the test set z-scored with its own
statistics. Every output it writes says it is leaky.

The two protocols differ here alone: each makes its splits and folds and hands them to one ``Trainer``. The
folds come back with their predictions; what they add up to is ``keras_all.evaluation.run_result``'s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from keras_all.artifacts import CONFIG_YAML, DATA_SUMMARY_JSON, SPLITS_CSV
from keras_all.config import TrainConfig
from keras_all.data import LoadedDataset
from keras_all.data.summary import summarize
from keras_all.front import Standardizer
from keras_all.metrics import SUMMARY_KEYS, mean_sd
from keras_all.tables import na
from keras_all.training.bags import top_cells, validation_field_auc
from keras_all.training.cell_data import cells_of
from keras_all.training.coordinator import Coordinator
from keras_all.training.map_source import CachedMaps, InMemoryMaps, held_in_memory
from keras_all.training.model import augmentation
from keras_all.training.splits import assign_splits, check_no_leak, fold_indices
from keras_all.training.streaming import cached_maps, choose_storage
from keras_all.training.trainer import TRAINING_SCORES, Fold, FoldResult, RunContext, Trainer

LEAK_WARNING = ("LEAKY: paper protocol. Augmented copies of one image sit in training and test, z-score and "
                "PCA saw the test images, and images (not subjects) were split. For comparison only.")


@dataclass(frozen=True)
class TrainedRun:
    """What the folds of a run give back: the configuration they were trained by, the summary metrics.json starts
    from, every fold's result and the final model's, the splits they were cut by, the data's summary and, for a
    cell run, its pipeline controls."""

    config: TrainConfig
    summary: dict
    folds: list[FoldResult]
    final: FoldResult
    splits: pd.DataFrame
    data: dict | None = None  # data_summary.json
    controls: dict | None = None  # a cell run's pipeline controls, by name: each a TrainedRun by the run's splits
    folder: str = ""  # where its fold models lie under the run folder (top-instance training's: top)


def train(data: LoadedDataset, config: TrainConfig, context: RunContext, coordinator: Coordinator) -> TrainedRun:
    """Train every fold and the final model into ``context.run``, which is left marked INCOMPLETE for the caller to
    finish.

    On a multi-worker run every worker calls this with the same data and settings (checked); a worker other than
    the chief trains into a scratch run folder of its own and resumes the folds the chief resumes."""
    if config.cells.unit == "image":
        data = _trainable(data, config)
    run = context.run.open(context.resume and coordinator.is_chief)
    try:
        seed_everything(config.run.seed)
        run.write_or_check(CONFIG_YAML, config.to_yaml(), context.resume, "configuration")
        fields = data
        if config.cells.unit == "cell":  # the fields' white cells, cut into the run folder
            data = _trainable(cells_of(data, config.cells, run / "cells", context.echo), config)
        data_summary = summarize(data)
        run.write_json(DATA_SUMMARY_JSON, data_summary)
        samples = data.samples.reset_index(drop=True)
        source, storage, why = _map_source(samples, config, context, coordinator)
        if config.run.protocol == "honest":
            trained = _honest(source, config, context, coordinator, bags=_bags(data, config))
        else:
            trained = _paper(source, config, context, coordinator)
        source.close()  # every fold is finished: a cache has served its purpose
        trained.summary["maps"] = {"storage": storage, "why": why}
        controls = config.cells.controls if config.cells.unit == "cell" and config.run.protocol == "honest" else ()
        trained = dataclasses.replace(trained, data=data_summary, controls={
            control: _control(control, samples, fields.samples, trained, context, coordinator)
            for control in controls})
        return trained
    except BaseException as error:
        run.mark_failed(error)
        raise


def _bags(data: LoadedDataset, config: TrainConfig) -> str:
    """How the cells learn their field's label: the configured ``cells.bags`` where cells carry only their field's
    label, else ``inherit`` (each its own label, or whole images)."""
    labelled_by_field = config.cells.unit == "cell" and data.cells_of["labels"] == "field label"
    return config.cells.bags if labelled_by_field else "inherit"


def _map_source(samples: pd.DataFrame, config: TrainConfig, context: RunContext, coordinator: Coordinator):
    """The spike maps of ``samples`` held in memory or streamed from a cache in the run folder, as
    ``choose_storage`` decides; with the storage and why."""
    storage, why = choose_storage(config.fit.maps, len(samples), config.front, config.run.protocol,
                                  config.fit.stain_jitter)
    coordinator.check_same("images, labels or settings", config.to_yaml() + samples[["sha256", "label"]].to_csv())
    storage, why = coordinator.from_chief([storage, why])
    held = "held in memory" if storage == "memory" else "streamed from a cache in the run folder"
    context.echo(f"computing spike maps of {len(samples)} images at {config.front.spike_size} px, {held}: {why}")
    if storage == "memory":
        return held_in_memory(samples, config), storage, why
    cache = cached_maps(samples["path"], config.front, context.run, context.resume, context.echo,
                        config.fit.batch_size)
    return CachedMaps(samples, cache, context.run), storage, why


CONTROL_INPUTS = {"cell": "the cells alone (the background of each crop blanked)",
                  "background": "the background alone (every found cell of each crop blanked)",
                  "image": "whole fields"}


def _control(control: str, cells: pd.DataFrame, fields: pd.DataFrame, run: TrainedRun, context: RunContext,
             coordinator: Coordinator) -> TrainedRun:
    """The pipeline fed one control's input (``CONTROL_INPUTS``) and trained by the cell ``run``'s splits and
    configuration, into ``controls/<control>/`` of the run: a cell crop control on each cell's other crop, the
    whole-image control on the fields holding the run's cells, each in the split and fold of its cells."""
    splits, config = run.splits, run.config
    if control == "image":
        place = splits.assign(field=cells["field"]).groupby("field", sort=True)[["split", "fold"]].first()
        samples = fields[fields["path"].isin(place.index)].reset_index(drop=True)
        control_splits = samples[["path", "subject", "label", "sha256"]].assign(
            split=place.loc[samples["path"], "split"].to_numpy(), fold=place.loc[samples["path"], "fold"].to_numpy())
    else:
        samples = cells.assign(path=cells[f"path_{control}"])
        control_splits = splits.assign(path=samples["path"])
    context.echo(f"control: the pipeline fed {CONTROL_INPUTS[control]}, {len(samples)} items, by the run's splits")
    inside = dataclasses.replace(context, run=context.run.part("controls").part(control))
    source = _map_source(samples, config, inside, coordinator)[0]
    trained = _honest(source, config, inside, coordinator, control_splits)
    source.close()
    return trained


def _trainable(data: LoadedDataset, config: TrainConfig) -> LoadedDataset:
    """``data`` subsampled as configured (a cell run draws whole fields: their cells stay bags) and checked to be
    trainable."""
    if config.run.max_per_class is not None:
        data = data.subsample(config.run.max_per_class, config.run.seed,  # a field's cells drawn together
                              "field" if config.cells.unit == "cell" else None)
    check_trainable(data, config)
    return data


def check_trainable(data: LoadedDataset, config: TrainConfig) -> None:
    """Before any folder is made: both classes present and, under the honest protocol, enough of each for
    the holdout and the folds (one line naming what is missing)."""
    labels = data.samples["label"]
    if labels.nunique() < 2:
        only = "ALL (label 1)" if labels.iloc[0] == 1 else "healthy (label 0)"
        raise ValueError(f"{data.root}: all {len(labels)} images are {only}; training needs images of both classes")
    if config.run.protocol == "honest":
        assign_splits(data.samples, config.run.folds, config.run.test_fraction, config.run.seed)


def seed_everything(seed: int) -> None:
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def _honest(source: InMemoryMaps, config: TrainConfig, context: RunContext, coordinator: Coordinator,
            splits: pd.DataFrame | None = None, bags: str = "inherit") -> TrainedRun:
    """The honest protocol on ``source``, by ``splits`` where given (a control's: its run's), else its own; cells
    labelled by their field learn by ``bags`` (``training.bags``)."""
    samples = source.samples
    if splits is None:
        splits = assign_splits(samples, config.run.folds, config.run.test_fraction, config.run.seed)
    context.run.write_or_check(SPLITS_CSV, splits.to_csv(index=False), context.resume, "split assignment")
    test = np.flatnonzero(splits["split"] == "test")
    dev = np.flatnonzero(splits["split"] == "dev")
    check_no_leak(samples, dev, test, "dev vs holdout test")
    mil = bags != "inherit"
    folds = [dataclasses.replace(f, score_training=mil)
             for f in cross_validation_folds(splits, config, samples, test=test)]
    final = _final(dev, test, config, "", None, mil)
    trainer = Trainer(config, context, source, coordinator, balance=config.fit.balance)
    results = folds_then_final(trainer, folds, lambda epochs: dataclasses.replace(final, epochs=epochs))
    inherited = _summary(config, results, len(dev), len(test), splits)
    if not mil:
        return inherited
    context.run.part("top")
    top_folds = [_top_fold(fold, trainer) for fold in folds]
    top_final = _top_fold(final, trainer)
    top = _summary(config, folds_then_final(trainer, top_folds, lambda epochs: dataclasses.replace(
        top_final, epochs=epochs)), len(dev), len(test), splits)
    return _kept_bags(inherited, dataclasses.replace(top, folder="top"), bags, samples, trainer)


def _top_fold(fold: Fold, trainer: Trainer) -> Fold:
    """``fold`` again, trained on its top instances (``bags.top_cells``) as its inheriting model scored them."""
    config, run = trainer.config, trainer.context.run
    kept = None
    if trainer.coordinator.is_chief:
        scores = run.part(fold.name).read_csv(TRAINING_SCORES)
        kept = top_cells(fold.train, trainer.source.samples, scores, config.cells.top_share).tolist()
    kept = np.asarray(trainer.coordinator.from_chief(kept), int)
    return dataclasses.replace(fold, label=f"{fold.label} (top cells)", name=f"top/{fold.name}", train=kept,
                               score_training=False)


def _kept_bags(inherited: TrainedRun, top: TrainedRun, bags: str, samples: pd.DataFrame,
               trainer: Trainer) -> TrainedRun:
    """Of the two ways the cells learned, the one ``bags`` asks for (``best``: the higher out-of-fold validation
    field AUC), its summary saying what both gave."""
    cells = samples[["path", "field", "field_label"]]
    auc = {name: validation_field_auc(pd.concat([f.predictions.query("part == 'validation'") for f in run.folds]),
                                      cells) if trainer.coordinator.is_chief else None
           for name, run in (("inherit", inherited), ("top", top))}
    auc = trainer.coordinator.from_chief(auc)
    keep = bags if bags != "best" else ("top" if (auc["top"] or 0) > (auc["inherit"] or 0) else "inherit")
    kept = top if keep == "top" else inherited
    n_train = {name: [f.metrics["n_train"] for f in run.folds] for name, run in (("inherit", inherited), ("top", top))}
    kept.summary["bags"] = {"asked": bags, "kept": keep, "top_share": trainer.config.cells.top_share,
                            "validation_field_auc": auc, "fold_training_cells": n_train}
    trainer.context.echo(f"cells learned from their field's label: validation field AUC "
                         f"{na(auc['inherit'])} every cell inheriting it, {na(auc['top'])} the ALL fields' top "
                         f"cells only; kept: {keep}")
    return kept



def cross_validation_folds(splits: pd.DataFrame, config: TrainConfig, samples: pd.DataFrame | None = None,
                           test: np.ndarray | None = None, label: str = "fold", suffix: str = "") -> list[Fold]:
    """The folds of ``splits``, each checked for leaks across its training and validation parts when
    ``samples`` are given (the paper protocol's pooled copies are not)."""
    folds = []
    for k in range(config.run.folds):
        train_idx, val_idx = fold_indices(splits, k)
        if samples is not None:
            check_no_leak(samples, train_idx, val_idx, f"{label} {k}")
        folds.append(Fold(f"{label} {k + 1}/{config.run.folds}{suffix}", f"fold_{k}", train_idx, val_idx, test,
                          config.run.seed + 1 + k))
    return folds


def _final(dev, test, config, suffix, epochs, score_training: bool = False) -> Fold:
    return Fold(f"final model{suffix}", "final", dev, None, test, config.run.seed + 1000, epochs, score_training)


def final_epochs(config: TrainConfig, folds: list[dict]) -> int:
    """Epochs of the final model, which has no validation part to stop on: the median of the folds' best epochs
    (rounded up) where they stopped early, else the configured number."""
    if config.fit.stop_on == "off":
        return config.fit.epochs
    return int(np.ceil(np.median([fold["best_epoch"] for fold in folds])))


def _paper(source: InMemoryMaps, config: TrainConfig, context: RunContext, coordinator: Coordinator) -> TrainedRun:
    samples, maps = source.samples, source.maps
    copies = config.run.paper_augment_factor - 1
    origin = np.concatenate([np.arange(len(maps))] + [np.arange(len(maps))] * copies)
    extra = [keras.ops.convert_to_numpy(augmentation(config.run.seed + c)(maps, training=True)) for c in range(copies)]
    pool = np.concatenate([maps, *extra])
    pooled = samples.iloc[origin].reset_index(drop=True).assign(copy=np.repeat(np.arange(copies + 1), len(maps)))
    pooled["subject_group"] = ""  # the paper splits images, whatever their subject
    pooled["sha256"] = pooled["sha256"] + ":" + pooled["copy"].astype(str)
    splits = assign_splits(pooled, config.run.folds, config.run.test_fraction, config.run.seed)
    splits.insert(1, "copy", pooled["copy"])
    context.run.write_or_check(SPLITS_CSV, splits.to_csv(index=False), context.resume, "split assignment")
    # fitted on everything, test included: the leak
    standardizer = Standardizer(config.front, config.run.seed).fit(pool)
    test = np.flatnonzero(splits["split"] == "test")
    dev = np.flatnonzero(splits["split"] == "dev")
    pool = pool.copy()
    pool[test] = own_statistics(pool[test], standardizer)
    folds = cross_validation_folds(splits, config, test=test, suffix=" (paper)")
    trainer = Trainer(config, context, InMemoryMaps(pooled, pool), coordinator)
    results = folds_then_final(trainer, folds, lambda epochs: _final(dev, test, config, " (paper)", epochs),
                               standardizer)
    return _summary(config, results, len(dev), len(test), splits)


def own_statistics(test_maps: np.ndarray, standardizer: Standardizer) -> np.ndarray:
    """What the authors did to the test set: z-score it with its own statistics (expressed so that the
    model's pool z-score then yields exactly that)."""
    mean, std = test_maps.mean(axis=0), test_maps.std(axis=0)
    std[std == 0] = 1.0
    return (test_maps - mean) / std * np.sqrt(standardizer.variance_) + standardizer.mean_


def folds_then_final(trainer: Trainer, folds: list[Fold], final: Callable[[int], Fold],
                     standardizer: Standardizer | None = None) -> list[FoldResult]:
    """The trainer's folds, then the final model that ``final`` makes for ``final_epochs`` epochs: the folds'
    results, then the final model's."""
    results = trainer.run_folds(folds, standardizer)
    epochs = final_epochs(trainer.config, [r.metrics for r in results])
    if trainer.config.fit.stop_on != "off":
        best = ", ".join(str(r.metrics["best_epoch"]) for r in results)
        trainer.context.echo(f"final model: {epochs} epochs, the median of the folds' best ({best})")
    return [*results, *trainer.run_folds([final(epochs)], standardizer)]


def _summary(config: TrainConfig, results: list[FoldResult], n_dev: int, n_test: int,
             splits: pd.DataFrame) -> TrainedRun:
    folds = [r.metrics for r in results[:-1]]
    summary = {
        "protocol": config.run.protocol,
        "leaky": config.run.protocol == "paper",
        "n_dev": n_dev,
        "n_test": n_test,
        "folds": folds,
        "validation_mean_sd": mean_sd([f["validation"] for f in folds], SUMMARY_KEYS),
        "fold_models_on_test_mean_sd": mean_sd([f["test"] for f in folds], SUMMARY_KEYS),
        "final_on_test": results[-1].metrics["test"],
    }
    if config.run.protocol == "paper":
        summary["warning"] = LEAK_WARNING
    return TrainedRun(config, summary, results[:-1], results[-1], splits)
