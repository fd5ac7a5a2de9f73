"""What the service holds while it runs: keys, the store behind its lock
(``serving.platform.shared_store``), token revocations and the audit log's writer (which
replays the audit journal when it opens)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb

from core.security import PersonalData
from core.settings import Keyring, MissingSecretError
from serving.platform.audit_journal import AuditJournal, AuditJournalError, journal_dir_for
from serving.platform.audit_writer import AuditWriter, open_audit_writer
from serving.platform.revocations import Revocations
from serving.platform.shared_store import SharedStore
from serving.settings import ServiceSettings
from store.database import Store, StoreError

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Resources built by the lifespan. Any of them may be missing when startup failed:
    ``not_ready_reason`` then says which, in words safe to show an unauthenticated caller
    (the full error goes to the log)."""

    keyring: Keyring | None = None
    personal: PersonalData | None = None
    store: SharedStore | None = None
    audit: AuditWriter | None = None
    revocations: Revocations | None = None
    not_ready_reason: str | None = None

    def close(self) -> None:
        if self.audit is not None:
            self.audit.close()
            self.audit = None
        if self.store is not None:
            self.store.close()
            self.store = None


def open_runtime(settings: ServiceSettings) -> Runtime:
    """Resolve the keyring, open the store; never raises for a missing key or a locked store,
    so that liveness still answers and readiness can say what is wrong."""
    runtime = Runtime()
    try:
        runtime.keyring = settings.keyring()
    except (MissingSecretError, ValueError, OSError) as error:
        logger.error("keys unavailable: %s", error)
        runtime.not_ready_reason = "keys unavailable: a secret is missing or unreadable"
        return runtime
    runtime.personal = PersonalData(runtime.keyring)
    try:
        runtime.store = SharedStore(Store.open(settings, runtime.keyring))
    except (StoreError, duckdb.Error, OSError) as error:
        logger.error("store unavailable: %s", error)
        runtime.not_ready_reason = "store unavailable: cannot open the database file"
        return runtime
    try:
        with runtime.store.use() as store:
            runtime.revocations = Revocations.load(store, runtime.personal.pseudonymiser)
    except duckdb.Error as error:
        logger.error("token revocations unreadable: %s", error)
        runtime.not_ready_reason = "token revocations unavailable: credentials cannot be checked"
        return runtime
    journal_dir = journal_dir_for(settings.resolved_store_path)
    try:
        journal = AuditJournal(journal_dir, runtime.personal.cipher)
        runtime.audit = open_audit_writer(
            runtime.store, journal, move_every_s=settings.audit_move_seconds
        )
    except (AuditJournalError, duckdb.Error, OSError) as error:
        logger.error("audit log unavailable: %s (journal %s)", error, journal_dir)
        runtime.not_ready_reason = "audit log unavailable: its journal cannot be replayed"
    return runtime
