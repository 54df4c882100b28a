"""The preprocessing front: SpikePreprocessor from raw uint8 images to the backbone's input, and the Standardizer."""

import keras
import numpy as np
import pytest

from keras_all import SpikePreprocessor, Standardizer
from keras_all.front import FrontConfig

from .helpers import as_model, fitted_preprocessor, save_and_reload

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
    preprocessor, _ = fitted_preprocessor(images[:8], config)
    assert as_model(preprocessor).predict(images[8:], verbose=0).shape == (8, *shape)


def test_zscore_is_fitted_on_training_images_only(images):
    config = FrontConfig(spike_size=48, input_size=48, pca_components=4)
    train = np.arange(10)
    _, fitted = fitted_preprocessor(images[train], config)
    altered = images.copy()
    altered[10:] = np.random.default_rng(0).integers(0, 256, altered[10:].shape)
    _, refitted = fitted_preprocessor(altered[train], config)
    np.testing.assert_array_equal(fitted.mean_, refitted.mean_)
    np.testing.assert_array_equal(fitted.variance_, refitted.variance_)
    np.testing.assert_array_equal(fitted.pca_.components_, refitted.pca_.components_)
    altered[0] = images[15]  # (an inverted image would not do: |edges| ignore the sign)
    assert not np.array_equal(fitted_preprocessor(altered[train], config)[1].mean_, fitted.mean_)


def test_training_maps_come_out_standardised(images):
    """Unit variance per pixel, except below the floor (1% of the mean variance), where it is damped."""
    from keras_all.front import VARIANCE_FLOOR

    config = FrontConfig(spike_size=48, input_size=24)
    out = as_model(fitted_preprocessor(images, config)[0]).predict(images, verbose=0)
    variance = SpikePreprocessor(config).map_model().predict(images, verbose=0).var(axis=0)
    floor = VARIANCE_FLOOR * variance.mean()
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=0), np.sqrt(variance / np.maximum(variance, floor)), atol=1e-3)
    assert (variance >= floor).mean() > 0.5


def test_an_edge_where_training_had_almost_none_stays_in_scale():
    maps = np.random.default_rng(0).random((20, 8, 8, 1)).astype("float32")
    maps[:, 0, 0, 0] = 0
    maps[-1, 0, 0, 0] = 1e-4  # one faint edge in training: a variance of ~5e-10 at that pixel
    head = Standardizer(FrontConfig(spike_size=8, input_size=8)).fit(maps)
    assert head.fit(maps) is head and head.pca_ is None and head.n_components_ is None  # scikit-learn's shape
    z = (1.0 - head.mean_[0, 0, 0]) / np.sqrt(head.variance_[0, 0, 0])  # a test image with a real edge there
    floor = 0.01 * maps.var(axis=0).mean()  # raised to 1% of the mean pixel variance
    assert z == pytest.approx((1.0 - 5e-6) / np.sqrt(floor), rel=1e-3)  # ~36; StandardScaler would give ~4.5e4
    np.testing.assert_allclose(head.variance_[4, 4, 0], maps[:, 4, 4, 0].var(), rtol=1e-5)  # others untouched


def test_pca_capped_at_training_images_minus_one(images):
    with pytest.warns(UserWarning, match="at most 5"):
        preprocessor, fitted = fitted_preprocessor(images[:6], FrontConfig(spike_size=32, input_size=32,
                                                                           pca_components=500))
    assert fitted.n_components_ == 5 and preprocessor.pca.n_components == 5


def test_any_image_size_goes_in(images):
    preprocessor, _ = fitted_preprocessor(images[:4], FrontConfig(spike_size=40, input_size=40))
    tall = np.zeros((2, 300, 120, 3), np.uint8)
    assert as_model(preprocessor).predict(tall, verbose=0).shape == (2, 40, 40, 1)


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
    preprocessor, _ = fitted_preprocessor(images[:8], FrontConfig(spike_size=40, input_size=32, channels=3,
                                                                  pca_components=3))
    model = as_model(preprocessor)
    reloaded = save_and_reload(model, tmp_path)
    np.testing.assert_array_equal(reloaded.predict(images[8:], verbose=0), model.predict(images[8:], verbose=0))


def test_an_unfitted_preprocessor_maps_but_refuses_to_standardize(images):
    unfitted = SpikePreprocessor(FrontConfig(spike_size=32, input_size=32))
    assert unfitted.map_model().predict(images[:2], verbose=0).shape == (2, 32, 32, 1)
    with pytest.raises(ValueError, match="standardizer is not fitted"):
        unfitted(images[:2])


def test_front_exports_as_saved_model(images, tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("SavedModel export needs the TensorFlow backend")
    import tensorflow as tf

    model = as_model(fitted_preprocessor(images[:8], FrontConfig(spike_size=40, input_size=32))[0])
    model.export(str(tmp_path / "front"), format="tf_saved_model")
    served = tf.saved_model.load(str(tmp_path / "front"))
    np.testing.assert_allclose(served.serve(tf.constant(images[8:])).numpy(), model.predict(images[8:], verbose=0),
                               atol=1e-5)


def test_raw_modes_skip_the_spike_stage(images):
    from .reference import reference_gray

    size = images.shape[1]
    gray = SpikePreprocessor(FrontConfig(spike_size=size, input_size=size, mode="gray")).map_model().predict(
        images[:2], verbose=0)
    np.testing.assert_allclose(gray[..., 0] * 255, [reference_gray(i) for i in images[:2]], atol=1e-3)
    rgb = SpikePreprocessor(FrontConfig(spike_size=size, input_size=size, mode="rgb")).map_model().predict(
        images[:2], verbose=0)
    np.testing.assert_allclose(rgb * 255, images[:2], atol=1e-3)
    with pytest.raises(ValueError, match="mode 'rgb' has its own channels"):
        FrontConfig(mode="rgb", channels=3)


@pytest.mark.parametrize("per, axis", [("pixel", (1, 2, 3)), ("channel", -1)])
def test_zscore_computes_what_keras_normalization_computes(per, axis, tmp_path):
    """Runs written with keras.layers.Normalization keep their figures: ZScore gives the same numbers, and
    unlike Normalization it reads its weights at every call, so set_weights takes effect."""
    from keras_all.layers import ZScore

    rng = np.random.default_rng(0)
    maps = rng.random((5, 6, 7, 3)).astype("float32")
    shape = (6, 7, 3) if per == "pixel" else (3,)
    mean, variance = rng.random(shape).astype("float32"), (rng.random(shape) + 0.01).astype("float32")
    layer = ZScore(per)
    layer.build(maps.shape)
    layer.set_weights([mean, variance])
    expected = keras.layers.Normalization(axis=axis, mean=mean, variance=variance)(maps)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(maps)), keras.ops.convert_to_numpy(expected))
    with pytest.raises(ValueError, match="per='image'"):
        ZScore("image")
