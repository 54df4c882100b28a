"""The front's fast path: thresholds by counting (rank_select)."""

import keras
import numpy as np
import pytest

from keras_all.layers import FirstSpikeGabor
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
