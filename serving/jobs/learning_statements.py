"""``POST /v1/xapi/statements``: parse a batch (the caller may post only their own
statements), check posted ids against the stored ones (same id, other content: a conflict,
nothing stored), then store the new rows and quarantine the rejected statements in one
transaction. The caller pushes the returned rows to the study data.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from core.clock import utc_now
from core.security import PersonalData
from features.online.study import (
    STUDY_ROW_COLUMNS,
)
from ingest.readers.common import RecordError
from ingest.readers.xapi import STATEMENT_COLUMNS, parse_statement
from serving.api.schemas.common import has_lone_surrogate, lone_surrogate_paths
from serving.api.schemas.learning import (
    RejectedStatementOut,
)
from store.database import QuarantineRecord, Store
from store.queries import learning as queries

if TYPE_CHECKING:
    pass

HTTP_READER = "xapi-http"
HTTP_SOURCE = "POST /v1/xapi/statements"


class ActorNotAllowedError(PermissionError):
    """A member posted a statement about someone else."""


@dataclass
class StatementConflict:
    index: int
    statement_id: str


@dataclass
class PostedBatch:
    """The outcome of a posted batch, in the posted order."""

    statement_ids: list[str | None]  # None where the statement was rejected
    rejected: list[RejectedStatementOut]
    conflicts: list[StatementConflict]
    new_rows: pd.DataFrame  # stored now (not before), STUDY_ROW_COLUMNS

    @property
    def stored_ids(self) -> list[str]:
        return [sid for sid in self.statement_ids if sid is not None]


def parse_batch(
    statements: Sequence[Any], personal: PersonalData, *, only_member: str | None
) -> tuple[list[dict[str, Any] | None], list[RejectedStatementOut]]:
    """Each statement's row (None when invalid) and the rejections. ``only_member``: the
    member key every valid statement's actor must have (``ActorNotAllowedError``)."""
    rows: list[dict[str, Any] | None] = []
    rejected: list[RejectedStatementOut] = []
    for index, statement in enumerate(statements):
        try:
            if any(True for _ in lone_surrogate_paths(statement)):
                raise RecordError("a string holds a lone UTF-16 surrogate (not a character)")
            row = parse_statement(statement, personal)
        except RecordError as error:
            own_id = statement.get("id") if isinstance(statement, dict) else None
            shown = isinstance(own_id, str) and not has_lone_surrogate(own_id)
            rejected.append(
                RejectedStatementOut(
                    index=index,
                    statement_id=str(own_id)[:64] if shown else None,
                    reason=str(error),
                )
            )
            rows.append(None)
            continue
        if only_member is not None and row["member_key"] != only_member:
            raise ActorNotAllowedError(f"statement {index}: members may post only their own")
        rows.append(row)
    return rows, rejected


_COMPARED = tuple(name for name in STATEMENT_COLUMNS if name != "statement_id")


def _same(stored: Mapping[str, Any], posted: Mapping[str, Any]) -> bool:
    for name in _COMPARED:
        left, right = stored.get(name), posted.get(name)
        if name == "knowledge_points":
            left = list(left) if left is not None else None
            right = list(right) if right is not None else None
        elif isinstance(left, float) or isinstance(right, float):
            if left is None or right is None or pd.isna(left) or pd.isna(right):
                if not (_missing(left) and _missing(right)):
                    return False
                continue
            if not math.isclose(float(left), float(right), rel_tol=1e-12, abs_tol=1e-12):
                return False
            continue
        elif name == "timestamp" and left is not None and right is not None:
            left, right = pd.Timestamp(left), pd.Timestamp(right)
        if _missing(left) and _missing(right):
            continue
        if left != right:
            return False
    return True


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def store_batch(
    store: Store,
    personal: PersonalData,
    statements: Sequence[Any],
    rows: Sequence[dict[str, Any] | None],
    rejected: Sequence[RejectedStatementOut],
) -> PostedBatch:
    """Store the valid rows (new ids only) and quarantine the rejected statements, in one
    transaction; the caller holds the store lock. A posted id already stored (or repeated in
    the batch) with other content is a conflict: then nothing is stored."""
    valid = [(i, row) for i, row in enumerate(rows) if row is not None]
    ids = sorted({str(row["statement_id"]) for _, row in valid})
    stored = queries.statements_by_id(store, ids, STATEMENT_COLUMNS)
    known: dict[str, Mapping[str, Any]] = {
        str(r["statement_id"]): {str(name): value for name, value in r.items()}
        for r in stored.to_dict("records")
    }
    conflicts: list[StatementConflict] = []
    fresh: dict[str, tuple[int, dict[str, Any]]] = {}
    for index, row in valid:
        sid = str(row["statement_id"])
        earlier = known.get(sid)
        if earlier is None and sid in fresh:
            earlier = fresh[sid][1]
        if earlier is not None:
            if not _same(earlier, row):
                conflicts.append(StatementConflict(index, sid))
            continue
        fresh[sid] = (index, row)
    statement_ids: list[str | None] = [
        None if row is None else str(row["statement_id"]) for row in rows
    ]
    if conflicts:
        return PostedBatch(statement_ids, list(rejected), conflicts, _empty_rows())
    now = utc_now()
    frame = pd.DataFrame([row for _, row in fresh.values()], columns=list(STATEMENT_COLUMNS))
    if not frame.empty:
        frame["knowledge_points"] = frame["knowledge_points"].map(
            lambda kps: None if kps is None else list(kps)
        )
        frame["source_file"] = HTTP_SOURCE
        frame["source_line"] = [index + 1 for index, _ in fresh.values()]
        frame["ingested_at"] = now
    quarantined = _quarantine_records(statements, rejected)
    with store.transaction():
        if not frame.empty:
            store.insert_new("statements", frame)
        store.quarantine(quarantined, personal.cipher)
    new_rows = frame[list(STUDY_ROW_COLUMNS)] if not frame.empty else _empty_rows()
    return PostedBatch(statement_ids, list(rejected), [], new_rows)


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame(columns=list(STUDY_ROW_COLUMNS))


def _statement_text(statement: Any) -> str:
    """The statement as JSON text; one holding a lone surrogate (no UTF-8 form) escaped."""
    text = json.dumps(statement, sort_keys=True, ensure_ascii=False)
    if has_lone_surrogate(text):
        return json.dumps(statement, sort_keys=True, ensure_ascii=True)
    return text


def _quarantine_records(
    statements: Sequence[Any], rejected: Sequence[RejectedStatementOut]
) -> list[QuarantineRecord]:
    """One record per rejected statement, keyed by the batch's hash and the 1-based index
    (re-posting the same batch quarantines nothing twice)."""
    if not rejected:
        return []
    texts = [_statement_text(s) for s in statements]
    batch_sha = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    return [
        QuarantineRecord(
            reader=HTTP_READER,
            source_file=HTTP_SOURCE,
            source_sha256=batch_sha,
            source_line=item.index + 1,
            reason=item.reason,
            record=texts[item.index],
        )
        for item in rejected
    ]
