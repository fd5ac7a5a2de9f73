"""Bearer tokens (JWT, HS256) and role checks.

Tokens are signed with ``keyring.token_signing_key``; verification pins the algorithm,
requires ``exp``, ``iat``, ``iss``, ``sub`` and ``jti``, checks the issuer and that the role
is one of ``ROLES``. ``sub`` is the caller's id: the employee number for a member, the user
name for staff. A missing, malformed, forged, expired or revoked
(``serving/platform/revocations.py``) token is a 401 with ``WWW-Authenticate: Bearer``; a
valid token with the wrong role is a 403.

Where. ``AuthenticationMiddleware`` checks the credential (token and revocation) of every
``/v1`` request before anything reads its body or routes it, so a caller without a valid
token gets 401 whatever the body holds (malformed, huge). ``identify`` does the check once
per request and keeps the outcome in the request state; it also tells the audit log who the
caller is (``''`` when nobody). Roles are checked later, per route, by the ``require_roles``
dependencies (403).

Roles keep the three duties of 等保 2.0 (MLPS) apart: ``admin`` (系统管理员) runs the
service and may read member records; ``security_auditor`` (审计管理员) reads the service's own
audit log and nothing else; the admin cannot read the log, and no role can change it. The
business roles: ``member`` (their own study), ``auditor`` (procurement audit: reads and reviews
warnings), ``procurement_manager``, ``esg_analyst``, ``party_officer`` (branch aggregates).
The platform's machine client is ``integration``, no person's role: it may push files
(``POST /v1/ingest/{kind}``) and read the ingest runs, nothing else.

Whoever holds the key file can mint tokens (``lodestar-serve token``); it is the root of trust
and is kept readable by its owner only (``core.settings.init_key_file``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, get_args

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from core.settings import Keyring
from serving.platform.audit import mark_for_audit
from serving.platform.context import is_api_path
from serving.platform.errors import ApiError, error_response
from serving.runtime import Runtime

Role = Literal[
    "member",
    "auditor",
    "procurement_manager",
    "esg_analyst",
    "party_officer",
    "admin",
    "security_auditor",
    "integration",
]
ROLES: tuple[str, ...] = get_args(Role)
ISSUER = "lodestar"
ALGORITHM = "HS256"
_MAX_SUBJECT_CHARS = 128
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "sub", "jti"]
IDENTITY_STATE_KEY = "identity"

bearer_scheme = HTTPBearer(auto_error=False, description="JWT from `lodestar-serve token`")


class InvalidTokenError(ValueError):
    """The token is not one this service issued, or it has expired."""


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    subject: str
    role: Role
    token_id: str
    expires_at: datetime
    issued_at: datetime


def issue_token(
    keyring: Keyring,
    subject: str,
    role: str,
    ttl: timedelta,
    *,
    now: datetime | None = None,
) -> str:
    """A signed token for ``subject`` in ``role``, valid for ``ttl`` from ``now``."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if not subject or len(subject) > _MAX_SUBJECT_CHARS or subject != subject.strip():
        raise ValueError("subject must be 1-128 characters without surrounding spaces")
    if ttl <= timedelta(0):
        raise ValueError("ttl must be positive")
    issued = now or datetime.now(UTC)
    claims = {
        "sub": subject,
        "role": role,
        "iss": ISSUER,
        "iat": issued,
        "exp": issued + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, keyring.token_signing_key, algorithm=ALGORITHM)


def verify_token(keyring: Keyring, token: str) -> Principal:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            keyring.token_signing_key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": _REQUIRED_CLAIMS, "verify_signature": True},
        )
    except jwt.ExpiredSignatureError as error:
        raise InvalidTokenError("the token has expired") from error
    except jwt.PyJWTError as error:
        raise InvalidTokenError("the token is not valid") from error
    subject, role, token_id = claims.get("sub"), claims.get("role"), claims.get("jti")
    if not isinstance(subject, str) or not 0 < len(subject) <= _MAX_SUBJECT_CHARS:
        raise InvalidTokenError("the token is not valid")
    if role not in ROLES or not isinstance(token_id, str):
        raise InvalidTokenError("the token is not valid")
    return Principal(
        subject=subject,
        role=role,
        token_id=token_id,
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        issued_at=datetime.fromtimestamp(int(claims["iat"]), UTC),
    )


def _unauthorized(message: str, *, invalid_token: bool) -> ApiError:
    challenge = 'Bearer realm="lodestar"'
    if invalid_token:
        challenge += ', error="invalid_token"'
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})


def _bearer_token(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    scheme, _, token = (Headers(scope=scope).get("authorization") or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _check_credential(
    runtime: Runtime, token: str | None
) -> tuple[Principal | None, Principal | ApiError]:
    """(the holder of a genuine token, the caller or the error refusing the request): the
    holder is known even when the token is refused as revoked, so the audit log names them."""
    if runtime.keyring is None:
        return None, ApiError(503, "service_unavailable", "credentials cannot be checked now")
    if token is None:
        return None, _unauthorized("a bearer token is required", invalid_token=False)
    try:
        principal = verify_token(runtime.keyring, token)
    except InvalidTokenError as error:
        return None, _unauthorized(str(error), invalid_token=True)
    if runtime.revocations is None:  # fail closed: a revoked token must not pass unseen
        return principal, ApiError(503, "service_unavailable", "credentials cannot be checked now")
    if runtime.revocations.is_revoked(principal.subject, principal.issued_at):
        return principal, _unauthorized("the token was revoked", invalid_token=True)
    return principal, principal


def identify(scope: Scope) -> Principal | ApiError:
    """The caller of this request, or the error that refuses it (401, or 503 while keys or
    revocations are unavailable). Checked once per request (kept in the request state) and
    given to the audit log: the holder of a genuine token, even a revoked one (the log then
    names whose token was tried), else nobody (``''``)."""
    state = scope.setdefault("state", {})
    known = state.get(IDENTITY_STATE_KEY)
    if isinstance(known, Principal | ApiError):
        return known
    runtime: Runtime = scope["app"].state.runtime
    holder, found = _check_credential(runtime, _bearer_token(scope))
    if holder is None:
        mark_for_audit(state)
    else:
        mark_for_audit(state, holder.subject, holder.role)
    state[IDENTITY_STATE_KEY] = found
    return found


class AuthenticationMiddleware:
    """Refuses a ``/v1`` request without a valid credential (401, or 503 while credentials
    cannot be checked) before the body is read or the request routed. Other paths (health,
    metrics, the API docs) are public and pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_api_path(scope):
            found = identify(scope)
            if isinstance(found, ApiError):
                response = error_response(
                    scope, found.status_code, found.code, str(found.detail), headers=found.headers
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def authenticate(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The caller of this request (``identify``; the middleware has refused a missing or
    bad credential on ``/v1`` already). ``bearer_scheme`` puts the scheme in OpenAPI."""
    found = identify(request.scope)
    if isinstance(found, ApiError):
        raise found
    return found


def require_roles(*roles: Role) -> Callable[..., Any]:
    """A dependency that returns the caller if their role is one of ``roles``, else 403."""
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"require_roles needs known roles, got {roles!r}")
    allowed = frozenset(roles)

    async def caller_with_role(
        principal: Annotated[Principal, Depends(authenticate)],
    ) -> Principal:
        if principal.role not in allowed:
            raise ApiError(403, "forbidden", "your role may not use this resource")
        return principal

    return caller_with_role
