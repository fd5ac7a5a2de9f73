"""What the recommender knows at one moment.

``LearningData`` holds the three frames the recommender reads (statements, content, members),
from the store or built by hand. ``Snapshot.build(data, as_of)`` turns everything strictly
before ``as_of`` into member × KP matrices and bool member × item launch matrices (3 bytes
a cell: whether launched in the last year, ever, and completed); the member × item scores
(co-occurrence, EASE, role popularity, engagement, KP gaps) are computed for the rows asked,
so that a caller working through the members in partitions holds one partition's at a time.
Nothing at or after ``as_of`` is read: statements are cut at it, and content published after
it does not exist yet.

A build has three parts. The ``Catalogue`` reads no statement (items published before
``as_of``, their KPs and formats, this month's mandatory themes, the roster). Each member's
own figures come from their statements and events alone (launches, completions, P(correct),
attempts, days since practice, time ratio). The ``Population`` is what needs every member:
popularity, the members per item, the co-occurrence and EASE item-item weights, each role's
format shares, the completion rate per item by roster type, the stand-in's overall success
rate and the check-in detector's logged-minutes threshold. The rows that read it (a member's
co-occurrence and EASE scores: their launched items times the weights; their format shares,
smoothed towards their role's; their check-in flag: the detector's rule with the threshold)
come last. When ``data`` holds some members' statements only (``LearningData.outside``),
the launch and completion cells of everyone else are set from the store's aggregates
(``OutsideMembers.launch_pairs``) before the population is computed, and their study
minutes join the check-in threshold: the population is that of every member, their rows
serve nothing else (their mastery and time ratio are unknown).
``Snapshot.with_members(data, keys)`` runs the same per-member code for ``keys``
only against the snapshot's population, which it keeps: with the population of
``build(data, as_of)`` it gives that build's rows (tested). The service updates a poster's rows so
(``serving.jobs.learning_study``).

Mastery and check-in: pass a fitted ``models.learning.mastery.MasteryModel`` as ``mastery``
to ``Snapshot.build``: P(correct) per member and KP comes from its ``mastery_profiles`` over
the event frame (``LearningData.events``, ``kt_features.build_events``) cut at ``as_of``, and
the "check-in without absorption" flag from ``features.learning.checkin`` (the parts of
``detect_check_in``) over the ``CHECK_IN_DAYS`` before ``as_of`` with the same model.
``SuccessRateMastery`` (a smoothed, recency-weighted per-KP success rate) and the time-ratio
rule (median logged time ≥ ``CHECK_IN_TIME_RATIO`` × the content's minutes) are only the
cold-start fallback: no model given, or no answered statement before ``as_of`` to trace.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sparse
from numpy.typing import NDArray

from features.learning.baselines import (
    ease_weights,
    implicit_matrix,
    item_counts,
    item_similarity,
)
from features.learning.checkin import check_in_evidence, check_in_flags, high_time_minutes
from features.learning.data import (
    CONTENT_ID,
    FORMATS,
    LOCAL_OFFSET,
    MEMBER_KEY,
    LearningData,
)
from features.learning.kt_features import (
    KIND,
    RESPONSE,
    TIMESTAMP,
    build_events,
)
from features.learning.success_rate import (
    ProfileReuse,
    SuccessRateMastery,
    events_before,
    mastery_matrix,
    profile_matrices,
)
from features.rosters import RosterError, next_free_window

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
Rows = Sequence[int] | NDArray[np.intp] | None

POPULARITY_DAYS = 90
HISTORY_DAYS = 365
CHECK_IN_TIME_RATIO = 1.8  # fallback rule: logged ÷ expected minutes (median) above this
CHECK_IN_DAYS = 90  # detect_check_in's window: the days before as_of
EASE_L2 = 200.0


def month_end(as_of: datetime) -> datetime:
    first_next = (pd.Timestamp(as_of).to_period("M") + 1).to_timestamp()
    return first_next.to_pydatetime()


# --------------------------------------------------------------------------------------------
# Snapshots: the catalogue, the population, and each member's rows


@dataclass(frozen=True)
class Catalogue:
    """What a snapshot knows that no statement changes: the content published before
    ``as_of`` (rows follow ``items``), its KPs and formats, this month's mandatory themes, and
    the members' roster fields (rows follow ``member_keys``)."""

    as_of: pd.Timestamp
    member_keys: list[str]
    member_index: dict[str, int]
    items: list[str]
    item_index: dict[str, int]
    kps: list[str]
    content: pd.DataFrame  # indexed like items
    members: pd.DataFrame  # indexed like member_keys
    item_kp: FloatArray  # (n_items, n_kps) 0/1
    format_onehot: FloatArray  # (n_items, n_formats) 0/1, columns FORMATS
    mandatory_now: BoolArray  # (n_items,)
    theme_overlap: FloatArray  # (n_items,) share of the item's KPs among this month's themes
    roles: list[str]
    member_role: NDArray[np.intp]  # (n_members,) row of ``roles``
    shift_worker: BoolArray  # (n_members,) on a roster other than "day"

    @classmethod
    def at(cls, data: LearningData, as_of: pd.Timestamp) -> Catalogue:
        content = data.content[data.content["published_on"] < as_of]
        content = content.sort_values(CONTENT_ID).reset_index(drop=True)
        items = content[CONTENT_ID].astype(str).tolist()
        kps = sorted({kp for row in content["knowledge_points"] for kp in row})
        kp_index = {kp: j for j, kp in enumerate(kps)}
        item_kp = np.zeros((len(items), len(kps)))
        for j, row in enumerate(content["knowledge_points"]):
            for kp in row:
                item_kp[j, kp_index[kp]] = 1.0
        item_format = content["format"].astype(str).to_numpy()
        format_onehot = np.stack([(item_format == f).astype(float) for f in FORMATS], axis=1)
        mandatory_now = (
            content["mandatory_month"].astype(str) == as_of.strftime("%Y-%m")
        ).to_numpy()
        theme_kps = item_kp[mandatory_now].sum(axis=0) > 0
        theme_overlap = (item_kp @ theme_kps.astype(float)) / np.maximum(item_kp.sum(axis=1), 1.0)
        members = data.members.sort_values(MEMBER_KEY).reset_index(drop=True)
        member_keys = members[MEMBER_KEY].astype(str).tolist()
        roles, member_role = np.unique(members["role"].astype(str).to_numpy(), return_inverse=True)
        return cls(
            as_of=as_of,
            member_keys=member_keys,
            member_index={key: i for i, key in enumerate(member_keys)},
            items=items,
            item_index={item: j for j, item in enumerate(items)},
            kps=kps,
            content=content,
            members=members,
            item_kp=item_kp,
            format_onehot=format_onehot,
            mandatory_now=mandatory_now,
            theme_overlap=theme_overlap,
            roles=[str(role) for role in roles],
            member_role=np.asarray(member_role, dtype=np.intp).reshape(-1),
            shift_worker=(members["shift_pattern"].astype(str) != "day").to_numpy(),
        )


@dataclass(frozen=True)
class Population:
    """The part of a snapshot computed over every member by one full build
    (``Snapshot.build``), which ``Snapshot.with_members`` keeps while it recomputes some
    members' rows against it: popularity (90 days, overall and per role), the members per
    item, the co-occurrence (Jaccard) and EASE item-item weights over the launches of the
    last ``HISTORY_DAYS``, each role's format shares, the completion rate per item on day and
    shift rosters, how mastery is read (the model, or the stand-in and its overall success
    rate) and the check-in source with the detector's logged-minutes threshold (its top
    third: the only relative part of the flag)."""

    catalogue: Catalogue
    recent_popularity: FloatArray  # (n_items,) share of all members, 90 days
    role_popularity: FloatArray  # (n_roles, n_items) share of the role's members, 90 days
    item_users: FloatArray  # (n_items,) members who ever launched it
    cooccurrence_weights: FloatArray  # (n_items, n_items) zero diagonal, zero if unlaunched
    ease_weights: FloatArray  # (n_items, n_items) EASE's B, likewise
    role_format_share: FloatArray  # (n_roles, n_formats) smoothed share of launches
    engagement: FloatArray  # (2, n_items) completion rate: day roster, then shift rosters
    mastery: Any  # the estimator given to ``build`` (or None)
    traced: bool  # P(correct) from ``mastery.mastery_profiles`` (else the stand-in)
    stand_in_rate: float | None  # the stand-in's overall success rate (None: no answer)
    check_in_source: str  # "detect_check_in", "given" or "time_ratio"
    check_in_minutes: float  # detect_check_in's high-time threshold (NaN: no study time)
    check_in_given: frozenset[str]  # the flagged members of a given check_in frame

    @property
    def as_of(self) -> pd.Timestamp:
        return self.catalogue.as_of


@dataclass
class _MemberState:
    """Some members' own figures (row ``r`` is ``keys[r]``), from their statements and events
    before the moment only: what ``build`` computes for everyone and ``with_members`` for a
    few, by this same code."""

    keys: list[str]
    launched: BoolArray  # (n, n_items) launched in HISTORY_DAYS
    ever_launched: BoolArray
    completed: BoolArray
    recent_seen: BoolArray  # (n, n_items) launched in POPULARITY_DAYS
    time_ratio: FloatArray  # (n,)
    p_correct: FloatArray  # (n, n_kps)
    attempts: FloatArray
    days_since_practised: FloatArray
    profiles: pd.DataFrame | None  # the model's profiles of these members (traced only)


def _member_state(
    catalogue: Catalogue,
    statements: pd.DataFrame,
    events: pd.DataFrame | None,
    keys: list[str],
    as_of: pd.Timestamp,
    *,
    mastery: Any,
    traced: bool,
    stand_in_rate: float | None,
    profiled: Sequence[str] | None = None,
) -> _MemberState:
    """``keys``' figures at ``as_of`` from ``statements`` (and ``events``, before ``as_of``,
    when ``traced``); rows of other members in them are ignored. ``profiled``: the keys whose
    mastery the model profiles when ``traced`` (default all; the other rows hold
    ``profile_matrices``' fill: P(correct) 0.5, no attempts, never practised)."""
    member_index = {key: i for i, key in enumerate(keys)}
    n_m, n_i = len(keys), len(catalogue.items)
    # positions of the statements before as_of of known members and items, and their
    # columns read at those positions only: no copy of the statement frame
    m_all = _positions(statements[MEMBER_KEY], member_index)
    i_all = _positions(statements[CONTENT_ID], catalogue.item_index)
    selected = np.flatnonzero(
        (statements["timestamp"] < as_of).to_numpy() & (m_all >= 0) & (i_all >= 0)
    )
    m_idx, i_idx = m_all[selected], i_all[selected]
    del m_all, i_all
    verb = statements["verb"]
    is_launch = (verb == "launched").to_numpy()[selected]
    stamps = statements["timestamp"].iloc[selected]
    age_days = (as_of - stamps).dt.total_seconds().to_numpy() / 86400.0
    del stamps

    launched = np.zeros((n_m, n_i), dtype=bool)
    recent = is_launch & (age_days <= HISTORY_DAYS)
    launched[m_idx[recent], i_idx[recent]] = True
    ever = np.zeros((n_m, n_i), dtype=bool)
    ever[m_idx[is_launch], i_idx[is_launch]] = True
    completed = np.zeros((n_m, n_i), dtype=bool)
    done = (verb == "completed").to_numpy()[selected]
    completed[m_idx[done], i_idx[done]] = True
    popular_window = is_launch & (age_days <= POPULARITY_DAYS)
    recent_seen = np.zeros((n_m, n_i), dtype=bool)
    recent_seen[m_idx[popular_window], i_idx[popular_window]] = True

    minutes_expected = catalogue.content["minutes"].to_numpy(dtype=float)
    duration = statements["duration_seconds"].to_numpy(dtype=float)[selected]
    experienced = (verb == "experienced").to_numpy()[selected] & np.isfinite(duration)
    ratio = duration[experienced] / 60.0 / np.maximum(minutes_expected[i_idx[experienced]], 1.0)
    time_ratio = (
        pd.Series(ratio).groupby(m_idx[experienced]).median().reindex(range(n_m)).to_numpy()
    )

    profiles: pd.DataFrame | None = None
    stand_in = _stand_in(mastery)
    if traced and events is not None:
        profiles = mastery.mastery_profiles(
            events, catalogue.kps, as_of, members=keys if profiled is None else list(profiled)
        )
        p_correct, attempts, since = profile_matrices(profiles, keys, catalogue.kps, as_of)
    elif stand_in is not None:  # no model, or no answer to trace before as_of
        wanted = keys if profiled is None else list(profiled)
        p_correct, attempts, since = _embedded(
            stand_in.mastery_matrix(
                statements, wanted, catalogue.kps, as_of.to_pydatetime(), overall=stand_in_rate
            ),
            [member_index[key] for key in wanted],
            n_m,
        )
    else:  # an estimator with the single-learner contract only
        p_correct, attempts, since = mastery_matrix(
            mastery, statements, keys, catalogue.kps, as_of.to_pydatetime()
        )
    return _MemberState(
        keys=keys,
        launched=launched,
        ever_launched=ever,
        completed=completed,
        recent_seen=recent_seen,
        time_ratio=time_ratio,
        p_correct=p_correct,
        attempts=attempts,
        days_since_practised=since,
        profiles=profiles,
    )


def _add_outside(
    catalogue: Catalogue, state: _MemberState, pairs: pd.DataFrame, as_of: pd.Timestamp
) -> None:
    """Set, in place, the launch and completion cells of the members whose statements are
    not held from ``pairs`` (``OutsideMembers.launch_pairs`` at ``as_of``): the cells
    ``_member_state`` would have set from their statements (a launch within a window
    whenever their last launch is within it), so the population computed from ``state``
    is that of every member."""
    if pairs.empty:
        return
    m_all = _positions(pairs[MEMBER_KEY].astype("category"), catalogue.member_index)
    i_all = _positions(pairs[CONTENT_ID].astype("category"), catalogue.item_index)
    known = (m_all >= 0) & (i_all >= 0)
    m_idx, i_idx = m_all[known], i_all[known]
    last = pd.to_datetime(pairs["last_launch"]).iloc[np.flatnonzero(known)]
    launch = last.notna().to_numpy()
    age_days = (as_of - last).dt.total_seconds().to_numpy() / 86400.0
    recent = launch & (age_days <= HISTORY_DAYS)
    popular = launch & (age_days <= POPULARITY_DAYS)
    done = pairs["completed"].to_numpy(dtype=bool)[known]
    state.ever_launched[m_idx[launch], i_idx[launch]] = True
    state.launched[m_idx[recent], i_idx[recent]] = True
    state.recent_seen[m_idx[popular], i_idx[popular]] = True
    state.completed[m_idx[done], i_idx[done]] = True


def _with_outside_minutes(
    evidence: pd.DataFrame, outside: Any, as_of: pd.Timestamp
) -> pd.DataFrame:
    """``logged_minutes`` of the held members' ``evidence`` and of the members whose
    statements are not held (``OutsideMembers.study_minutes`` over the ``CHECK_IN_DAYS``
    before ``as_of``: a statement's minutes in one sum rather than its KPs' shares)."""
    extra = outside.study_minutes(as_of - pd.Timedelta(days=CHECK_IN_DAYS), as_of)
    return pd.concat(
        [
            evidence[["logged_minutes"]],
            extra.set_index(MEMBER_KEY)[["logged_minutes"]].astype(float),
        ]
    )


def _positions(values: pd.Series, index: Mapping[str, int]) -> NDArray[np.intp]:
    """Each value's position in ``index`` (-1: not in it), looked up once per category when
    ``values`` is a categorical (the compact statements), else once per row."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        lookup = np.array(
            [index.get(str(category), -1) for category in values.cat.categories] + [-1],
            dtype=np.intp,
        )
        return lookup[values.cat.codes.to_numpy()]  # code -1 (missing) reads the last
    found = values.map(index)
    return np.asarray(found.fillna(-1).to_numpy(dtype=float), dtype=np.intp)


def _embedded(
    matrices: tuple[FloatArray, FloatArray, FloatArray], rows: list[int], n_rows: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(p_correct, attempts, days_since)`` of some members placed at ``rows`` of ``n_rows``
    rows, the others ``profile_matrices``' fill (0.5, 0, ``inf``); the matrices themselves
    when they hold every row in order."""
    if rows == list(range(n_rows)):
        return matrices
    p, attempts, since = matrices
    shape = (n_rows, p.shape[1])
    out = (np.full(shape, 0.5), np.zeros(shape), np.full(shape, np.inf))
    for full, part in zip(out, (p, attempts, since), strict=True):
        full[rows] = part
    return out


def _stand_in(mastery: Any) -> SuccessRateMastery | None:
    """The success-rate stand-in that reads mastery when nothing is traced: the one given,
    else a default one, unless ``mastery`` is another single-learner estimator (None)."""
    if isinstance(mastery, SuccessRateMastery):
        return mastery
    if mastery is None or hasattr(mastery, "mastery_profiles"):
        return SuccessRateMastery()
    return None


def _launch_matrix(launched: BoolArray) -> sparse.csr_matrix:
    """The 0/1 launches of ``launched``'s rows as a sparse matrix, columns ascending in each
    row: a product with it adds, per row, the launched items' rows of the other factor in
    item order, whatever the number of rows (dense BLAS sums in blocks that depend on it)."""
    rows, columns = np.nonzero(launched)
    return sparse.csr_matrix(
        (np.ones(rows.size), (rows, columns)), shape=launched.shape, dtype=np.float64
    )


def item_sums(values: FloatArray, item_kp: FloatArray) -> FloatArray:
    """``(n_rows, n_items)``: per row, the sum of ``values`` (``(n_rows, n_kps)``) over each
    item's KPs, added in KP order (a row's result does not depend on the other rows, as a
    dense matrix product's may in its last bits)."""
    per_item = sparse.csr_matrix(item_kp) @ np.ascontiguousarray(values.T)
    return np.ascontiguousarray(np.asarray(per_item, dtype=np.float64).T)


def _member_rows(population: Population, state: _MemberState) -> dict[str, FloatArray]:
    """The rows of ``state``'s members that read the population: format shares (smoothed
    towards their role's) and KP interest. Their co-occurrence and EASE scores are read from
    their launches when asked (``Snapshot.cooccurrence_rows``)."""
    catalogue = population.catalogue
    binary = _launch_matrix(state.launched)
    format_counts = np.asarray(binary @ catalogue.format_onehot)
    roles = catalogue.member_role[[catalogue.member_index[key] for key in state.keys]]
    role_share = population.role_format_share[roles]
    kp_counts = np.asarray(binary @ catalogue.item_kp)
    return {
        "format_share": (format_counts + 3.0 * role_share)
        / (format_counts.sum(axis=1, keepdims=True) + 3.0),
        "kp_interest": kp_counts / np.maximum(kp_counts.sum(axis=1, keepdims=True), 1.0),
    }


def _check_in_evidence(
    mastery: Any, events: pd.DataFrame, profiles: pd.DataFrame, as_of: pd.Timestamp
) -> pd.DataFrame:
    """``check_in_evidence`` over the ``CHECK_IN_DAYS`` before ``as_of``, the end-of-window
    profiles taken from the snapshot's own (``mastery`` None: no mastery gain, the logged
    minutes and answers only)."""
    return check_in_evidence(
        events,
        model=None if mastery is None else ProfileReuse(mastery, profiles, as_of),  # type: ignore[arg-type]
        start=as_of - pd.Timedelta(days=CHECK_IN_DAYS),
        end=as_of,
    )


def _check_in_flags(
    population: Population,
    state: _MemberState,
    evidence: pd.DataFrame | None,
) -> BoolArray:
    """``state``'s members' check-in flags by the population's source: the detector's rule
    on their evidence with the population's threshold, the given frame, or the time-ratio
    proxy (median logged ÷ expected minutes ≥ ``CHECK_IN_TIME_RATIO``)."""
    if population.check_in_source == "given":
        return np.array([key in population.check_in_given for key in state.keys], dtype=bool)
    if population.check_in_source == "time_ratio" or evidence is None:
        flags: BoolArray = np.nan_to_num(state.time_ratio, nan=0.0) >= CHECK_IN_TIME_RATIO
        return flags
    flagged = check_in_flags(evidence, high_time_minutes=population.check_in_minutes)
    flagged_keys = set(evidence.index[flagged.to_numpy(dtype=bool)])
    return np.array([key in flagged_keys for key in state.keys], dtype=bool)


def _item_weights(binary: BoolArray) -> tuple[FloatArray, FloatArray]:
    """Co-occurrence (Jaccard) and EASE item-item weights from the binary member × item
    launches, ``(n_items, n_items)`` each; zero rows and columns for items nobody launched.
    The weights are those of ``CooccurrenceRecommender`` and ``EASERecommender`` fitted on
    the launches (the same counts, the launched items in the same order: their ids as text,
    sorted), from a sparse product of the launches: no dense member × item float matrix."""
    n_i = binary.shape[1]
    cooccurrence, ease = np.zeros((n_i, n_i)), np.zeros((n_i, n_i))
    users, items = np.nonzero(binary)
    if users.size == 0:
        return cooccurrence, ease
    columns = np.array(sorted(np.unique(items).tolist(), key=str), dtype=np.intp)
    position = np.full(n_i, -1, dtype=np.intp)
    position[columns] = np.arange(len(columns))
    matrix = implicit_matrix(users, position[items], (binary.shape[0], len(columns)))
    counts = item_counts(matrix)
    cooccurrence[np.ix_(columns, columns)] = item_similarity(counts, "jaccard")
    ease[np.ix_(columns, columns)] = ease_weights(counts, EASE_L2)
    return cooccurrence, ease


def _member_statements(
    data: LearningData, keys: Sequence[str], as_of: pd.Timestamp, *, with_events: bool
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``keys``' statements and (``with_events``) their event frame before ``as_of``."""
    statements = data.statements[data.statements[MEMBER_KEY].isin(list(keys))]
    if not with_events:
        return statements, None
    events = build_events(statements)
    return statements, events[events[TIMESTAMP] < as_of]


@dataclass
class Snapshot:
    """Dense state as of ``as_of`` (see the module docstring); rows follow ``member_keys``,
    columns ``items`` (content published before ``as_of``) and ``kps``.

    ``population`` holds what was computed over every member; a snapshot from
    ``with_members`` keeps its parent's population (and catalogue: ``items``, ``kps``, the
    mandatory flags are those of ``population.as_of``, which ``as_of`` may have passed)."""

    as_of: datetime
    member_keys: list[str]
    items: list[str]
    kps: list[str]
    content: pd.DataFrame  # indexed like items
    members: pd.DataFrame  # indexed like member_keys
    item_kp: FloatArray  # (n_items, n_kps) 0/1
    launched: BoolArray  # (n_members, n_items) launched in HISTORY_DAYS
    ever_launched: BoolArray  # (n_members, n_items)
    completed: BoolArray  # (n_members, n_items) ever completed
    p_correct: FloatArray  # (n_members, n_kps)
    attempts: FloatArray
    days_since_practised: FloatArray
    recent_popularity: FloatArray  # (n_items,) share of all members, 90 days
    item_users: FloatArray  # (n_items,) members who ever launched it
    format_share: FloatArray  # (n_members, n_formats), smoothed towards the role's
    kp_interest: FloatArray  # (n_members, n_kps) share of the member's launches per KP
    time_ratio: FloatArray  # (n_members,) median logged ÷ expected minutes (NaN: none)
    check_in: BoolArray  # (n_members,) flagged "check-in without absorption"
    mandatory_now: BoolArray  # (n_items,)
    theme_overlap: FloatArray  # (n_items,) share of the item's KPs among this month's themes
    population: Population
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def member_index(self) -> dict[str, int]:
        return self.population.catalogue.member_index

    @property
    def n_launches(self) -> FloatArray:
        return self.ever_launched.sum(axis=1).astype(float)

    # ---- member x item rows, read when asked ------------------------------------------------
    # Only the launches, first launches and completions are held per member and item (bool);
    # the rows below are computed for the members asked (``rows``: member indices,
    # default all), so that a caller working through the members in partitions holds one
    # partition's rows at a time. Each row depends on its member alone, in every bit.

    def _rows(self, rows: Rows) -> NDArray[np.intp]:
        if rows is None:
            return np.arange(len(self.member_keys))
        return np.asarray(rows, dtype=np.intp)

    def role_popularity_rows(self, rows: Rows = None) -> FloatArray:
        """``(n_rows, n_items)``: share of the member's role who launched the item, 90 days."""
        catalogue = self.population.catalogue
        return self.population.role_popularity[catalogue.member_role[self._rows(rows)]]

    def engagement_rows(self, rows: Rows = None) -> FloatArray:
        """``(n_rows, n_items)``: completion rate of members on the same kind of roster."""
        shift = self.population.catalogue.shift_worker[self._rows(rows)]
        return self.population.engagement[shift.astype(np.intp)]

    def cooccurrence_rows(self, rows: Rows = None) -> FloatArray:
        """``(n_rows, n_items)``: the member's launched items times the co-occurrence
        (Jaccard) weights; zero without history."""
        return np.asarray(
            _launch_matrix(self.launched[self._rows(rows)]) @ self.population.cooccurrence_weights
        )

    def ease_rows(self, rows: Rows = None) -> FloatArray:
        """``(n_rows, n_items)``: the member's launched items times EASE's weights."""
        return np.asarray(
            _launch_matrix(self.launched[self._rows(rows)]) @ self.population.ease_weights
        )

    @property
    def role_popularity(self) -> FloatArray:
        return self.role_popularity_rows()

    @property
    def engagement(self) -> FloatArray:
        return self.engagement_rows()

    @property
    def cooccurrence(self) -> FloatArray:
        return self.cooccurrence_rows()

    @property
    def ease(self) -> FloatArray:
        return self.ease_rows()

    @classmethod
    def build(
        cls,
        data: LearningData,
        as_of: datetime,
        *,
        mastery: Any | None = None,
        check_in: pd.DataFrame | None = None,
        profiled: Iterable[str] | None = None,
    ) -> Snapshot:
        """Everything strictly before ``as_of``, for every member. ``check_in``
        (``member_key, flagged``, from ``features.learning.checkin.detect_check_in``)
        overrides the detector (with a traced model) or the time-ratio proxy (without).

        ``profiled``: the members whose mastery and check-in flag are computed (default every
        member; the costly part of a build: a model pass per member and KP at two moments, or
        the stand-in's weighted rates). Their rows equal those of the full build (the
        population, check-in threshold included, still reads every member); the other
        members' mastery rows are ``profile_matrices``' fill and their check-in flag False:
        use their rows for nothing but the population (the recommender's training sample,
        ``training_members``)."""
        as_of_ts = pd.Timestamp(as_of)
        catalogue = Catalogue.at(data, as_of_ts)
        wanted = None if profiled is None else {str(key) for key in profiled}
        profile_keys = (
            None if wanted is None else [key for key in catalogue.member_keys if key in wanted]
        )
        past_events = (
            events_before(data, as_of_ts) if hasattr(mastery, "mastery_profiles") else None
        )
        traced = (
            past_events is not None
            and bool((past_events[KIND] == RESPONSE).any())
            and bool(catalogue.kps)
        )
        stand_in = None if traced else _stand_in(mastery)
        stand_in_rate = (
            stand_in.overall_rate(
                data.statements, catalogue.member_keys, catalogue.kps, as_of_ts.to_pydatetime()
            )
            if stand_in is not None
            else None
        )
        state = _member_state(
            catalogue,
            data.statements,
            past_events,
            catalogue.member_keys,
            as_of_ts,
            mastery=mastery,
            traced=traced,
            stand_in_rate=stand_in_rate,
            profiled=profile_keys,
        )
        if data.outside is not None:
            _add_outside(catalogue, state, data.outside.launch_pairs(as_of_ts), as_of_ts)

        roles = catalogue.member_role
        binary = state.launched  # bool already: no copy
        format_counts = np.asarray(_launch_matrix(state.launched) @ catalogue.format_onehot)
        role_popularity = np.zeros((len(catalogue.roles), len(catalogue.items)))
        role_totals = np.ones((len(catalogue.roles), len(FORMATS)))
        for role in range(len(catalogue.roles)):
            mask = roles == role
            role_popularity[role] = state.recent_seen[mask].mean(axis=0)
            role_totals[role] += format_counts[mask].sum(axis=0)
        completed_recent = state.completed & binary
        engagement = np.zeros((2, len(catalogue.items)))
        for group in (False, True):
            mask = catalogue.shift_worker == group
            tried = binary[mask].sum(axis=0)
            finished = completed_recent[mask].sum(axis=0)
            by_format = (finished @ catalogue.format_onehot + 1.0) / (
                tried @ catalogue.format_onehot + 2.0
            )
            prior = catalogue.format_onehot @ by_format
            engagement[int(group)] = (finished + 5.0 * prior) / (tried + 5.0)
        cooccurrence_weights, ease_weights = _item_weights(binary)

        evidence: pd.DataFrame | None = None
        threshold = math.nan
        if check_in is not None:
            check_in_source = "given"
        elif state.profiles is not None and past_events is not None:
            check_in_source = "detect_check_in"
            profiled_events = (
                past_events
                if profile_keys is None
                else past_events[past_events[MEMBER_KEY].isin(profile_keys)]
            )
            evidence = _check_in_evidence(mastery, profiled_events, state.profiles, as_of_ts)
            # the threshold reads every member's logged minutes (no model needed)
            everyone = (
                evidence
                if profile_keys is None
                else _check_in_evidence(None, past_events, state.profiles, as_of_ts)
            )
            if data.outside is not None:
                everyone = _with_outside_minutes(everyone, data.outside, as_of_ts)
            threshold = high_time_minutes(everyone)
        else:
            check_in_source = "time_ratio"
        given = (
            frozenset(check_in.loc[check_in["flagged"].astype(bool), MEMBER_KEY].astype(str))
            if check_in is not None
            else frozenset()
        )
        population = Population(
            catalogue=catalogue,
            recent_popularity=state.recent_seen.mean(axis=0),
            role_popularity=role_popularity,
            item_users=state.ever_launched.sum(axis=0).astype(float),
            cooccurrence_weights=cooccurrence_weights,
            ease_weights=ease_weights,
            role_format_share=role_totals / role_totals.sum(axis=1, keepdims=True),
            engagement=engagement,
            mastery=mastery,
            traced=traced,
            stand_in_rate=stand_in_rate,
            check_in_source=check_in_source,
            check_in_minutes=threshold,
            check_in_given=given,
        )
        rows = _member_rows(population, state)
        return cls(
            as_of=as_of_ts.to_pydatetime(),
            member_keys=catalogue.member_keys,
            items=catalogue.items,
            kps=catalogue.kps,
            content=catalogue.content,
            members=catalogue.members,
            item_kp=catalogue.item_kp,
            launched=state.launched,
            ever_launched=state.ever_launched,
            completed=state.completed,
            p_correct=state.p_correct,
            attempts=state.attempts,
            days_since_practised=state.days_since_practised,
            recent_popularity=population.recent_popularity,
            item_users=population.item_users,
            format_share=rows["format_share"],
            kp_interest=rows["kp_interest"],
            time_ratio=state.time_ratio,
            check_in=_check_in_flags(population, state, evidence),
            mandatory_now=catalogue.mandatory_now,
            theme_overlap=catalogue.theme_overlap,
            population=population,
            extras={
                "mastery": "model" if traced else "stand-in",
                "check_in_source": check_in_source,
            },
        )

    def with_members(
        self, data: LearningData, member_keys: Iterable[str], *, as_of: datetime | None = None
    ) -> Snapshot:
        """A copy whose rows of ``member_keys`` are recomputed from ``data`` at ``as_of``
        (default: this snapshot's moment) by ``build``'s own code, against this snapshot's
        population, which is kept: their launches, completions, mastery (P(correct),
        attempts, days since practised), time ratio, check-in flag (the detector's rule on
        their own window, with the population's threshold), KP interest, format shares and
        their co-occurrence and EASE scores from the population's item-item weights. Their
        role popularity and engagement rows are their role's and roster type's, from the
        population. Rows of other members are shared with this snapshot; members the
        population does not know are skipped. With the population of ``build(data, as_of)``
        the rows equal that build's (tested)."""
        population = self.population
        catalogue = population.catalogue
        moment = pd.Timestamp(as_of if as_of is not None else self.as_of)
        keys = [str(key) for key in dict.fromkeys(member_keys) if key in catalogue.member_index]
        if not keys:
            return replace(self, as_of=moment.to_pydatetime())
        rows = np.array([catalogue.member_index[key] for key in keys], dtype=np.intp)
        need_events = population.traced or population.check_in_source == "detect_check_in"
        statements, events = _member_statements(data, keys, moment, with_events=need_events)
        state = _member_state(
            catalogue,
            statements,
            events,
            keys,
            moment,
            mastery=population.mastery,
            traced=population.traced,
            stand_in_rate=population.stand_in_rate,
        )
        evidence = (
            _check_in_evidence(population.mastery, events, state.profiles, moment)
            if population.check_in_source == "detect_check_in"
            and events is not None
            and state.profiles is not None
            else None
        )
        computed = {
            "launched": state.launched,
            "ever_launched": state.ever_launched,
            "completed": state.completed,
            "p_correct": state.p_correct,
            "attempts": state.attempts,
            "days_since_practised": state.days_since_practised,
            "time_ratio": state.time_ratio,
            "check_in": _check_in_flags(population, state, evidence),
            **_member_rows(population, state),
        }
        changed: dict[str, Any] = {}
        for name, values in computed.items():
            array = getattr(self, name).copy()
            array[rows] = values
            changed[name] = array
        return replace(self, as_of=moment.to_pydatetime(), **changed)

    # ---- derived matrices -------------------------------------------------------------------

    def kp_gap(self, rows: Rows = None) -> FloatArray:
        """``(n_rows, n_items)``: mean of 1 − p_correct over each item's KPs."""
        n_item_kps = np.maximum(self.item_kp.sum(axis=1), 1.0)
        missing = 1.0 - self.p_correct[self._rows(rows)]
        gap: FloatArray = item_sums(missing, self.item_kp) / n_item_kps[None, :]
        return gap

    def window_minutes(self, at: datetime | None = None, rows: Rows = None) -> FloatArray:
        """Minutes of each member's next free window from their roster (NaN if unknown);
        ``rows``: those members only (in that order)."""
        local = pd.Timestamp(at or self.as_of).to_pydatetime() + LOCAL_OFFSET
        cache: dict[tuple[str, str], float] = {}
        index = self._rows(rows)
        patterns = self.members["shift_pattern"].to_numpy()[index]
        crews = self.members["crew"].to_numpy()[index]
        out = np.full(len(index), np.nan)
        for i, (pattern, crew) in enumerate(zip(patterns, crews, strict=True)):
            key = (str(pattern), str(crew))
            if key not in cache:
                try:
                    cache[key] = float(next_free_window(key[0], key[1], local)[1])
                except RosterError:
                    cache[key] = math.nan
            out[i] = cache[key]
        return out


def item_kp_lists(snapshot: Snapshot) -> Mapping[str, list[str]]:
    return dict(
        zip(
            snapshot.items, (list(kps) for kps in snapshot.content["knowledge_points"]), strict=True
        )
    )
