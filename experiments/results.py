"""Keep a finished run's numbers in experiments/results/ and render the tables of experiments/README.md.

    python experiments/results.py collect NAME RUN_FOLDER SECONDS "COMMAND"
    python experiments/results.py tables          # rewrites the marked tables in experiments/README.md

collect copies RUN_FOLDER's metrics.json, config.yaml and stress.json (where it has one) to results/NAME/ and
writes run.json (the command, its wall-clock seconds, the machine). tables reads every results/*/metrics.json; each
table lists its rows by result name, so a number in the README always traces to a saved run.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np

from keras_all.run_folder import RunFolder, write_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from machine import describe  # noqa: E402  (benchmarks/machine.py)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# table name -> rows (result name, what it is)
TABLES = {
    "protocols": [
        ("aria-paper", "Aria, **paper protocol (leaky)**"),
        ("aria-paper-no-copies", "Aria, paper protocol without augmented copies (leaky)"),
        ("aria", "Aria, honest protocol"),
        ("c-nmc-paper", "C-NMC sample, **paper protocol (leaky)**"),
        ("c-nmc", "C-NMC sample, honest protocol"),
    ],
    "ablations": [
        ("aria", "first-spike map, PCA 1200 (base)"),
        ("aria-no-pca", "first-spike map, PCA off"),
        ("aria-latency", "latency map (4 channels), PCA off"),
        ("aria-spike-wave", "spike-wave map (60 channels), PCA off"),
        ("aria-gray", "raw gray, no Gabor stage, PCA off"),
        ("aria-rgb", "raw RGB, no Gabor stage, PCA off"),
        ("aria-no-augment", "base without online augmentation"),
        ("aria-no-balance", "base without balancing copies of the benign class"),
        ("aria-recalibrated-bn", "base, batch-norm statistics recalibrated on un-augmented maps"),
        ("aria-spike-wave-recalibrated-bn", "spike-wave map, PCA off, batch-norm statistics recalibrated"),
        ("aria-tuned", "base with the tuned widths"),
    ],
    "baselines": [
        ("aria", "ResNet, base configuration"),
        ("aria-hsv-histogram", "Aria: logistic regression, 48-bin HSV histogram"),
        ("aria-gray-pca50", "Aria: logistic regression, 32x32 gray, PCA(50)"),
        ("c-nmc", "C-NMC sample: ResNet, base configuration"),
        ("c-nmc-hsv-histogram", "C-NMC sample: logistic regression, 48-bin HSV histogram"),
        ("c-nmc-gray-pca50", "C-NMC sample: logistic regression, 32x32 gray, PCA(50)"),
    ],
}


# Runs made with the baseline and the paired tests inside (issue 15): table name -> rows (result name, what it is);
# a row whose name ends in "*" stands for every seed of it (result names NAME-seed0, NAME-seed1, ...), one row each
# and their mean ± sd.
PAIRED_TABLES = {
    "small": [
        ("aria-small-rgb-first-spike*", "RGB + first-spike map (4 channels)"),
        ("aria-small-rgb*", "raw RGB"),
        ("aria-small-first-spike*", "first-spike map (the paper's front, 1 channel)"),
        ("aria-small-first-spike-paper-training-seed0", "first-spike map, trained as the paper trains (10 epochs)"),
        ("aria-small-rgb-first-spike-crop-seed0", "RGB + first-spike map, corners cut (centred 80% kept)"),
    ],
    "full": [
        ("aria-rgb-first-spike-adaptive*", "RGB + first-spike map (4 channels), adaptive training"),
    ],
}


# Runs with their stress test (issue 28): table name -> rows (result name, what it is)
STRESS_TABLES = {
    "stain": [
        ("aria-stain-reference", "reference (no stain handling)"),
        ("aria-stain-jitter-0.2", "stain jitter 0.2 in training"),
        ("aria-stain-reinhard", "Reinhard normalisation in the front"),
        ("aria-stain-reinhard-jitter-0.1", "Reinhard normalisation and stain jitter 0.1"),
    ],
}
STRESS_COLUMNS = ("brightness", "white balance", "contrast", "jpeg", "scale")  # shown at the middle strength


def collect(name: str, run: Path, seconds: float, command: str) -> Path:
    if (run / "INCOMPLETE").exists() or not (run / "metrics.json").is_file():
        raise SystemExit(f"{run}: not a finished run (INCOMPLETE, or no metrics.json)")
    out = RESULTS / name
    out.mkdir(parents=True, exist_ok=True)
    for file in ("metrics.json", "config.yaml", "stress.json"):
        if file != "stress.json" or (run / file).is_file():
            shutil.copy(run / file, out / file)
    write_json(out / "run.json", {"command": command, "seconds": round(float(seconds)), "machine": describe()})
    return out


def _ci(metric: dict, key: str) -> str:
    value, interval = metric.get(key), metric.get(f"{key}_ci")
    if value is None:
        return "n/a"
    return f"{value:.3f}" if not interval else f"{value:.3f} ({interval[0]:.2f}-{interval[1]:.2f})"


def _row(name: str, label: str) -> str:
    folder = RESULTS / name
    if not (folder / "metrics.json").is_file():
        return f"| {label} | not run |" + " |" * 10
    result = RunFolder(folder).metrics()
    run = json.loads((folder / "run.json").read_text()) if (folder / "run.json").is_file() else {}
    val = result["validation_mean_sd"]
    test = result["final_on_test"]

    def mean_sd(key, summary=val):
        entry = summary.get(key)
        return "n/a" if entry is None else f"{entry['mean']:.3f} ± {entry['sd'] or 0:.3f}"

    on_test = result["fold_models_on_test_mean_sd"]

    minutes = "" if "seconds" not in run else "<1" if run["seconds"] < 60 else f"{run['seconds'] / 60:.0f}"
    return (f"| {label} | {mean_sd('accuracy')} | {mean_sd('auc')} | {test['n']} | {_ci(test, 'accuracy')} | "
            f"{_ci(test, 'sensitivity')} | {_ci(test, 'specificity')} | {_ci(test, 'f1')} | {_ci(test, 'auc')} | "
            f"{_ci(test, 'balanced_accuracy')} | {mean_sd('accuracy', on_test)} / {mean_sd('auc', on_test)} | "
            f"{minutes} |")


HEADER = ("| run | val. accuracy (folds) | val. AUC (folds) | test n | test accuracy (95% CI) | sensitivity | "
          "specificity | F1 | AUC (95% CI) | balanced acc. | fold models on test: accuracy / AUC | minutes |\n"
          + "|---" * 12 + "|")


def table(name: str) -> str:
    return "\n".join([HEADER, *(_row(result, label) for result, label in TABLES[name])])


PAIRED_HEADER = ("| run | seed | val. AUC (folds) | val. accuracy (folds) | test accuracy at 0.5 / at the validated "
                 "cut-off | test AUC (95% CI) | fold ensemble: test accuracy at 0.5 / AUC | baseline: val. AUC / test "
                 "accuracy at 0.5 / test AUC | AUC difference to the baseline (95% CI), DeLong p | accuracy at "
                 "validated cut-offs: model / baseline, McNemar p | minutes |\n" + "|---" * 11 + "|")


def _paired_values(name: str) -> dict:
    """The numbers of one paired-table row, from results/NAME."""
    folder = RESULTS / name
    result = RunFolder(folder).metrics()
    run = json.loads((folder / "run.json").read_text())
    test, ensemble, base = result["final_on_test"], result["ensemble_on_test"], result["baseline"]
    auc, accuracy = result["versus_baseline"]["auc"], result["versus_baseline"]["accuracy"]
    return {"val_auc": result["validation_mean_sd"]["auc"]["mean"],
            "val_accuracy": result["validation_mean_sd"]["accuracy"]["mean"],
            "val_auc_sd": result["validation_mean_sd"]["auc"]["sd"] or 0,
            "val_accuracy_sd": result["validation_mean_sd"]["accuracy"]["sd"] or 0,
            "test_accuracy": test["accuracy"], "test_accuracy_cutoff": accuracy["accuracy_a"],
            "test_auc": test["auc"], "auc_ci": test["auc_ci"], "ensemble_accuracy": ensemble["accuracy"],
            "ensemble_auc": ensemble["auc"], "base_val_auc": base["validation_mean_sd"]["auc"]["mean"],
            "base_accuracy": base["final_on_test"]["accuracy"], "base_auc": base["final_on_test"]["auc"],
            "difference": auc["difference"], "difference_ci": auc["ci"], "delong_p": auc["p_value"],
            "base_accuracy_cutoff": accuracy["accuracy_b"], "mcnemar_p": accuracy["p_value"],
            "minutes": run["seconds"] / 60, "seed": RunFolder(folder).config().run.seed}


def _paired_row(label: str, v: dict) -> str:
    low, high = v["difference_ci"]
    return (f"| {label} | {v['seed']} | {v['val_auc']:.3f} ± {v['val_auc_sd']:.3f} | {v['val_accuracy']:.3f} ± "
            f"{v['val_accuracy_sd']:.3f} | {v['test_accuracy']:.3f} / {v['test_accuracy_cutoff']:.3f} | "
            f"{v['test_auc']:.3f} ({v['auc_ci'][0]:.2f}-{v['auc_ci'][1]:.2f}) | {v['ensemble_accuracy']:.3f} / "
            f"{v['ensemble_auc']:.3f} | {v['base_val_auc']:.3f} / {v['base_accuracy']:.3f} / {v['base_auc']:.3f} | "
            f"{v['difference']:+.3f} ({low:+.3f} to {high:+.3f}), p {v['delong_p']:.2g} | "
            f"{v['test_accuracy_cutoff']:.3f} / {v['base_accuracy_cutoff']:.3f}, p {v['mcnemar_p']:.2g} | "
            f"{v['minutes']:.0f} |")


def _over_seeds(label: str, rows: list[dict]) -> str:
    """mean ± sd over seeds of each row's headline numbers."""
    def cell(key):
        values = [row[key] for row in rows]
        return f"{np.mean(values):.3f} ± {np.std(values, ddof=1) if len(values) > 1 else 0:.3f}"

    return (f"| **{label}, mean ± sd over {len(rows)} seeds** | | **{cell('val_auc')}** | {cell('val_accuracy')} | "
            f"{cell('test_accuracy')} / {cell('test_accuracy_cutoff')} | {cell('test_auc')} | "
            f"{cell('ensemble_accuracy')} / {cell('ensemble_auc')} | {cell('base_val_auc')} / {cell('base_accuracy')} "
            f"/ {cell('base_auc')} | {cell('difference')} | {cell('test_accuracy_cutoff')} / "
            f"{cell('base_accuracy_cutoff')} | |")


def paired_table(name: str) -> str:
    lines = [PAIRED_HEADER]
    for result, label in PAIRED_TABLES[name]:
        names = (sorted(p.name for p in RESULTS.glob(f"{result[:-1]}-seed*")) if result.endswith("*")
                 else [result] if (RESULTS / result).is_dir() else [])
        if not names:
            lines.append(f"| {label} | not run |" + " |" * 9)
            continue
        rows = [_paired_values(n) for n in names]
        lines += [_paired_row(label, row) for row in rows]
        if len(rows) > 1:
            lines.append(_over_seeds(label, rows))
    return "\n".join(lines)


STRESS_HEADER = ("| run | val. AUC (folds) | holdout AUC | stain mild / middle / strong | Δ middle stain (p) | "
                 + " | ".join(f"{shift} middle" for shift in STRESS_COLUMNS) + " | minutes |\n"
                 + "|---" * (6 + len(STRESS_COLUMNS)) + "|")


def _stress_row(name: str, label: str) -> str:
    folder = RESULTS / name
    if not (folder / "stress.json").is_file():
        return f"| {label} | not run |" + " |" * (4 + len(STRESS_COLUMNS))
    val = RunFolder(folder).metrics()["validation_mean_sd"]["auc"]
    stress = json.loads((folder / "stress.json").read_text())
    run = json.loads((folder / "run.json").read_text())
    rows = {(row["shift"], row["strength"]): row["model"] for row in stress["shifts"]}
    stain = " / ".join(f"{rows[('stain', k)]['auc']:.3f}" for k in ("mild", "middle", "strong"))
    middle = rows[("stain", "middle")]["against_unshifted"]
    shifts = " | ".join(f"{rows[(shift, 'middle')]['auc']:.3f}" for shift in STRESS_COLUMNS)
    return (f"| {label} | {val['mean']:.3f} ± {val['sd'] or 0:.3f} | {stress['unshifted']['model']['auc']:.3f} | "
            f"{stain} | {middle['difference']:+.3f} (p {middle['p_value']:.2g}) | {shifts} | "
            f"{run['seconds'] / 60:.0f} |")


def _stress_baseline_row(name: str) -> str:
    """The colour histogram under the same shifts, from the first row's stress test (the same splits in every
    row)."""
    stress = json.loads((RESULTS / name / "stress.json").read_text())
    rows = {(row["shift"], row["strength"]): row["baseline"] for row in stress["shifts"]}
    stain = " / ".join(f"{rows[('stain', k)]['auc']:.3f}" for k in ("mild", "middle", "strong"))
    middle = rows[("stain", "middle")]["against_unshifted"]
    shifts = " | ".join(f"{rows[(shift, 'middle')]['auc']:.3f}" for shift in STRESS_COLUMNS)
    base = RunFolder(RESULTS / name).metrics()["baseline"]["validation_mean_sd"]["auc"]
    return (f"| colour histogram (the runs' baseline) | {base['mean']:.3f} ± {base['sd'] or 0:.3f} | "
            f"{stress['unshifted']['baseline']['auc']:.3f} | {stain} | {middle['difference']:+.3f} "
            f"(p {middle['p_value']:.2g}) | {shifts} | <1 |")


def stress_table(name: str) -> str:
    rows = STRESS_TABLES[name]
    return "\n".join([STRESS_HEADER, *(_stress_row(result, label) for result, label in rows),
                      _stress_baseline_row(rows[0][0])])


def tables(readme: Path = HERE / "README.md") -> None:
    text = readme.read_text()
    rendered = {**{name: table(name) for name in TABLES}, **{name: paired_table(name) for name in PAIRED_TABLES},
                **{name: stress_table(name) for name in STRESS_TABLES}}
    for name, body in rendered.items():
        pattern = re.compile(rf"(<!-- table:{name} -->\n)(?:(?!<!-- /table -->).)*(<!-- /table -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"{readme}: no <!-- table:{name} --> ... <!-- /table --> markers")
        text = pattern.sub(lambda m, b=body: m.group(1) + b + "\n" + m.group(2), text)
    readme.write_text(text)


if __name__ == "__main__":
    if sys.argv[1:2] == ["collect"] and len(sys.argv) == 6:
        print(collect(sys.argv[2], Path(sys.argv[3]), float(sys.argv[4]), sys.argv[5]))
    elif sys.argv[1:] == ["tables"]:
        tables()
    else:
        raise SystemExit(__doc__)
