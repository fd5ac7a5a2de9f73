"""Size, seed and calendar of a demo world."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

MANDATORY_SHARE = 0.10  # share of the catalogue that is a month's mandatory study, to scale 1


@dataclass(frozen=True)
class WorldConfig:
    """``scale=1`` is the default size (0.05 for tests). Members, suppliers, procurement
    processes and xAPI statements grow linearly with ``scale``, each above a floor that keeps a
    tiny world usable; the catalogue grows as ``scale ** 0.5`` (catalogues grow slower than
    staff) and its mandatory items stop growing at the default size (``n_mandatory_content``);
    knowledge points are fixed. ``tests/world/test_scale.py`` holds the generator to this.

    Same seed and scale, same files, byte for byte.
    """

    seed: int = 20251
    scale: float = 1.0
    start: date = date(2025, 1, 1)
    end: date = date(2025, 12, 31)  # inclusive: one year of business
    history_start: date = date(
        2021, 1, 1
    )  # supplier events (penalties, accidents) go back this far

    @property
    def n_members(self) -> int:
        return max(40, round(2_000 * self.scale))

    @property
    def n_content(self) -> int:
        return max(60, round(500 * self.scale**0.5))  # catalogues grow slower than staff

    @property
    def n_mandatory_content(self) -> int:
        """The catalogue items that are a month's mandatory study (at least one a month):
        ``MANDATORY_SHARE`` of the catalogue up to the default size, then fixed. Every member
        takes each month's mandatory items, so their count sets the mandatory statements per
        member; grown with the catalogue past the default world, mandatory statements would
        grow as ``scale ** 1.5`` and alone pass ``target_statements``.
        """
        return min(self.n_content, max(12, round(MANDATORY_SHARE * min(self.n_content, 500))))

    @property
    def n_knowledge_points(self) -> int:
        return 60

    @property
    def target_statements(self) -> int:
        return max(5_000, round(320_000 * self.scale))

    @property
    def n_suppliers(self) -> int:
        return max(60, round(1_000 * self.scale))

    @property
    def n_processes(self) -> int:
        return max(300, round(20_000 * self.scale))

    def rng(self, part: str) -> np.random.Generator:
        """An independent generator per part of the world, stable across code changes elsewhere."""
        salt = int.from_bytes(part.encode()[:8].ljust(8, b"\0"), "little")
        return np.random.default_rng([self.seed, salt])
