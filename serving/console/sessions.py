"""Console sessions that live in the cookie and the store, never in one process's memory.

The session cookie is sealed with AES-256-GCM (so it is both secret and tamper-evident): it
carries the subject, the role, a random session id (128 bits), the subject's session epoch
at sign-in, when the session began and when it was last used. The key is derived (HKDF) from
the keyring's token-signing key, so every process of the service opens every cookie, and a
new token-signing key ends every session. A session ends

* after ``idle_minutes`` without a request (each answered request seals a fresh cookie with
  ``last_seen_at`` moved on) or ``absolute_hours`` after sign-in (never moved);
* when the cookie's epoch is below the subject's epoch in ``console_session_epochs``, which
  is bumped on "sign out everywhere", a new password, a role change and a revocation;
* when the subject's tokens are revoked after the session began (``token_revocations``);
* at sign-out, which records the session id's digest in ``console_signouts``.

The last three are read from the store on every request (``store.queries.console
.session_standing``), so whichever process answers sees the same state. The CSRF token of a
session's forms is an HMAC of its id with a second derived key: it is the same on every page
of the session and useless with any other session.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from serving.console.settings import ConsoleSettings

SESSION_COOKIE = "lodestar_session"
SIGNIN_CSRF_COOKIE = "lodestar_signin_csrf"
LANGUAGE_COOKIE = "lodestar_lang"
# the request state's key for the session cookie sealed afresh for this request; the headers
# middleware adds it to the answer unless the route set the session cookie itself
REFRESHED_COOKIE_STATE = "console_session_cookie"

_VERSION = "v1."
_NONCE_BYTES = 12
_MAX_COOKIE_CHARS = 2048
_ASSOCIATED_DATA = SESSION_COOKIE.encode()
_KDF_INFO = b"lodestar console session v1"


@dataclass(frozen=True)
class Session:
    """One signed-in person. Times are naive UTC; ``epoch`` is the subject's session epoch
    when they signed in."""

    subject: str
    role: str
    session_id: str
    epoch: int
    started_at: datetime
    last_seen_at: datetime
    csrf_token: str

    @property
    def digest(self) -> str:
        """SHA-256 of the session id: how the store names the session at sign-out."""
        return hashlib.sha256(self.session_id.encode()).hexdigest()


def same_token(offered: str | None, expected: str) -> bool:
    """Constant-time comparison of a CSRF token from a form with the expected one."""
    return offered is not None and hmac.compare_digest(offered.encode(), expected.encode())


def _seconds(moment: datetime) -> float:
    return moment.replace(tzinfo=UTC).timestamp()


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


class SessionSeal:
    """Seals sessions into cookie values and opens them again; no state besides the keys."""

    def __init__(self, settings: ConsoleSettings, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 bytes")
        keys = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=_KDF_INFO).derive(secret)
        self._aead = AESGCM(keys[:32])
        self._csrf_key = keys[32:]
        self.idle = timedelta(minutes=settings.idle_minutes)
        self.absolute = timedelta(hours=settings.absolute_hours)

    def csrf_token(self, session_id: str) -> str:
        digest = hmac.new(self._csrf_key, session_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def start(self, subject: str, role: str, epoch: int, now: datetime) -> Session:
        session_id = secrets.token_urlsafe(16)
        return Session(subject, role, session_id, epoch, now, now, self.csrf_token(session_id))

    def seal(self, session: Session) -> str:
        """The cookie value of ``session``: ``v1.`` and base64url(nonce | ciphertext+tag)."""
        payload = {
            "u": session.subject,
            "r": session.role,
            "i": session.session_id,
            "e": session.epoch,
            "s": _seconds(session.started_at),
            "l": _seconds(session.last_seen_at),
        }
        nonce = os.urandom(_NONCE_BYTES)
        plain = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        sealed = nonce + self._aead.encrypt(nonce, plain, _ASSOCIATED_DATA)
        return _VERSION + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def open(self, cookie: str | None, now: datetime) -> Session | None:
        """The session of a cookie with its last use moved to ``now``; None when the cookie
        is missing, forged, from another key, or past either timeout. The store's word
        (epoch, revocation, sign-out) is checked by the caller."""
        session = self._unseal(cookie)
        if session is None:
            return None
        if now - session.last_seen_at > self.idle or now - session.started_at > self.absolute:
            return None
        return replace(session, last_seen_at=max(now, session.last_seen_at))

    def _unseal(self, cookie: str | None) -> Session | None:
        if not cookie or len(cookie) > _MAX_COOKIE_CHARS or not cookie.startswith(_VERSION):
            return None
        body = cookie.removeprefix(_VERSION)
        try:
            sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            plain = self._aead.decrypt(
                sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], _ASSOCIATED_DATA
            )
            payload = json.loads(plain)
            session_id = str(payload["i"])
            return Session(
                subject=str(payload["u"]),
                role=str(payload["r"]),
                session_id=session_id,
                epoch=int(payload["e"]),
                started_at=_moment(float(payload["s"])),
                last_seen_at=_moment(float(payload["l"])),
                csrf_token=self.csrf_token(session_id),
            )
        except (
            InvalidTag,
            ValueError,
            binascii.Error,
            KeyError,
            TypeError,
            OverflowError,
            OSError,
        ):
            return None
