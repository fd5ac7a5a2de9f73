"""The security auditor's page: the audit log with filters (person, role, method, path,
status class), whether the hash chain verifies, and its head to record outside the service
(``GET /v1/audit-log`` answers the same head; passing it back as an anchor later shows that
the log still holds that entry)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from serving.console.auditor import local_time
from serving.console.web import console_state, refusal, render, signed_in_with
from serving.jobs import console_reads
from serving.platform import audit_chain
from serving.platform.audit_writer import AuditUnavailableError
from serving.platform.auth import ROLES
from serving.runtime import Runtime

router = APIRouter()
ROLE = "security_auditor"
ACTIONS = ("GET", "POST", "PUT", "DELETE", "PATCH")
STATUS_CLASSES = (2, 3, 4, 5)
FILTERS = ("subject", "role", "action", "resource", "status", "anchor_seq", "anchor_hash")


def _selection(request: Request) -> tuple[console_reads.AuditFilter, dict[str, str]]:
    params = request.query_params
    shown = {name: params.get(name, "").strip()[:200] for name in FILTERS}
    status = int(shown["status"]) if shown["status"] in {str(c) for c in STATUS_CLASSES} else None
    return (
        console_reads.AuditFilter(
            subject=shown["subject"] or None,
            role=shown["role"] if shown["role"] in ROLES else None,
            action=shown["action"] if shown["action"] in ACTIONS else None,
            resource_prefix=shown["resource"] or None,
            status_class=status,
        ),
        shown,
    )


@router.get("/audit-log")
def audit_log(request: Request) -> Response:
    session = signed_in_with(request, ROLE)
    if isinstance(session, Response):
        return session
    runtime: Runtime = request.app.state.runtime
    store, writer, personal = runtime.store, runtime.audit, runtime.personal
    if store is None or writer is None or personal is None:
        return refusal(request, session, 503, "refused.unavailable")
    selection, shown = _selection(request)
    try:
        page = max(1, min(int(request.query_params.get("page", "1")), 100_000))
    except ValueError:
        page = 1
    size = console_state(request).settings.page_size
    full = request.query_params.get("full") == "1"
    try:
        writer.flush()
    except AuditUnavailableError:
        return refusal(request, session, 503, "refused.unavailable")
    with store.use() as opened:
        entries, total = console_reads.audit_page(
            opened, personal, selection, limit=size, offset=(page - 1) * size
        )
        chain_valid = writer.verifier.verify(opened, full=full)
        head_seq, head_hash = audit_chain.table_head(opened)
        anchor_matches = None
        if shown["anchor_seq"].isdigit():
            found = audit_chain.entry_hash_at(opened, int(shown["anchor_seq"]))
            anchor_matches = found is not None and found == shown["anchor_hash"]
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("page", "lang")]
    return render(
        request,
        "audit_log.html",
        session,
        entries=entries,
        total=total,
        shown=shown,
        roles=ROLES,
        actions=ACTIONS,
        status_classes=STATUS_CLASSES,
        chain_valid=chain_valid,
        full=full,
        head_seq=head_seq,
        head_hash=head_hash,
        anchor_matches=anchor_matches,
        page=page,
        pages=max(1, -(-total // size)),
        page_params=params,
        local_time=local_time,
    )
