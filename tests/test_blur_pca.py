"""GaussianBlur against OpenCV, and PCA fitted on training rows only, carried as a layer."""

import keras
import numpy as np
import pytest

from keras_all.layers import GaussianBlur, PCAReconstruction, fit_pca
from keras_all.layers.blur import gaussian_taps, opencv_sigma

from .helpers import save_and_reload
from .reference import reference_blur

pytestmark = pytest.mark.portable


def test_sigma_and_taps_follow_opencvs_formula():
    assert opencv_sigma(9) == pytest.approx(1.7)
    taps = gaussian_taps(9)
    assert taps.sum() == pytest.approx(1.0) and taps.argmax() == 4
    np.testing.assert_allclose(taps, taps[::-1])


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_blur_matches_opencv(channels):
    image = np.random.default_rng(channels).random((33, 47, channels)).astype(np.float32)
    got = keras.ops.convert_to_numpy(GaussianBlur()(image[None]))[0]
    np.testing.assert_allclose(got, reference_blur(image), atol=1e-5)


def test_blur_keeps_constant_images_and_round_trips(tmp_path):
    layer = GaussianBlur(kernel_size=5, sigma=1.0)
    clone = GaussianBlur.from_config(layer.get_config())
    assert (clone.kernel_size, clone.sigma) == (5, 1.0)
    flat = np.full((1, 12, 12, 2), 0.25, np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(flat)), flat, atol=1e-6)
    inputs = keras.Input((12, 12, 2))
    model = keras.Model(inputs, GaussianBlur()(inputs))
    image = np.random.default_rng(0).random((2, 12, 12, 2)).astype(np.float32)
    np.testing.assert_allclose(save_and_reload(model, tmp_path, "blur.keras").predict(image, verbose=0),
                               model.predict(image, verbose=0), atol=1e-6)


@pytest.mark.parametrize("options, message", [({"kernel_size": 8}, "kernel_size=8"), ({"sigma": -2}, "sigma=-2")])
def test_blur_rejects_bad_arguments(options, message):
    with pytest.raises(ValueError, match=message):
        GaussianBlur(**options)


@pytest.fixture(scope="module")
def rows():
    """Low-rank rows with far more features than images, as images are: train 40, test 10."""
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(12, 600))
    data = rng.normal(size=(50, 12)) @ basis + 0.05 * rng.normal(size=(50, 600))
    return data[:40].astype(np.float32), data[40:].astype(np.float32)


def test_pca_depends_on_training_rows_only(rows):
    data = np.vstack(rows)
    train = np.arange(40)
    fitted = fit_pca(data[train], 8)
    changed_test, changed_train = data.copy(), data.copy()
    changed_test[40:] = changed_test[40:] * 3 + 1
    changed_train[0] += 1
    same = fit_pca(changed_test[train], 8)
    np.testing.assert_array_equal(fitted.mean_, same.mean_)
    np.testing.assert_array_equal(fitted.components_, same.components_)
    assert not np.allclose(fitted.mean_, fit_pca(changed_train[train], 8).mean_)


def test_reconstruction_error_falls_with_more_components(rows):
    train, test = rows
    errors = []
    for k in (1, 3, 6, 12):
        pca = fit_pca(train, k)
        errors.append(np.mean((pca.inverse_transform(pca.transform(test)) - test) ** 2))
    assert all(a > b for a, b in zip(errors, errors[1:]))


def test_variance_fraction_and_cap(rows):
    train, _ = rows
    pca = fit_pca(train, 0.99)
    assert pca.explained_variance_ratio_.sum() >= 0.99 and pca.n_components_ < 40
    with pytest.warns(UserWarning, match="at most 39; using 39"):
        capped = fit_pca(train, 500)
    assert capped.n_components_ == 39
    with pytest.raises(ValueError, match="n_components=1.5"):
        fit_pca(train, 1.5)
    with pytest.raises(ValueError, match="at least 2 training images"):
        fit_pca(train[:1], 1)


def test_layer_reproduces_sklearn_projection_and_survives_saving(rows, tmp_path):
    train, test = rows
    pca = fit_pca(train, 10)
    images = test.reshape(10, 10, 20, 3)
    inputs = keras.Input((10, 20, 3))
    model = keras.Model(inputs, PCAReconstruction.from_pca(pca, name="pca")(inputs))
    expected = pca.inverse_transform(pca.transform(test)).reshape(images.shape)
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, atol=1e-3, rtol=1e-4)
    reloaded = save_and_reload(model, tmp_path, "pca.keras")
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)
    assert reloaded.get_layer("pca").get_config()["n_components"] == 10


def test_layer_refuses_a_pca_of_another_size(rows):
    pca = fit_pca(rows[0], 4)
    with pytest.raises(ValueError, match="fitted on 600 features, the input has 300"):
        PCAReconstruction.from_pca(pca)(np.zeros((1, 10, 10, 3), np.float32))
