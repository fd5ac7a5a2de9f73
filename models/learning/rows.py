"""Training rows on disk for LightGBM: a model's feature rows are written one partition (of
members or learners) at a time to ``.npy`` files and handed to ``lightgbm.Dataset`` as
``lightgbm.Sequence`` objects, which it reads a batch at a time and keeps binned only. The
float rows are held by the page cache, not the process, so a training set's memory is its
bins (a byte or less per feature and row), not its floats, and not every partition's
intermediate frames at once.

The rows, their order and the sample LightGBM bins them from are those of one matrix of all
the rows: the booster is the same, bit for bit (tested in ``tests/learning/test_partitions``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


class RowFile(lgb.Sequence):
    """One partition's rows, ``(n, n_features)`` float64, memory-mapped from its file."""

    batch_size = 4096

    def __init__(self, path: Path) -> None:
        self.rows = np.load(path, mmap_mode="r")

    def __getitem__(self, index: Any) -> FloatArray:
        return np.asarray(self.rows[index], dtype=np.float64)

    def __len__(self) -> int:
        return int(self.rows.shape[0])


class RowFiles:
    """The partitions written so far, their labels and (ranking) group sizes, in order."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.parts: list[RowFile] = []
        self.labels: list[FloatArray] = []
        self.groups: list[int] = []

    def add(self, rows: FloatArray, labels: FloatArray, groups: list[int] | None = None) -> None:
        path = self.folder / f"part-{len(self.parts):05d}.npy"
        np.save(path, np.ascontiguousarray(rows, dtype=np.float64))
        self.parts.append(RowFile(path))
        self.labels.append(np.asarray(labels, dtype=np.float64))
        self.groups.extend(groups or [])

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts)

    def label(self) -> FloatArray:
        return np.concatenate(self.labels) if self.labels else np.zeros(0)

    def dataset(self, feature_name: list[str]) -> lgb.Dataset:
        """A ``lightgbm.Dataset`` over the partitions (grouped when groups were given)."""
        return lgb.Dataset(
            self.parts,
            label=self.label(),
            group=self.groups or None,
            feature_name=feature_name,
        )


@contextmanager
def row_files(prefix: str) -> Iterator[RowFiles]:
    """A ``RowFiles`` in a temporary folder removed on exit (train inside the block)."""
    with tempfile.TemporaryDirectory(prefix=f"lodestar-{prefix}-") as folder:
        yield RowFiles(Path(folder))
