"""Paired tests of two models on the same images, and the colour-histogram baseline beside every honest run."""

import cv2
import numpy as np
import pandas as pd
import pytest

from keras_all.estimators import ScaledLogisticRegression
from keras_all.evaluation.baseline import by_splits
from keras_all.histogram import hsv_histogram
from keras_all.metrics import delong, mcnemar, paired_delong


def _scores(seed, n=80):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    return labels, labels * 0.8 + rng.normal(0, 0.6, n), labels * 0.3 + rng.normal(0, 0.6, n)


def test_against_a_constant_score_the_paired_variance_is_the_models_own():
    labels, a, _ = _scores(0)
    auc, variance = delong(labels, a)
    test = paired_delong(labels, a, np.zeros_like(a))
    assert test["auc_a"] == pytest.approx(auc) and test["auc_b"] == pytest.approx(0.5)
    half = (test["ci"][1] - test["ci"][0]) / 2
    assert half == pytest.approx(1.959964 * np.sqrt(variance), rel=1e-5)


def test_the_paired_test_is_antisymmetric_and_sees_a_real_difference():
    labels, a, b = _scores(1, 400)
    ab, ba = paired_delong(labels, a, b), paired_delong(labels, b, a)
    assert ab["difference"] == pytest.approx(-ba["difference"]) and ab["p_value"] == pytest.approx(ba["p_value"])
    assert ab["difference"] > 0 and ab["p_value"] < 0.01 and ab["ci"][0] > 0
    same = paired_delong(labels, a, a * 2 + 1)  # a monotone transform ranks alike
    assert same["difference"] == 0 and same["p_value"] == 1.0


def test_a_correlated_pair_is_tested_more_sharply_than_two_unpaired_intervals():
    labels, a, _ = _scores(2, 300)
    b = a + np.random.default_rng(3).normal(0, 0.15, len(a))  # nearly the same model
    paired = paired_delong(labels, a, b)
    unpaired = np.sqrt(delong(labels, a)[1] + delong(labels, b)[1])
    assert (paired["ci"][1] - paired["ci"][0]) / 2 < 1.96 * unpaired / 2


def test_mcnemar_counts_the_discordant_images():
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0, 1, 0])
    a = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 1])  # 8 right
    b = np.array([0, 0, 0, 1, 0, 0, 0, 0, 1, 0])  # 7 right
    test = mcnemar(labels, a, b)
    assert (test["only_a_right"], test["only_b_right"]) == (3, 2)
    assert test["accuracy_a"] == 0.8 and test["accuracy_b"] == 0.7
    assert test["p_value"] == pytest.approx(1.0)  # 3 against 2 is no evidence
    lopsided = mcnemar(np.ones(20), np.ones(20), np.zeros(20))
    assert lopsided["p_value"] == pytest.approx(2 * 0.5**20)


def test_the_histogram_counts_every_pixel_once_per_channel():
    image = np.zeros((10, 20, 3), np.uint8)
    image[:, :10] = (255, 0, 0)
    features = hsv_histogram(image)
    assert features.shape == (48,) and features.reshape(3, 16).sum(axis=1) == pytest.approx([1, 1, 1])
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    assert features[16 + hsv[0, 0, 1] // 16] == pytest.approx(0.5)  # half the pixels fully saturated


def _colour_splits(n=80, seed=0):
    """Histograms of reddish (ALL) and bluish (healthy) noise images, with a holdout and 4 folds."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = [np.clip(rng.normal(120, 40, (16, 16, 3)) + (40 if y else -40) * np.array([1, 0, -1]), 0, 255)
              .astype(np.uint8) for y in labels]
    split = np.where(np.arange(n) < n // 5, "test", "dev")
    fold = np.where(split == "dev", np.arange(n) // 2 % 4, -1)  # each fold holds both classes
    splits = pd.DataFrame({"path": [f"img{k}.png" for k in range(n)], "label": labels, "split": split, "fold": fold})
    return np.stack([hsv_histogram(i) for i in images]), splits


def test_the_baseline_follows_the_splits_and_learns_colour():
    features, splits = _colour_splits()
    fitted, summary, predictions = by_splits(features, splits)
    assert len(summary["folds"]) == 4 and summary["final_on_test"]["n"] == 16
    assert summary["validation_mean_sd"]["auc"]["mean"] > 0.95 and summary["final_on_test"]["auc"] > 0.95
    validation = predictions[predictions["part"] == "validation"]
    assert sorted(validation["path"]) == sorted(splits.loc[splits["split"] == "dev", "path"])  # each dev image once
    test = predictions[predictions["part"] == "test"]
    assert list(test["path"]) == list(splits.loc[splits["split"] == "test", "path"])
    assert 0 <= fitted.cutoff <= 1


def test_the_saved_baseline_predicts_what_the_fitted_one_did():
    features, splits = _colour_splits(seed=1)
    fitted, _, predictions = by_splits(features, splits)
    again = ScaledLogisticRegression.from_dict(fitted.to_dict())
    test = splits["split"] == "test"
    np.testing.assert_allclose(again.probability(features[test]), predictions.query("part == 'test'")["probability"])
    assert again.cutoff == fitted.cutoff


def test_the_baseline_does_not_see_the_holdout_when_fitting():
    features, splits = _colour_splits(seed=2)
    changed = features.copy()
    changed[(splits["split"] == "test").to_numpy()] = np.random.default_rng(0).random((16, 48))
    a, _, _ = by_splits(features, splits)
    b, _, _ = by_splits(changed, splits)
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_compare_refuses_test_rows_that_repeat_an_image(tmp_path):
    from keras_all.evaluation.comparison import compare_folders
    from keras_all.run_folder import write_json

    for name, paths in (("a", ["x.png", "y.png"]), ("b", ["x.png", "x.png"])):
        (tmp_path / name).mkdir()
        write_json(tmp_path / name / "metrics.json", {"cutoff": 0.5})
        pd.DataFrame({"path": paths, "label": [1, 0], "probability": [0.9, 0.2]}).to_csv(
            tmp_path / name / "predictions.csv", index=False)
    with pytest.raises(ValueError, match="b: its test rows repeat images"):
        compare_folders(tmp_path / "a", tmp_path / "b")
    assert compare_folders(tmp_path / "a", tmp_path / "a")["auc"] is None  # 1 image per class: no DeLong variance


def test_compare_names_an_evaluation_written_before_cut_offs_were_called_so(tmp_path):
    from keras_all.evaluation.comparison import compare_folders
    from keras_all.run_folder import write_json

    write_json(tmp_path / "metrics.json", {"threshold": 0.5})
    pd.DataFrame({"path": ["x.png"], "label": [1], "probability": [0.9]}).to_csv(tmp_path / "predictions.csv",
                                                                               index=False)
    with pytest.raises(ValueError, match=r"metrics.json: holds no cut-off \(written by an older keras-all\)"):
        compare_folders(tmp_path, tmp_path)


def test_the_histogram_counts_as_numpys_histogram_bins_each_channel():
    rng = np.random.default_rng(5)
    for image in [rng.integers(0, 256, (40, 50, 3), dtype=np.uint8),
                  *(np.full((8, 8, 3), level, np.uint8) for level in range(0, 256, 3))]:
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
        counts = [np.histogram(hsv[..., c], bins=16, range=(0, top))[0] for c, top in enumerate((180, 256, 256))]
        expected = np.concatenate(counts) / (image.shape[0] * image.shape[1])
        assert np.array_equal(hsv_histogram(image), expected)
