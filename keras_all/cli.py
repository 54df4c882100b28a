"""The ``keras-all`` command line. Heavy imports live inside the commands."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time
from pathlib import Path

import click

from keras_all import interruption
from keras_all.artifacts import METRICS_JSON, PREDICTIONS_CSV
from keras_all.data.io import decoded_once, printable
from keras_all.data.registry import KINDS, REGISTRY, layouts_of
from keras_all.quiet import started_as_command
from keras_all.vocabulary import CONTROLS, DISTRIBUTIONS, FINALS, FORMATS, MAP_STORAGE, MODES, PROTOCOLS, UNITS
from keras_all.whole_folder import require_new_folder, written_whole

INTERRUPTED = 130  # the shell's code for a process stopped by Ctrl-C (128 + SIGINT)
LOST_WORKER = 75  # EX_TEMPFAIL: a multi-worker run stopped by another worker's end; --resume continues it
SHOWN_PER_REASON = 5  # left-out files listed on the console for each reason; the rest are counted


class _NoRetracingNotes(logging.Filter):
    """TensorFlow warns of tf.function retracing when each fold builds a fresh model: expected here."""

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


logging.getLogger("tensorflow").addFilter(_NoRetracingNotes())


def _computing() -> None:
    """Start Keras, every keras-all layer registered with it: called by a command once its options and files are
    checked, before its first import of the package's Keras code, so that a refusal comes at once."""
    import keras_all

    keras_all.start()


def _user_errors(command):
    """Turn a user mistake (bad folder, bad file, bad value) into one 'Error: ...' line."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (ValueError, OSError) as err:
            raise click.ClickException(printable(err)) from None

    return wrapper


class _Commands(click.Group):
    """The command group; Ctrl-C ends a command with one line and exit code 130, as shells expect.

    An interrupted command has cleaned up on its way out (a folder written whole is removed, a run marked
    incomplete); the process then ends at once, without the interpreter's shutdown, where TensorFlow's and OpenCV's
    worker threads, stopped mid-work, could crash it (exit 139 instead of 130)."""

    def invoke(self, ctx):
        if started_as_command():
            interruption.catch()
        try:
            with decoded_once():  # each image file decoded once by the command, however many looks it takes
                done = super().invoke(ctx)
            interruption.check()  # a Ctrl-C that Python swallowed still ends the command as interrupted
            return done
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            if not started_as_command():  # in-process (click's test runner): leave the interpreter alone
                ctx.exit(INTERRUPTED)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(INTERRUPTED)


def _options(command, options):
    return functools.reduce(lambda cmd, option: option(cmd), reversed(options), command)


def dataset_options(*kinds: str, required: bool = True, on_bad_image: str = "error"):
    """--dataset (the registry's layouts of ``kinds``: the data this command can read), --data-dir, --on-bad-image,
    and for labelled images --positive-class; defined once."""
    names = layouts_of(*kinds)
    options = [
        click.option("--dataset", "dataset", required=required, type=click.Choice(names),
                     help=f"Layout of the data folder: {_kinds_text(kinds)} (see `keras-all datasets`)."),
        click.option("--data-dir", required=required, type=click.Path(file_okay=False, path_type=Path),
                     help="Folder holding the data set."),
        on_bad_image_option(on_bad_image),
        *[click.option("--positive-class", default=None, help="For --dataset folder: the class folder that is ALL.")]
        * ("images" in kinds),
    ]
    return lambda command: _options(command, options)


def _kinds_text(kinds) -> str:
    words = {"images": "labelled images", "cells": "single cells", "marked": "fields with marked cells",
             "normal": "fields of normal blood (all healthy)", "synthetic": "a layout synth imitates"}
    return " or ".join(words[kind] for kind in kinds)


def on_bad_image_option(default: str):
    return click.option("--on-bad-image", type=click.Choice(["error", "skip"]), default=default, show_default=True,
                        help="Stop at the first unreadable image, or leave bad images out and list them.")


def model_option(accepts: str):
    """--model, defined once; ``accepts``: what this command takes as a model."""
    return click.option("--model", "model", required=True, type=click.Path(exists=True, path_type=Path),
                        help=f"The model: {accepts}.")


ANY_MODEL = "a finished run folder, an export folder, a .keras file or a SavedModel"


def output_option(what: str, default: str):
    """--output, defined once: a new (or empty) folder, written whole; by default saved_models/<timestamp>-NAME."""
    return click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help=f"The folder to write, new or empty: {what} (default saved_models/<timestamp>-{default}); "
                        "it appears whole or not at all.")


def new_output(output: Path | None, name: str) -> Path:
    """The command's output folder: ``output``, or saved_models/<timestamp>-``name``; refused at once unless new
    or empty."""
    return require_new_folder(output or Path("saved_models") / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}")


def renamed_option(old: str, new: str, **attributes):
    """``old``, an option renamed ``new``: still taken for one release (hidden), with a one-line warning."""

    def warn(ctx, param, value):
        if value is not None:
            click.echo(f"warning: {old} is now {new}; the old name goes in the next release", err=True)
        return value

    return click.option(old, hidden=True, default=None, expose_value=True, callback=warn, **attributes)


def config_options(command):
    """--preset and --config: where a run's configuration starts, defined once for train and tune."""
    options = [
        click.option("--preset", default=None, help="A named configuration inside the package, e.g. paper_all_idb "
                     "(see `keras-all presets`); the default is the package's honest defaults."),
        click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                     default=None, help="A YAML configuration (it may start from a preset with `preset: NAME`); "
                     "the options below override it."),
    ]
    return functools.reduce(lambda cmd, option: option(cmd), reversed(options), command)


def cross_validation_options(command):
    """--folds, --epochs, --map-size and --max-per-class (overrides of the preset), defined once for train and tune."""
    options = [
        click.option("--folds", type=int, default=None, help="Cross-validation folds (4)."),
        click.option("--epochs", type=int, default=None,
                     help="Most epochs per fold (honest 60, stopped early on the validation AUC; paper 10)."),
        click.option("--map-size", type=int, default=None,
                     help="The spike maps' and the model input's side in pixels (224; C-NMC 100)."),
        renamed_option("--image-size", "--map-size", type=int),
        click.option("--max-per-class", type=int, default=None,
                     help="Train on a class-balanced subsample: at most this many images per class, drawn with "
                     "--seed."),
    ]
    return functools.reduce(lambda cmd, option: option(cmd), reversed(options), command)


def load_with_progress(dataset, data_dir, on_bad_image, positive_class, report_left_out=True):
    """The data set, read with a progress bar; the files left out (bad, or not readable as the layout) are
    listed on stderr unless ``report_left_out`` is False (inspect shows them in its summary)."""
    from keras_all.data import LAYOUTS, build_dataset
    from keras_all.data.summary import by_reason

    options = {"positive_class": positive_class} if dataset == "folder" else {}
    listing = LAYOUTS[dataset].lister(data_dir, **options)
    with click.progressbar(length=len(listing.rows), label=f"reading {dataset}", file=sys.stderr) as bar:
        data = build_dataset(dataset, str(data_dir), listing, on_bad_image=on_bad_image, progress=bar.update)
    if report_left_out:
        for row in data.bad_files.itertuples():
            click.echo(f"warning: skipped bad file: {row.path}: {row.reason}", err=True)
        # e.g. 2,586 unlabelled C-NMC test cells
        for reason, count, paths in by_reason(data.ignored.to_dict("records"), SHOWN_PER_REASON):
            for path in paths:
                click.echo(f"warning: left out: {path}: {reason}", err=True)
            if count > len(paths):
                click.echo(f"warning: left out: {count - len(paths)} more: {reason}", err=True)
        if len(data.bad_files) or len(data.ignored):
            click.echo(f"{len(data.samples)} images used; {len(data.bad_files)} bad files skipped, "
                       f"{len(data.ignored)} files left out", err=True)
    return data


def _optional_data(dataset, data_dir, on_bad_image, positive_class, neither: str):
    """The data set of --dataset and --data-dir where both are given, None where neither is (``neither`` says what
    the command does then); one of them alone is an error."""
    if (dataset is None) != (data_dir is None):
        raise click.ClickException(f"give --dataset and --data-dir together, or neither ({neither})")
    return None if dataset is None else load_with_progress(dataset, data_dir, on_bad_image, positive_class)


@click.group(cls=_Commands)
@click.version_option(package_name="keras-all")
def main():
    """Detect acute lymphoblastic leukemia in blood-smear images (Noshad & Fallahi 2021, and beyond)."""


@main.command()
def datasets():
    """List the data-set layouts that --dataset accepts, and what each holds."""
    kinds = {name: ",".join(kind for kind in KINDS if kind in layout.kinds) for name, layout in REGISTRY.items()}
    width, holds = max(map(len, REGISTRY)), max(map(len, kinds.values()))
    click.echo(f"{'layout':<{width}}  {'holds':<{holds}}  description")
    for layout in REGISTRY.values():
        click.echo(f"{layout.name:<{width}}  {kinds[layout.name]:<{holds}}  {layout.description}")
    click.echo("\nholds: " + "; ".join(f"{kind}: {_kinds_text([kind])}" for kind in KINDS))


@main.command()
def presets():
    """List the named configurations that --preset accepts (and the ResNet's parameter count of each)."""
    from keras_all.presets import PRESETS

    width = max(map(len, PRESETS))
    for name, preset in PRESETS.items():
        about = preset["metadata"]
        click.echo(f"{name:<{width}}  {about['params']:>9,} parameters  {about['description']}")


@main.command()
@dataset_options("images", "marked", on_bad_image="skip")  # a survey lists every bad file and goes on
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@_user_errors
def inspect(dataset, data_dir, on_bad_image, positive_class, as_json):
    """Count a data set's images per class, subjects, image sizes, duplicates and bad files; for a set of
    fields with marked cells (bccd, voc, yolo), its fields and marks per class and split."""
    if "images" not in REGISTRY[dataset].kinds:
        from keras_all.data.fields import format_counts, read_fields

        counts = read_fields(dataset, data_dir).counts()
        click.echo(json.dumps(counts, indent=2) if as_json else format_counts(dataset, data_dir, counts))
        return
    from keras_all.data.summary import format_summary, summarize

    summary = summarize(load_with_progress(dataset, data_dir, on_bad_image, positive_class, report_left_out=False))
    click.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))


@main.command()
@click.option("--dataset", type=click.Choice(layouts_of("synthetic")), default=None,
              help="The real layout to imitate.")
@renamed_option("--layout", "--dataset", type=click.Choice(layouts_of("synthetic")))
@output_option("the images in the layout", "synth-DATASET")
@click.option("--n", "n", default=40, show_default=True, type=click.IntRange(min=2),
              help="Images to write, all told (c-nmc: a ninth of them form the labelled preliminary test).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of every drawn cell and stain.")
@_user_errors
def synth(dataset, layout, output, n, seed):
    """Write a synthetic data set in a real layout, for trying the package without real data.

    Blasts and normal lymphocytes are drawn to differ in morphology (nucleus size and contour, chromatin,
    nucleoli), with stains drawn alike for both; a larger nucleus still shifts a cell's colour a little.
    """
    dataset = dataset or layout
    if dataset is None:
        raise click.ClickException("give --dataset, the layout to imitate: " + ", ".join(layouts_of("synthetic")))
    output = new_output(output, f"synth-{dataset}")
    from keras_all.data.synthetic import write_dataset

    with written_whole(output) as partial:
        written = write_dataset(dataset, partial, n, seed)
    counts = written["label"].value_counts().to_dict()
    click.echo(f"wrote {len(written)} images to {output} ({counts.get(1, 0)} ALL, {counts.get(0, 0)} healthy)")


@main.command()
@dataset_options("images")
@output_option("the PNG figures", "preprocess")
@click.option("--n", "n", default=8, show_default=True, type=click.IntRange(min=1), help="Images to show.")
@click.option("--spike-size", default=224, show_default=True, type=click.IntRange(min=8),
              help="The side, in pixels, at which the spike maps are computed.")
@click.option("--input-size", default=224, show_default=True, type=click.IntRange(min=8),
              help="The side, in pixels, of the model's input.")
@click.option("--mode", type=click.Choice(MODES), default="first_spike", show_default=True,
              help="The front: a spike map, a raw image, or colour with spikes beside it.")
@click.option("--pca-components", default=None, type=float,
              help="PCA reconstruction from this many components (e.g. 500) or this variance fraction.")
@click.option("--fit-n", default=64, show_default=True, type=click.IntRange(min=2),
              help="Images of the set on which z-score and PCA are fitted for the figure.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the images shown and the PCA fit.")
@_user_errors
def preprocess(dataset, data_dir, on_bad_image, positive_class, output, n, spike_size, input_size, mode,
               pca_components, fit_n, seed):
    """Show what the front does to a data set's images, as the paper's Fig. 3 does.

    Each figure puts an image beside its spike map, its blurred map and the model's input; a contact sheet
    gathers them.
    """
    from keras_all.config import FrontConfig

    if pca_components is not None and pca_components >= 1:
        pca_components = int(pca_components)
    config = FrontConfig(spike_size=spike_size, input_size=input_size, mode=mode, pca_components=pca_components)
    output = new_output(output, "preprocess")
    samples = load_with_progress(dataset, data_dir, on_bad_image, positive_class).samples
    _computing()
    from keras_all.figure3 import write_figure3

    with written_whole(output) as partial:
        written = write_figure3(samples, config, partial, n=n, fit_n=fit_n, seed=seed)
    for path in written:
        click.echo(f"wrote {output / path.relative_to(partial)}")


@main.command()
@dataset_options("images")
@config_options
@click.option("--protocol", type=click.Choice(PROTOCOLS), default=None,
              help="honest (default): leak-free; paper: the published, leaky procedure, for comparison.")
@cross_validation_options
@click.option("--batch-size", type=int, default=None, help="Images per training batch (32).")
@click.option("--seed", type=int, default=None, help="Seed of splits, initialisation and augmentation (0).")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run folder (default saved_models/<timestamp>-<name>).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --output from its last finished fold.")
@click.option("--unit", type=click.Choice(UNITS), default=None,
              help="Learn from whole images (default) or from the white cells found on them (fields: all-idb1 by "
                   "its blast centroids, aria and folders by each field's label).")
@click.option("--controls", default=None, metavar="NAMES",
              help="With --unit cell: the pipeline controls trained beside the model by its splits, comma-separated "
              f"out of {', '.join(CONTROLS)} (the cells alone, the background alone, whole fields; all by default), "
              "or none.")
@click.option("--distribute", type=click.Choice(DISTRIBUTIONS), default=None,
              help="mirrored: data-parallel over every local device (MirroredStrategy; DataParallel under JAX). "
              "multi-worker: over machines, each started with the same command (cluster from TF_CONFIG, or "
              "KERAS_DISTRIBUTION_* under JAX; README).")
@click.option("--final", type=click.Choice(FINALS), default=None,
              help="The delivered model: refit (default) on all development images, or the mean of the fold "
              "models' probabilities. Both are scored on the holdout test.")
@click.option("--maps", type=click.Choice(MAP_STORAGE), default=None,
              help="Where the spike maps are held: memory, or a float16 cache in the run folder read batch by "
              "batch (stream; honest protocol). auto (default) streams where they would take over 1/8 of the "
              "machine's memory.")
@_user_errors
def train(dataset, data_dir, on_bad_image, positive_class, preset, config_file, protocol, folds, epochs, batch_size,
          map_size, image_size, max_per_class, seed, output, resume, unit, controls, distribute, final, maps):
    """Train a model by cross-validation on a data set and write a run folder.

    The run folder holds every fold's model and scores, the delivered model at its validated cut-off, the
    colour-histogram baseline by the same splits, and report.md.
    """
    from keras_all.config import load_config
    from keras_all.run_folder import RunFolder

    overrides = {"run.protocol": protocol, "run.folds": folds, "fit.epochs": epochs, "fit.batch_size": batch_size,
                 "run.seed": seed, "front.spike_size": map_size or image_size,
                 "front.input_size": map_size or image_size,
                 "fit.distribute": distribute, "run.max_per_class": max_per_class, "run.final": final, "fit.maps": maps,
                 "cells.unit": unit, "cells.controls": None if controls is None else [
                     name for name in controls.split(",") if name not in ("", "none")]}
    config = load_config(config_file, overrides, preset=preset)
    if resume and output is None:
        raise click.ClickException("--resume needs --output, the folder of the interrupted run")
    if output is not None:
        RunFolder(output).check_opening(resume)
    _computing()
    from keras_all.api import train as run_training

    if config.fit.distribute == "multi-worker":
        _train_on_cluster(config, lambda: load_with_progress(dataset, data_dir, on_bad_image, positive_class),
                          output, resume)
        return
    data = load_with_progress(dataset, data_dir, on_bad_image, positive_class)
    run = run_training(data, config, output=output, resume=resume, echo=click.echo)
    _echo_result(run)


def _train_on_cluster(config, load, output, resume) -> None:
    """``train`` as one worker of a cluster: joined first (TensorFlow's collectives are set up before any other
    work); a worker that dies or stops answering ends the run on every other with one line, and the chief's run
    folder keeps its finished folds for ``--resume``."""
    from keras_all.api import train as run_training
    from keras_all.training.cluster import join, lost_peer

    cluster = join()
    click.echo(f"{cluster}: joined")
    try:
        run = run_training(load(), config, output=output, resume=resume, echo=click.echo)
    except Exception as error:
        reason = lost_peer(error)
        if reason is None:
            raise
        where = f" in {output}" if output is not None else ""
        click.echo(f"Error: {cluster}: another worker died or stopped answering ({printable(reason)}); the run "
                   f"stopped. Its finished folds are kept{where}; start every worker again with --resume and the "
                   "same --output to continue from the last one", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(LOST_WORKER)  # past JAX's shutdown barrier, which would wait for the dead worker
    if run is None:
        click.echo(f"{cluster}: done; the chief writes the run folder")
    else:
        _echo_result(run)


@main.command()
@dataset_options("images")
@config_options
@click.option("--max-trials", default=10, show_default=True, type=click.IntRange(min=1),
              help="Configurations to try, the preset's first.")
@click.option("--tuner", type=click.Choice(["random", "bayesian"]), default="random", show_default=True,
              help="Random search, or a Gaussian-process (Bayesian) search.")
@click.option("--objective", type=click.Choice(["val_accuracy", "val_auc"]), default="val_accuracy",
              show_default=True, help="Mean over the folds' validation parts.")
@cross_validation_options
@click.option("--seed", type=int, default=None, help="Seed of splits, initialisation and the search (0).")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Search folder (default saved_models/<timestamp>-tune-<name>).")
@click.option("--resume", is_flag=True, help="Continue an interrupted search in --output.")
@_user_errors
def tune(dataset, data_dir, on_bad_image, positive_class, preset, config_file, max_trials, tuner, objective, folds,
         epochs, map_size, image_size, max_per_class, seed, output, resume):
    """Search the ResNet's block widths, identity blocks and learning rate by cross-validation (keras-tuner).

    Writes results.csv, report.md and best_config.yaml (a preset for `keras-all train --config`). For a
    distributed search set KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT (README).
    """
    from keras_all.config import load_config
    from keras_all.run_folder import RunFolder

    overrides = {"run.folds": folds, "fit.epochs": epochs, "run.seed": seed,
                 "front.spike_size": map_size or image_size, "front.input_size": map_size or image_size,
                 "run.max_per_class": max_per_class}
    config = load_config(config_file, overrides, preset=preset)
    _computing()
    from keras_all.tuning import SearchSettings, role
    from keras_all.tuning import tune as run_search

    where = role()
    if (resume or where != "single") and output is None:
        raise click.ClickException("--resume and distributed searches need --output, the search folder")
    output = output or RunFolder.new("saved_models", f"tune-{config.run.name}").path
    data = None if where == "chief" else load_with_progress(dataset, data_dir, on_bad_image, positive_class)
    table = run_search(data, config, output, SearchSettings(tuner, max_trials, objective), resume, echo=click.echo)
    if table is None:
        click.echo(f"worker {os.environ['KERASTUNER_TUNER_ID']}: no trials left")
        return
    best = table.sort_values("mean", ascending=False).iloc[0]
    click.echo(f"{(table['status'] == 'COMPLETED').sum()} of {len(table)} trials completed; best: trial "
               f"{best['trial']}, mean {objective} {best['mean']:.3f}")
    click.echo(f"search folder: {output} (results.csv, report.md, best_config.yaml)")


def _echo_result(run) -> None:
    from keras_all.evaluation.report import na

    result = run.metrics()
    validation = result["validation_mean_sd"].get("accuracy", {})
    final = result["final_on_test"]
    if result["leaky"]:
        click.echo(result["warning"])
    click.echo(f"validation accuracy {na(validation.get('mean'))} ± {na(validation.get('sd') or 0)} over "
               f"{len(result['folds'])} folds; final model on the holdout test: accuracy {na(final['accuracy'])}, "
               f"AUC {na(final['auc'])}")
    if result.get("delivered") == "ensemble":
        ensemble = result["ensemble_on_test"]
        click.echo(f"fold ensemble (delivered) on the holdout test: accuracy {na(ensemble['accuracy'])}, AUC "
                   f"{na(ensemble['auc'])}")
    if "baseline" in result:
        base, auc = result["baseline"]["final_on_test"], result["versus_baseline"]["auc"]
        versus = "" if auc is None else (f"; AUC difference {auc['difference']:+.3f}, paired DeLong p "
                                         f"{auc['p_value']:.3g}")
        click.echo(f"colour-histogram baseline, same splits: accuracy {na(base['accuracy'])}, AUC {na(base['auc'])}"
                   f"{versus}")
    _echo_controls(run)
    click.echo(f"run folder: {run} (report.md, metrics.json, model.keras)")


def _echo_controls(run) -> None:
    """A cell run's fields on the holdout test: the model's AUC beside each control's."""
    from keras_all.evaluation.field_controls import CONTROLS_FILE
    from keras_all.evaluation.report import na

    if not (run / CONTROLS_FILE).is_file():
        return
    contenders = run.read_json(CONTROLS_FILE)["contenders"]
    click.echo("fields of the holdout test, AUC: " + "; ".join(
        f"{name} {na((c['test'] or {}).get('auc'))}" for name, c in contenders.items()))


@main.command()
@model_option(ANY_MODEL)
@dataset_options("images")
@click.option("--cutoff", type=float, default=None,
              help="The cut-off on the ALL probability (default: the model's validated one, else 0.5).")
@output_option("the report, metrics and predictions", "evaluate-DATASET")
@click.option("--label-map", default=None, metavar="CLASS=LABEL,...",
              help="Relabel the set's classes for another source: each class 1 (ALL), 0 (healthy) or - (left "
                   "out), e.g. 'ALL=1,HEM=0' or 'blast=1,lymphocyte=0,other=-'.")
@_user_errors
def evaluate(model, dataset, data_dir, on_bad_image, positive_class, cutoff, output, label_map):
    """Score a trained model on a labelled data set and write a report like a run's.

    A set of another source than the model's training set is reported as a cross-set evaluation, beside the
    model's own stress test."""
    output = new_output(output, f"evaluate-{dataset}")
    mapping = None if label_map is None else parse_label_map(label_map)
    data = load_with_progress(dataset, data_dir, on_bad_image, positive_class)
    _computing()
    from keras_all.evaluation.evaluate import evaluate as run_evaluation
    from keras_all.evaluation.report import na

    if mapping is not None:
        data = data.relabelled(mapping)
    with written_whole(output) as partial:  # an evaluation cut short leaves no folder
        result = run_evaluation(model, data, partial, cutoff)
    m = result["metrics"]
    click.echo(f"{m['n']} images at cut-off {result['cutoff']:.4g}: accuracy {na(m['accuracy'])}, sensitivity "
               f"{na(m['sensitivity'])}, specificity {na(m['specificity'])}, AUC {na(m['auc'])}")
    if result["images_used_in_training"]:
        click.echo(f"warning: {result['images_used_in_training']} of these images were used to train the model")
    if result.get("unfamiliar", {}).get("n"):
        click.echo(f"warning: {result['unfamiliar']['n']} of {m['n']} images are unlike the model's training images "
                   "(their verdicts would be flagged)")
    if result.get("trained_on") not in (None, data.name):
        click.echo(f"cross-set: trained on {result['trained_on']}, scored on {data.name}")
    click.echo(f"report: {output / 'report.md'}")


def parse_label_map(text: str) -> dict[str, int | None]:
    """'ALL=1,HEM=0,other=-' -> {"ALL": 1, "HEM": 0, "other": None}; a malformed entry is one line naming it."""
    mapping = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        name, _, label = entry.rpartition("=")
        if not name or label not in ("0", "1", "-"):
            raise click.ClickException(f"--label-map {entry!r}: write CLASS=1 (ALL), CLASS=0 (healthy) or CLASS=- "
                                       "(left out), entries separated by commas")
        mapping[name] = None if label == "-" else int(label)
    if not mapping:
        raise click.ClickException("--label-map is empty: map each class of the set, e.g. 'ALL=1,HEM=0'")
    return mapping


@main.command()
@model_option("a finished run folder or its export folder (the stress test needs the run's splits or a --dataset)")
@dataset_options("images", required=False)
@click.option("--seed", default=None, type=int,
              help="Seed of every drawn shift (default: a run's own seed, as its report's stress test; else 0).")
@output_option("stress.json, stress.png and report.md", "stress")
@_user_errors
def stress(model, dataset, data_dir, on_bad_image, positive_class, seed, output):
    """Re-score images under another lab's stain, light, focus, JPEG and scale, beside the colour histogram.

    Without --dataset, a run's own holdout test."""
    output = new_output(output, "stress")
    data = _optional_data(dataset, data_dir, on_bad_image, positive_class, "neither: the run's own holdout test")
    _computing()
    from keras_all.evaluation.report import na
    from keras_all.evaluation.stress import stress_command

    result = stress_command(model, output, data, seed, echo=click.echo)
    plain = result["unshifted"]
    worst = min(result["shifts"], key=lambda row: row["model"]["auc"] if row["model"]["auc"] is not None else 1)
    base = "" if plain["baseline"] is None else f"; colour histogram {na(plain['baseline']['auc'])}"
    click.echo(f"unshifted AUC: model {na(plain['model']['auc'])}{base}; the model's worst: "
               f"{na(worst['model']['auc'])} under {worst['shift']} ({worst['strength']})")
    click.echo(f"report: {output / 'report.md'}")


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_user_errors
def report(folder):
    """Re-render report.md and the plots of a run (or an evaluation) folder from its saved files."""
    from keras_all.run_folder import RunFolder

    if RunFolder(folder).incomplete:
        raise click.ClickException(f"{folder}: the run has not finished; `keras-all train ... --resume` first")
    _computing()
    from keras_all.api import report_sections
    from keras_all.evaluation.evaluate import render_evaluation_report
    from keras_all.evaluation.report import render_run_report
    from keras_all.loader import load_model

    if RunFolder(folder).is_run():
        load_model(folder)  # a run whose metrics.json is cut short is refused here, naming it

        def render(run):
            return render_run_report(run, report_sections(run))  # its stress test and a cell run's sections
    elif (folder / METRICS_JSON).is_file() and (folder / PREDICTIONS_CSV).is_file():
        render = render_evaluation_report
    else:
        raise click.ClickException(f"{folder}: not a finished run or evaluation folder (no metrics.json)")
    try:
        click.echo(f"wrote {render(folder)}")
    except (KeyError, TypeError) as err:
        raise click.ClickException(f"{folder}: its saved files lack {err}; they come from another version of "
                                   "keras-all or were edited, so train or evaluate again") from None


@main.command()
@click.argument("run_a", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("run_b", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the tests as JSON.")
@_user_errors
def compare(run_a, run_b, as_json):
    """Test two finished runs (or evaluations) against each other on the same test images.

    DeLong's test compares the AUCs, McNemar's the accuracies, each at its own validated cut-off.
    """
    _computing()
    from keras_all.evaluation.comparison import compare_folders, paired_lines

    tests = compare_folders(run_a, run_b)
    if as_json:
        click.echo(json.dumps(tests, indent=2))
        return
    click.echo(f"A: {tests['a']}\nB: {tests['b']}\n{tests['n']} test images in common")
    for line in paired_lines(tests, "A", "B"):
        click.echo(line)


@main.command()
@click.option("--model", "run", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The finished run folder to export.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="both", show_default=True,
              help="A TensorFlow SavedModel, a .keras file, or both.")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The export folder (default RUN/export); written atomically.")
@_user_errors
def export(run, fmt, output):
    """Export a finished run's model: raw images in, ALL probability and decision out, with a model card."""
    _computing()
    from keras_all.export import export_run

    click.echo(f"exported to {export_run(run, output, fmt)} (MODEL_CARD.md, config.yaml)")


@main.command()
@model_option(ANY_MODEL)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The CSV file for the predictions (default: print them).")
@click.option("--json", "as_json", is_flag=True, help="Write (or print) JSON instead of CSV.")
@_user_errors
def predict(model, inputs, output, as_json):
    """Predict the ALL probability and decision of each image file, and of every file in each folder."""
    files, links = _image_files(inputs, "predict", warn_links=False)  # links that lead nowhere are rows
    _computing()
    from keras_all.export import predict_files
    from keras_all.loader import load_model
    from keras_all.run_folder import write_text_atomically

    table = predict_files(model, files, links)
    text = table.to_json(orient="records", indent=2) if as_json else table.to_csv(index=False)
    if output:
        write_text_atomically(output, text)  # an existing file is replaced whole, or left as it was
        click.echo(f"wrote {len(table)} predictions to {output}")
    else:
        click.echo(text.rstrip())
    if "unfamiliar" in table:
        from keras_all.evaluation.familiarity import familiarity_of

        cutoff = familiarity_of(load_model(model)).cutoff
        for row in table[table["unfamiliar"] == 1].itertuples():
            click.echo(f"warning: {row.path}: unlike the images the model was trained on (unfamiliarity "
                       f"{row.unfamiliarity:.3g} > {cutoff:.3g}, most unlike in its {row.unlike_in}); its verdict is "
                       "not to be trusted", err=True)
    bad = table[table["error"] != ""]
    for row in bad.itertuples():
        click.echo(f"warning: {row.path}: {row.error}", err=True)
    if len(bad) == len(table):
        raise click.ClickException(f"none of the {len(table)} image files could be read; nothing was predicted")
    if len(bad):
        click.echo(f"{len(bad)} of {len(table)} image files could not be read; the others were predicted", err=True)


@main.command("import-weights")
@click.argument("weights", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@output_option("resnet.keras, config.yaml, MODEL_CARD.md (+ model.keras)", "import-weights")
@dataset_options("images", required=False)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the PCA fit.")
@_user_errors
def import_weights(weights, output, dataset, data_dir, on_bad_image, positive_class, seed):
    """Import the authors' released Keras-2 weights (ALL-IDB or C-NMC model.h5) into the paper's model.

    With --dataset and --data-dir, the z-score and PCA the weights expect are fitted on that data set and
    model.keras (raw images in) is written for `keras-all predict` and `evaluate`; see MODEL_CARD.md.
    """
    output = new_output(output, "import-weights")
    data = _optional_data(dataset, data_dir, on_bad_image, positive_class, "neither: the weights alone")
    _computing()
    from keras_all.authors import import_weights as run_import

    folder = run_import(weights, output, data, seed, echo=click.echo)
    written = ", ".join(sorted(p.name for p in folder.iterdir()))
    click.echo(f"imported {weights} into {folder} ({written})")


@main.command()
@output_option("the synthetic data and the run folder", "demo")
@click.option("--n", "n", default=360, show_default=True, type=click.IntRange(min=45),
              help="Synthetic C-NMC cells to write, all told (a ninth of them form the labelled preliminary test).")
@click.option("--epochs", default=20, show_default=True, type=click.IntRange(min=1), help="Most epochs per fold.")
@click.option("--folds", default=4, show_default=True, type=click.IntRange(min=2), help="Cross-validation folds.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the data, splits and training.")
@_user_errors
def demo(output, n, epochs, folds, seed):
    """Run the whole pipeline on the embedded default data (synthetic C-NMC cells) in a few minutes."""
    output = new_output(output, "demo")
    _computing()
    from keras_all.api import train as run_training
    from keras_all.config import load_config
    from keras_all.data.synthetic import write_dataset

    click.echo(f"writing {n} synthetic C-NMC cells to {output / 'data'}")
    write_dataset("c-nmc", output / "data", n, seed)
    data = load_with_progress("c-nmc", output / "data", "error", None)
    config = load_config(preset="demo", overrides={"fit.epochs": epochs, "run.folds": folds, "run.seed": seed})
    _echo_result(run_training(data, config, output=output / "run", echo=click.echo))


@main.command()
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@dataset_options("marked", required=False, on_bad_image="skip")
@click.option("--split", default=None, help="Only the fields of this published split of the set (train, val, test).")
@click.option("--cell-class", default="WBC", show_default=True,
              help="The class of the set's marks that are white cells.")
@click.option("--um-per-px", type=float, default=None,
              help="The fields' scale, in micrometres per pixel; by default each field's red cells measure it.")
@click.option("--red-cell-px", type=float, default=None, help="Or the scale as a red cell's diameter, in pixels.")
@click.option("--scale-per-field", is_flag=True,
              help="Without a given scale, search each field at its own red cells' scale where it is sure of it "
                   "(fields of several microscopes), not at the median of all fields' (one microscope; the default).")
@output_option("cells.csv, fields.csv, overlays/, masks/, metrics.json, report.md", "cells")
@_user_errors
def cells(inputs, dataset, data_dir, on_bad_image, split, cell_class, um_per_px, red_cell_px, scale_per_field,
          output):
    """Find the white cells on smear fields (image files, folders, or a set of fields with marks, which they are
    then scored against) and write a cell table, a picture per field and, against marks, their scores."""
    from keras_all.cells.scale import Scale
    from keras_all.commands.cells import Search, find_in_fields, scale_line, unmarked_fields
    from keras_all.data.fields import read_fields

    if um_per_px is not None and red_cell_px is not None:
        raise click.ClickException("give the fields' scale once: --um-per-px (micrometres per pixel) or "
                                   "--red-cell-px (a red cell's diameter in pixels), not both")
    scale = (Scale.from_um_per_px(um_per_px) if um_per_px is not None
             else Scale(red_cell_px) if red_cell_px is not None else None)
    if scale is not None and scale_per_field:
        raise click.ClickException("--scale-per-field measures each field's scale; it takes no given scale")
    if (dataset is None) != (data_dir is None) or (dataset is None) == (not inputs):
        raise click.ClickException("give image files or folders, or --dataset with --data-dir; not both")
    if split is not None and dataset is None:
        raise click.ClickException("--split takes the fields of a --dataset's published split; give --dataset")
    output = new_output(output, "cells")
    if dataset is not None:
        fields = read_fields(dataset, data_dir).only(split)
    else:
        fields = unmarked_fields(_image_files(inputs, "search")[0])
    search = Search(scale, cell_class, scale_per_field, on_bad_image)
    result = find_in_fields(fields, output, search, echo=click.echo, warn=lambda line: click.echo(line, err=True))
    not_judged = f"; {len(result['fields_not_judged'])} cannot be judged" if result["fields_not_judged"] else ""
    left_out = f"; {len(result['fields_left_out'])} files left out" if result["fields_left_out"] else ""
    click.echo(f"{result['cells']} cells on {result['fields']} fields; "
               f"{len(result['fields_without_cells'])} fields without a cell found{not_judged}{left_out}")
    if result["marks_left_out"]:
        click.echo(f"{len(result['marks_left_out'])} marked boxes left out (warnings above)")
    click.echo(scale_line(result["scale"]))
    if "iou_0.5" in result:
        by_box, by_centre = result["iou_0.5"], result["centre_in_box"]
        click.echo(f"against {by_box['marked']} marked cells: F1 {by_box['f1']:.3f} at IoU >= 0.5 (precision "
                   f"{by_box['precision']:.3f}, recall {by_box['recall']:.3f}); F1 {by_centre['f1']:.3f} by centre")
    if "centroids_in_cells" in result:
        held = result["centroids_in_cells"]
        click.echo(f"{held['inside']} of {held['marked']} marked centroids lie on a found cell")
    click.echo(f"written to {output} (cells.csv, fields.csv, overlays/, masks/, metrics.json, report.md)")


def _image_files(inputs, doing: str, warn_links: bool = True) -> tuple[list[Path], list[tuple[str, str]]]:
    """The image files named or under the folders named, and the links among them that lead nowhere (warned of
    with ``warn_links``); files that are not images are counted in one line; no image file is an error."""
    from keras_all.data.layout import NOT_AN_IMAGE, image_files

    files, left_out = image_files(inputs)
    others = [path for path, reason in left_out if reason == NOT_AN_IMAGE]
    links = [(path, reason) for path, reason in left_out if reason != NOT_AN_IMAGE]
    if others:
        click.echo(f"skipped {len(others)} files that are not image files (no image extension; the first: "
                   f"{others[0]})", err=True)
    for path, reason in links if warn_links else ():
        click.echo(f"warning: left out {path}: {reason}", err=True)
    if not files and (warn_links or not links):
        raise click.ClickException(f"no image files in {', '.join(map(printable, inputs))}; nothing to {doing}")
    return files, links


@main.command()
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@model_option("a cell model, the run folder (or its export) of `train --unit cell`")
@dataset_options("images", "normal", required=False, on_bad_image="skip")
@click.option("--um-per-px", type=float, default=None,
              help="The slides' scale; by default each slide's red cells measure it.")
@output_option("slides.csv, cells.csv, overlays/, index.html (and, labelled, metrics.json, report.md)",
               "slides")
@_user_errors
def slides(inputs, model, dataset, data_dir, on_bad_image, positive_class, um_per_px, output):
    """Score every white cell of each slide with a cell model: blast counts, a slide probability, an overlay per
    slide and a page to open in a browser.

    A --dataset's labels are scored (and all-idb1's blast centroids; c-nmc's single cells take their image's label;
    bccd's fields, normal blood, are all healthy)."""
    import pandas as pd

    from keras_all.cells.scale import Scale

    if (dataset is None) != (data_dir is None) or (dataset is None) == (not inputs):
        raise click.ClickException("give image files or folders, or --dataset with --data-dir; not both")
    output = new_output(output, "slides")
    scale = Scale.from_um_per_px(um_per_px) if um_per_px is not None else None
    files = _image_files(inputs, "judge")[0] if inputs else None
    _computing()
    from keras_all.commands.slides import Judging, score_slides
    from keras_all.evaluation.report import na
    from keras_all.evaluation.slide_judge import SlideJudge
    from keras_all.export import training_fields

    judge = SlideJudge.from_run(model)
    if dataset is not None and "images" not in REGISTRY[dataset].kinds:
        from keras_all.data.fields import read_fields

        table = read_fields(dataset, data_dir).fields[["path"]].assign(label=0)
        click.echo(f"{dataset}: {len(table)} fields of normal blood (no leukaemia), every one labelled healthy")
    elif dataset is not None:
        table = load_with_progress(dataset, data_dir, on_bad_image, positive_class).samples
    else:
        table = pd.DataFrame({"path": [str(f) for f in files]})
    judging = Judging(scale, training_fields(judge.model.home), on_bad_image)
    result = score_slides(table, judge, output, judging, echo=click.echo, warn=lambda line: click.echo(line, err=True))
    if result["trained_on"]:
        click.echo(f"warning: {result['trained_on']} of the slides gave the model its training cells: their verdicts "
                   "are no test (slides.csv marks them; the metrics leave them out)", err=True)
    not_judged = f"; {result['not_judged']} cannot be judged (warnings above)" if result["not_judged"] else ""
    click.echo(f"{result['slides']} slides, {result['cells']} white cells scored; {result['left_out']} files left "
               f"out{not_judged}")
    if result["metrics"] is not None and result["metrics"]["slides"] is not None:
        for what in ("slides", "cells"):
            m = result["metrics"].get(what)
            if m is not None:
                click.echo(f"{what}: {m['n']}, accuracy {na(m['accuracy'])}, sensitivity {na(m['sensitivity'])}, "
                           f"specificity {na(m['specificity'])}, AUC {na(m['auc'])}")
    click.echo(f"written to {output} (slides.csv, cells.csv, overlays/, index.html"
               + (", metrics.json, report.md)" if result["metrics"] is not None else ")"))
