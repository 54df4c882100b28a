"""Export and prediction: the SavedModel serves raw images of any size like the in-memory model."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
import yaml

from keras_all import export as export_module
from keras_all.data import read_image
from keras_all.evaluation.familiarity import familiarity_of
from keras_all.loader import load_model

from .helpers import cli as run

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="a SavedModel is written and served with TensorFlow")


@pytest.fixture(scope="module")
def exported(readme_walk):
    """The README walk's tiny run, its export (both formats) and its data (conftest.py)."""
    root, results = readme_walk
    assert "export" in results and results["export"].returncode == 0, "the README walk's export failed"
    return root / "run", root / "export", root / "cnmc"


def _images(data):
    cell = read_image(next(data.rglob("*_all.bmp")))
    return [cell, cell[50:350, 20:220], np.ascontiguousarray(cell[::2, ::2])]  # 450x450, 300x200, 225x225


def test_saved_model_serves_raw_images_of_any_size_like_the_model(exported):
    import tensorflow as tf

    run_dir, out, data = exported
    assert {p.name for p in out.iterdir()} == {"saved_model", "model.keras", "MODEL_CARD.md", "config.yaml",
                                               "training_sha256.txt", "baseline.json", "export.json",
                                               "familiarity.json", "stress.json", "data_summary.json"}
    trained_on = set(pd.read_csv(run_dir / "splits.csv").query("split == 'dev'")["sha256"])
    assert set((out / "training_sha256.txt").read_text().split()) == trained_on
    served = tf.saved_model.load(str(out / "saved_model"))
    trained = keras.saving.load_model(run_dir / "model.keras")
    cutoff = json.loads((run_dir / "metrics.json").read_text())["operating_points"]["youden"]["cutoff"]
    for image in _images(data):
        result = served.serve(tf.constant(image[None]))
        expected = trained.predict(image[None], verbose=0)[:, 1]
        assert np.abs(result["probability"].numpy() - expected).max() < 1e-5
        assert result["decision"].numpy()[0] == int(expected[0] >= cutoff)
        judged = familiarity_of(load_model(out)).judge([image]).iloc[0]  # the refusal, served as in Python
        # float32 in the graph against float64 in NumPy: measured 0.2% apart
        assert abs(result["unfamiliarity"].numpy()[0] - judged["unfamiliarity"]) < 0.01 * judged["unfamiliarity"]
        assert result["unfamiliar"].numpy()[0] == judged["unfamiliar"]


def test_keras_file_reloads_with_the_custom_layers(exported):
    run_dir, out, data = exported
    reloaded = keras.saving.load_model(out / "model.keras")
    trained = keras.saving.load_model(run_dir / "model.keras")
    image = _images(data)[1][None]
    np.testing.assert_allclose(reloaded.predict(image, verbose=0)["probability"],
                               trained.predict(image, verbose=0)[:, 1], atol=1e-6)


def test_model_card_states_use_data_metrics_and_limits(exported):
    card = (exported[1] / "MODEL_CARD.md").read_text()
    for text in ("Not a diagnostic device", "## Training data and protocol", "95% CI", "cut-off",
                 "## Limitations", "stain", "48-bin HSV histogram", "paired DeLong p"):
        assert text in card
    assert yaml.safe_load((exported[1] / "config.yaml").read_text())["run"]["name"] == "tiny"


def test_failed_export_leaves_no_folder(exported, monkeypatch, tmp_path):
    def broken_card(*args):
        raise OSError("disk full")

    monkeypatch.setattr(export_module, "model_card", broken_card)
    result = run("export", "--model", exported[0], "--output", tmp_path / "again")
    assert result.exit_code == 1 and "disk full" in result.output
    assert list(tmp_path.iterdir()) == []
    assert "folder exists and is not empty" in run("export", "--model", exported[0], "--output", exported[1]).output


@pytest.mark.parametrize("which", ["export", "saved_model", "keras"])
def test_predict_a_folder_with_a_corrupt_file(exported, tmp_path, which):
    _, out, data = exported
    folder = tmp_path / "slides"
    folder.mkdir()
    for i, image in enumerate(_images(data)):
        keras.utils.save_img(folder / f"cell{i}.png", image)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    model = {"export": out, "saved_model": out / "saved_model", "keras": out / "model.keras"}[which]
    result = run("predict", "--model", model, folder, "--output", tmp_path / "p.csv")
    assert result.exit_code == 0, result.output
    assert "1 of 4 image files could not be read" in result.output
    table = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert len(table) == 4
    broken = table[table["path"].str.endswith("broken.png")].iloc[0]
    assert broken["probability"] == "" and "not a readable image" in broken["error"]
    good = table[table["error"] == ""]
    assert pd.to_numeric(good["probability"]).between(0, 1).all() and set(good["decision"].astype(int)) <= {0, 1}
    as_json = json.loads(run("predict", "--model", model, folder, "--json").stdout)
    assert len(as_json) == 4
