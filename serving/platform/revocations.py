"""Token revocation by subject: a lost phone, a leaver, a changed role, a leaked token.

Tokens are stateless JWTs, valid until they expire (up to a week). To void them early an
administrator revokes the *subject* (``POST /v1/admin/revocations``): every token of that
subject issued at or before that moment is refused from then on with a 401; tokens issued
afterwards work (re-issue one for a new phone). Subjects are kept as the same keyed pseudonym
the audit log uses (``subject`` namespace), so the table holds no identifier in plaintext and
its rows match the log's ``subject_key``.

The service is the only writer: the latest revocation of each subject is read from
``token_revocations`` at startup and kept in memory, so the check costs one HMAC and one dict
lookup per request. A revocation is committed to the store before it takes effect and before
the route answers.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Literal

from core.security import Pseudonymiser
from store.database import Store
from store.queries import revocations as revocation_queries

SUBJECT_NAMESPACE = "subject"  # the audit log's: a revocation's key is the log's subject_key
RevocationReason = Literal["lost_device", "left", "role_changed", "compromised"]


@dataclass(frozen=True)
class Revocation:
    subject_key: str
    revoked_at: datetime  # UTC, naive
    revoked_by_key: str
    reason: str


class Revocations:
    """The latest revocation moment of each revoked subject key."""

    def __init__(self, pseudonymiser: Pseudonymiser, latest: dict[str, datetime]) -> None:
        self._pseudonymiser = pseudonymiser
        self._latest = latest
        self._lock = threading.Lock()

    @classmethod
    def load(cls, store: Store, pseudonymiser: Pseudonymiser) -> Revocations:
        return cls(pseudonymiser, revocation_queries.latest_per_subject(store.connection))

    def subject_key(self, subject: str) -> str:
        return self._pseudonymiser.pseudonym(SUBJECT_NAMESPACE, subject)

    def is_revoked(self, subject: str, issued_at: datetime) -> bool:
        """Whether a token of ``subject`` issued at ``issued_at`` (aware UTC) is void."""
        revoked_at = self._latest.get(self.subject_key(subject))
        if revoked_at is None:
            return False
        return issued_at.astimezone(UTC).replace(tzinfo=None) <= revoked_at

    def revoke(self, store: Store, subject: str, by: str, reason: RevocationReason) -> Revocation:
        """Void ``subject``'s tokens issued until now: stored, then in force. The caller holds
        the store lock."""
        revocation = Revocation(
            subject_key=self.subject_key(subject),
            revoked_at=datetime.now(UTC).replace(tzinfo=None),
            revoked_by_key=self.subject_key(by),
            reason=reason,
        )
        revocation_queries.insert_revocation(store.connection, **asdict(revocation))
        with self._lock:
            self._latest[revocation.subject_key] = revocation.revoked_at
        return revocation


def list_revocations(store: Store, *, limit: int, offset: int) -> tuple[list[Revocation], int]:
    """A page of revocations, newest first, and how many there are."""
    rows, total = revocation_queries.revocation_page(store.connection, limit=limit, offset=offset)
    return [Revocation(*row) for row in rows], total
