"""report.md of a training run: data, protocol, configuration, per-fold and holdout tables."""

from __future__ import annotations

from pathlib import Path

COLUMNS = ("accuracy", "sensitivity", "specificity", "f1", "auc")


def _cell(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _row(name: str, metrics: dict) -> str:
    return f"| {name} | {metrics['n']} | " + " | ".join(_cell(metrics.get(c)) for c in COLUMNS) + " |"


def _mean_sd_row(name: str, summary: dict) -> str:
    cells = [f"{summary[c]['mean']:.3f} ± {summary[c]['sd']:.3f}" if c in summary else "n/a" for c in COLUMNS]
    return f"| {name} | | " + " | ".join(cells) + " |"


def write_report(run: Path, result: dict, config, data_summary: dict) -> Path:
    header = "| part | n | " + " | ".join(COLUMNS) + " |\n|---|---|" + "---|" * len(COLUMNS)
    lines = [f"# keras-all run `{config.name}` ({run})", ""]
    if result["leaky"]:
        lines += [f"> **{result['warning']}**", ""]
    subjects = data_summary["subjects"]
    lines += [
        "## Data",
        f"- {data_summary['dataset']} at `{data_summary['root']}`: {data_summary['images']} unique images "
        f"(label 1: {data_summary['per_label'].get('1', 0)}, label 0: {data_summary['per_label'].get('0', 0)}), "
        f"subjects: {subjects['total'] if subjects['known'] else 'unknown'}",
        f"- duplicate groups dropped: {data_summary['duplicates']['groups']}; bad files skipped: "
        f"{len(data_summary['bad_files'])}",
        "",
        "## Protocol",
        f"- `{result['protocol']}`: {result['n_dev']} development and {result['n_test']} holdout-test items, "
        f"{config.folds} folds" + (" grouped by subject" if subjects["known"] and not result["leaky"] else ""),
        f"- front: {config.front.mode}, spike size {config.front.spike_size}, input {config.front.input_size}x"
        f"{config.front.input_size}x{config.front.channels}, PCA {config.front.pca_components or 'off'}",
        f"- training: Adam {config.learning_rate}, batch {config.batch_size}, {config.epochs} epochs, "
        f"ReduceLROnPlateau(factor {config.lr_factor}), augmentation {'on' if config.augment else 'off'}",
        "",
        "## Validation (per fold, cut-off 0.5)",
        header,
        *(_row(f"fold {k}", fold["validation"]) for k, fold in enumerate(result["folds"])),
        _mean_sd_row("mean ± sd", result["validation_mean_sd"]),
        "",
        "## Holdout test",
        header,
        *(_row(f"fold {k} model", fold["test"]) for k, fold in enumerate(result["folds"])),
        _mean_sd_row("fold models, mean ± sd", result["fold_models_on_test_mean_sd"]),
        _row("final model (all development data)", result["final_on_test"]),
        "",
        "Files: `config.yaml`, `splits.csv`, `fold_*/log.csv`, `fold_*/predictions.csv`, `metrics.json`, "
        "`model.keras` (raw uint8 RGB images in, class probabilities out).",
    ]
    path = run / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
