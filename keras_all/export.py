"""Export a finished run as one model (raw uint8 RGB in; ALL probability and decision out), and predict."""

from __future__ import annotations

import shutil
from pathlib import Path

import keras
import pandas as pd

from keras_all.artifacts import CELLS_CSV, CONFIG_YAML, DATA_SUMMARY_JSON, MODEL_CARD_MD, MODEL_KERAS, SPLITS_CSV
from keras_all.cells.slide_rule import SLIDE_RULE
from keras_all.data.io import BadImageError, decode_image, printable, read_bytes
from keras_all.evaluation.comparison import paired_lines
from keras_all.evaluation.familiarity import FAMILIARITY, familiarity_of
from keras_all.evaluation.report import na
from keras_all.evaluation.stress import STRESS_FILE
from keras_all.front import FrontConfig
from keras_all.loader import BASELINE, DATA_SUMMARY, EXPORT_INFO, TRAINING_HASHES, export_info, load_model
from keras_all.run_folder import RunFolder
from keras_all.vocabulary import FORMATS
from keras_all.whole_folder import written_whole

TRAINING_FIELDS = "training_fields.txt"  # a cell model's export: the fields its cells came from


def export_run(run: str | Path, output: str | Path | None = None, fmt: str = "both") -> Path:
    """Export a finished run's classifier as a serving model: image -> {probability, decision}.

    Args:
        run: the finished run folder.
        output: the export folder (default RUN/export), written atomically: a failed export leaves none behind.
        fmt: ``saved_model``, ``keras`` or ``both``.

    Returns:
        The export folder (model.keras and/or saved_model/, config.yaml, export.json, MODEL_CARD.md,
        training_sha256.txt).
    """
    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    delivered = load_model(run)
    if delivered.kind != "run":
        raise ValueError(f"{run}: not a run folder; export takes the folder of a finished `keras-all train`")
    run = RunFolder(delivered.home)
    if fmt != "keras" and keras.backend.backend() != "tensorflow":
        raise ValueError("a SavedModel needs the TensorFlow backend; use --format keras or KERAS_BACKEND=tensorflow")
    out = Path(output) if output else run / "export"
    with written_whole(out) as partial:
        classifier = delivered.classifier
        familiarity = familiarity_of(delivered)
        model = classifier.serving_model(() if familiarity is None else familiarity.layers())
        if fmt in ("keras", "both"):
            model.save(partial / MODEL_KERAS)
        if fmt in ("saved_model", "both"):
            model.export(str(partial / "saved_model"), format="tf_saved_model", verbose=False)
        shutil.copy(run / CONFIG_YAML, partial / CONFIG_YAML)
        for kept in (BASELINE, SLIDE_RULE, FAMILIARITY, STRESS_FILE, DATA_SUMMARY):
            if (run / kept).is_file():
                shutil.copy(run / kept, partial / kept)
        if run.config().cells.unit == "cell":
            (partial / TRAINING_FIELDS).write_text("\n".join(sorted(training_fields(run.path))) + "\n")
        (partial / TRAINING_HASHES).write_text("\n".join(sorted(run.training_hashes())) + "\n")
        (partial / EXPORT_INFO).write_text(export_info(delivered.cutoff, "the exported model's own (chosen on its "
                                                                         "run's validation predictions)"))
        (partial / MODEL_CARD_MD).write_text(model_card(run, classifier.cutoff))
    return out


def model_card(run: RunFolder, cutoff: float) -> str:
    config = run.config()
    result = run.metrics()
    data = run.read_json(DATA_SUMMARY_JSON)
    test = run.validated_point["final_on_test"]

    def ci(key, method=""):
        low, high = test[f"{key}_ci"] or (None, None)
        return na(test[key]) + ("" if low is None else f" ({method}95% CI {low:.3f}-{high:.3f})")

    auc = ci("auc", "DeLong ")
    leak = f"\n> **{result['warning']}**\n" if result["leaky"] else ""
    return f"""# Model card: keras-all `{config.run.name}`
{leak}
## Intended use
Research on automated detection of acute lymphoblastic leukemia in blood-smear images.
**Not a diagnostic device**: it must not be used to diagnose, treat or triage patients.

## Input and output
A batch of raw uint8 RGB images of any height and width. Outputs: `probability` (of ALL) and
`decision` (1 where the probability is at least the cut-off {cutoff:.4g}, Youden's J chosen on the
run's out-of-fold validation predictions).{_refusal(run)}

## Training data and protocol
`{data['dataset']}`: {data['images']} unique images (ALL {data['per_label'].get('1', 0)}, healthy
{data['per_label'].get('0', 0)}), subjects: {data['subjects']['total'] if data['subjects']['known'] else 'unknown'}.
Protocol `{result['protocol']}`: {result['n_dev']} development and {result['n_test']} holdout-test items,
{config.run.folds}-fold cross-validation; {_delivered(result)}
Preprocessing: {_front_line(config.front)}

## Holdout metrics at the cut-off ({test['n']} images)
- accuracy {ci('accuracy')}
- sensitivity {ci('sensitivity')}
- specificity {ci('specificity')}
- ROC AUC {auc}
{_versus_baseline(result)}
## Limitations
- Trained on one data set: stain, scanner, magnification and population shifts can lower these numbers
  substantially; validate locally before any use.
- The holdout is from the same source as the training data; it does not measure generalisation to
  other hospitals.
- The cut-off was chosen on validation data of this run; a different prevalence or use calls for a
  different one.

See `config.yaml` for the full configuration and the run's report.md for everything measured;
`training_sha256.txt` lists the training images by content, so `keras-all evaluate` warns when they are scored.
"""


def _refusal(run: RunFolder) -> str:
    """The served refusal's outputs, where the run fitted one."""
    if not (run / FAMILIARITY).is_file():
        return ""
    summary = run.read_json(FAMILIARITY)["summary"]
    return (f"\n`unfamiliarity`: how unlike the training images an input is ({summary['score']}); `unfamiliar`: 1 past "
            f"{summary['cutoff']:.4g}, the {summary['quantile']:.0%} quantile of the run's out-of-fold validation "
            "images. A flagged input's verdict is not to be trusted.")


def _front_line(front: FrontConfig) -> str:
    """What the front does to a raw image, as configured."""
    crop = "" if front.crop == 1 else f", the centred {front.spike_size} px kept"
    blur = "no blur" if front.mode in ("gray", "rgb") or front.blur_size == 1 else (
        f"{front.blur_size}x{front.blur_size} Gaussian blur of the spikes")
    return (f"raw images resized by area averaging to {front.image_size} px{crop}; front `{front.mode}`, "
            f"{blur}; {front.input_size}x{front.input_size} input; z-score ({front.zscore}) and PCA "
            f"{front.pca_components or 'off'} fitted on the training data only.")


def _delivered(result: dict) -> str:
    if result.get("delivered") == "ensemble":
        return "the exported model is the mean of the fold models' probabilities (a fold ensemble)."
    return "the exported model was trained on all development data."


def _versus_baseline(result: dict) -> str:
    """The colour-histogram baseline's holdout figures and the paired tests, where the run has them."""
    if "baseline" not in result:
        return ""
    base = result["baseline"]["final_on_test"]
    lines = "\n".join(paired_lines(result["versus_baseline"], "model", "baseline"))
    return (f"\nBeside it, by the same splits, the {result['baseline']['name']}: accuracy {na(base['accuracy'])} at "
            f"0.5, AUC {na(base['auc'])}. Paired on the same holdout images:\n{lines}\n")


def predict_files(model: str | Path, files: list[Path], broken: list[tuple[str, str]] = ()) -> pd.DataFrame:
    """path, probability, decision, error per image file (and per link in ``broken``, that leads nowhere) and, where
    the model's folder holds its familiarity score, unfamiliarity, unfamiliar (1: unlike the training images) and
    unlike_in (what is most unlike); a bad file gets its error and no probability."""
    loaded = load_model(model)
    familiarity = familiarity_of(loaded)
    rows = [{"path": printable(path), "probability": None, "decision": None, "error": reason}
            for path, reason in broken]
    for path in files:
        try:
            image = decode_image(read_bytes(path), path)
            probability, decision = loaded.predict(image[None])
            row = {"path": printable(path), "probability": float(probability[0]), "decision": int(decision[0]),
                   "error": ""}
            if familiarity is not None:
                row.update(familiarity.judge([image]).iloc[0].to_dict())
            rows.append(row)
        except BadImageError as err:
            rows.append({"path": printable(path), "probability": None, "decision": None, "error": err.reason})
    columns = ["path", "probability", "decision", "error"]
    if familiarity is not None:
        columns[3:3] = ["unfamiliarity", "unfamiliar", "unlike_in"]
    table = pd.DataFrame(rows, columns=columns)
    whole = {"decision": "Int64", **({"unfamiliar": "Int64"} if familiarity is not None else {})}
    return table.astype(whole)  # whole numbers, empty for unreadable files


def training_fields(home: Path) -> set[str]:
    """The fields (resolved paths) whose cells a cell model trained on: its run's development part's, or as its
    export lists them."""
    listed = Path(home) / TRAINING_FIELDS
    if listed.is_file():
        return set(listed.read_text().split("\n")) - {""}
    cells, splits = Path(home) / "cells" / CELLS_CSV, Path(home) / SPLITS_CSV
    if not cells.is_file() or not splits.is_file():
        return set()
    dev = pd.read_csv(splits, keep_default_na=False).query("split == 'dev'")["path"]
    fields = pd.read_csv(cells, keep_default_na=False).set_index("path")["field"]
    return {str(Path(f).resolve()) for f in fields[fields.index.isin(dev)]}
