"""AreaResizing: the one resize from raw images to the spike size (training files and served graphs alike)."""

import cv2
import keras
import numpy as np
import pytest

from keras_all.layers import AreaResizing, area_resize, area_resize_many
from keras_all.layers.resize import area_band

pytestmark = pytest.mark.portable


@pytest.mark.parametrize(("size_in", "size_out"), [(450, 224), (224, 64), (7, 3), (10, 25)])
def test_each_output_pixel_averages_the_area_it_covers(size_in, size_out):
    index, shares = (keras.ops.convert_to_numpy(part) for part in area_band(size_in, size_out))
    assert index.min() >= 0 and index.max() < size_in
    weights = np.zeros((size_out, size_in))
    np.add.at(weights, (np.arange(size_out)[:, None].repeat(index.shape[1], 1), index), shares)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    # every input pixel is spread over the output in full: the image's mean level is kept
    np.testing.assert_allclose(weights.sum(axis=0) * size_in / size_out, 1.0, atol=1e-4)
    assert (weights >= 0).all()


@pytest.mark.parametrize(("shape", "size"), [((450, 450), 224), ((480, 640), 224), ((96, 96), 48)])
def test_shrinking_matches_opencvs_area_averaging_to_one_level(shape, size):
    image = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (5, 5), 0)  # a picture's smooth levels, not noise at every pixel
    ours, opencv = area_resize(image, size, size), cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    difference = np.abs(ours.astype(int) - opencv.astype(int))
    assert ours.dtype == np.uint8 and ours.shape == (size, size, 3)
    assert difference.max() <= 1 and (difference > 0).mean() < 0.02


def test_the_layer_in_a_model_gives_the_pixels_the_training_files_get():
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((450, 450), (300, 520), (64, 64))]
    layer = AreaResizing(64, 64)
    for image in images:
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(image[None]))[0], area_resize(image, 64, 64))
    batch = np.stack([images[0]] * 3)  # a batch resizes each image as it would alone
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(batch)),
                                  np.stack([area_resize(images[0], 64, 64)] * 3))


def test_same_size_images_pass_through_unchanged():
    images = np.random.default_rng(6).integers(0, 256, (2, 30, 30, 3), dtype=np.uint8)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(AreaResizing(30, 30)(images)), images)
    image = images[0]
    assert area_resize(image, 30, 30) is image


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "224"])
def test_a_bad_target_size_is_refused_naming_it(bad):
    with pytest.raises(ValueError, match="height="):
        AreaResizing(bad, 10)


def test_unknown_sizes_decide_at_run_time():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("only TensorFlow graphs trace with unknown image sizes (JAX shapes are static)")
    import tensorflow as tf

    layer = AreaResizing(20, 20)
    traced = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, 3), tf.uint8)])
    assert traced.get_concrete_function().structured_outputs.shape.as_list() == [None, 20, 20, 3]
    for size in (20, 33):
        images = np.random.default_rng(size).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
        np.testing.assert_array_equal(traced(images).numpy(), keras.ops.convert_to_numpy(layer(images)))


def test_a_known_same_size_traces_no_resize_at_all():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("graph ops are inspected under TensorFlow (JAX decides the same way, from its static shapes)")
    import tensorflow as tf

    layer = AreaResizing(20, 20)

    def ops_of(size):
        spec = tf.TensorSpec((None, size, size, 3), tf.uint8)
        return {op.type for op in tf.function(layer).get_concrete_function(spec).graph.get_operations()}

    assert "GatherV2" not in ops_of(20)
    assert "GatherV2" in ops_of(33)


def test_a_config_round_trip_keeps_the_target():
    layer = AreaResizing(12, 18, name="spike_resize")
    again = AreaResizing.from_config(layer.get_config())
    assert (again.height, again.width, again.name) == (12, 18, "spike_resize")


def test_many_images_of_mixed_sizes_resize_as_each_alone():
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in [(50, 60, 3)] * 4 + [(90, 70, 3)] * 3
              + [(32, 32, 3)]]
    together = area_resize_many(images, 32, 32)
    assert together.dtype == np.uint8 and together.shape == (8, 32, 32, 3)
    assert all(np.array_equal(together[k], area_resize(image, 32, 32)) for k, image in enumerate(images))
