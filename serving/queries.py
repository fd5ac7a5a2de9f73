"""Reads of the store behind the routes. Callers hold the store lock (``SharedStore.use``)."""

from __future__ import annotations

from core.security import PersonalData
from serving.api.schemas.common import IngestRunCounts, MemberRecord, Readiness, StoreSummary
from store.database import Store
from store.schema import TABLES


def readiness(store: Store) -> Readiness:
    """Raises (``duckdb.Error``) if the store does not answer."""
    store.connection.execute("SELECT 1").fetchone()
    names = {
        str(row[0])
        for row in store.connection.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchall()
    }
    return Readiness(tables=len(names & TABLES.keys()))


def store_summary(store: Store) -> StoreSummary:
    runs = store.connection.execute(
        """
        SELECT reader, source_file, started_at, records_in, accepted, quarantined
        FROM ingest_runs
        QUALIFY row_number() OVER (PARTITION BY reader ORDER BY started_at DESC) = 1
        ORDER BY reader
        """
    ).fetchall()
    return StoreSummary(
        table_rows=store.table_counts(),
        latest_ingest_runs=[
            IngestRunCounts(
                reader=reader,
                source_file=source_file,
                started_at=started_at,
                records_in=records_in or 0,
                accepted=accepted or 0,
                quarantined=quarantined or 0,
            )
            for reader, source_file, started_at, records_in, accepted, quarantined in runs
        ],
    )


def member_record(store: Store, personal: PersonalData, employee_no: str) -> MemberRecord | None:
    """The decrypted record of one member, or ``None`` if there is none."""
    row = store.connection.execute(
        """
        SELECT name_enc, phone_enc, party_branch_enc, role, unit, shift_pattern, crew, joined_on
        FROM members WHERE member_key = ?
        """,
        [personal.member_key(employee_no)],
    ).fetchone()
    if row is None:
        return None
    name_enc, phone_enc, branch_enc, role, unit, shift_pattern, crew, joined_on = row
    cipher = personal.cipher
    return MemberRecord(
        employee_no=employee_no.strip(),
        name=cipher.decrypt(name_enc, column="name_enc"),
        phone=cipher.decrypt(phone_enc, column="phone_enc"),
        party_branch=cipher.decrypt(branch_enc, column="party_branch_enc"),
        role=role,
        unit=unit,
        shift_pattern=shift_pattern,
        crew=crew,
        joined_on=joined_on,
    )
