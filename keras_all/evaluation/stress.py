"""The stress test: holdout images re-scored as another lab's stain, lamp, camera, focus and lens would show them.

Each shift acts on the image as read from its file, at its own size, before the model's front (as a microscope
and camera would) and at three strengths. The delivered model and the colour-histogram baseline score the same
shifted images: AUC and accuracy at each one's validated cut-off, and a paired DeLong test of each against its
own unshifted scores. Every draw comes from the seed, the shift, the strength and the image's place in the list,
so a stress test repeats exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import keras
import numpy as np

from keras_all.artifacts import REPORT_MD, STRESS_JSON, STRESS_PNG
from keras_all.data import read_image
from keras_all.estimators import ScaledLogisticRegression
from keras_all.evaluation.familiarity import familiarity_of, image_statistics
from keras_all.evaluation.plots import stress_plot
from keras_all.front import centre_crop
from keras_all.histogram import hsv_histogram
from keras_all.layers import area_resize_many
from keras_all.layers.stain import hed_shift, stain_draws
from keras_all.loader import BASELINE, LoadedModel
from keras_all.metrics import binary_metrics, paired_delong
from keras_all.run_folder import RunFolder, read_json, write_json
from keras_all.tables import markdown_table, na
from keras_all.whole_folder import written_whole

STRENGTHS = ("mild", "middle", "strong")
STRESS_FILE = STRESS_JSON
STRESS_PLOT = STRESS_PNG
REFERENCE_SIDE = 224  # blur radii are given for a 224-pixel image and grow with the image


def _stain(image, level, rng):
    alpha, beta = stain_draws(level, 1, rng)
    return keras.ops.convert_to_numpy(hed_shift(image[None], alpha, beta))[0].astype(np.uint8)


def _brightness(image, level, rng):
    return _levels(image.astype(float) + rng.choice((-1, 1)) * level * 255)


def _contrast(image, level, rng):
    mean = image.mean(axis=(0, 1))
    return _levels((image - mean) * (1 + rng.choice((-1, 1)) * level) + mean)


def _gamma(image, level, rng):
    return _levels(255 * (image / 255.0) ** np.exp(rng.choice((-1, 1)) * level))


def _white_balance(image, level, rng):
    return _levels(image * rng.uniform(1 - level, 1 + level, 3))


def _defocus(image, level, rng):
    radius = max(1, round(level * min(image.shape[:2]) / REFERENCE_SIDE))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)).astype(np.float32)
    return cv2.filter2D(image, -1, disk / disk.sum(), borderType=cv2.BORDER_REFLECT_101)


def _jpeg(image, level, rng):
    ok, encoded = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(level)])
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1]


def _scale(image, level, rng):
    """Magnified or reduced by ``level`` (either way), the field of view kept at the image's size: a larger
    image's centre, or a smaller one mirrored out to the edges."""
    height, width = image.shape[:2]
    factor = 1 + rng.choice((-1, 1)) * level
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    if factor > 1:
        top, left = (size[1] - height) // 2, (size[0] - width) // 2
        return resized[top : top + height, left : left + width]
    down, right = height - size[1], width - size[0]
    return cv2.copyMakeBorder(resized, down // 2, down - down // 2, right // 2, right - right // 2,
                              cv2.BORDER_REFLECT_101)


def _levels(values) -> np.ndarray:
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


# name -> (what a setting means, the three strengths' settings, the shift)
SHIFTS: dict[str, tuple[str, tuple, Callable]] = {
    "stain": ("each stain's amount within 1 +- s (HED jitter)", (0.05, 0.1, 0.2), _stain),
    "brightness": ("every level moved by s of the range, up or down", (0.05, 0.1, 0.2), _brightness),
    "contrast": ("contrast times 1 +- s", (0.1, 0.2, 0.4), _contrast),
    "gamma": ("gamma exp(+-s)", (0.1, 0.2, 0.4), _gamma),
    "white balance": ("each channel's gain within 1 +- s", (0.05, 0.1, 0.2), _white_balance),
    "defocus": ("a disk blur of radius s px at 224 px", (1, 2, 4), _defocus),
    "jpeg": ("JPEG at quality s", (75, 50, 20), _jpeg),
    "scale": ("magnification times 1 +- s", (0.08, 0.15, 0.25), _scale),
}


def shifted(image: np.ndarray, shift: str, strength: int, seed: int, index: int) -> np.ndarray:
    """``image`` (uint8 RGB) under ``shift`` at strength 0, 1 or 2, drawn for the ``index``-th image of a test."""
    settings, act = SHIFTS[shift][1], SHIFTS[shift][2]
    rng = np.random.default_rng([seed, list(SHIFTS).index(shift), strength, index])
    return act(image, settings[strength], rng)


def stress_test(model: LoadedModel, paths, labels, seed: int = 0, batch_size: int = 32,
                echo: Callable[[str], None] = print) -> dict:
    """Score ``paths`` (labelled ``labels``) unshifted and under every shift at every strength, by ``model`` and
    by the colour-histogram baseline beside it (where its folder holds one); where the model has its familiarity
    score, the share of each shifted set it flags as unlike the training images.

    Returns:
        What stress.json holds: the unshifted figures and one row per shift and strength.
    """
    if model.front is None:
        raise ValueError(f"{model.path}: a lone SavedModel does not say how it reads images; stress-test its run "
                         "or export folder")
    baseline_file = model.beside(BASELINE)
    baseline = None if baseline_file is None else ScaledLogisticRegression.from_dict(read_json(baseline_file))
    paths, labels = list(map(str, paths)), np.asarray(labels).astype(int)
    cases = [(None, 0)] + [(shift, k) for shift in SHIFTS for k in range(len(STRENGTHS))]
    familiarity, size = familiarity_of(model), model.front.image_size
    scores = {case: ([], [], []) for case in cases}
    echo(f"stress test: {len(paths)} images, {len(cases) - 1} shifted versions of each")
    for start in range(0, len(paths), batch_size):
        images = [read_image(path) for path in paths[start : start + batch_size]]
        batches = [images if case[0] is None else [shifted(image, *case, seed, start + i)
                                                   for i, image in enumerate(images)] for case in cases]
        # every version of the batch at once: one forward pass and one pass of statistics, not one per shift
        resized = area_resize_many([image for batch in batches for image in batch], size, size)
        model_p = np.split(model.predict(resized)[0], len(cases))
        flags = (np.split(familiarity.assess(image_statistics(resized))["unfamiliar"].to_numpy(), len(cases))
                 if familiarity is not None else [None] * len(cases))  # read at the same size as the model's input
        base_p = (np.split(baseline.probability(np.stack([hsv_histogram(centre_crop(image, model.front.crop))
                                                          for batch in batches for image in batch])), len(cases))
                  if baseline is not None else [None] * len(cases))
        for case, *parts in zip(cases, model_p, base_p, flags):
            for kept, values in zip(scores[case], parts):  # (model, baseline, flags), as scores holds them
                if values is not None:
                    kept.append(values)
    scores = {case: tuple(np.concatenate(parts) if parts else None for parts in both)
              for case, both in scores.items()}
    plain = scores[(None, 0)]
    cutoff = model.cutoff
    base_cutoff = None if baseline is None else baseline.cutoff
    rows = []
    for shift, k in cases[1:]:
        model_p, base_p, flags = scores[(shift, k)]
        rows.append({"shift": shift, "strength": STRENGTHS[k], "setting": SHIFTS[shift][1][k],
                     "unfamiliar": None if flags is None else float(flags.mean()),
                     "model": _figures(labels, model_p, cutoff, plain[0]),
                     "baseline": None if baseline is None else _figures(labels, base_p, base_cutoff, plain[1])})
    return {"seed": seed, "n": len(paths), "positives": int(labels.sum()), "cutoff": cutoff,
            "baseline_cutoff": base_cutoff, "settings": {name: meaning for name, (meaning, _, _) in SHIFTS.items()},
            "unshifted": {"model": _figures(labels, plain[0], cutoff),
                          "unfamiliar": None if plain[2] is None else float(plain[2].mean()),
                          "baseline": None if baseline is None else _figures(labels, plain[1], base_cutoff)},
            "shifts": rows}


def _figures(labels, probability, cutoff: float, unshifted=None) -> dict:
    m = binary_metrics(labels, probability, cutoff)
    out = {"auc": m["auc"], "auc_ci": m["auc_ci"], "accuracy": m["accuracy"], "sensitivity": m["sensitivity"],
           "specificity": m["specificity"]}
    if unshifted is not None:
        out["against_unshifted"] = paired_delong(labels, probability, unshifted)
    return out


def write_stress(folder: str | Path, model: LoadedModel, paths, labels, seed: int = 0,
                 echo: Callable[[str], None] = print) -> dict:
    """``stress_test`` of ``model`` on ``paths`` into ``folder``: stress.json and its plot, stress.png."""
    folder = Path(folder)
    result = stress_test(model, paths, labels, seed, echo=echo)
    write_json(folder / STRESS_FILE, result)
    stress_plot(result, STRENGTHS, folder / STRESS_PLOT)
    return result


def stress_lines(folder: str | Path) -> list[str]:
    """The report's section on a stress.json in ``folder`` (none where there is none)."""
    path = Path(folder) / STRESS_FILE
    if not path.is_file():
        return []
    result = read_json(path)
    plain, has_base = result["unshifted"], result["unshifted"]["baseline"] is not None
    lines = ["## Stress test: the holdout as another lab would image it",
             f"The {result['n']} holdout images ({result['positives']} ALL), each shifted as read from its file "
             f"(seed {result['seed']}), scored by the delivered model at its cut-off {result['cutoff']:.4g}"
             + (f" and by the colour histogram at its own ({result['baseline_cutoff']:.4g})" if has_base else "")
             + ". Δ: the AUC's change from the unshifted images, with the paired DeLong p; flagged: the share the "
             "model's refusal marks as unlike its training images.", ""]
    rows = [{"shift": "none", "strength": "", "setting": "", **plain}, *result["shifts"]]
    lines += markdown_table([{"shift": row["shift"], "strength": row["strength"], "setting": row["setting"],
                              **_cells("model", row["model"]), **_cells("histogram", row["baseline"]),
                              "flagged": na(row.get("unfamiliar"), 0, percent=True)} for row in rows])
    lines += ["", "Settings: " + "; ".join(f"{name}: {meaning}" for name, meaning in result["settings"].items())
              + ".", "", f"![stress test]({STRESS_PLOT})", ""]
    return lines


def _cells(name: str, figures: dict | None) -> dict:
    """AUC, its change and p, accuracy: one contender's columns of the stress table."""
    if figures is None:
        return {f"{name} AUC": "n/a", f"{name} Δ (p)": "", f"{name} accuracy": ""}
    against = figures.get("against_unshifted")
    change = "" if against is None else f"{against['difference']:+.3f} ({_p(against['p_value'])})"
    return {f"{name} AUC": na(figures["auc"]), f"{name} Δ (p)": change, f"{name} accuracy": na(figures["accuracy"])}


def _p(value) -> str:
    return "p n/a" if value is None else f"p {value:.2g}"


def stress_command(model_ref: str | Path, out: str | Path, data=None, seed: int | None = None,
                   echo: Callable[[str], None] = print) -> dict:
    """`keras-all stress`: the stress test of a model on ``data`` (a ``LoadedDataset``), or on its run's holdout
    test where no data is given, into the folder ``out`` (stress.json, stress.png, report.md). ``seed``: the
    run's own seed unless given (so a run's holdout gets the stress test its report shows), else 0."""
    from keras_all.evaluation.comparison import holdout_predictions
    from keras_all.loader import load_model

    model = load_model(model_ref)
    if seed is None:
        seed = RunFolder(model.home).config().run.seed if model.kind == "run" else 0
    if data is None:
        if model.kind != "run":
            raise ValueError(f"{model_ref}: only a run folder knows its holdout test; give --dataset and --data-dir "
                             "to stress-test an export or a model file")
        table = holdout_predictions(model.home)[0]
        about = f"the holdout test of run {model.home}"
    else:
        table = data.samples
        about = f"{len(table)} images of {data.name} at {data.root}"
        overlap = int(table["sha256"].isin(model.training_hashes()).sum())
        if overlap:
            echo(f"warning: {overlap} of these images were used to train the model: its figures are optimistic")
    out = Path(out)
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()  # an empty folder given as --output is taken over
    with written_whole(out) as partial:  # a stress test cut short leaves no folder
        result = write_stress(partial, model, table["path"], table["label"], seed, echo)
        lines = [f"# keras-all stress test of `{model.path}`", "", f"Images: {about}.", "", *stress_lines(partial)]
        (partial / REPORT_MD).write_text("\n".join(lines) + "\n")
    return result
