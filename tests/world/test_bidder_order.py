"""Bidders drawn from a large category sort only the first keys: the same order as a full sort."""

from __future__ import annotations

import numpy as np

from world.procurement_plans import _descending


def test_the_head_of_the_keys_is_the_head_of_the_full_stable_sort() -> None:
    rng = np.random.default_rng(5)
    for size in (1, 7, 300, 2_000):
        keys = np.log(rng.random(size)) - np.log(-np.log(rng.random(size)))
        full = np.argsort(-keys, kind="stable")
        for first in (1, 3, 20, size):
            assert _descending(keys, first).tolist() == full[:first].tolist()


def test_equal_keys_inside_the_head_keep_position_order() -> None:
    keys = np.array([0.1, 5.0, 3.0, 5.0, 3.0, -1.0, 5.0, 2.0, 0.0, 1.0])
    assert _descending(keys, 5).tolist() == [1, 3, 6, 2, 4]
