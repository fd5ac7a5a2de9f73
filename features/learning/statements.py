"""Statement frames held compact: the text columns as categoricals (codes, sorted
categories), each row's knowledge points as a tuple shared by every row of the same KP set,
and read from the store a batch at a time (``read_statements``), so that a statement costs
its codes and numbers, never a Python string per field, and no whole pandas frame of
objects is ever built on the way.

A categorical with sorted categories sorts, compares, ``isin``s and ``map``s as its strings
do: frames built here give the features the string frames gave, value for value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from pandas.api.types import union_categoricals

from store.database import StoreReader
from store.queries import learning as queries

CODED_COLUMNS = ("member_key", "verb", "content_id", "object_id")
"""Statement columns held as categoricals, where a frame has them."""


def compact_statements(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (a shallow copy) with ``CODED_COLUMNS`` as categoricals and
    ``knowledge_points`` (if present) as shared tuples; a missing ``object_id`` is the
    content id, as ``LearningData`` reads it."""
    out = frame.copy(deep=False)
    if "object_id" in out.columns and "content_id" in out.columns:
        no_object = out["object_id"].isna()
        if no_object.any():
            out["object_id"] = (
                out["object_id"].astype(object).where(~no_object, out["content_id"].astype(object))
            )
    for name in CODED_COLUMNS:
        if name in out.columns:
            out[name] = coded(out[name])
    if "knowledge_points" in out.columns:
        out["knowledge_points"] = shared_kp_sets(out["knowledge_points"])
    return out


def read_statements(
    store: StoreReader,
    columns: Sequence[str],
    verbs: Sequence[str] | None = None,
    *,
    members: Sequence[str] | None = None,
    bucket: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """The store's statements (``queries.statement_batches``: every one oldest first, or
    those with ``verbs`` by member then time; ``members``, ``bucket``: those learners'
    only), compacted batch by batch and joined."""
    return concat_compact(
        compact_statements(batch)
        for batch in queries.statement_batches(
            store, columns, verbs, members=members, bucket=bucket
        )
    )


def concat_compact(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Compact frames one after another (fresh index), categoricals joined with sorted
    categories (a plain ``concat`` would turn differing categories into objects)."""
    parts = list(frames)
    if len(parts) == 1:
        return parts[0].reset_index(drop=True)
    columns: dict[str, Any] = {}
    for name in parts[0].columns:
        values = [part[name] for part in parts]
        if all(isinstance(v.dtype, pd.CategoricalDtype) for v in values):
            columns[name] = pd.Series(union_categoricals(values, sort_categories=True))
        else:
            columns[name] = pd.concat(values, ignore_index=True)
        for part in parts:  # each part's column is dropped as soon as it is joined
            part.drop(columns=name, inplace=True)
    return pd.DataFrame(columns)


def coded(values: pd.Series) -> pd.Series:
    """``values`` as a categorical with sorted categories (kept if it is one already)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values
    return values.astype("category")


def shared_kp_sets(values: pd.Series) -> pd.Series:
    """Each row's knowledge points as a tuple of strings (none: an empty tuple), one tuple
    object per distinct set in KP order, shared by its rows."""
    shared: dict[tuple[str, ...], tuple[str, ...]] = {}
    rows = []
    for value in values:
        ready = type(value) is tuple and all(type(kp) is str for kp in value)
        kps = value if ready else tuple(as_list(value))
        rows.append(shared.setdefault(kps, kps))
    return pd.Series(rows, index=values.index, dtype=object)


def as_list(value: Any) -> list[str]:
    """A knowledge-point cell (a list, an array, a string, nothing) as a list of strings."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]
