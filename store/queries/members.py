"""The members table: one member's stored (encrypted) record."""

from __future__ import annotations

from typing import Any

import duckdb

MEMBER_RECORD_COLUMNS = (
    "name_enc",
    "phone_enc",
    "party_branch_enc",
    "role",
    "unit",
    "shift_pattern",
    "crew",
    "joined_on",
)


def member_row(connection: duckdb.DuckDBPyConnection, member_key: str) -> dict[str, Any] | None:
    """The member's row by its keyed pseudonym, personal fields still encrypted (``*_enc``);
    ``None`` when there is none."""
    row = connection.execute(
        f"SELECT {', '.join(MEMBER_RECORD_COLUMNS)} FROM members WHERE member_key = ?",
        [member_key],
    ).fetchone()
    return None if row is None else dict(zip(MEMBER_RECORD_COLUMNS, row, strict=True))
