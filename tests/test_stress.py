"""Another lab's images: the stain layers, the stress test's shifts, training that jitters the stain, and the
refusal of inputs unlike the training images."""

import json
from pathlib import Path

import cv2
import keras
import matplotlib.cbook
import numpy as np
import pandas as pd
import pytest

from keras_all.config import load_config
from keras_all.evaluation.familiarity import Familiarity, by_splits, image_statistics, statistics_of_files
from keras_all.evaluation.stress import SHIFTS, STRENGTHS, shifted, stress_test
from keras_all.front import FrontConfig, load_images
from keras_all.layers import ReinhardNormalization, StainJitter
from keras_all.layers.stain import hed_shift, lab_statistics
from keras_all.loader import load_model
from keras_all.training.model import FoldModel
from keras_all.training.splits import assign_splits

from .helpers import TINY, shell, table_rows


def smear_like(seed=0, size=96):
    """A pink field with purple discs: a stained smear's colours."""
    rng = np.random.default_rng(seed)
    image = np.zeros((size, size, 3), np.uint8) + np.array([236, 200, 214], np.uint8)
    for _ in range(6):
        centre = tuple(int(v) for v in rng.integers(10, size - 10, 2))
        cv2.circle(image, centre, int(rng.integers(5, 12)), (120, 60, 160), -1)
    return image


@pytest.mark.portable
def test_hed_shift_is_exact_at_no_shift_and_more_haematoxylin_darkens_the_nuclei():
    image = smear_like()[None]
    same = keras.ops.convert_to_numpy(hed_shift(image, np.ones((1, 3)), np.zeros((1, 3))))
    assert np.array_equal(same, image)
    more = keras.ops.convert_to_numpy(hed_shift(image, np.array([[1.5, 1, 1]]), np.zeros((1, 3))))
    nucleus = np.all(image[0] == (120, 60, 160), axis=-1)
    assert more[0][nucleus].mean() < image[0][nucleus].mean() - 5


@pytest.mark.portable
def test_stain_jitter_acts_in_training_only_differs_per_image_and_round_trips():
    images = np.repeat(smear_like()[None], 4, axis=0).astype("float32")
    layer = StainJitter(0.2, seed=3)
    assert np.array_equal(keras.ops.convert_to_numpy(layer(images)), images)
    jittered = keras.ops.convert_to_numpy(layer(images, training=True))
    assert not np.array_equal(jittered, images)
    assert len({jittered[k].tobytes() for k in range(4)}) == 4  # each image its own draw
    again = StainJitter.from_config(layer.get_config())
    assert (again.strength, again.seed) == (0.2, 3)
    with pytest.raises(ValueError, match="strength"):
        StainJitter(1.5)


@pytest.mark.portable
def test_reinhard_takes_two_casts_of_one_field_to_nearly_one_image():
    image = smear_like()
    cast = np.clip(image * np.array([0.85, 1.0, 1.15]), 0, 255).astype(np.uint8)
    normalised = keras.ops.convert_to_numpy(ReinhardNormalization()(np.stack([image, cast])))
    before = np.abs(image.astype(float) - cast).mean()
    after = np.abs(normalised[0] - normalised[1]).mean()
    assert after < before / 4
    mean, std = lab_statistics(normalised)
    target = ReinhardNormalization()
    spread = np.array(target.std)
    # each channel's mean within 5% of the target's spread of it, its spread within 5% of the target's (the clip
    # to 0..255 keeps them from landing exactly)
    assert (np.abs(mean - target.mean) <= 0.05 * spread).all(), (mean, target.mean)
    assert (np.abs(std - spread) <= 0.05 * spread).all(), (std, spread)
    assert not (np.abs(lab_statistics(np.stack([image, cast]))[1] - spread) <= 0.05 * spread).all()  # not so before


@pytest.mark.portable
@pytest.mark.parametrize("shift", list(SHIFTS))
def test_each_shift_is_seeded_keeps_the_image_shape_and_grows_with_strength(shift):
    image = smear_like(size=120)
    out = [shifted(image, shift, k, seed=0, index=0) for k in range(len(STRENGTHS))]
    assert all(o.shape == image.shape and o.dtype == np.uint8 for o in out)
    assert np.array_equal(out[1], shifted(image, shift, 1, seed=0, index=0))
    change = [np.abs(o.astype(float) - image).mean() for o in out]
    assert 0 < change[0] < change[2], change


def test_stress_test_scores_every_shift_for_model_and_baseline_and_repeats(tiny_run, monkeypatch):
    run = tiny_run[0]
    monkeypatch.chdir(run.parent)  # the run's paths are the walk's, relative to its folder
    test = pd.read_csv(run / "predictions.csv").query("part == 'test'")
    model = load_model(run)
    first = stress_test(model, test["path"][:6], test["label"][:6], seed=1, echo=lambda line: None)
    again = stress_test(model, test["path"][:6], test["label"][:6], seed=1, echo=lambda line: None)
    assert len(first["shifts"]) == len(SHIFTS) * len(STRENGTHS)
    assert json.dumps(first) == json.dumps(again)
    assert first["unshifted"]["baseline"] is not None and first["shifts"][0]["unfamiliar"] is not None
    written = pd.read_csv(run / "predictions.csv").query("part == 'test'")["probability"].to_numpy()[:6]
    plain = model.predict(load_images(test["path"][:6], model.front))[0]
    assert np.allclose(plain, written, atol=1e-4)  # the unshifted images are scored as the run scored them


@pytest.mark.portable
def test_a_run_that_jitters_the_stain_trains_on_images_and_infers_without_jitter(tmp_path):
    config = load_config(preset="demo").with_values({
        "fit.stain_jitter": 0.2, "front.stain": "reinhard", "front.spike_size": 32, "front.input_size": 32,
        "model.identity_blocks": 0, "model.widths": TINY["model"]["widths"]})
    images = np.stack([smear_like(k, 32) for k in range(8)])
    from keras_all import SpikePreprocessor

    standardizer = SpikePreprocessor.fitted_on(images, config.front).standardizer
    classifier, model = FoldModel(config).start(standardizer, seed=0, n_train=8)
    assert model.input_shape == (None, 32, 32, 3) and "stain_jitter" in [layer.name for layer in model.layers]
    plain = [keras.ops.convert_to_numpy(model(images, training=False)) for _ in range(2)]
    assert np.array_equal(*plain)
    assert np.allclose(classifier(images, training=False), plain[0], atol=1e-5)  # what the delivered model serves
    classifier.save(tmp_path / "model.keras")  # the normalisation travels inside the saved model
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert np.allclose(reloaded(images, training=False), plain[0], atol=1e-5)
    assert "stain_normalisation" in [layer.name for layer in reloaded.preprocessor.map_layers]
    jittered = [keras.ops.convert_to_numpy(model.get_layer("stain_jitter")(images, training=True)) for _ in range(2)]
    assert not np.array_equal(jittered[0], images) and not np.array_equal(*jittered)


@pytest.mark.portable
def test_stain_settings_are_checked():
    with pytest.raises(ValueError, match="stain_jitter"):
        load_config(overrides={"fit.stain_jitter": 0.2, "run.protocol": "paper"})
    with pytest.raises(ValueError, match="front.stain='macenko'"):
        load_config(overrides={"front.stain": "macenko"})
    with pytest.raises(ValueError, match="stain_jitter"):
        load_config(overrides={"fit.stain_jitter": 2})


def odd_images(folder: Path) -> Path:
    """Pictures that are not blood smears: noise, flat colours and a natural photograph matplotlib ships."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    cv2.imwrite(str(folder / "noise.png"), rng.integers(0, 256, (300, 300, 3), dtype=np.uint8))
    for name, colour in (("white", (255, 255, 255)), ("pink", (214, 200, 236)), ("black", (0, 0, 0))):
        cv2.imwrite(str(folder / f"flat-{name}.png"), np.full((200, 240, 3), colour, np.uint8))
    photo = cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    cv2.imwrite(str(folder / "grace_hopper.png"), photo)
    return folder


@pytest.mark.portable
def test_familiarity_by_splits_flags_outliers_and_few_of_its_own():
    rng = np.random.default_rng(0)
    images = np.stack([smear_like(k) for k in range(60)])
    statistics = image_statistics(images) + rng.normal(0, 1e-3, (60, 55))
    samples = pd.DataFrame({"path": [f"{k}.png" for k in range(60)], "label": np.arange(60) % 2, "subject": "",
                            "subject_group": "",
                            "sha256": [str(k) for k in range(60)]})
    splits = assign_splits(samples, 3, 0.2, 0)
    familiarity, summary = by_splits(statistics, splits, 96)
    assert summary["validation_flagged"] <= 0.05 and summary["test_n"] == (splits["split"] == "test").sum()
    odd = [np.full((96, 96, 3), 255, np.uint8), np.random.default_rng(1).integers(0, 256, (96, 96, 3), np.uint8)]
    judged = familiarity.judge(odd)
    assert judged["unfamiliar"].tolist() == [1, 1] and judged["unlike_in"][0] == "flatness (no edges at all)"
    assert judged["unlike_in"][1] in {"hue", "saturation", "brightness", "texture (edges)"}
    assert Familiarity.from_dict(familiarity.to_dict()).distance(statistics[:3]).tolist() == pytest.approx(
        familiarity.distance(statistics[:3]).tolist())


@pytest.mark.shell
def test_predict_flags_every_picture_that_is_not_a_smear_in_one_line_each(tiny_run, tmp_path):
    run = tiny_run[0]
    odd = odd_images(tmp_path / "odd")
    done = shell("predict", "--model", run, odd, "--output", tmp_path / "p.csv")
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "p.csv")
    assert table["unfamiliar"].tolist() == [1] * 5
    flagged = [line for line in done.stderr.splitlines() if "unlike the images the model was trained on" in line]
    assert len(flagged) == 5 and all("most unlike in its" in line for line in flagged)
    report = (run / "report.md").read_text()
    assert "## Refusal: inputs unlike the training images" in report and "## Stress test" in report


@pytest.mark.portable
def test_a_malformed_label_map_is_refused_in_one_line_before_anything_is_read(tmp_path):
    from .helpers import cli

    for bad, said in (("ALL:1", "write CLASS=1"), ("ALL=2", "write CLASS=1"), (",", "is empty")):
        done = cli("evaluate", "--model", tmp_path, "--dataset", "aria", "--data-dir", tmp_path, "--label-map", bad,
                   "--output", tmp_path / "out")
        assert done.exit_code != 0 and said in done.output and not (tmp_path / "out").exists()


@pytest.mark.shell
def test_stress_and_a_cross_set_evaluation_from_the_shell(tiny_run, synthetic_tree, tmp_path):
    run, data, _ = tiny_run
    walked = run.parent / "stress"  # the README walk's `keras-all stress --model run --output stress`
    result = json.loads((walked / "stress.json").read_text())
    assert len(result["shifts"]) == 24 and result["n"] == len(pd.read_csv(run / "predictions.csv").query(
        "part == 'test'"))
    assert (walked / "stress.png").stat().st_size > 0 and "## Stress test" in (walked / "report.md").read_text()
    assert result == json.loads((run / "stress.json").read_text())  # as the run's own, made by train: seeded
    aria = synthetic_tree("aria", 16)
    evaluated = shell("evaluate", "--model", run, "--dataset", "aria", "--data-dir", aria, "--label-map",
                      "Benign=0,Early=1,Pre=1,Pro=-", "--output", tmp_path / "cross")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "cross-set: trained on c-nmc, scored on aria" in evaluated.stdout
    metrics = json.loads((tmp_path / "cross" / "metrics.json").read_text())
    assert metrics["metrics"]["n"] == 12 and metrics["trained_on"] == "c-nmc"
    report = (tmp_path / "cross" / "report.md").read_text()
    assert "## Another source" in report and ["stain", "0.1"] in [row[:2] for row in table_rows(report)]
    unmapped = shell("evaluate", "--model", run, "--dataset", "aria", "--data-dir", aria, "--label-map",
                     "Benign=0", "--output", tmp_path / "bad")
    assert unmapped.returncode != 0 and "Early, Pre, Pro" in unmapped.stderr
    emptied = shell("evaluate", "--model", run, "--dataset", "aria", "--data-dir", aria, "--label-map",
                    "Benign=-,Early=-,Pre=-,Pro=-", "--output", tmp_path / "none")
    assert emptied.returncode != 0 and "every class" in emptied.stderr and not (tmp_path / "none").exists()


def test_other_sets_and_non_smears_are_flagged_and_few_aria_holdout_images(shared_path, tmp_path):
    """The refusal fitted by splits on real Aria images: its holdout, the C-NMC sample's single cells on black,
    BCCD's smears and pictures that are not smears."""
    aria = sorted(shared_path("aria-all").rglob("*.jpg"))
    picked = [aria[k] for k in np.random.default_rng(0).choice(len(aria), 400, replace=False)]
    front = FrontConfig(spike_size=224, input_size=64)
    samples = pd.DataFrame({"path": list(map(str, picked)), "label": [int("Benign" not in str(p)) for p in picked],
                            "subject": "", "subject_group": "", "sha256": list(map(str, picked))})
    splits = assign_splits(samples, 4, 0.2, 0)
    familiarity, summary = by_splits(statistics_of_files(samples["path"], front), splits, front.image_size)
    assert summary["test_flagged"] <= 0.05
    others = [*sorted(shared_path("cnmc-sample").rglob("*.bmp"))[:20],
              *sorted(shared_path("bccd").rglob("*.jpg"))[:20], *sorted(odd_images(tmp_path).iterdir())]
    from keras_all.data import read_image

    judged = familiarity.judge([read_image(p) for p in others])
    assert judged["unfamiliar"].tolist() == [1] * len(others)
