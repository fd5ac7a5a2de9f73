"""Store overview for staff roles; the audit log for the security auditor only."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from serving.api.schemas.common import (
    AuditLogEntry,
    AuditLogPage,
    AuditLogQuery,
    IngestRunCounts,
    RevocationOut,
    RevocationPage,
    RevocationQuery,
    RevocationRequest,
    StoreSummary,
)
from serving.deps import (
    AdminDep,
    AuditLogReaderDep,
    AuditWriterDep,
    JsonBodyDep,
    RevocationReaderDep,
    RevocationsDep,
    StoreDep,
    SummaryReaderDep,
)
from serving.platform import audit_chain
from serving.platform.audit_writer import AuditUnavailableError
from serving.platform.errors import ApiError, documented
from serving.platform.revocations import list_revocations
from store.queries.ingest_runs import latest_run_per_reader

router = APIRouter(tags=["admin"])


@router.get("/store/summary", response_model=StoreSummary)
def store_summary(_caller: SummaryReaderDep, store: StoreDep) -> StoreSummary:
    """Row counts of every table and the counts of each reader's latest ingestion."""
    with store.use() as opened:
        table_rows = opened.table_counts()
        runs = latest_run_per_reader(opened.connection)
    return StoreSummary(
        table_rows=table_rows, latest_ingest_runs=[IngestRunCounts(**run) for run in runs]
    )


@router.get("/audit-log", response_model=AuditLogPage)
def audit_log(
    _caller: AuditLogReaderDep,
    store: StoreDep,
    writer: AuditWriterDep,
    page: Annotated[AuditLogQuery, Query()],
    full: Annotated[
        bool,
        Query(description="verify the whole chain, not only the entries since the last check"),
    ] = False,
) -> AuditLogPage:
    """A page of the audit log in writing order, whether the whole chain verifies, and its
    head. Deleting the newest entries leaves a valid chain: record ``head_seq`` and
    ``head_hash`` outside the service now and then, and pass them back as ``anchor_seq`` and
    ``anchor_hash`` to check that the log still holds that entry. This request's own entry is
    written as it answers, so it shows from the next read on.

    ``chain_valid`` checks the entries written since the last verified one (and that this one
    is unchanged); the whole chain is verified when the service starts and with ``full``."""
    try:
        writer.flush()
    except AuditUnavailableError:
        raise ApiError(503, "audit_unavailable", "the audit log cannot be read") from None
    with store.use() as opened:
        entries, total = audit_chain.read_entries(opened, limit=page.limit, offset=page.offset)
        chain_valid = writer.verifier.verify(opened, full=full)
        head_seq, head_hash = audit_chain.table_head(opened)
        anchor_matches = (
            None
            if page.anchor_seq is None
            else audit_chain.entry_hash_at(opened, page.anchor_seq) == page.anchor_hash
        )
    return AuditLogPage(
        entries=[AuditLogEntry(**asdict(entry)) for entry in entries],
        total=total,
        limit=page.limit,
        offset=page.offset,
        chain_valid=chain_valid,
        head_seq=head_seq,
        head_hash=head_hash,
        anchor_matches=anchor_matches,
    )


@router.post(
    "/admin/revocations",
    response_model=RevocationOut,
    status_code=201,
    responses=documented(400, 415),
)
def revoke_tokens(
    caller: AdminDep,
    _json: JsonBodyDep,
    store: StoreDep,
    revocations: RevocationsDep,
    body: RevocationRequest,
) -> RevocationOut:
    """Void every token of ``subject`` issued until now (a token issued in the same second
    counts as before); issue a new one afterwards if the person keeps access."""
    with store.use() as opened:
        revocation = revocations.revoke(opened, body.subject, caller.subject, body.reason)
    return RevocationOut(**asdict(revocation))


@router.get("/admin/revocations", response_model=RevocationPage)
def revocation_list(
    _caller: RevocationReaderDep, store: StoreDep, page: Annotated[RevocationQuery, Query()]
) -> RevocationPage:
    """Revocations, newest first (subjects as pseudonyms)."""
    with store.use() as opened:
        found, total = list_revocations(opened, limit=page.limit, offset=page.offset)
    return RevocationPage(
        revocations=[RevocationOut(**asdict(item)) for item in found],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )
