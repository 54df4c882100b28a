"""The colour-aware spike fronts (keras_all/layers/colour.py) against the independent reference, and the corner crop."""

import keras
import numpy as np
import pytest

from keras_all.front import FrontConfig, centre_crop
from keras_all.layers import ChannelFirstSpikeGabor, SpikesBesideColour
from keras_all.models import SpikePreprocessor

from .helpers import as_model, fitted_preprocessor, save_and_reload
from .reference import reference_blur, reference_spikes

pytestmark = pytest.mark.portable


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (3, 24, 24, 3), dtype=np.uint8)


@pytest.mark.parametrize("mode", ["first_spike", "latency"])
def test_each_channel_is_coded_as_a_gray_image_of_its_own(images, mode):
    got = keras.ops.convert_to_numpy(ChannelFirstSpikeGabor(mode=mode)(images))
    per = 1 if mode == "first_spike" else 4
    assert got.shape == (3, 24, 24, 3 * per)
    for k, image in enumerate(images):
        for c in range(3):
            expected = reference_spikes(image[..., c : c + 1], mode)
            np.testing.assert_allclose(got[k, ..., c * per : (c + 1) * per], expected, atol=1e-5)


def test_colour_and_spikes_side_by_side(images):
    got = keras.ops.convert_to_numpy(SpikesBesideColour("spike_wave", timesteps=3)(images))
    assert got.shape == (3, 24, 24, 3 + 12)
    np.testing.assert_allclose(got[..., :3], images / 255.0, atol=1e-6)
    for k, image in enumerate(images):
        wave = reference_spikes(image, "spike_wave", timesteps=3)  # (T, h, w, L) -> (h, w, T * L), step-major
        flat = wave.transpose(1, 2, 0, 3).reshape(24, 24, 12)
        np.testing.assert_allclose(got[k, ..., 3:], reference_blur(flat), atol=1e-5)
    first = keras.ops.convert_to_numpy(SpikesBesideColour("first_spike")(images))
    np.testing.assert_allclose(first[0, ..., 3:], reference_blur(reference_spikes(images[0])), atol=1e-5)


@pytest.mark.parametrize("layer, message", [
    (lambda: ChannelFirstSpikeGabor(mode="spike_wave"), "per-channel spike code"),
    (lambda: SpikesBesideColour("latency"), "spike_mode='latency'"),
])
def test_bad_arguments_are_named(layer, message):
    with pytest.raises(ValueError, match=message):
        layer()


def test_gray_input_is_refused(images):
    with pytest.raises(ValueError, match="RGB"):
        ChannelFirstSpikeGabor()(images[..., :1])


@pytest.mark.parametrize("mode, channels", [("first_spike_rgb", 3), ("rgb_first_spike", 4), ("rgb_spike_wave", 63)])
def test_the_colour_modes_run_through_the_front_and_reload(images, mode, channels, tmp_path):
    front = FrontConfig(spike_size=24, input_size=16, mode=mode)
    assert front.model_channels == channels
    preprocessor, _ = fitted_preprocessor(images, front)
    model = as_model(preprocessor)
    out = model.predict(images, verbose=0)
    assert out.shape == (3, 16, 16, channels)
    reloaded = save_and_reload(model, tmp_path)
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), out, atol=1e-6)


def test_the_crop_drops_a_marked_corner_from_the_maps_and_the_baseline():
    image = np.full((1, 100, 100, 3), 128, np.uint8)
    image[0, :10, :10] = 255  # a scale-bar box in the top-left corner
    maps = SpikePreprocessor(FrontConfig(spike_size=40, input_size=40, mode="rgb", crop=0.7)).map_model()
    cropped = maps.predict(image, verbose=0)
    assert cropped.shape == (1, 40, 40, 3) and cropped.max() < 0.51
    whole = SpikePreprocessor(FrontConfig(spike_size=40, input_size=40, mode="rgb")).map_model()
    assert whole.predict(image, verbose=0).max() == pytest.approx(1.0)
    kept = centre_crop(image[0], 0.7)
    assert kept.shape == (70, 70, 3) and kept.max() == 128


@pytest.mark.parametrize("crop", [0.1, 1.5, True])
def test_a_bad_crop_is_named(crop):
    with pytest.raises(ValueError, match="crop="):
        FrontConfig(crop=crop)
