"""Immutable, date-sorted numpy indices of events by key, and the R024/R058 fences by day."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from features.procurement.history.records import (
    _NAN,
    DAY_NS,
)


class EventIndex:
    """Events grouped by key and sorted by time within each key.

    Layout: one block per key, blocks in the order of the keys' codes (``codes``), each block's
    events sorted by time; ``starts[code]:stops[code]`` is a key's block in ``times``,
    ``ocids`` and ``columns``.

    ``select(key, start, before, exclude)`` returns the positions of the key's events with
    ``start <= time < before`` that do not belong to process ``exclude`` (a slice when none had
    to be dropped, an index array otherwise, ``None`` when empty); ``columns[name][positions]``
    gives their values.

    An index is never changed once built: ``updated`` returns a new index (new arrays), so a
    reader holding this one keeps a consistent view while a push is applied.
    """

    def __init__(
        self,
        keys: Sequence[Hashable],
        times: Sequence[int],
        ocids: Sequence[int],
        columns: Mapping[str, Sequence[float] | np.ndarray],
    ) -> None:
        self.codes: dict[Hashable, int] = {}
        codes = np.fromiter(
            (self.codes.setdefault(key, len(self.codes)) for key in keys), np.int64, len(keys)
        )
        time_array = np.asarray(times, dtype=np.int64)
        order = np.lexsort((time_array, codes))
        self.times = time_array[order]
        self.ocids = np.asarray(ocids, dtype=np.int64)[order]
        self.columns = {
            name: np.asarray(values, dtype=np.float64)[order] for name, values in columns.items()
        }
        sorted_codes = codes[order]
        wanted = np.arange(len(self.codes))
        self.starts: np.ndarray = np.searchsorted(sorted_codes, wanted, "left").astype(np.int64)
        self.stops: np.ndarray = np.searchsorted(sorted_codes, wanted, "right").astype(np.int64)

    def __len__(self) -> int:
        return len(self.times)

    def select(
        self, key: Hashable, start: int | None, before: int, exclude: int
    ) -> slice | np.ndarray | None:
        code = self.codes.get(key)
        if code is None:
            return None
        first, last = int(self.starts[code]), int(self.stops[code])
        times = self.times[first:last]
        # the array methods, not np.searchsorted: its dispatch costs as much as the search
        low = first if start is None else first + int(times.searchsorted(start, "left"))
        high = first + int(times.searchsorted(before, "left"))
        if low >= high:
            return None
        if exclude >= 0:
            own = self.ocids[low:high] == exclude
            if own.any():
                kept = np.arange(low, high)[~own]
                return kept if len(kept) else None
        return slice(low, high)

    def updated(self, removed: np.ndarray, added: _EventLists) -> EventIndex:
        """A new index: this one without the events of the processes coded in ``removed``,
        with the events of ``added`` inserted in their keys' blocks in time order (an event
        whose time equals earlier ones goes after them). Cost: one pass over the arrays
        (a copy) plus a binary search per added event; this index is left as it was."""
        if not len(removed) and not added.keys:
            return self
        new = EventIndex.__new__(EventIndex)
        new.codes = self.codes
        times, ocids, columns = self.times, self.ocids, self.columns
        starts, stops = self.starts, self.stops
        if len(removed) and len(times):
            gone = np.isin(ocids, removed)
            if gone.any():
                kept = ~gone
                gone_before = np.concatenate(([0], np.cumsum(gone)))
                starts, stops = starts - gone_before[starts], stops - gone_before[stops]
                times, ocids = times[kept], ocids[kept]
                columns = {name: values[kept] for name, values in columns.items()}
        if added.keys:
            new.codes = dict(self.codes)
            codes = np.fromiter(
                (new.codes.setdefault(key, len(new.codes)) for key in added.keys),
                np.int64,
                len(added.keys),
            )
            grown = len(new.codes) - len(starts)
            if grown:
                end = np.full(grown, len(times), dtype=np.int64)
                starts, stops = np.concatenate((starts, end)), np.concatenate((stops, end))
            added_times = np.asarray(added.times, dtype=np.int64)
            positions = np.fromiter(
                (
                    starts[code]
                    + np.searchsorted(times[starts[code] : stops[code]], moment, "right")
                    for code, moment in zip(codes.tolist(), added_times.tolist(), strict=True)
                ),
                np.int64,
                len(codes),
            )
            # several events at one position: the earlier key's first, then by time (blocks
            # stay in code order; a new key's block starts at the end)
            order = np.lexsort((added_times, codes, positions))
            at = positions[order]
            values = added.matrix()[order]
            times = np.insert(times, at, added_times[order])
            ocids = np.insert(ocids, at, np.asarray(added.ocids, dtype=np.int64)[order])
            columns = {
                name: np.insert(columns[name], at, values[:, k])
                for k, name in enumerate(added.columns)
            }
            counts = np.bincount(codes, minlength=len(starts))
            through = np.cumsum(counts)
            starts, stops = starts + through - counts, stops + through
        new.times, new.ocids, new.columns = times, ocids, columns
        new.starts, new.stops = starts, stops
        return new


@dataclass
class _EventLists:
    """Column lists gathered while walking the records, turned into an ``EventIndex``."""

    columns: tuple[str, ...]
    keys: list[Hashable] = field(default_factory=list)
    times: list[int] = field(default_factory=list)
    ocids: list[int] = field(default_factory=list)
    values: list[tuple[float, ...]] = field(default_factory=list)

    def add(self, key: Hashable, time: int, ocid: int, *values: float) -> None:
        self.keys.append(key)
        self.times.append(time)
        self.ocids.append(ocid)
        self.values.append(values)

    def matrix(self) -> np.ndarray:
        """The values, one row per event, one column per name of ``columns``."""
        if not self.values:
            return np.empty((0, len(self.columns)))
        return np.asarray(self.values, dtype=np.float64).reshape(
            len(self.values), len(self.columns)
        )

    def index(self) -> EventIndex:
        matrix = self.matrix()
        return EventIndex(
            self.keys,
            self.times,
            self.ocids,
            {name: matrix[:, k] for k, name in enumerate(self.columns)},
        )


@dataclass(frozen=True)
class Fences:
    """Cardinal's R024/R058 fences of the winner/second-lowest ratios of the processes whose
    ``facts_date`` falls before each day (UTC): ``days[k]`` is a day's start; the fences on it
    use the ratios dated before it (R-8 quartiles, as Cardinal's statrs).

    ``times``, ``ratios`` and ``owners`` (ocid codes) are the ratios behind them, sorted by
    time, so that ``updated`` recomputes only the days after the earliest change.
    """

    days: np.ndarray
    r024_q1: np.ndarray
    r024_lower: np.ndarray
    r058_upper: np.ndarray
    times: np.ndarray
    ratios: np.ndarray
    owners: np.ndarray
    minimum: int

    def at(self, moment: int) -> tuple[float, float, float]:
        """``(q1, lower fence, upper fence)`` for a process decided at ``moment``."""
        if len(self.days) == 0:
            return _NAN, _NAN, _NAN
        day = moment - moment % DAY_NS
        position = int(np.searchsorted(self.days, day, "right")) - 1
        if position < 0:
            return _NAN, _NAN, _NAN
        return (
            float(self.r024_q1[position]),
            float(self.r024_lower[position]),
            float(self.r058_upper[position]),
        )

    @classmethod
    def build(
        cls, times: np.ndarray, ratios: np.ndarray, owners: np.ndarray, minimum: int
    ) -> Fences:
        keep = ~np.isnan(ratios)
        times, ratios, owners = times[keep], ratios[keep], owners[keep]
        order = np.argsort(times, kind="stable")
        return cls._computed(times[order], ratios[order], owners[order], minimum, None)

    def updated(
        self, removed: np.ndarray, times: np.ndarray, ratios: np.ndarray, owners: np.ndarray
    ) -> Fences:
        """New fences without the ratios of the processes coded in ``removed`` and with the
        given ones; the days before the earliest removed or added ratio keep their values
        (equal to a full ``build`` on the same ratios)."""
        gone = np.isin(self.owners, removed) if len(removed) else np.zeros(len(self.owners), bool)
        keep = ~np.isnan(ratios)
        times, ratios, owners = times[keep], ratios[keep], owners[keep]
        if not gone.any() and not len(times):
            return self
        changed = np.concatenate((self.times[gone], times))
        all_times = np.concatenate((self.times[~gone], times))
        order = np.argsort(all_times, kind="stable")
        all_ratios = np.concatenate((self.ratios[~gone], ratios))[order]
        all_owners = np.concatenate((self.owners[~gone], owners))[order]
        return self._computed(
            all_times[order], all_ratios, all_owners, self.minimum, (self, int(changed.min()))
        )

    @classmethod
    def _computed(
        cls,
        times: np.ndarray,
        ratios: np.ndarray,
        owners: np.ndarray,
        minimum: int,
        unchanged_before: tuple[Fences, int] | None,
    ) -> Fences:
        """Fences over sorted ratios; with ``(earlier fences, moment)`` the days up to
        ``moment`` are copied from the earlier fences (their ratios before them are the same)."""
        if len(times) == 0:
            empty = np.empty(0)
            return cls(np.empty(0, np.int64), empty, empty, empty, times, ratios, owners, minimum)
        first = times[0] - times[0] % DAY_NS
        last = times[-1] - times[-1] % DAY_NS + DAY_NS  # from here on: every ratio
        days = np.arange(first, last + DAY_NS, DAY_NS, dtype=np.int64)
        counts = np.searchsorted(times, days, "left")
        q1 = np.full(len(days), _NAN)
        lower = np.full(len(days), _NAN)
        upper = np.full(len(days), _NAN)
        start = 0
        if unchanged_before is not None:
            earlier, moment = unchanged_before
            if len(earlier.days) and earlier.days[0] == first:
                start = min(int(np.searchsorted(days, moment, "right")), len(earlier.days))
                q1[:start] = earlier.r024_q1[:start]
                lower[:start] = earlier.r024_lower[:start]
                upper[:start] = earlier.r058_upper[:start]
        for k in range(start, len(days)):
            count = counts[k]
            if count < minimum:
                continue
            if k > 0 and counts[k - 1] == count:
                q1[k], lower[k], upper[k] = q1[k - 1], lower[k - 1], upper[k - 1]
                continue
            quartiles = np.quantile(ratios[:count], [0.25, 0.75], method="median_unbiased")
            iqr = quartiles[1] - quartiles[0]
            q1[k] = quartiles[0]
            lower[k] = quartiles[0] - 1.5 * iqr
            upper[k] = quartiles[1] + 1.5 * iqr
        return cls(days, q1, lower, upper, times, ratios, owners, minimum)
