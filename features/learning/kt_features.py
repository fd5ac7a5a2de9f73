"""Knowledge-tracing features: one row per response, computed from the learner's past only.

The **event frame** (``build_events``) is the common input of the mastery model, the
check-in detector and the recommender: one row per (statement, knowledge point) with the
columns in ``EVENT_COLUMNS``:

* ``kind`` ``"response"``: an ``answered`` statement with ``result.success``; ``correct`` is
  1.0 or 0.0. A response on several knowledge points (KPs) becomes one row per KP (the
  pyKT "concept expansion"): each row is predicted and scored.
* ``kind`` ``"study"``: an ``experienced`` statement (reading or watching time) or a
  ``passed``/``failed`` one (a quiz session's total time); ``minutes`` is its
  ``duration_seconds / 60`` shared evenly between the item's KPs. ``completed`` statements
  repeat the time of the session's ``experienced`` or ``passed``/``failed`` statement and are
  not added (no double counting); ``launched`` statements carry no time.
* ``kind`` ``"probe"``: a hypothetical next response with no outcome (``correct`` NaN), used
  by ``MasteryModel.mastery_profile``; it gets features but never counts as history.

``order`` breaks ties between events of one learner at the same ``timestamp`` (source order).
In the frames ``build_events`` makes, ``member_key``, ``kind``, ``item_id`` and ``kp_id`` are
categoricals with sorted categories (codes, not a string per row; they sort and compare as
their strings); hand-built frames may hold strings.

**What "earlier" means.** Every feature of a row uses only rows of the *same learner* that
come strictly before it in (``timestamp``, ``order``): the row's own outcome and everything
after it are never used, so appending future events never changes an earlier row's features
(tested). Features about *other* learners (item and KP difficulty) are not built here: they
are learnt by ``models.learning.mastery.DifficultyTable`` from the training split only.

``response_features`` is vectorised (sort once, then ``groupby`` cumulative sums, shifts and
exponentially weighted means), so a learner scored alone gets the same features as in a
batch (tested).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from features.learning.statements import read_statements

try:  # the exponentially weighted window's kernel (see ``_ewm_after``)
    from pandas._libs.window.aggregations import ewm as _ewm_kernel
except ImportError:  # pragma: no cover
    _ewm_kernel = None

if TYPE_CHECKING:
    from store.database import StoreReader

MEMBER = "member_key"
TIMESTAMP = "timestamp"
ORDER = "order"
KIND = "kind"
ITEM = "item_id"
KP = "kp_id"
CORRECT = "correct"
MINUTES = "minutes"
STATED_DIFFICULTY = "stated_difficulty"
EVENT_COLUMNS: tuple[str, ...] = (
    MEMBER,
    TIMESTAMP,
    ORDER,
    KIND,
    ITEM,
    KP,
    CORRECT,
    MINUTES,
    STATED_DIFFICULTY,
)

RESPONSE, STUDY, PROBE = "response", "study", "probe"
STUDY_VERBS = ("experienced", "passed", "failed")

RECENCY_ALPHA = 0.3
"""Weight of the newest response in the recency-weighted accuracy on a KP (count-based decay:
a response ``n`` answers ago weighs ``(1 - alpha) ** n``)."""
PRIOR_ACCURACY = 0.7
"""Pseudo-observation mean used to shrink accuracies of learners with few answers."""
ACCURACY_PSEUDO_COUNT = 2.0

FEATURES: tuple[str, ...] = (
    "kp_attempts",
    "kp_successes",
    "kp_failures",
    "kp_accuracy",
    "kp_recent_accuracy",
    "kp_decayed_successes",
    "kp_decayed_failures",
    "days_since_kp_practice",
    "kp_study_minutes",
    "item_attempts",
    "item_successes",
    "member_attempts",
    "member_accuracy",
    "member_recent_accuracy",
    "member_study_minutes",
    "days_since_member_event",
    "stated_difficulty",
)
"""The history features ``response_features`` returns, in this order."""

_STATEMENT_COLUMNS = (
    "member_key",
    "verb",
    "object_id",
    "success",
    "duration_seconds",
    "knowledge_points",
    "item_difficulty",
    "timestamp",
)


def difficulty_logit(difficulty: ArrayLike) -> NDArray[np.float64]:
    """Catalogue difficulty (0 easy … 1 hard) on the logit scale of mastery: 0.5 → 0,
    0 → -2, 1 → +2 (the scale the demo world's Rasch model answers on)."""
    return 4.0 * (np.asarray(difficulty, dtype=np.float64) - 0.5)


class EventFrameError(ValueError):
    """An event frame lacks a column or holds a kind the features do not know."""


def build_events(
    source: StoreReader | pd.DataFrame,
    *,
    members: Sequence[str] | None = None,
    bucket: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """The event frame (``EVENT_COLUMNS``) from a store's ``statements`` or a frame of
    statement rows (the ``statements`` columns ``member_key, verb, object_id, success,
    duration_seconds, knowledge_points, item_difficulty, timestamp``), sorted by learner and
    time. Statements without knowledge points are dropped (nothing to trace). ``members``,
    ``bucket`` (a store only): those learners' events alone, filtered as the store reads
    them (``store.queries.learning.member_filter``)."""
    if isinstance(source, pd.DataFrame):
        statements = source
    else:
        statements = read_statements(
            source,
            _STATEMENT_COLUMNS,
            ("answered", *STUDY_VERBS),
            members=members,
            bucket=bucket,
        )
    missing = [name for name in _STATEMENT_COLUMNS if name not in statements.columns]
    if missing:
        raise EventFrameError(f"statement frame lacks {', '.join(missing)}")
    frame = statements.reset_index(drop=True)
    is_response = (frame["verb"] == "answered") & frame["success"].notna()
    is_study = frame["verb"].isin(STUDY_VERBS) & frame["duration_seconds"].notna()
    frame = frame[is_response | is_study]
    kps = _kp_tuples(frame["knowledge_points"])
    n_kps = np.fromiter((len(group) for group in kps), dtype=np.int64, count=len(kps))
    keep = n_kps > 0
    frame, n_kps = frame[keep], n_kps[keep]
    kps = [group for group, kept in zip(kps, keep, strict=True) if kept]
    repeat = n_kps
    origin: NDArray[np.intp] = np.repeat(np.arange(len(frame), dtype=np.intp), repeat)
    response = (frame["verb"] == "answered").to_numpy()
    minutes = np.where(
        response, 0.0, frame["duration_seconds"].to_numpy(dtype=float) / 60.0 / repeat
    )
    events = pd.DataFrame(
        {
            MEMBER: _repeat_codes(frame["member_key"], origin),
            TIMESTAMP: pd.to_datetime(frame["timestamp"]).to_numpy()[origin],
            ORDER: origin,
            KIND: pd.Categorical.from_codes(
                np.where(response, 1, 2)[origin].astype(np.int8),
                dtype=KIND_DTYPE,
            ),
            ITEM: _repeat_codes(frame["object_id"], origin),
            KP: pd.Categorical(np.array([kp for group in kps for kp in group], dtype=object)),
            CORRECT: np.where(response, frame["success"].astype("float64").to_numpy(), np.nan)[
                origin
            ],
            MINUTES: minutes[origin],
            STATED_DIFFICULTY: frame["item_difficulty"].to_numpy(dtype=float)[origin],
        }
    )
    return sort_events(events)


KIND_DTYPE = pd.CategoricalDtype([PROBE, RESPONSE, STUDY])
"""The event kinds as codes (``build_events``' ``kind`` column)."""


def _repeat_codes(values: pd.Series, origin: NDArray[np.intp]) -> pd.Categorical[Any]:
    """``values`` at positions ``origin`` as a categorical with sorted categories (codes
    order as the strings do, so a sort by the column is the sort by the strings), without
    a Python string per row."""
    categorical = pd.Categorical(values)
    return pd.Categorical.from_codes(categorical.codes[origin], dtype=categorical.dtype)


def _kp_tuples(values: pd.Series) -> list[tuple[str, ...]]:
    """Each row's knowledge points as a tuple (``_as_tuple``), converted once per distinct
    object (``LearningData`` shares one tuple between the statements of a KP set)."""
    converted: dict[int, tuple[object, tuple[str, ...]]] = {}
    out = []
    for value in values:
        found = converted.get(id(value))
        if found is None:  # the value is kept with its tuple: its id names it alone
            found = converted[id(value)] = (value, _as_tuple(value))
        out.append(found[1])
    return out


def _as_tuple(value: object) -> tuple[str, ...]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(item) for item in value)  # type: ignore[attr-defined]


def sort_events(events: pd.DataFrame) -> pd.DataFrame:
    """Events in (learner, time, order) order with a fresh index; validates the columns."""
    missing = [name for name in EVENT_COLUMNS if name not in events.columns]
    if missing:
        raise EventFrameError(f"event frame lacks {', '.join(missing)}")
    unknown = set(events[KIND].unique()) - {RESPONSE, STUDY, PROBE}
    if unknown:
        raise EventFrameError(f"unknown event kinds: {sorted(unknown)}")
    return events.sort_values([MEMBER, TIMESTAMP, ORDER], kind="stable").reset_index(drop=True)


def probe_events(
    member_keys: Sequence[str], kps: Iterable[str], as_of: pd.Timestamp, *, stated_difficulty: float
) -> pd.DataFrame:
    """One ``probe`` row per learner and KP at ``as_of`` ("the next item on this KP", of
    unknown id), learner by learner, KPs in the order given: built in one go, because a frame
    per learner is most of the cost of a profile for thousands of learners."""
    learners = np.array(list(member_keys), dtype=object)
    kp_list = np.array(list(kps), dtype=object)
    return pd.DataFrame(
        {
            MEMBER: np.repeat(learners, len(kp_list)),
            TIMESTAMP: pd.Timestamp(as_of),
            ORDER: np.iinfo(np.int64).max,
            KIND: PROBE,
            ITEM: np.tile(np.array([f"probe:{kp}" for kp in kp_list], dtype=object), len(learners)),
            KP: np.tile(kp_list, len(learners)),
            CORRECT: np.nan,
            MINUTES: 0.0,
            STATED_DIFFICULTY: stated_difficulty,
        }
    )


def prior_sum(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Per row, the sum of ``values`` over the earlier rows of its group (rows sorted so that
    each group is contiguous and in time order); the row itself is excluded."""
    inclusive = pd.Series(values).groupby(group, sort=False).cumsum().to_numpy()
    return np.asarray(inclusive - values, dtype=float)


def prior_state(after: pd.Series, group: np.ndarray) -> np.ndarray:
    """Per row, ``after`` at the latest earlier row of its group where it is defined (a state
    "after this event" defined on contributing rows, NaN elsewhere); NaN when none."""
    shifted = after.groupby(group, sort=False).shift(1)
    return np.asarray(shifted.groupby(group, sort=False).ffill().to_numpy(), dtype=float)


def _codes(*columns: pd.Series) -> np.ndarray:
    if len(columns) == 1:
        return np.asarray(pd.factorize(columns[0], sort=False)[0])
    frame = pd.concat(list(columns), axis=1)
    return np.asarray(frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy())


def _ewm_after(values: pd.Series, group: np.ndarray, how: str) -> pd.Series:
    """Exponentially weighted mean or sum of ``values`` within each group, including the row
    (count-based decay with ``RECENCY_ALPHA``; no missing values), indexed like ``values``.

    pandas' own kernel (the one ``groupby(group).ewm(alpha=RECENCY_ALPHA, adjust=True)``
    calls) run once over the rows ordered by group: the same numbers, without the grouped
    window's per-group bookkeeping in Python, which costs seconds per hundred thousand
    groups."""
    if _ewm_kernel is None:  # pragma: no cover - another pandas: the grouped window itself
        windows = values.groupby(group, sort=False).ewm(alpha=RECENCY_ALPHA, adjust=True)
        result = windows.mean() if how == "mean" else windows.sum()
        return result.reset_index(level=0, drop=True).sort_index()
    order = np.argsort(group, kind="stable")
    ordered_groups = group[order]
    edges = np.flatnonzero(ordered_groups[1:] != ordered_groups[:-1]) + 1
    start = np.r_[0, edges].astype(np.int64)
    end = np.r_[edges, len(group)].astype(np.int64)
    computed = _ewm_kernel(
        np.ascontiguousarray(values.to_numpy(dtype=np.float64)[order]),
        start,
        end,
        1,
        (1 - RECENCY_ALPHA) / RECENCY_ALPHA,
        True,
        False,
        None,
        how == "mean",
    )
    out = np.empty(len(group))
    out[order] = computed
    return pd.Series(out, index=values.index)


def response_features(events: pd.DataFrame) -> pd.DataFrame:
    """``FEATURES`` for every ``response`` and ``probe`` row of ``events`` (sorted by
    ``sort_events``; the index of the result is the events' index of those rows).

    Counts are over the learner's earlier responses (``kp_*`` on the row's KP, ``item_*`` on
    the same item, ``member_*`` on all KPs); accuracies are shrunk towards ``PRIOR_ACCURACY``
    with ``ACCURACY_PSEUDO_COUNT`` pseudo-answers; recency-weighted ones decay by count
    (``RECENCY_ALPHA``), NaN before the first answer; days since the last response or study
    on the KP (forgetting) and since the learner's last event, NaN when none; study minutes
    are earlier ``study`` rows' minutes.
    """
    kind = events[KIND].to_numpy()
    contributes = (kind == RESPONSE).astype(float)
    correct = np.nan_to_num(events[CORRECT].to_numpy(dtype=float)) * contributes
    study_minutes = np.where(kind == STUDY, events[MINUTES].to_numpy(dtype=float), 0.0)
    seconds = events[TIMESTAMP].to_numpy().astype("datetime64[ns]").astype(np.int64) / 1e9
    days = pd.Series(seconds / 86400.0)

    member = _codes(events[MEMBER])
    member_kp = _codes(events[MEMBER], events[KP])
    member_item = _codes(events[MEMBER], events[ITEM])

    kp_attempts = prior_sum(contributes, member_kp)
    kp_successes = prior_sum(correct, member_kp)
    member_attempts = prior_sum(contributes, member)
    member_successes = prior_sum(correct, member)
    pseudo = ACCURACY_PSEUDO_COUNT * PRIOR_ACCURACY

    responded = contributes > 0
    outcome = pd.Series(np.where(responded, correct, np.nan))
    kp_recent = np.full(len(events), np.nan)
    # decayed counts are 0 before the first answer (NaN only for the recency-weighted
    # accuracies), whether or not any other learner in the frame has answered
    kp_decayed_successes = np.zeros(len(events))
    kp_decayed_failures = np.zeros(len(events))
    member_recent = np.full(len(events), np.nan)
    if responded.any():
        rows = np.flatnonzero(responded)
        answered = outcome.iloc[rows].reset_index(drop=True)
        kp_group, member_group = member_kp[rows], member[rows]
        after = {
            "kp_recent": _ewm_after(answered, kp_group, "mean"),
            "kp_decayed_successes": _ewm_after(answered, kp_group, "sum"),
            "kp_decayed_failures": _ewm_after(1.0 - answered, kp_group, "sum"),
            "member_recent": _ewm_after(answered, member_group, "mean"),
        }
        full = {}
        for name, values in after.items():
            state = np.full(len(events), np.nan)
            state[rows] = values.to_numpy()
            full[name] = pd.Series(state)
        kp_recent = prior_state(full["kp_recent"], member_kp)
        kp_decayed_successes = np.nan_to_num(prior_state(full["kp_decayed_successes"], member_kp))
        kp_decayed_failures = np.nan_to_num(prior_state(full["kp_decayed_failures"], member_kp))
        member_recent = prior_state(full["member_recent"], member)

    practice = days.where(kind != PROBE)
    last_kp_practice = prior_state(practice, member_kp)
    last_member_event = prior_state(practice, member)

    features = pd.DataFrame(
        {
            "kp_attempts": kp_attempts,
            "kp_successes": kp_successes,
            "kp_failures": kp_attempts - kp_successes,
            "kp_accuracy": (kp_successes + pseudo) / (kp_attempts + ACCURACY_PSEUDO_COUNT),
            "kp_recent_accuracy": kp_recent,
            "kp_decayed_successes": kp_decayed_successes,
            "kp_decayed_failures": kp_decayed_failures,
            "days_since_kp_practice": days.to_numpy() - last_kp_practice,
            "kp_study_minutes": prior_sum(study_minutes, member_kp),
            "item_attempts": prior_sum(contributes, member_item),
            "item_successes": prior_sum(correct, member_item),
            "member_attempts": member_attempts,
            "member_accuracy": (member_successes + pseudo)
            / (member_attempts + ACCURACY_PSEUDO_COUNT),
            "member_recent_accuracy": member_recent,
            "member_study_minutes": prior_sum(study_minutes, member),
            "days_since_member_event": days.to_numpy() - last_member_event,
            "stated_difficulty": events[STATED_DIFFICULTY].to_numpy(dtype=float),
        },
        index=events.index,
    )
    target = kind != STUDY
    return features.loc[target, list(FEATURES)]


HISTORY_COLUMNS: tuple[str, ...] = tuple(name for name in FEATURES if name not in EVENT_COLUMNS)
"""The ``FEATURES`` ``with_history`` adds to an event frame (the rest are event columns)."""
HISTORY_CHUNK_LEARNERS = 500
"""Learners per partition of ``with_history`` (and of the mastery model's own passes)."""


def learner_bounds(
    ordered: pd.DataFrame, size: int = HISTORY_CHUNK_LEARNERS
) -> list[tuple[int, int]]:
    """``[begin, end)`` positions of ``size`` learners at a time in the sorted event frame
    ``ordered`` (a row's history features read its learner's earlier rows only, so the frame
    may be cut between learners; one empty range when it is empty)."""
    codes = pd.factorize(ordered[MEMBER])[0]
    starts = (
        np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.empty(0, int)
    )
    bounds = [*np.asarray(starts)[::size].tolist(), len(ordered)]
    if len(bounds) < 2:
        bounds = [0, 0]
    return list(itertools.pairwise(bounds))


def with_history(events: pd.DataFrame) -> pd.DataFrame:
    """``events`` (sorted by ``sort_events``) with the ``FEATURES`` of every response row as
    columns (NaN on study rows), computed once, ``HISTORY_CHUNK_LEARNERS`` learners at a time.

    A row's history features read its own learner's earlier rows only, so they are the same
    in any frame that keeps whole prefixes of each learner's events: the rows before a time
    cut, the events of some learners. ``stored_history`` reads them back there instead of
    recomputing them; a frame that drops an earlier event of a learner (or adds one, a probe)
    must drop the columns first (``without_history``)."""
    parts = [response_features(events.iloc[begin:end]) for begin, end in learner_bounds(events)]
    history = (
        pd.concat(parts)[list(HISTORY_COLUMNS)]
        if parts
        else pd.DataFrame(columns=list(HISTORY_COLUMNS), dtype=float)
    )
    return pd.concat([without_history(events), history.reindex(events.index)], axis=1)


def stored_history(events: pd.DataFrame) -> pd.DataFrame | None:
    """The ``FEATURES`` ``with_history`` stored on ``events``, for the rows
    ``response_features(events)`` would answer (response and probe rows, same index); None
    when they are not stored, or a probe (never stored) is among the rows."""
    if not all(name in events.columns for name in HISTORY_COLUMNS):
        return None
    kind = events[KIND].to_numpy()
    if (kind == PROBE).any():
        return None
    return events.loc[kind != STUDY, list(FEATURES)]


def without_history(events: pd.DataFrame) -> pd.DataFrame:
    """``events`` without the columns ``with_history`` adds (the frame itself if it has none)."""
    stored = [name for name in HISTORY_COLUMNS if name in events.columns]
    return events.drop(columns=stored) if stored else events
