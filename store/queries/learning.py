"""The study domain's SQL. Each function takes the store (anything with ``query``, see
``store.database.StoreReader``) and returns a frame or plain values; no personal column is
read but the member pseudonym ``member_key``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pandas as pd

from store.database import StoreReader


def study_statements(store: StoreReader, columns: Sequence[str]) -> pd.DataFrame:
    """``columns`` of every stored statement, oldest first (ties by statement id: the same
    order on every read)."""
    return store.query(
        f"SELECT {', '.join(columns)} FROM statements ORDER BY timestamp, statement_id"
    )


STATEMENT_BATCH_ROWS = 100_000


def member_filter(
    members: Sequence[str] | None, bucket: tuple[int, int] | None = None
) -> tuple[str, list[object]]:
    """A ``WHERE`` condition (with its parameters) keeping the statements of ``members``
    only (the keys bound as one list parameter, joined by hash: the cost of a scan, whatever
    the number of keys) and, with ``bucket`` ``(b, n)``, of the learners whose key hashes to
    bucket ``b`` of ``n`` (``hash(member_key) % n``, DuckDB's hash: every statement of a
    learner falls in one bucket); ``"TRUE"`` keeps everyone's."""
    conditions: list[str] = []
    parameters: list[object] = []
    if members is not None:
        conditions.append("member_key IN (SELECT unnest(?::VARCHAR[]))")  # a hash semi-join
        parameters.append([str(key) for key in members])
    if bucket is not None:
        part, parts = (int(value) for value in bucket)
        if not 0 <= part < parts:
            raise ValueError(f"bucket {part} outside 0..{parts - 1}")
        conditions.append(f"hash(member_key) % {parts} = {part}")
    return " AND ".join(conditions) or "TRUE", parameters


def statement_batches(
    store: StoreReader,
    columns: Sequence[str],
    verbs: Sequence[str] | None = None,
    *,
    members: Sequence[str] | None = None,
    bucket: tuple[int, int] | None = None,
) -> Iterator[pd.DataFrame]:
    """``study_statements`` (``verbs`` None) or ``statements_with_verbs``, in frames of
    ``STATEMENT_BATCH_ROWS`` rows: DuckDB sorts (out of core when it must) and hands Arrow
    batches over one at a time, so the whole result is never one pandas frame of Python
    objects. ``members``, ``bucket``: those learners' statements only (``member_filter``;
    DuckDB filters while it scans: a sample of learners costs its own rows, not every
    member's). A reader without a DuckDB
    ``connection`` gives its whole answer as one frame."""
    keep, parameters = member_filter(members, bucket)
    if verbs is None:
        sql = (
            f"SELECT {', '.join(columns)} FROM statements WHERE {keep} "
            "ORDER BY timestamp, statement_id"
        )
    else:
        sql = (
            f"SELECT {', '.join(columns)} FROM statements "
            f"WHERE verb IN ({', '.join('?' * len(verbs))}) AND {keep} "
            "ORDER BY member_key, timestamp, statement_id"
        )
        parameters = [*verbs, *parameters]
    connection = getattr(store, "connection", None)
    if connection is None:
        yield store.query(sql, parameters)
        return
    reader = connection.execute(sql, parameters).fetch_record_batch(STATEMENT_BATCH_ROWS)
    empty = True
    for batch in reader:
        empty = False
        yield batch.to_pandas()
    if empty:
        yield reader.schema.empty_table().to_pandas()


def answer_counts(store: StoreReader) -> pd.DataFrame:
    """``member_key, answers, last_answer``: per learner with an answer, how many answered
    statements they have and the time of their last (an aggregate: one row per learner,
    whatever the number of statements), by member key."""
    return store.query(
        "SELECT member_key, count(*) AS answers, max(timestamp) AS last_answer "
        "FROM statements WHERE verb = 'answered' AND success IS NOT NULL "
        "GROUP BY member_key ORDER BY member_key"
    )


EVENT_STATEMENTS = (
    "((verb = 'answered' AND success IS NOT NULL) OR "
    "(verb IN ('experienced', 'passed', 'failed') AND duration_seconds IS NOT NULL)) "
    "AND len(knowledge_points) > 0"
)
"""The statements ``features.learning.kt_features.build_events`` turns into events."""


def event_time_range(store: StoreReader) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """First and last time of the statements that become knowledge-tracing events
    (``EVENT_STATEMENTS``) over every learner, as aggregates; None when there is none."""
    found = store.query(
        f"SELECT min(timestamp) AS first, max(timestamp) AS last FROM statements "
        f"WHERE {EVENT_STATEMENTS}"
    )
    if found.empty or pd.isna(found["first"].iloc[0]):
        return None
    return pd.Timestamp(found["first"].iloc[0]), pd.Timestamp(found["last"].iloc[0])


def last_statement_time(store: StoreReader, verbs: Sequence[str]) -> pd.Timestamp | None:
    """The time of the newest statement with one of ``verbs`` (None: there is none)."""
    marks = ", ".join("?" * len(verbs))
    found = store.query(
        f"SELECT max(timestamp) AS last FROM statements WHERE verb IN ({marks})", [*verbs]
    )
    value = found["last"].iloc[0] if len(found) else None
    return None if value is None or pd.isna(value) else pd.Timestamp(value)


def statements_with_verbs(
    store: StoreReader, columns: Sequence[str], verbs: Sequence[str]
) -> pd.DataFrame:
    """``columns`` of the stored statements with one of ``verbs``, by member then time (ties by
    statement id)."""
    marks = ", ".join("?" * len(verbs))
    return store.query(
        f"SELECT {', '.join(columns)} FROM statements WHERE verb IN ({marks}) "
        "ORDER BY member_key, timestamp, statement_id",
        [*verbs],
    )


def statements_by_id(
    store: StoreReader, statement_ids: Sequence[str], columns: Sequence[str]
) -> pd.DataFrame:
    """``columns`` of the stored statements among ``statement_ids`` (empty frame for none)."""
    if not statement_ids:
        return pd.DataFrame(columns=list(columns))
    marks = ", ".join("?" * len(statement_ids))
    return store.query(
        f"SELECT {', '.join(columns)} FROM statements WHERE statement_id IN ({marks})",
        [*statement_ids],
    )


def catalogue_content(store: StoreReader, columns: Sequence[str]) -> pd.DataFrame:
    """``columns`` of every content item, by content id."""
    return store.query(f"SELECT {', '.join(columns)} FROM content ORDER BY content_id")


def roster_members(store: StoreReader, columns: Sequence[str]) -> pd.DataFrame:
    """``columns`` of every member, by member key."""
    return store.query(f"SELECT {', '.join(columns)} FROM members ORDER BY member_key")


def knowledge_points(store: StoreReader) -> pd.DataFrame:
    """``kp_id, name_en, name_zh, domain`` of every knowledge point."""
    return store.query("SELECT kp_id, name_en, name_zh, domain FROM knowledge_points")


def branch_of_member(store: StoreReader, member_key: str) -> str | None:
    """The party branch of the member, None when they have none or are unknown."""
    found = store.query("SELECT branch_key FROM members WHERE member_key = ?", [member_key])
    branches = found["branch_key"].dropna()
    return None if branches.empty else str(branches.iloc[0])


def members_of_branch(store: StoreReader, branch_key: str) -> list[str]:
    """The member keys of the branch."""
    found = store.query("SELECT member_key FROM members WHERE branch_key = ?", [branch_key])
    return [str(key) for key in found["member_key"]]


def newest_statement_time(store: StoreReader) -> pd.Timestamp | None:
    """The time of the newest stored statement, any verb (None: there is none)."""
    found = store.query("SELECT max(timestamp) AS last FROM statements")
    value = found["last"].iloc[0] if len(found) else None
    return None if value is None or pd.isna(value) else pd.Timestamp(value)


def _naive(moment: pd.Timestamp) -> object:
    """``moment`` as the store's naive UTC ``TIMESTAMP`` parameter."""
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()


def _outside(excluded: Sequence[str]) -> tuple[str, list[object]]:
    """A condition keeping the statements of members not among ``excluded`` (a hash
    anti-join on the keys bound as one list parameter)."""
    return "member_key NOT IN (SELECT unnest(?::VARCHAR[]))", [[str(k) for k in excluded]]


def launch_pairs(
    store: StoreReader, before: pd.Timestamp, *, excluded: Sequence[str]
) -> pd.DataFrame:
    """``member_key, content_id, last_launch, completed``: per member (not among
    ``excluded``) and item with a launch or a completion strictly before ``before``, the
    time of the last launch (NaT: none) and whether it was ever completed (an aggregate:
    one row per pair, whatever the number of statements)."""
    keep, parameters = _outside(excluded)
    return store.query(
        "SELECT member_key, content_id, "
        "max(timestamp) FILTER (WHERE verb = 'launched') AS last_launch, "
        "bool_or(verb = 'completed') AS completed "
        "FROM statements WHERE verb IN ('launched', 'completed') AND timestamp < ? "
        f"AND {keep} GROUP BY member_key, content_id",
        [_naive(before), *parameters],
    )


def launched_between(
    store: StoreReader, start: pd.Timestamp, end: pd.Timestamp, *, excluded: Sequence[str]
) -> pd.DataFrame:
    """``member_key, content_id``: each pair (member not among ``excluded``) with a launch in
    ``[start, end)``, once."""
    keep, parameters = _outside(excluded)
    return store.query(
        "SELECT DISTINCT member_key, content_id FROM statements "
        f"WHERE verb = 'launched' AND timestamp >= ? AND timestamp < ? AND {keep}",
        [_naive(start), _naive(end), *parameters],
    )


def study_minutes(
    store: StoreReader, start: pd.Timestamp, end: pd.Timestamp, *, excluded: Sequence[str]
) -> pd.DataFrame:
    """``member_key, logged_minutes``: per member (not among ``excluded``) the minutes of
    their study statements in ``[start, end)`` (those ``build_events`` turns into study
    events: ``experienced``, ``passed``, ``failed`` with a duration and a KP), members with
    none left out."""
    keep, parameters = _outside(excluded)
    return store.query(
        "SELECT member_key, sum(duration_seconds / 60.0) AS logged_minutes FROM statements "
        "WHERE verb IN ('experienced', 'passed', 'failed') AND duration_seconds IS NOT NULL "
        "AND len(knowledge_points) > 0 AND timestamp >= ? AND timestamp < ? "
        f"AND {keep} GROUP BY member_key HAVING sum(duration_seconds) > 0 ORDER BY member_key",
        [_naive(start), _naive(end), *parameters],
    )
