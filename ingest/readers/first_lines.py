"""The first line of every key read so far from one file, exact and compact.

A reader quarantines a record whose key repeats an earlier record of the same file, naming the
earlier line; that needs every key of the file so far. Held in a dict, a key and its line cost
about 150 bytes (the statements file of a 30x world: 9.6 million UUIDs, 1.4 GiB). Here the
keys of the last ``RECENT_KEYS`` records stay in a dict; older keys that are canonical UUID
strings (lower-case, hyphenated: what the xAPI reader stores) move into sorted arrays of their
16 bytes with their lines (24 bytes a key), merged as they double, and a bitmap of key hashes
answers "not seen" for almost every new key without searching them. Any other key stays in the
dict, as before. Exact: a key is found only by its own bytes, and a canonical UUID string and
its 16 bytes are one-to-one.
"""

from __future__ import annotations

import re

import numpy as np

RECENT_KEYS = 100_000
BITMAP_BITS = 1 << 27  # 16 MiB; about 7% of lookups search the arrays at 9.6 million keys
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class FirstLines:
    """``first_line(key, line_no)``: the line ``key`` was first seen on, recording ``line_no``
    when it is new (``dict.setdefault``'s contract). Keys are hashable; a canonical UUID
    string may be compacted, anything else is kept as it is."""

    def __init__(self, recent_keys: int = RECENT_KEYS, bitmap_bits: int = BITMAP_BITS) -> None:
        self._recent: dict[object, int] = {}
        self._kept: dict[object, int] = {}  # keys that are not canonical UUIDs
        self._recent_keys = recent_keys
        self._mask = bitmap_bits - 1
        self._bitmap = bytearray(bitmap_bits >> 3)
        # (sorted 16-byte keys, their lines), oldest and largest first
        self._segments: list[tuple[np.ndarray, np.ndarray]] = []

    def __len__(self) -> int:
        return len(self._recent) + len(self._kept) + sum(len(k) for k, _ in self._segments)

    def first_line(self, key: object, line_no: int) -> int:
        earlier = self._recent.get(key)
        if earlier is None and self._kept:
            earlier = self._kept.get(key)
        if earlier is not None:
            return earlier
        if self._segments:
            bit = hash(key) & self._mask
            if self._bitmap[bit >> 3] & (1 << (bit & 7)):
                found = self._search(key)
                if found is not None:
                    return found
        self._recent[key] = line_no
        if len(self._recent) >= self._recent_keys:
            self._compact()
        return line_no

    def _search(self, key: object) -> int | None:
        if not (isinstance(key, str) and CANONICAL_UUID.fullmatch(key)):
            return None  # never compacted: it is in ``_kept`` if it was seen
        wanted = np.array([bytes.fromhex(key.replace("-", ""))], dtype="S16")
        for keys, lines in self._segments:
            at = int(np.searchsorted(keys, wanted)[0])
            if at < len(keys) and keys[at] == wanted[0]:
                return int(lines[at])
        return None

    def _compact(self) -> None:
        """Move the recent canonical UUIDs into a sorted segment (others to ``_kept``), and
        merge the newest segments while the newer is at least half the older."""
        recent, self._recent = self._recent, {}
        strings = [key for key in recent if type(key) is str and len(key) == UUID_CHARS]
        packed, canonical = _uuid_bytes(strings)
        uuids = [key for key, ok in zip(strings, canonical.tolist(), strict=True) if ok]
        lines = np.array([recent.pop(key) for key in uuids], dtype=np.int64)
        self._kept.update(recent)  # what is not a canonical UUID stays as it is
        if not uuids:
            return
        bits = np.array([hash(key) for key in uuids], dtype=np.int64) & self._mask
        bitmap = np.frombuffer(self._bitmap, dtype=np.uint8)
        np.bitwise_or.at(bitmap, bits >> 3, (1 << (bits & 7)).astype(np.uint8))
        self._segments.append(_sorted(packed[canonical], lines))
        while len(self._segments) > 1 and 2 * len(self._segments[-1][0]) >= len(
            self._segments[-2][0]
        ):
            newer_keys, newer_lines = self._segments.pop()
            older_keys, older_lines = self._segments.pop()
            self._segments.append(
                _sorted(
                    np.concatenate([older_keys, newer_keys]),
                    np.concatenate([older_lines, newer_lines]),
                )
            )


UUID_CHARS = 36
_HYPHENS = np.array([8, 13, 18, 23])
_DIGITS = np.setdiff1d(np.arange(UUID_CHARS), _HYPHENS)
_NIBBLE = np.full(256, 255, dtype=np.uint8)  # byte -> its value as a lower-case hex digit
_NIBBLE[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)


def _uuid_bytes(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(the 16 bytes of each string as ``S16``, whether the string is a canonical UUID:
    lower-case hex digits, hyphens after the 8th, 12th, 16th and 20th); the bytes of a
    string that is not are meaningless. Every string has ``UUID_CHARS`` characters."""
    if not strings:
        return np.empty(0, dtype="S16"), np.empty(0, dtype=bool)
    # one byte a character (others become "?", never a hex digit), so the rows align
    text = "".join(strings).encode("latin-1", errors="replace")
    chars = np.frombuffer(text, dtype=np.uint8).reshape(len(strings), UUID_CHARS)
    nibbles = _NIBBLE[chars[:, _DIGITS]]
    canonical = (chars[:, _HYPHENS] == ord("-")).all(axis=1) & (nibbles != 255).all(axis=1)
    packed = np.ascontiguousarray((nibbles[:, 0::2] << 4) | nibbles[:, 1::2])
    return packed.view("S16").ravel(), canonical


def _sorted(keys: np.ndarray, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")
    return keys[order], lines[order].astype(np.int64)
