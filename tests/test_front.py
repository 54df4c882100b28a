"""The preprocessing front: one model from raw uint8 images to the ResNet's input."""

import keras
import numpy as np
import pytest

from keras_all.front import FrontConfig, build_map_model, fit_front

pytestmark = pytest.mark.portable


@pytest.fixture(scope="module")
def images(synthetic_tree):
    from keras_all.data import load_dataset, read_image

    samples = load_dataset("aria", synthetic_tree("aria", 16)).samples
    return np.stack([read_image(p) for p in samples["path"]])


@pytest.mark.parametrize(
    "config, shape",
    [
        (FrontConfig(spike_size=64, input_size=32), (32, 32, 1)),
        (FrontConfig(spike_size=48, input_size=48, channels=3), (48, 48, 3)),
        (FrontConfig(spike_size=32, input_size=32, mode="latency"), (32, 32, 4)),
        (FrontConfig(spike_size=32, input_size=16, mode="spike_wave", timesteps=5), (16, 16, 20)),
        (FrontConfig(spike_size=32, input_size=16, mode="gray", channels=3), (16, 16, 3)),
        (FrontConfig(spike_size=32, input_size=32, mode="rgb", pca_components=4), (32, 32, 3)),
    ],
)
def test_front_shapes(images, config, shape):
    fitted = fit_front(images[:8], config)
    assert fitted.model.predict(images[8:], verbose=0).shape == (8, *shape)


def test_zscore_is_fitted_on_training_images_only(images):
    config = FrontConfig(spike_size=48, input_size=48, pca_components=4)
    train = np.arange(10)
    fitted = fit_front(images[train], config)
    altered = images.copy()
    altered[10:] = np.random.default_rng(0).integers(0, 256, altered[10:].shape)
    refitted = fit_front(altered[train], config)
    np.testing.assert_array_equal(fitted.mean_, refitted.mean_)
    np.testing.assert_array_equal(fitted.variance_, refitted.variance_)
    np.testing.assert_array_equal(fitted.pca_.components_, refitted.pca_.components_)
    altered[0] = images[15]  # (an inverted image would not do: |edges| ignore the sign)
    assert not np.array_equal(fit_front(altered[train], config).mean_, fitted.mean_)


def test_training_maps_come_out_standardised(images):
    """Unit variance per pixel, except below the floor (1% of the mean variance), where it is damped."""
    from keras_all.front import VARIANCE_FLOOR

    config = FrontConfig(spike_size=48, input_size=24)
    out = fit_front(images, config).model.predict(images, verbose=0)
    variance = build_map_model(config).predict(images, verbose=0).var(axis=0)
    floor = VARIANCE_FLOOR * variance.mean()
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=0), np.sqrt(variance / np.maximum(variance, floor)), atol=1e-3)
    assert (variance >= floor).mean() > 0.5


def test_an_edge_where_training_had_almost_none_stays_in_scale():
    from keras_all.front import fit_head

    maps = np.random.default_rng(0).random((20, 8, 8, 1)).astype("float32")
    maps[:, 0, 0, 0] = 0
    maps[-1, 0, 0, 0] = 1e-4  # one faint edge in training: a variance of ~5e-10 at that pixel
    head = fit_head(maps, FrontConfig(spike_size=8, input_size=8))
    z = (1.0 - head.mean_[0, 0, 0]) / np.sqrt(head.variance_[0, 0, 0])  # a test image with a real edge there
    floor = 0.01 * maps.var(axis=0).mean()  # raised to 1% of the mean pixel variance
    assert z == pytest.approx((1.0 - 5e-6) / np.sqrt(floor), rel=1e-3)  # ~36; StandardScaler would give ~4.5e4
    np.testing.assert_allclose(head.variance_[4, 4, 0], maps[:, 4, 4, 0].var(), rtol=1e-5)  # others untouched


def test_pca_capped_at_training_images_minus_one(images):
    with pytest.warns(UserWarning, match="at most 5"):
        fitted = fit_front(images[:6], FrontConfig(spike_size=32, input_size=32, pca_components=500))
    assert fitted.pca_.n_components_ == 5


def test_any_image_size_goes_in(images):
    fitted = fit_front(images[:4], FrontConfig(spike_size=40, input_size=40))
    tall = np.zeros((2, 300, 120, 3), np.uint8)
    assert fitted.model.predict(tall, verbose=0).shape == (2, 40, 40, 1)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"channels": 2}, "channels=2"),
        ({"mode": "latency", "channels": 3}, "has its own channels"),
        ({"spike_size": 4}, "spike_size=4"),
        ({"zscore": "batch"}, "zscore='batch'"),
        ({"pca_components": 1.5}, "pca_components=1.5"),
    ],
)
def test_bad_config_is_named(options, message):
    with pytest.raises(ValueError, match=message):
        FrontConfig(**options)


def test_front_saves_and_reloads(images, tmp_path):
    fitted = fit_front(images[:8], FrontConfig(spike_size=40, input_size=32, channels=3, pca_components=3))
    fitted.model.save(tmp_path / "front.keras")
    reloaded = keras.saving.load_model(tmp_path / "front.keras")
    np.testing.assert_allclose(reloaded.predict(images[8:], verbose=0),
                               fitted.model.predict(images[8:], verbose=0), atol=1e-5)


def test_front_exports_as_saved_model(images, tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("SavedModel export needs the TensorFlow backend")
    import tensorflow as tf

    fitted = fit_front(images[:8], FrontConfig(spike_size=40, input_size=32))
    fitted.model.export(str(tmp_path / "front"), format="tf_saved_model")
    served = tf.saved_model.load(str(tmp_path / "front"))
    np.testing.assert_allclose(served.serve(tf.constant(images[8:])).numpy(),
                               fitted.model.predict(images[8:], verbose=0), atol=1e-5)


def test_raw_modes_skip_the_spike_stage(images):
    from .reference import reference_gray

    size = images.shape[1]
    gray = build_map_model(FrontConfig(spike_size=size, input_size=size, mode="gray")).predict(images[:2], verbose=0)
    np.testing.assert_allclose(gray[..., 0] * 255, [reference_gray(i) for i in images[:2]], atol=1e-3)
    rgb = build_map_model(FrontConfig(spike_size=size, input_size=size, mode="rgb")).predict(images[:2], verbose=0)
    np.testing.assert_allclose(rgb * 255, images[:2], atol=1e-3)
    with pytest.raises(ValueError, match="mode 'rgb' has its own channels"):
        FrontConfig(mode="rgb", channels=3)
