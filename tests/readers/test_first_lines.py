"""The file's key index (``FirstLines``) answers exactly as a dict's ``setdefault`` would,
whatever mix of repeated, canonical-UUID and other keys, across its compactions."""

from __future__ import annotations

import random
import tracemalloc
import uuid

from ingest.readers.first_lines import FirstLines


def _keys(rng: random.Random, n: int) -> list[object]:
    fresh: list[object] = []
    for number in range(n):
        roll = rng.random()
        if roll < 0.6:
            fresh.append(str(uuid.UUID(int=rng.getrandbits(128), version=4)))
        elif roll < 0.7:  # upper case: not canonical, kept as it is; never equal to its lower
            fresh.append(str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper())
        elif roll < 0.8:
            fresh.append(("S0001", f"cert-{number}"))
        else:
            fresh.append(fresh[rng.randrange(len(fresh))] if fresh else "first")
    return fresh


def test_it_answers_as_a_dict_across_compactions_and_merges() -> None:
    rng = random.Random(3)
    keys = _keys(rng, 20_000)
    # the same UUID in both cases: distinct keys, never a duplicate of each other
    keys += ["0a1b2c3d-0000-4000-8000-00000000abcd", "0A1B2C3D-0000-4000-8000-00000000ABCD"]
    keys += keys[:50]  # repeats of keys that are compacted long since
    index = FirstLines(recent_keys=257, bitmap_bits=1 << 12)  # a crowded bitmap: many searches
    reference: dict[object, int] = {}
    for line_no, key in enumerate(keys, start=2):
        assert index.first_line(key, line_no) == reference.setdefault(key, line_no), key
    assert len(index) == len(reference)
    assert len(index._segments) > 1  # the test went through compactions and kept several


def _held_bytes(n: int, index: FirstLines | dict[object, int]) -> int:
    """Bytes still allocated after ``n`` random canonical UUIDs went into ``index``."""
    rng = random.Random(4)
    tracemalloc.start()
    try:
        for line_no in range(1, n + 1):
            digits = f"{rng.getrandbits(128):032x}"
            key = f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
            if isinstance(index, dict):
                index.setdefault(key, line_no)
            else:
                index.first_line(key, line_no)
        return tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


def test_uuid_keys_take_a_fraction_of_a_dict() -> None:
    n = 150_000
    as_dict = _held_bytes(n, {})
    compact = _held_bytes(n, FirstLines(recent_keys=20_000, bitmap_bits=1 << 20))
    assert as_dict > 120 * n  # the key's text, its line and the dict's slot
    assert compact < 40 * n  # 24 bytes a key, and the recent keys as a dict
