"""report.md for a training run or an evaluation, rendered only from the files in its folder."""

from __future__ import annotations

import platform
from pathlib import Path

import pandas as pd

from keras_all.artifacts import (
    CONFUSION_TEST_PNG,
    DATA_SUMMARY_JSON,
    PREDICTIONS_CSV,
    PREPROCESSING_PNG,
    REPORT_MD,
    ROC_TEST_PNG,
    SALIENCY_PNG,
    TRAINING_CURVES_PNG,
)
from keras_all.config import TrainConfig
from keras_all.evaluation.comparison import paired_lines
from keras_all.evaluation.plots import confusion_plot, roc_plot, training_curves
from keras_all.metrics import TABLE_KEYS
from keras_all.run_folder import VALIDATED_POINT, RunFolder
from keras_all.tables import markdown_table, na, with_ci


def environment() -> dict:
    """Versions and devices, recorded when a run is made."""
    import cv2
    import keras
    import numpy
    import sklearn

    import keras_all

    info = {"keras_all": keras_all.__version__, "python": platform.python_version(), "platform": platform.platform(),
            "keras": keras.__version__, "backend": keras.backend.backend(), "numpy": numpy.__version__,
            "scikit_learn": sklearn.__version__, "opencv": cv2.__version__}
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
        info["devices"] = [d.device_type for d in tf.config.list_physical_devices()]
    elif keras.backend.backend() == "jax":
        import jax

        info["jax"] = jax.__version__
        info["devices"] = [str(d) for d in jax.devices()]
    return info


def _metrics_row(name: str, m: dict, first: str = "part") -> dict:
    return {first: name, "n": str(m["n"]), **{key: na(m.get(key)) for key in TABLE_KEYS}}


def _mean_sd_cell(entry: dict | None, folds: int) -> str:
    if entry is None:
        return "n/a"
    text = f"{entry['mean']:.3f}" + ("" if entry["sd"] is None else f" ± {entry['sd']:.3f}")
    return text if entry["folds"] == folds else f"{text} ({entry['folds']} of {folds} folds defined)"


def _mean_sd_row(name: str, summary: dict, folds: int, first: str = "part") -> dict:
    return {first: name, "n": "", **{key: _mean_sd_cell(summary.get(key), folds) for key in TABLE_KEYS}}


def paper_table(m: dict) -> list[str]:
    """The layout of the paper's Tables 4 and 5: per class and average."""
    keys = ("accuracy", "sensitivity", "specificity", "precision", "f1")
    return markdown_table([{"class": name, **{key: na(row[key]) for key in keys}}
                           for name, row in m["per_class"].items()])


def interval_lines(m: dict) -> list[str]:
    sensitivity, specificity = with_ci(m["sensitivity"], m["sensitivity_ci"]), with_ci(m["specificity"],
                                                                                        m["specificity_ci"])
    return [
        f"- accuracy {with_ci(m['accuracy'], m['accuracy_ci'])}, sensitivity {sensitivity}, specificity "
        f"{specificity} (Wilson 95%)",
        f"- ROC AUC {with_ci(m['auc'], m['auc_ci'])} (DeLong 95%, on probabilities); balanced accuracy "
        f"{na(m['balanced_accuracy'])}; weighted F1 {na(m['weighted_f1'])} (the C-NMC challenge's ranking metric)",
        f"- confusion at cut-off {m['cutoff']:.4g}: TP {m['tp']}, FN {m['fn']}, TN {m['tn']}, FP {m['fp']}",
    ]


def data_lines(summary: dict) -> list[str]:
    subjects = summary["subjects"]
    return [
        f"- `{summary['dataset']}` at `{summary['root']}`: {summary['images']} unique images "
        f"(ALL {summary['per_label'].get('1', 0)}, healthy {summary['per_label'].get('0', 0)}); subjects: "
        + (f"{subjects['total']} ({subjects['per_label'].get('1', 0)} ALL, {subjects['per_label'].get('0', 0)} "
           "healthy)" if subjects["known"] else "unknown (images are split, not patients)"),
        f"- image sizes: {', '.join(f'{k} ({v})' for k, v in summary['image_sizes'].items()) or 'not read'}",
        f"- byte-identical duplicates: {summary['duplicates']['groups']} groups, "
        f"{summary['duplicates']['copies_dropped']} copies dropped ({summary['duplicates']['across_subjects']} across "
        f"subjects; subjects joined: {', '.join(subjects['groups_joined_by_duplicates']) or 'none'})",
        f"- bad files skipped: {len(summary['bad_files'])}; files left out: {summary['ignored_files']}",
        *_subsample_lines(summary.get("subsample_of")),
        *_cell_lines(summary.get("cells_of")),
    ]


CROPS_SHOW = {"all": "", "cell": ", the cell alone (outside its mask blanked)",
              "background": ", the background alone (the cells' masks blanked)"}


def _cell_lines(cells: dict | None) -> list[str]:
    if not cells:
        return []
    missed = (f"; {cells['centroids_missed']} of the {cells['centroids']} marked blast centroids on no found cell"
              if "centroids" in cells else "")
    return [f"- white cells: {cells['cells']} found on {cells['fields']} fields (a red cell = "
            f"{cells['median_red_cell_px']:.1f} px, {cells['scale']}), each cut {cells['crop_red_cells']} red cells "
            f"wide at {cells['crop_pixels']} px{CROPS_SHOW[cells['show']]}; labels from the {cells['labels']}"
            + missed + "; a field's cells stay on one side of every split"]


def _subsample_lines(subsample: dict | None) -> list[str]:
    if not subsample:
        return []
    before = subsample["per_label"]
    return [f"- a class-balanced subsample: at most {subsample['max_per_class']} images per class, drawn with seed "
            f"{subsample['seed']} from {before.get('1', 0)} ALL and {before.get('0', 0)} healthy"]


def environment_lines(env: dict) -> list[str]:
    return markdown_table([{"package": k, "version": str(v)} for k, v in env.items()])


def _training_lines(config: TrainConfig, result: dict) -> list[str]:
    fit = config.fit
    schedule = (f"ReduceLROnPlateau(factor {fit.lr_factor}, patience {fit.lr_patience}), augmentation "
                f"{'on' if fit.augment else 'off'}, batch-norm momentum {config.model.bn_momentum}, seed "
                f"{config.run.seed}")
    lines = [f"- training: Adam {fit.learning_rate}, batch {fit.batch_size}, {schedule}"]
    if fit.stain_jitter:
        lines.append(f"- stain jitter: each training image's stain amounts within 1 ± {fit.stain_jitter} "
                     "(haematoxylin, eosin, DAB), drawn anew every batch, its spike maps made after; off at inference")
    if fit.stop_on == "off":
        lines.append(f"- every fold trained {fit.epochs} epochs, the final model too")
    else:
        best = [fold["best_epoch"] for fold in result["folds"]]
        patience = result["folds"][0].get("patience", {}).get("stop", fit.stop_patience)
        lines.append(f"- each fold stopped early on its validation {fit.stop_on} (patience {patience} epochs, "
                     f"at most {fit.epochs}) and kept its best epoch's weights (epochs "
                     f"{', '.join(map(str, best))}); the final model, with no validation part to stop on, trained for "
                     "their median")
    held = result.get("maps")
    if held is not None:
        lines.append("- spike maps held in memory" if held["storage"] == "memory" else
                     "- spike maps streamed: computed once into a float16 cache in the run folder (maps/, removed "
                     "when the folds were done) and read batch by batch")
        lines[-1] += f" ({held['why']})"
    lines.append("- batch-norm statistics re-estimated on un-augmented training maps after training (and before "
                 "each epoch's validation score)" if fit.recalibrate_bn else
                 "- batch-norm statistics as learnt in training (not recalibrated)")
    return lines


def _delivered_line(result: dict) -> list[str]:
    if result.get("delivered") == "ensemble":
        return ["The delivered model (model.keras, export) is the fold ensemble: the mean of the fold models' "
                "probabilities (`--final ensemble`)."]
    return ["The delivered model (model.keras, export) is the final model, refit on all development data."]


def _baseline_lines(result: dict) -> list[str]:
    """The colour-histogram baseline by the same splits, and the paired tests against it."""
    if "baseline" not in result:
        return []
    base, folds = result["baseline"], len(result["folds"])
    delivered = result["ensemble_on_test"] if result.get("delivered") == "ensemble" else result["final_on_test"]

    def row(name, validation, test):
        return {"model": name, "val. accuracy": _mean_sd_cell(validation.get("accuracy"), folds),
                "val. AUC": _mean_sd_cell(validation.get("auc"), folds),
                "test accuracy (0.5)": na(test["accuracy"]), "test AUC (95% CI)": with_ci(test["auc"], test["auc_ci"])}

    return ["## Against the colour-histogram baseline (same splits)",
            f"A {base['name']} (class weights balanced), fitted on each fold's training part and on all development "
            "images, as the model is. If the model does not beat it, what it learnt may be colour alone.", "",
            *markdown_table([row("this run (delivered model)", result["validation_mean_sd"], delivered),
                             row("colour-histogram baseline", base["validation_mean_sd"], base["final_on_test"])]), "",
            "Paired tests on the holdout test, each model at its own cut-off chosen on its out-of-fold validation "
            "predictions:", "", *paired_lines(result["versus_baseline"], "model", "baseline"), ""]


def render_run_report(run: str | Path, sections: list[str] = ()) -> Path:
    """Plots and report.md of a finished training run, from its config.yaml, data_summary.json, metrics.json and
    predictions.csv (so `keras-all report RUN` gives the same page again), with ``sections`` as
    ``write_run_report`` takes them."""
    folder = RunFolder(run)
    return write_run_report(folder.path, folder.config(), folder.read_json(DATA_SUMMARY_JSON), folder.metrics(),
                            folder.read_csv(PREDICTIONS_CSV), sections)


def write_run_report(run: Path, config: TrainConfig, summary: dict, result: dict, predictions: pd.DataFrame,
                     sections: list[str] = ()) -> Path:
    """Plots and report.md of a training run from its configuration, data summary, metrics (metrics.json's
    layout) and predictions, with ``sections`` (markdown lines: ``api.report_sections``, its refusal, stress test
    and a cell run's) after its operating points; the training curves come from the folds' log.csv."""
    _run_plots(run, result, predictions)
    final = result["final_on_test"]
    front = config.front
    grouped = ", grouped by subject" if summary["subjects"]["known"] and not result["leaky"] else ""
    lines = [f"# keras-all run `{config.run.name}`", ""]
    if result["leaky"]:
        lines += [f"> **{result['warning']}**", ""]
    lines += [
        "## Data", *data_lines(summary), "", "## Protocol",
        f"- `{result['protocol']}`: {result['n_dev']} development and {result['n_test']} holdout-test items; "
        f"{config.run.folds} folds{grouped}",
        f"- front: `{front.mode}`, spike size {front.spike_size}, model input {front.input_size}x"
        f"{front.input_size}x{front.model_channels}, z-score per {front.zscore}, PCA {front.pca_components or 'off'}"
        + ("" if front.crop == 1 else f", the centred {front.crop:.0%} of each side kept (corners cut)")
        + ("" if front.stain == "none" else f", stain normalised ({front.stain}) before the maps"),
        *_training_lines(config, result),
        "",
        "## Validation, per fold (cut-off 0.5)",
        *markdown_table([*(_metrics_row(f"fold {k}", f["validation"]) for k, f in enumerate(result["folds"])),
                         _mean_sd_row("mean ± sd", result["validation_mean_sd"], len(result["folds"]))]), "",
        "## Holdout test (cut-off 0.5)",
        *markdown_table([*(_metrics_row(f"fold {k}", f["test"], "model") for k, f in enumerate(result["folds"])),
                         _mean_sd_row("fold models, mean ± sd", result["fold_models_on_test_mean_sd"],
                                      len(result["folds"]), "model"),
                         *([_metrics_row("fold ensemble (mean of the fold models' probabilities)",
                                         result["ensemble_on_test"], "model")] if "ensemble_on_test" in result else []),
                         _metrics_row("final (all development data)", final, "model")]), "",
        *_delivered_line(result), "",
        *_baseline_lines(result),
        "### Refit final model on the holdout test, as the paper's Tables 4 and 5 (cut-off 0.5)",
        *paper_table(final), "", *interval_lines(final), "",
        "## Operating points",
        "Cut-offs chosen on the out-of-fold validation predictions, then applied unchanged to the holdout test "
        "(95% intervals):", "",
        *markdown_table([{"point": point["description"], "cut-off": f"{point['cutoff']:.4g}",
                          **{k: with_ci(point["final_on_test"][k], point["final_on_test"][f"{k}_ci"])
                             for k in ("sensitivity", "specificity", "accuracy")}}
                         for point in result["operating_points"].values()]),
    ]
    lines += ["", *sections, *_figure_lines(run, config, result)]
    path = run / REPORT_MD
    path.write_text("\n".join(lines) + "\n")
    return path


def _run_plots(run: Path, result: dict, predictions: pd.DataFrame) -> None:
    """A run's training curves (from the folds' log.csv), and the delivered model's confusion matrix and ROC."""
    logs = {p.parent.name: pd.read_csv(p) for p in sorted(run.glob("*/log.csv"))}
    chosen = result["operating_points"][VALIDATED_POINT]
    test = predictions[predictions["part"] == "test"]
    training_curves(logs, run / TRAINING_CURVES_PNG)
    confusion_plot(chosen["final_on_test"], run / CONFUSION_TEST_PNG,
                   f"final model, holdout test, cut-off {chosen['cutoff']:.4g}")
    roc_plot(test["label"], test["probability"], run / ROC_TEST_PNG, "final model, holdout test", chosen["cutoff"])


def _figure_lines(run: Path, config: TrainConfig, result: dict) -> list[str]:
    """The report's plots, saliency, configuration and environment."""
    lines = ["## Plots", "![training curves](training_curves.png)", "",
             "![confusion matrix](confusion_test.png) ![ROC](roc_test.png)", ""]
    if (run / SALIENCY_PNG).exists():
        lines += ["## Where the model looks",
                  "Integrated gradients of the ALL probability on the model's input, for the holdout images the "
                  "delivered model is most sure of, right and wrong, per class (brighter: more influence):", "",
                  "![saliency](saliency.png)", ""]
    if (run / PREPROCESSING_PNG).exists():
        lines += ["![preprocessing](preprocessing.png)", ""]
    lines += ["## Configuration", "```yaml", config.to_yaml().rstrip(), "```", "",
              "## Environment", *environment_lines(result["environment"]), "",
              "Files: `config.yaml`, `data_summary.json`, `splits.csv`, `predictions.csv` (out-of-fold validation and "
              "final-model test predictions), `fold_*/` (log.csv, predictions.csv, metrics.json, model.keras), "
              "`metrics.json`, `model.keras` (raw uint8 RGB images in, class probabilities out)."]
    return lines
