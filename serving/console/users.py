"""People who sign in to the console with a user name and a password.

Stored in ``console_users``: the user name as a keyed pseudonym (``subject`` namespace, the
same pseudonym the audit log gives the subject) and encrypted, the password as an argon2id
hash (argon2-cffi's defaults, RFC 9106's low-memory profile). After ``max_failed_signins``
consecutive failures the account is locked for ``lockout_minutes``; while locked even the
right password is refused, and an unknown name costs the same hash as a known one, so the
answer never tells which names exist. A role change and a new password bump the user's
session epoch (``console_session_epochs``) in the same transaction: their open sessions end in
every process of the service.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.clock import utc_now
from core.security import PersonalData
from serving.console.sessions import Session
from serving.console.settings import ConsoleSettings
from serving.platform.audit import SUBJECT_NAMESPACE
from serving.platform.auth import ROLES
from store.database import Store
from store.queries import console as queries

_HASHER = PasswordHasher()
MIN_PASSWORD_CHARS = 12

SignInOutcome = Literal["ok", "refused", "locked"]


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in: the user's role when ``ok``."""

    outcome: SignInOutcome
    role: str | None = None


@functools.cache
def _unknown_user_hash() -> str:
    """Verified against when the user name is unknown, so that both answers cost a hash."""
    return _HASHER.hash(secrets.token_hex(16))


def user_key(personal: PersonalData, user_name: str) -> str:
    return personal.pseudonymiser.pseudonym(SUBJECT_NAMESPACE, user_name.strip())


def new_password() -> str:
    """A random password of 16 URL-safe characters (96 bits)."""
    return secrets.token_urlsafe(12)


def put_user(
    store: Store, personal: PersonalData, user_name: str, role: str, password: str
) -> None:
    """Create the user or reset their role and password (and unlock them)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    name = user_name.strip()
    if not name:
        raise ValueError("a user name is required")
    queries.put_user(
        store.connection,
        user_key=user_key(personal, name),
        user_name_enc=personal.cipher.encrypt(name, column="user_name_enc") or b"",
        role=role,
        password_hash=_HASHER.hash(password),
        now=utc_now(),
    )


def _verifies(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def sign_in(
    store: Store,
    personal: PersonalData,
    settings: ConsoleSettings,
    user_name: str,
    password: str,
    *,
    now: datetime | None = None,
) -> SignIn:
    """Check a user name and password, counting failures and locking the account."""
    moment = now or utc_now()
    key = user_key(personal, user_name)
    with store.transaction():
        row = queries.user_row(store.connection, key)
        if row is None:
            _verifies(_unknown_user_hash(), password)
            return SignIn("refused")
        role, password_hash, failed, locked_until = row
        if locked_until is not None and moment < locked_until:
            return SignIn("locked")
        if not _verifies(password_hash, password):
            failed = int(failed or 0) + 1
            lock = failed >= settings.max_failed_signins
            queries.record_failed_signin(
                store.connection,
                key,
                failed_signins=0 if lock else failed,
                locked_until=moment + timedelta(minutes=settings.lockout_minutes) if lock else None,
            )
            return SignIn("locked" if lock else "refused")
        new_hash = _HASHER.hash(password) if _HASHER.check_needs_rehash(password_hash) else None
        queries.record_signin(store.connection, key, new_hash=new_hash)
    return SignIn("ok", role=str(role))


def set_role(store: Store, personal: PersonalData, user_name: str, role: str) -> bool:
    """Give an existing user another role and end their sessions (they carry the old role);
    False when there is no such user."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    key = user_key(personal, user_name)
    with store.transaction():
        changed = queries.set_user_role(store.connection, key, role)
        if changed:
            queries.bump_session_epoch(store.connection, key, reason="role", now=utc_now())
    return changed


SessionEndReason = Literal["signout_everywhere", "password", "role", "revoked"]


def session_epoch(store: Store, personal: PersonalData, user_name: str) -> int:
    """The epoch a new session of ``user_name`` carries."""
    return queries.session_epoch(store.connection, user_key(personal, user_name))


def end_sessions(
    store: Store, personal: PersonalData, user_name: str, reason: SessionEndReason
) -> int:
    """End every console session of ``user_name`` in every process; the new epoch."""
    return queries.bump_session_epoch(
        store.connection, user_key(personal, user_name), reason=reason, now=utc_now()
    )


def session_ended(store: Store, personal: PersonalData, session: Session) -> bool:
    """Whether the store ended ``session``: its epoch was passed, its subject's tokens were
    revoked after it began, or it signed out."""
    epoch, revoked_at, signed_out = queries.session_standing(
        store.connection, user_key(personal, session.subject), session.digest
    )
    revoked = revoked_at is not None and session.started_at <= revoked_at
    return signed_out or session.epoch < epoch or revoked


def record_signout(store: Store, session: Session, settings: ConsoleSettings) -> None:
    """End one session (signing out); sign-outs older than the absolute timeout are dropped."""
    now = utc_now()
    queries.record_signout(
        store.connection,
        session.digest,
        now=now,
        forget_before=now - timedelta(hours=settings.absolute_hours) - timedelta(days=1),
    )


def change_password(
    store: Store,
    personal: PersonalData,
    settings: ConsoleSettings,
    user_name: str,
    current: str,
    new: str,
) -> SignInOutcome | Literal["too_short"]:
    """Replace the password after checking the current one as a sign-in would (a wrong one
    counts towards the lockout): ``ok``, ``refused``, ``locked`` or ``too_short``."""
    if len(new) < MIN_PASSWORD_CHARS:
        return "too_short"
    checked = sign_in(store, personal, settings, user_name, current)
    if checked.outcome != "ok":
        return checked.outcome
    key = user_key(personal, user_name)
    with store.transaction():
        queries.set_password_hash(store.connection, key, _HASHER.hash(new), utc_now())
        queries.bump_session_epoch(store.connection, key, reason="password", now=utc_now())
    return "ok"
