"""The k-th largest of many small non-negative integers per row, exactly, by counting instead of sorting.

FirstSpikeGabor's spike thresholds are ranks among an image's 50,176 responses, and those responses are whole
multiples of 2^-10 below a known bound (8-bit luma, kernels on the 2^-10 grid). Counting them in two radix passes
(a histogram of the high bits, then one of the low bits inside the bins that hold the wanted ranks) costs two
scatter-adds over the row, where a top-k or a sort costs a partial sort of it, and it finds every rank a latency
code needs in the same two passes.
"""

from __future__ import annotations

from keras import ops


def _from_the_top(counts):
    """counts (..., bins) -> (..., bins): how many values lie in each bin or above it."""
    return ops.flip(ops.cumsum(ops.flip(counts, axis=-1), axis=-1), axis=-1)


def _bin_of_rank(at_or_above, ranks):
    """The bin holding each rank: the highest bin with at least ``rank`` values at or above it.
    at_or_above (rows, 1 or m, bins): one histogram per row or one per rank; ranks (rows, m)."""
    return ops.sum(ops.cast(at_or_above >= ranks[..., None], "int32"), axis=-1) - 1


def _histograms(keys, rows: int, bins: int):
    """keys (rows, n) int32 in [0, bins) -> (rows, bins) counts, as one scatter-add (jit-friendly: static bins)."""
    offsets = ops.arange(rows, dtype="int32")[:, None] * bins
    flat = ops.reshape(keys + offsets, (-1,))
    return ops.reshape(ops.segment_sum(ops.ones_like(flat), flat, num_segments=rows * bins), (rows, bins))


def kth_largest(levels, ranks, top: int):
    """The ``ranks``-th largest of each row of ``levels``.

    Args:
        levels: (rows, n) int32 values in [0, top].
        ranks: (rows, m) int32 ranks in [1, n] (1: the largest; ties count once per value, as in a sorted row).
        top: the largest value ``levels`` can hold (a Python int; it sizes the histograms).

    Returns:
        (rows, m) int32: the value a descending sort of each row holds at each rank.
    """
    fine_bits = (int(top).bit_length() + 1) // 2
    fine = 1 << fine_bits
    coarse = (int(top) >> fine_bits) + 1
    rows = ops.shape(levels)[0]
    high = ops.right_shift(levels, fine_bits)
    counts = _histograms(high, rows, coarse)
    at_or_above = _from_the_top(counts)
    bin_ = _bin_of_rank(at_or_above[:, None, :], ranks)  # (rows, m)
    above = ops.take_along_axis(at_or_above, bin_, axis=1) - ops.take_along_axis(counts, bin_, axis=1)
    rank_in_bin = ranks - above
    # Each value's slot: the first wanted rank whose bin it lies in (ranks sharing a bin share its histogram),
    # or m, a slot nobody reads, when it lies in none.
    wanted = ops.shape(ranks)[1]
    matches = ops.expand_dims(bin_, -1) == ops.arange(coarse, dtype="int32")  # (rows, m, coarse)
    slot_of_bin = ops.min(ops.where(matches, ops.arange(wanted, dtype="int32")[None, :, None], wanted), axis=1)
    slots = ops.take_along_axis(slot_of_bin, high, axis=1)  # (rows, n)
    low = ops.bitwise_and(levels, fine - 1)
    within = ops.reshape(_histograms(slots * fine + low, rows, (wanted + 1) * fine), (rows, wanted + 1, fine))
    mine = ops.take_along_axis(within, ops.take_along_axis(slot_of_bin, bin_, axis=1)[..., None], axis=1)
    return bin_ * fine + _bin_of_rank(_from_the_top(mine), rank_in_bin)
