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


def statement_batches(
    store: StoreReader, columns: Sequence[str], verbs: Sequence[str] | None = None
) -> Iterator[pd.DataFrame]:
    """``study_statements`` (``verbs`` None) or ``statements_with_verbs``, in frames of
    ``STATEMENT_BATCH_ROWS`` rows: DuckDB sorts (out of core when it must) and hands Arrow
    batches over one at a time, so the whole result is never one pandas frame of Python
    objects. A reader without a DuckDB ``connection`` gives its whole answer as one frame."""
    if verbs is None:
        sql = f"SELECT {', '.join(columns)} FROM statements ORDER BY timestamp, statement_id"
        parameters: list[object] = []
    else:
        sql = (
            f"SELECT {', '.join(columns)} FROM statements "
            f"WHERE verb IN ({', '.join('?' * len(verbs))}) "
            "ORDER BY member_key, timestamp, statement_id"
        )
        parameters = [*verbs]
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
