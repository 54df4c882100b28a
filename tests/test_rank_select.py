"""The front's fast paths: thresholds by counting (rank_select) and the skipped same-size resize."""

import keras
import numpy as np
import pytest

from keras_all.layers import FirstSpikeGabor, SkipSameSizeResizing
from keras_all.layers.rank_select import kth_largest

pytestmark = pytest.mark.portable


def by_sorting(levels, ranks):
    return np.take_along_axis(-np.sort(-levels, axis=1), ranks - 1, axis=1)


@pytest.mark.parametrize(("top", "length", "wanted"), [(1_588_650, 50_176, 1), (1_588_650, 4_000, 15), (255, 300, 4),
                                                       (3, 40, 6), (1, 9, 3), (0, 5, 2)])
def test_kth_largest_is_what_a_sort_gives(top, length, wanted):
    rng = np.random.default_rng(top + length)
    levels = rng.integers(0, top + 1, (4, length)).astype("int32")
    levels[1] = levels[1] % 3  # heavy ties and zeros
    levels[2, : length // 2] = top  # a tie at the top bound
    ranks = rng.integers(1, length + 1, (4, wanted)).astype("int32")
    ranks[3] = np.sort(ranks[3])
    ranks[3, 0], ranks[3, -1] = 1, length  # the largest and the smallest
    counted = keras.ops.convert_to_numpy(kth_largest(levels, ranks, top))
    np.testing.assert_array_equal(counted, by_sorting(levels, ranks))


def test_ranks_in_one_bin_share_its_count():
    levels = np.array([[7, 7, 6, 5, 5, 5, 1000, 0]], dtype="int32")
    ranks = np.array([[1, 2, 3, 4, 5, 6, 7, 8]], dtype="int32")
    counted = keras.ops.convert_to_numpy(kth_largest(levels, ranks, 1000))
    np.testing.assert_array_equal(counted, by_sorting(levels, ranks))


@pytest.mark.parametrize("mode", ["first_spike", "latency", "spike_wave"])
def test_counted_thresholds_fire_as_sorted_ones(mode):
    """The learnt-kernel path sorts; with the fixed kernels both paths must give the same spikes."""
    images = np.random.default_rng(5).integers(0, 256, (3, 40, 40, 3), dtype=np.uint8)
    images[2] = 128  # a flat image: no response, no spike
    fixed = FirstSpikeGabor(mode=mode)
    learnable = FirstSpikeGabor(mode=mode, trainable=True)
    counted, sorted_ = (keras.ops.convert_to_numpy(layer(images)) for layer in (fixed, learnable))
    np.testing.assert_array_equal(counted, sorted_)
    assert counted[:2].any() and not counted[2].any()


def test_same_size_images_pass_through_and_others_resize_as_keras_does():
    images = np.random.default_rng(6).integers(0, 256, (2, 30, 30, 3), dtype=np.uint8)
    skip = SkipSameSizeResizing(30, 30, antialias=True)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(skip(images)), images)
    smaller = SkipSameSizeResizing(12, 12, antialias=True)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(smaller(images)),
                                  keras.ops.convert_to_numpy(keras.layers.Resizing(12, 12, antialias=True)(images)))


def test_unknown_sizes_decide_at_run_time():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("only TensorFlow graphs trace with unknown image sizes (JAX shapes are static)")
    import tensorflow as tf

    layer = SkipSameSizeResizing(20, 20, antialias=True)
    plain = keras.layers.Resizing(20, 20, antialias=True)
    traced, traced_plain = (tf.function(each, input_signature=[tf.TensorSpec((None, None, None, 3), tf.uint8)])
                            for each in (layer, plain))
    assert traced.get_concrete_function().structured_outputs.shape.as_list() == [None, 20, 20, 3]
    for size in (20, 33):
        images = np.random.default_rng(size).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
        np.testing.assert_array_equal(traced(images).numpy(), traced_plain(images).numpy())


def test_a_known_same_size_traces_no_resize_at_all():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("graph ops are inspected under TensorFlow (JAX decides the same way, from its static shapes)")
    import tensorflow as tf

    layer = SkipSameSizeResizing(20, 20, antialias=True)

    def ops_of(size):
        spec = tf.TensorSpec((None, size, size, 3), tf.uint8)
        return {op.type for op in tf.function(layer).get_concrete_function(spec).graph.get_operations()}

    assert "ScaleAndTranslate" not in ops_of(20)
    assert "ScaleAndTranslate" in ops_of(33)
