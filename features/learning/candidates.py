"""Candidate sources (``candidate_sources``), each over the items a member has not launched yet:

* ``role_popular``: the most launched items among members of the same role (last 90 days);
* ``together``: items studied together with the member's own (co-occurrence, Jaccard) and
  EASE's top items;
* ``weak_kp``: items on the member's weakest knowledge points (from the mastery estimate);
* ``mandatory``: this month's mandatory items the member has not completed;
* ``new_content``: items published in the last 60 days, by how well their KPs match what the
  member studies or is weak on (new items have no interactions, so co-occurrence and EASE
  cannot find them);
* cold start: a member with fewer than ``COLD_START_LAUNCHES`` launches gets more of
  ``role_popular`` and all of ``mandatory`` (their other sources are empty or noise).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from features.learning.snapshot import Snapshot, item_sums

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

PRACTICE_FORMATS = ("quiz", "case")
SOURCES: tuple[str, ...] = ("role_popular", "together", "weak_kp", "mandatory", "new_content")

COLD_START_LAUNCHES = 3
NEW_CONTENT_DAYS = 60


def _top_n(scores: FloatArray, allowed: BoolArray, n: int) -> BoolArray:
    """Per row, the ``n`` highest-scoring allowed cells with a positive score."""
    masked = np.where(allowed & (scores > 0), scores, -np.inf)
    n = min(n, scores.shape[1])
    if n <= 0:
        return np.zeros_like(allowed)
    top = np.argpartition(-masked, n - 1, axis=1)[:, :n]
    chosen = np.zeros_like(allowed)
    np.put_along_axis(chosen, top, True, axis=1)
    return chosen & np.isfinite(masked)


def candidate_sources(
    snapshot: Snapshot,
    *,
    per_source: int = 30,
    rows: Sequence[int] | NDArray[np.integer] | None = None,
) -> dict[str, BoolArray]:
    """Boolean ``(n_rows, n_items)`` per source in ``SOURCES`` (rows: member indices, default
    all); an item may come from several sources. Only items not launched before. A row
    depends on its member alone (and the snapshot's population), so the sources of some
    members equal their rows of everyone's."""
    index = np.arange(len(snapshot.member_keys)) if rows is None else np.asarray(rows, np.intp)
    unseen = ~snapshot.ever_launched[index]
    cold = snapshot.n_launches[index] < COLD_START_LAUNCHES
    role_n = np.where(cold, 2 * per_source, per_source)
    role_popular = np.zeros_like(unseen)
    for n in np.unique(role_n):
        mask = role_n == n
        role_popular[mask] = _top_n(
            snapshot.role_popularity_rows(index[mask]) + 1e-9, unseen[mask], int(n)
        )
    together = _top_n(snapshot.cooccurrence_rows(index), unseen, per_source) | _top_n(
        snapshot.ease_rows(index), unseen, per_source
    )
    gap = snapshot.kp_gap(index)
    weak = _top_n(gap + 1e-9, unseen, per_source)
    not_done = ~snapshot.completed[index]
    mandatory = np.broadcast_to(snapshot.mandatory_now, unseen.shape) & not_done
    published = pd.to_datetime(snapshot.content["published_on"])
    age = pd.Timestamp(snapshot.as_of) - published
    fresh = (age <= pd.Timedelta(days=NEW_CONTENT_DAYS)).to_numpy()
    interest = item_sums(snapshot.kp_interest[index], snapshot.item_kp)
    new_score = (interest + gap) * fresh[None, :]
    new_content = _top_n(new_score + 1e-9 * fresh[None, :], unseen, per_source // 3 or 1)
    return {
        "role_popular": role_popular,
        "together": together,
        "weak_kp": weak,
        "mandatory": np.asarray(mandatory, dtype=bool),
        "new_content": new_content,
    }
