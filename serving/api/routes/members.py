"""Who is calling, and a member's own record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from serving.api.schemas.common import EMPLOYEE_NO_PATTERN, MemberRecord, WhoAmI
from serving.deps import CallerDep, MemberRecordReaderDep, PersonalDep, StoreDep
from serving.jobs.members import member_record
from serving.platform.errors import ApiError, documented

router = APIRouter(tags=["members"])


@router.get("/whoami", response_model=WhoAmI)
async def whoami(caller: CallerDep) -> WhoAmI:
    return WhoAmI(subject=caller.subject, role=caller.role, expires_at=caller.expires_at)


@router.get(
    "/members/{employee_no}",
    response_model=MemberRecord,
    responses=documented(404, _404="no such member"),
)
def member(
    caller: MemberRecordReaderDep,
    employee_no: Annotated[str, Path(pattern=EMPLOYEE_NO_PATTERN)],
    store: StoreDep,
    personal: PersonalDep,
) -> MemberRecord:
    """A member reads only their own record; an admin reads any. Decrypted on the way out.

    The ownership check comes before the lookup, so a 404 never tells a member whether
    someone else's number exists."""
    if caller.role == "member" and caller.subject.strip() != employee_no.strip():
        raise ApiError(403, "forbidden", "members may read only their own record")
    with store.use() as opened:
        record = member_record(opened, personal, employee_no)
    if record is None:
        raise ApiError(404, "not_found", "no such member")
    return record
