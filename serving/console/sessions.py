"""Console sessions: server-side, in memory, behind an opaque cookie.

The cookie holds 256 random bits; the server keeps only their SHA-256, with the subject, the
role, the CSRF token of the session's forms, when it began and when it was last used. A
session ends at sign-out, after ``idle_minutes`` without a request, ``absolute_hours`` after
sign-in, or when the subject's tokens are revoked (``serving.platform.revocations``). The
service runs one process (DuckDB), so one dictionary is every session; a restart signs
everyone out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from serving.console.settings import ConsoleSettings

SESSION_COOKIE = "lodestar_session"
SIGNIN_CSRF_COOKIE = "lodestar_signin_csrf"
LANGUAGE_COOKIE = "lodestar_lang"


@dataclass(frozen=True)
class Session:
    subject: str
    role: str
    csrf_token: str
    started_at: datetime
    last_seen_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_token(offered: str | None, expected: str) -> bool:
    """Constant-time comparison of a CSRF token from a form with the expected one."""
    return offered is not None and hmac.compare_digest(offered.encode(), expected.encode())


class Sessions:
    """The open sessions, keyed by the digest of their cookie."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.idle = timedelta(minutes=settings.idle_minutes)
        self.absolute = timedelta(hours=settings.absolute_hours)
        self._open: dict[str, Session] = {}
        self._lock = threading.Lock()

    def start(self, subject: str, role: str, now: datetime) -> tuple[str, Session]:
        """A new session: (the cookie's value, the session)."""
        token = secrets.token_urlsafe(32)
        session = Session(subject, role, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._drop_expired(now)
            self._open[_digest(token)] = session
        return token, session

    def find(self, token: str | None, now: datetime) -> Session | None:
        """The live session of a cookie (its last use moved to ``now``), else None; an
        expired one is forgotten."""
        if not token:
            return None
        key = _digest(token)
        with self._lock:
            session = self._open.get(key)
            if session is None:
                return None
            if self._expired(session, now):
                del self._open[key]
                return None
            session = replace(session, last_seen_at=now)
            self._open[key] = session
            return session

    def end(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._open.pop(_digest(token), None)

    def end_subject(self, subject: str) -> int:
        """End every session of ``subject`` (a role change, a revocation, a new password);
        how many ended."""
        with self._lock:
            keys = [k for k, s in self._open.items() if s.subject == subject]
            for key in keys:
                del self._open[key]
        return len(keys)

    def _expired(self, session: Session, now: datetime) -> bool:
        return now - session.last_seen_at > self.idle or now - session.started_at > self.absolute

    def _drop_expired(self, now: datetime) -> None:
        for key in [k for k, s in self._open.items() if self._expired(s, now)]:
            del self._open[key]
