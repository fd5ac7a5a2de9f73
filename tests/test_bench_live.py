"""The pure helpers of bench/live.py: merging load slices, picking a time window's slices,
per-process quantiles from per-file values, and grouping releases into files."""

from __future__ import annotations

import math

from bench.live import Slice, batches, merge, overlapping, weighted_quantile
from bench.load import Load


def test_merge_sums_latencies_errors_and_seconds_and_keeps_the_first_error() -> None:
    a = Load(latencies_s=[0.1, 0.2], errors=1, seconds=1.0, first_error="")
    b = Load(latencies_s=[0.3], errors=2, seconds=0.5, first_error="503 busy")
    c = Load(latencies_s=[], errors=1, seconds=0.5, first_error="reset")

    merged = merge([a, b, c])

    assert merged.latencies_s == [0.1, 0.2, 0.3]
    assert merged.errors == 4
    assert merged.requests == 7
    assert merged.seconds == 2.0
    assert merged.first_error == "503 busy"
    assert merge([]).requests == 0


def test_overlapping_keeps_slices_that_ran_at_any_moment_of_the_window() -> None:
    slices = [Slice(float(t), float(t) + 1.0, Load()) for t in range(5)]  # [0,1] .. [4,5]

    picked = overlapping(slices, 1.5, 3.2)

    assert [s.started for s in picked] == [1.0, 2.0, 3.0]
    assert [s.started for s in overlapping(slices, 5.0, 9.0)] == [4.0]  # touching counts
    assert overlapping(slices, 6.0, 9.0) == []


def test_weighted_quantile_counts_each_value_its_weight_times() -> None:
    # per process: 1 process at 0.1 s, 3 at 0.2 s, 1 at 0.9 s -> sorted 0.1 0.2 0.2 0.2 0.9
    values, weights = [0.9, 0.1, 0.2], [1, 1, 3]

    assert weighted_quantile(values, weights, 0.5) == 0.2  # 3rd of 5
    assert weighted_quantile(values, weights, 0.2) == 0.1  # 1st of 5
    assert weighted_quantile(values, weights, 0.99) == 0.9  # 5th of 5
    assert weighted_quantile(values, [0, 0, 3], 0.99) == 0.2  # zero weight drops a value
    assert math.isnan(weighted_quantile([], [], 0.5))


def test_batches_split_in_order_with_a_shorter_last_group() -> None:
    lines = [f"r{i}" for i in range(7)]

    groups = batches(lines, 3)

    assert groups == [["r0", "r1", "r2"], ["r3", "r4", "r5"], ["r6"]]
    assert [line for group in groups for line in group] == lines
