"""Personalised study: a member's mastery and suggestions, a branch's aggregates, and the xAPI
statements endpoint.

A member reads only their own mastery and suggestions (403 otherwise, checked before the
lookup, so a 403 never tells whether another number exists); an admin reads anyone's. Party
officers read the aggregates of their own branch only. Every call, allowed or not, is in the
audit log (the auth dependency marks it; employee numbers in paths are logged as
pseudonyms). Routes are plain ``def``: scoring runs in the threadpool. No champion: the read
routes answer 503 ``model_unavailable``; posted statements are still stored.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Request

from core.security import PersonalData
from serving.api.schemas.common import EMPLOYEE_NO_PATTERN, INSTANT_NOTE, BoundedDateTime
from serving.api.schemas.learning import (
    BranchMasteryOut,
    MasteryOut,
    RecommendationsOut,
    XapiRejectionOut,
)
from serving.deps import (
    JsonBodyDep,
    LearningStateDep,
    MemberRecordReaderDep,
    PartyOfficerDep,
    PersonalDep,
    StoreDep,
    StudyDep,
    XapiPosterDep,
)
from serving.jobs import learning_answers, learning_statements
from serving.jobs.learning_study import Study
from serving.platform.errors import (
    ApiError,
    ErrorBody,
    ErrorDetail,
    SafeJSONResponse,
    documented,
    request_id_of,
)
from store.queries import learning as queries

router = APIRouter(tags=["study"])

XAPI_VERSION_HEADER = "X-Experience-API-Version"
XAPI_VERSION = "1.0.3"
MAX_STATEMENTS = 1000
_MODEL_UNAVAILABLE = documented(503, _503="not ready, or no champion model is loaded")
_NO_MEMBER = documented(404, _404="no such member")
EmployeeNo = Annotated[str, Path(pattern=EMPLOYEE_NO_PATTERN)]
AsOf = Annotated[
    BoundedDateTime | None,
    Query(description=f"the moment to answer for (default now), {INSTANT_NOTE}"),
]


def _own_member_key(
    caller_role: str,
    caller_subject: str,
    employee_no: str,
    study: Study,
    personal: PersonalData,
) -> str:
    if caller_role == "member" and caller_subject.strip() != employee_no.strip():
        raise ApiError(403, "forbidden", "members may read only their own study data")
    member_key = str(personal.member_key(employee_no))
    if member_key not in study.data.member_keys:
        raise ApiError(404, "not_found", "no such member")
    return member_key


@router.get(
    "/members/{employee_no}/recommendations",
    response_model=RecommendationsOut,
    responses={**_MODEL_UNAVAILABLE, **_NO_MEMBER},
)
def recommendations(
    caller: MemberRecordReaderDep,
    study: StudyDep,
    personal: PersonalDep,
    employee_no: EmployeeNo,
    k: Annotated[int, Query(ge=1, le=50, description="how many suggestions at most")] = 10,
    minutes: Annotated[
        float | None,
        Query(
            ge=1,
            le=240,
            allow_inf_nan=False,
            description="time available; default: the member's next free roster window",
        ),
    ] = None,
    as_of: AsOf = None,
) -> RecommendationsOut:
    """Up to ``k`` items that fit ``minutes``, each with its reasons in Chinese and English:
    the weak knowledge point it trains, how it fits the time, a mandatory theme, new
    content, practice for members flagged "check-in without absorption"."""
    member_key = _own_member_key(caller.role, caller.subject, employee_no, study, personal)
    return learning_answers.recommendations(
        study, employee_no.strip(), member_key, k=k, minutes=minutes, as_of=as_of
    )


@router.get(
    "/members/{employee_no}/mastery",
    response_model=MasteryOut,
    responses={**_MODEL_UNAVAILABLE, **_NO_MEMBER},
)
def mastery(
    caller: MemberRecordReaderDep,
    study: StudyDep,
    personal: PersonalDep,
    employee_no: EmployeeNo,
    as_of: AsOf = None,
) -> MasteryOut:
    """Per knowledge point (weakest first): the estimated probability of answering a next
    item of average difficulty right, the answers so far and when it was last practised;
    and the check-in flag with its reasons."""
    member_key = _own_member_key(caller.role, caller.subject, employee_no, study, personal)
    return learning_answers.member_mastery(
        study, employee_no.strip(), member_key, learning_answers.utc_naive(as_of)
    )


@router.get(
    "/branches/mine/mastery",
    response_model=BranchMasteryOut,
    responses={
        **_MODEL_UNAVAILABLE,
        **documented(404, _404="the caller has no branch on record"),
    },
)
def my_branch_mastery(
    caller: PartyOfficerDep,
    study: StudyDep,
    personal: PersonalDep,
    store: StoreDep,
    as_of: AsOf = None,
) -> BranchMasteryOut:
    """Aggregates of the officer's own branch (the branch of the officer's own member
    record; no other branch can be asked for): member counts, mean mastery per knowledge
    point domain and the share flagged "check-in without absorption". No individual's
    figures; a branch of fewer than five members is suppressed (``suppressed`` true, no
    figures), so no figure can be traced back to one person."""
    own_key = personal.member_key(caller.subject)
    with store.use() as opened:
        branch_key = queries.branch_of_member(opened, own_key)
        keys = [] if branch_key is None else queries.members_of_branch(opened, branch_key)
    if branch_key is None:
        raise ApiError(404, "not_found", "no party branch on record for the caller")
    return learning_answers.branch_mastery(study, keys, learning_answers.utc_naive(as_of))


@router.post(
    "/xapi/statements",
    response_model=list[str],
    responses={
        400: {
            "model": XapiRejectionOut,
            "description": "missing or unsupported version header, or invalid statements "
            "(the valid ones of the batch are stored and listed)",
        },
        **documented(409, 415, _409="a statement id is stored with other content"),
    },
)
def post_statements(
    request: Request,
    caller: XapiPosterDep,
    _json: JsonBodyDep,
    state: LearningStateDep,
    personal: PersonalDep,
    store: StoreDep,
    body: Annotated[Any, Body(description="one xAPI 1.0.3 statement, or a list of them")],
    xapi_version: Annotated[
        str | None, Header(alias=XAPI_VERSION_HEADER, description="1.0.x")
    ] = None,
) -> Any:
    """Statements from a learning platform, as xAPI 1.0.3 describes (``POST /statements``):
    one statement or a list; the answer is the list of statement ids in the posted order
    (an id is generated where a statement has none: a UUID5 of its content, so re-posting the
    same statement stores it once). The ``X-Experience-API-Version`` header (1.0.x) is
    required. Each statement is validated by the file reader's rules
    (``ingest.readers.xapi.parse_statement``).

    Invalid statements. xAPI rejects the whole batch on one bad statement; the issue asks
    that nothing else in the batch be lost. Resolved so: the valid statements are stored,
    each invalid one is quarantined (encrypted, with its reason, as the file reader does),
    and the answer is a 400 whose body lists the rejected indexes with their reasons and the
    ids that were stored. A platform that retries the whole batch loses nothing and
    duplicates nothing (stored ids are kept once; the quarantine is keyed by the batch).

    A member may post only statements whose actor is themself (403, nothing stored); an admin
    (the platform's integration account) may post anyone's. A statement id already stored
    with other content is a 409 (xAPI: statements are immutable) and nothing is stored; the
    same id with the same content is accepted again and stored once. The member's next
    mastery profile and suggestions reflect what was stored. Statements are accepted even when
    no champion is loaded (they are stored; the models read them once loaded)."""
    if xapi_version is None:
        return _xapi_error(request, 400, "missing_version", f"{XAPI_VERSION_HEADER} is required")
    if not (xapi_version == "1.0" or xapi_version.startswith("1.0.")):
        return _xapi_error(
            request, 400, "unsupported_version", f"xAPI {xapi_version[:20]!r} is not supported"
        )
    statements = body if isinstance(body, list) else [body]
    if not statements:
        return _xapi_error(request, 400, "empty_batch", "no statement posted")
    if len(statements) > MAX_STATEMENTS:
        return _xapi_error(
            request, 400, "batch_too_large", f"at most {MAX_STATEMENTS} statements per request"
        )
    only_member = personal.member_key(caller.subject) if caller.role == "member" else None
    try:
        rows, rejected = learning_statements.parse_batch(
            statements, personal, only_member=only_member
        )
    except learning_statements.ActorNotAllowedError as error:
        raise ApiError(403, "forbidden", str(error)) from None
    with store.use() as opened:
        posted = learning_statements.store_batch(opened, personal, statements, rows, rejected)
    if posted.conflicts:
        where = ", ".join(str(c.index) for c in posted.conflicts)
        raise ApiError(
            409, "conflict", f"statement(s) {where}: the id is stored with other content"
        )
    if state.study is not None:
        state.study.data.add_statements(posted.new_rows)
    headers = {XAPI_VERSION_HEADER: XAPI_VERSION}
    if rejected:
        details = [
            ErrorDetail(loc=["body", item.index], msg=item.reason, type="invalid_statement")
            for item in rejected
        ]
        out = XapiRejectionOut(
            error=ErrorBody(
                code="invalid_statements",
                message=f"{len(rejected)} of {len(statements)} statements refused "
                "(quarantined); the others are stored",
                details=details,
                request_id=request_id_of(request.scope),
            ),
            rejected=rejected,
            stored_statement_ids=posted.stored_ids,
        )
        return SafeJSONResponse(out.model_dump(mode="json"), status_code=400, headers=headers)
    return SafeJSONResponse(posted.stored_ids, headers=headers)


def _xapi_error(request: Request, status: int, code: str, message: str) -> SafeJSONResponse:
    body = XapiRejectionOut(
        error=ErrorBody(
            code=code, message=message, details=[], request_id=request_id_of(request.scope)
        ),
        rejected=[],
        stored_statement_ids=[],
    )
    return SafeJSONResponse(
        body.model_dump(mode="json"),
        status_code=status,
        headers={XAPI_VERSION_HEADER: XAPI_VERSION},
    )
