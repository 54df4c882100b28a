"""FirstSpikeGabor against the independent per-image reference, and as a Keras layer."""

import cv2
import keras
import numpy as np
import pytest

from keras_all.data import read_image
from keras_all.layers import FirstSpikeGabor, Luma, gabor_bank
from keras_all.layers.gabor import MODES, luma8

from .helpers import save_and_reload
from .reference import reference_gray, reference_kernel, reference_spikes, reference_thetas

pytestmark = pytest.mark.portable


def run_layer(images, **options):
    return keras.ops.convert_to_numpy(FirstSpikeGabor(**options)(images))


def assert_matches_reference(image, mode):
    expected = reference_spikes(image, mode)
    got = run_layer(image[None], mode=mode)[0]
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_kernels_are_zero_mean_max_one_and_follow_the_formula():
    bank = gabor_bank()
    assert bank.shape == (5, 5, 4)
    np.testing.assert_array_equal(bank.sum(axis=(0, 1)), 0.0)
    np.testing.assert_array_equal(bank.max(axis=(0, 1)), 1.0)
    for index, theta in enumerate(reference_thetas(4)):
        np.testing.assert_array_equal(bank[..., index], reference_kernel(theta))
    np.testing.assert_allclose(reference_thetas(4), [np.pi / 8, 3 * np.pi / 8, 5 * np.pi / 8, 7 * np.pi / 8])


def test_gray_is_opencv_luma(real_images):
    image = real_images["aria"]
    gray = keras.ops.convert_to_numpy(luma8(image[None]))[0, ..., 0]
    np.testing.assert_array_equal(gray, reference_gray(image))
    differs = np.abs(gray - cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
    assert differs.max() <= 1 and (differs > 0).mean() < 1e-3  # installed OpenCV: exact halves may round down
    scaled = keras.ops.convert_to_numpy(Luma()(image[None]))[0]
    assert scaled.shape == (*image.shape[:2], 1)
    np.testing.assert_allclose(scaled[..., 0] * 255, reference_gray(image), atol=1e-4)


def test_responses_to_8_bit_images_are_exact_in_float32():
    """|response| * 2^10 < 2^24: every partial sum of a 5x5 product with 0..255 pixels is representable."""
    bank = gabor_bank()
    assert 255 * np.abs(bank).sum(axis=(0, 1)).max() * 1024 < 2**24
    np.testing.assert_array_equal(bank * 1024, np.round(bank * 1024))


@pytest.mark.parametrize("orientation", range(4))
def test_a_grating_wins_at_its_own_orientation(orientation):
    theta = reference_thetas(4)[orientation]
    y, x = np.mgrid[0:48, 0:48]
    grating = 127.5 + 127.5 * np.cos(2 * np.pi * (x * np.cos(theta) + y * np.sin(theta)) / 2.5)
    image = np.repeat(np.round(grating).astype(np.uint8)[..., None], 3, axis=2)
    latency = run_layer(image[None], mode="latency")[0, 8:-8, 8:-8]
    spikes_per_orientation = (latency > 0).sum(axis=(0, 1))
    assert spikes_per_orientation.argmax() == orientation
    assert spikes_per_orientation[orientation] > 0.8 * spikes_per_orientation.sum()


@pytest.fixture(scope="module")
def real_images(shared_path):
    aria = read_image(shared_path("aria-all") / "Original" / "Pre" / "WBC-Malignant-Pre-001.jpg")
    cell = next((shared_path("cnmc-sample") / "C-NMC_Leukemia" / "training_data").rglob("*_all.bmp"))
    return {"aria": aria, "c-nmc": read_image(cell)[125:325, 125:325]}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("source", ["aria", "c-nmc"])
def test_matches_reference_on_real_images(real_images, source, channels, mode):
    image = real_images[source]
    if channels == 1:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None]
    assert_matches_reference(image, mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("channels", [3, 1])
def test_matches_reference_on_random_images(mode, channels):
    image = np.random.default_rng(channels).integers(0, 256, (37, 53, channels), dtype=np.uint8)
    assert_matches_reference(image, mode)


@pytest.mark.parametrize("mode", MODES)
def test_float_input_gives_the_same_spikes_as_8_bit(real_images, mode):
    image = real_images["aria"][:64, :64]
    as_float = image.astype(np.float32)
    assert_matches_reference(as_float, mode)
    np.testing.assert_array_equal(run_layer(as_float[None], mode=mode), run_layer(image[None], mode=mode))


@pytest.mark.parametrize("mode", MODES)
def test_continuous_float_input(mode):
    image = np.random.default_rng(5).uniform(0, 255, (29, 31, 3)).astype(np.float32)
    assert_matches_reference(image, mode)


def test_first_spike_takes_the_top_fifteenth_of_edges(real_images):
    spikes = run_layer(real_images["aria"][None])[0, ..., 0]
    edges = (reference_spikes(real_images["aria"], "latency") > 0).any(axis=-1).sum()
    assert set(np.unique(spikes)) == {0.0, 1.0}
    assert abs(spikes.sum() - edges / 15) <= 1 + 0.01 * edges  # ties may round the bin up


@pytest.mark.parametrize("mode", MODES)
def test_constant_image_gives_zeros(mode):
    out = run_layer(np.full((2, 20, 24, 3), 77, np.uint8), mode=mode)
    assert np.isfinite(out).all() and not out.any()


def test_latency_and_wave_are_consistent(real_images):
    image = real_images["aria"][None, :64, :64]
    latency = run_layer(image, mode="latency")[0]
    wave = run_layer(image, mode="spike_wave")[0]
    first = run_layer(image, mode="first_spike")[0]
    assert wave.shape == (15, 64, 64, 4)
    assert (np.diff(wave, axis=0) >= 0).all()  # cumulative
    np.testing.assert_allclose(wave.sum(axis=0) / 15, latency, atol=1e-6)
    np.testing.assert_array_equal(wave[0].sum(axis=-1, keepdims=True), first)
    assert ((latency > 0).sum(axis=-1) <= 1).all()  # one orientation per pixel survives inhibition


@pytest.mark.parametrize(
    "options, message",
    [
        ({"mode": "burst"}, "mode='burst'"),
        ({"timesteps": 0}, "timesteps=0"),
        ({"kernel_size": 4}, "kernel_size=4"),
        ({"sigma": -1}, "sigma=-1"),
    ],
)
def test_bad_arguments_name_the_value(options, message):
    with pytest.raises(ValueError, match=message):
        FirstSpikeGabor(**options)


def test_two_channels_are_refused():
    with pytest.raises(ValueError, match="1 or 3 channels"):
        FirstSpikeGabor()(np.zeros((1, 8, 8, 2), np.uint8))


def test_config_round_trip_symbolic_call_and_kernels_frozen_by_default():
    layer = FirstSpikeGabor(mode="latency", timesteps=7, name="fsg")
    clone = FirstSpikeGabor.from_config(layer.get_config())
    assert (clone.mode, clone.timesteps, clone.orientations, clone.name) == ("latency", 7, 4, "fsg")
    symbolic = layer(keras.Input((32, 40, 3), dtype="uint8"))
    assert tuple(symbolic.shape) == (None, 32, 40, 4)
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 1
    learned = FirstSpikeGabor.from_config(FirstSpikeGabor(trainable=True, name="learned").get_config())
    learned.build((None, 16, 16, 3))
    assert learned.trainable and len(learned.trainable_weights) == 1 and learned.name == "learned"


def _tiny_classifier(**options):
    inputs = keras.Input((24, 24, 3), dtype="uint8")
    x = FirstSpikeGabor(name="fsg", **options)(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(x))
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("trainable", [False, True])
def test_fits_inside_a_model_and_kernels_learn_only_when_asked(trainable):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 24, 24, 3), dtype=np.uint8)
    labels = keras.utils.to_categorical(rng.integers(0, 2, 16), 2)
    model = _tiny_classifier(trainable=trainable)
    model.compile("adam", "categorical_crossentropy")
    before = keras.ops.convert_to_numpy(model.get_layer("fsg").kernels).copy()
    history = model.fit(images, labels, epochs=2, batch_size=8, verbose=0)
    after = keras.ops.convert_to_numpy(model.get_layer("fsg").kernels)
    assert np.isfinite(history.history["loss"]).all()
    assert np.array_equal(before, after) != trainable
    assert model.predict(images, verbose=0).shape == (16, 2)


def test_keras_file_round_trip_reproduces_outputs(tmp_path):
    model = _tiny_classifier(mode="latency")
    images = np.random.default_rng(1).integers(0, 256, (4, 24, 24, 3), dtype=np.uint8)
    reloaded = save_and_reload(model, tmp_path)
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)
    assert reloaded.get_layer("fsg").get_config() == model.get_layer("fsg").get_config()


def test_saved_model_export_reproduces_outputs(tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("SavedModel export needs the TensorFlow backend")
    import tensorflow as tf

    model = _tiny_classifier()
    images = np.random.default_rng(2).integers(0, 256, (3, 24, 24, 3), dtype=np.uint8)
    model.export(str(tmp_path / "saved"), format="tf_saved_model")
    served = tf.saved_model.load(str(tmp_path / "saved"))
    np.testing.assert_allclose(served.serve(tf.constant(images)).numpy(), model.predict(images, verbose=0), atol=1e-6)


def test_unknown_image_size_gives_the_same_first_spikes(real_images):
    """Traced with no static size (as a SavedModel serves), the counted thresholds are the same."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("only TensorFlow graphs trace with unknown image sizes (JAX shapes are static)")
    import tensorflow as tf

    layer = FirstSpikeGabor()
    traced = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, 3), tf.uint8)])
    image = real_images["c-nmc"][None]
    assert traced.get_concrete_function().structured_outputs.shape.as_list() == [None, None, None, 1]
    np.testing.assert_array_equal(traced(image).numpy(), run_layer(image))
