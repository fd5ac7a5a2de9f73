"""The audit middleware: one entry per request, refused ones included.

Who: the caller's subject is stored as a keyed pseudonym (``subject`` namespace), or ``''``
when the request carried no valid credential. What: method, and the path with personal path
parameters (employee numbers) replaced by their pseudonyms, so the log names the record read
without holding the identifier in plaintext.

Every request is written, refused ones included (``AuditMiddleware``); authentication names
the caller (``mark_for_audit``). The middleware writes the entry when the response starts,
with the final status code. If an ``/v1`` entry cannot be written, a successful response is
replaced by a 503: no data leaves unaudited. The chain is in ``audit_chain``, the writer in
``audit_writer``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.security import PersonalData
from serving.platform.audit_chain import MAX_RESOURCE_CHARS
from serving.platform.audit_writer import AuditUnavailableError
from serving.platform.context import serves_data
from serving.platform.errors import error_response, request_id_of
from serving.platform.metrics import UNMATCHED_ROUTE, ServiceMetrics, route_template
from serving.runtime import Runtime

logger = logging.getLogger(__name__)

AUDIT_STATE_KEY = "audit_subject"
SUBJECT_NAMESPACE = "subject"
# Path parameters that identify a person, and the pseudonym namespace each maps to.
PERSONAL_PATH_PARAMS = {"employee_no": "member"}


@dataclass(frozen=True)
class AuditSubject:
    """Who made an audited request, as far as it is known (``''`` before authentication)."""

    subject: str
    role: str


def mark_for_audit(state: MutableMapping[str, Any], subject: str = "", role: str = "") -> None:
    """Name the caller of this request in its audit entry (``''`` when nobody)."""
    state[AUDIT_STATE_KEY] = AuditSubject(subject, role)


_PATH_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
UNKNOWN_SEGMENT = "{?}"


def _template_regex(template: str) -> re.Pattern[str]:
    """``/v1/members/{employee_no}`` -> a pattern whose groups are the path parameters."""
    parts: list[str] = []
    last = 0
    for match in _PATH_PARAM.finditer(template):
        parts += [re.escape(template[last : match.start()]), f"(?P<{match.group(1)}>[^/]+)"]
        last = match.end()
    parts.append(re.escape(template[last:]))
    return re.compile("".join(parts))


@dataclass(frozen=True)
class _PathTemplates:
    """The app's path templates, to name the route of a request refused before routing (by
    authentication, the rate limit or the body limit). Read from the OpenAPI document (every
    ``/v1`` route is in it) and the app's top-level routes (the docs pages)."""

    patterns: tuple[tuple[re.Pattern[str], str], ...]
    known_segments: frozenset[str]

    @classmethod
    def of(cls, app: Any) -> _PathTemplates:
        cached = getattr(app.state, "audit_path_templates", None)
        if isinstance(cached, _PathTemplates):
            return cached
        templates = [str(path) for path in app.openapi().get("paths", {})]
        top_level = [str(getattr(route, "path", "")) for route in app.router.routes]
        patterns = tuple((_template_regex(template), template) for template in templates)
        known = frozenset(
            segment
            for template in [*templates, *top_level]
            for segment in template.split("/")
            if segment and not _PATH_PARAM.search(segment)
        )
        found = cls(patterns, known)
        app.state.audit_path_templates = found
        return found


def _template_and_params(scope: Scope) -> tuple[str, dict[str, Any]]:
    """The matched route's template and path parameters; for a request refused before
    routing, the first template its path fits; ``UNMATCHED_ROUTE`` when none."""
    template = route_template(scope)
    if template != UNMATCHED_ROUTE:
        return template, dict(scope.get("path_params") or {})
    path = str(scope.get("path", ""))
    for pattern, candidate in _PathTemplates.of(scope["app"]).patterns:
        if found := pattern.fullmatch(path):
            return candidate, found.groupdict()
    return UNMATCHED_ROUTE, {}


def audited_resource(scope: Scope, personal: PersonalData | None) -> str:
    """The request path, with personal path parameters replaced by ``namespace:pseudonym``.
    A path no route matches keeps only the segments some route spells literally, the others
    become ``{?}``: what a caller typed into an unknown path may be an employee number."""
    path = str(scope.get("path", ""))
    template, params = _template_and_params(scope)
    if template == UNMATCHED_ROUTE:
        known = _PathTemplates.of(scope["app"]).known_segments
        return "/".join(
            segment if not segment or segment in known else UNKNOWN_SEGMENT
            for segment in path.split("/")
        )
    if not PERSONAL_PATH_PARAMS.keys() & params.keys():
        return path

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        raw = str(params.get(name, ""))
        namespace = PERSONAL_PATH_PARAMS.get(name)
        if namespace is None:
            return raw
        if personal is None:
            return f"{{{name}}}"
        return f"{namespace}:{personal.pseudonymiser.pseudonym(namespace, raw.strip())}"

    return _PATH_PARAM.sub(value, template)


def _write(runtime: Runtime, scope: Scope, who: AuditSubject, status_code: int) -> None:
    personal = runtime.personal
    subject_key = (
        personal.pseudonymiser.pseudonym(SUBJECT_NAMESPACE, who.subject)
        if who.subject and personal is not None
        else ""
    )
    resource = audited_resource(scope, personal)
    if runtime.audit is None:
        raise AuditUnavailableError("the audit writer is not running")
    runtime.audit.write(
        {
            "subject_key": subject_key,
            "role": who.role,
            "action": str(scope.get("method", "")),
            "resource": resource[:MAX_RESOURCE_CHARS],
            "status_code": status_code,
            "request_id": request_id_of(scope),
        }
    )


class AuditMiddleware:
    """Writes one audit entry for every HTTP request, with its final status code: refused
    ones (401, 403, 404, 413, 429, malformed bodies) included. The caller is the one
    ``mark_for_audit`` named, else nobody (``''``).

    On ``/v1`` and ``/console`` an entry that cannot be written turns a successful response
    into a 503 (no data leaves unaudited). The public paths (health, readiness, metrics, the
    API docs) are written the same way, but liveness must not depend on the store: their
    response stands when the entry cannot be written, and while the writer is not running
    they are not written at all."""

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def _record(self, scope: Scope, who: AuditSubject, status_code: int) -> bool:
        runtime: Runtime = scope["app"].state.runtime
        if runtime.audit is None and not serves_data(scope):
            return True
        try:
            await anyio.to_thread.run_sync(_write, runtime, scope, who, status_code)
        except Exception:
            logger.exception("audit entry not written for request %s", request_id_of(scope))
            self.metrics.audit_write_failures.inc()
            return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        recorded = False
        replaced = False

        def caller() -> AuditSubject:
            who = state.get(AUDIT_STATE_KEY)
            return who if isinstance(who, AuditSubject) else AuditSubject("", "")

        async def audited_send(message: Message) -> None:
            nonlocal recorded, replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                recorded = True
                status_code = int(message["status"])
                written = await self._record(scope, caller(), status_code)
                if not written and status_code < 400 and serves_data(scope):
                    replaced = True
                    response = error_response(
                        scope, 503, "audit_unavailable", "the audit log cannot be written"
                    )
                    await response(scope, receive, send)
                    return
            await send(message)

        try:
            await self.app(scope, receive, audited_send)
        except Exception:
            if not recorded:
                await self._record(scope, caller(), 500)
            raise
