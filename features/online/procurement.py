"""The procurement source of the online layer: the ``ProcurementHistory`` kept current by
pushed releases and supplier register rows.

What a push holds. Tables: the procurement tables of ``ingest.readers.ocds.TABLE_COLUMNS``
and ``suppliers`` (the register). Each contracting process comes whole: its ``processes``
row and all its rows in the other procurement tables as they now stand in the store (an
updated release replaces the process's older self with everything it says; it never adds
to it). ``load_process_frames(store, ocids)`` reads exactly that after an insert; the
service pushes the insert's own returned rows instead (``serving.live.ingest.live_frames``),
which are the same for a process the chunk inserted whole. Rows of a process whose
``processes`` row is not in the push are not applied (``ignored_rows``). Register rows add
or replace a supplier's fingerprints. ``feedback_reports`` rows (members' reports linked to a
process or supplier, ``store.queries.feedback.linked_reports``' columns) are added to the
history's reports, so that processes scored afterwards count them (as of their own moment).

Point in time. Pushed processes are indexed by their own dates (facts and award dates), not
by when they arrive, so a late report lands where a full build puts it and features of a
process as of a date use only what was dated before it. After any sequence of pushes every
feature equals that of a full build on the same processes (``ProcurementHistory.updated``).
The register is static (no history of phones or accounts), as in a full build.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import pandas as pd

from core.security import PersonalData
from core.settings import Settings
from features.online.source import Published, PushOutcome
from features.procurement.history import (
    PROCUREMENT_TABLES,
    REPORTS_TABLE,
    ProcessRecord,
    ProcurementHistory,
    records_and_ignored_rows,
)
from store.database import Store

PROCUREMENT_SOURCE = "procurement"
SUPPLIER_TABLE = "suppliers"


@dataclass(frozen=True)
class ProcurementPushOutcome(PushOutcome):
    """A procurement push's outcome, with the records of the new and changed processes (by
    ocid) and the history that includes them (the view to score them against)."""

    records: Mapping[str, ProcessRecord] = field(default_factory=dict)
    history: ProcurementHistory | None = None
    register_rows: int = 0


class ProcurementSource:
    """The procurement history behind the online layer's read/write interface.

    ``view()`` is the current ``ProcurementHistory`` (immutable; pass it through a whole
    request); ``push(batch)`` applies new or changed processes and register rows and returns
    the ocids of the processes that are new or changed."""

    name = PROCUREMENT_SOURCE
    tables = frozenset((*PROCUREMENT_TABLES, SUPPLIER_TABLE, REPORTS_TABLE))

    def __init__(self, history: ProcurementHistory) -> None:
        self._published = Published(history)

    @classmethod
    def from_store(
        cls,
        store: Store,
        *,
        settings: Settings | None = None,
        personal: PersonalData | None = None,
        keep_records: bool = False,
    ) -> ProcurementSource:
        return cls(
            ProcurementHistory.from_store(
                store, settings=settings, personal=personal, keep_records=keep_records
            )
        )

    @property
    def version(self) -> int:
        return self._published.version

    def view(self) -> ProcurementHistory:
        return self._published.current

    def push(self, batch: Mapping[str, pd.DataFrame]) -> ProcurementPushOutcome:
        started = time.perf_counter()
        rows_in = sum(len(frame) for table, frame in batch.items() if table in self.tables)
        records, ignored = records_and_ignored_rows(batch)
        register = batch.get(SUPPLIER_TABLE)
        reports = batch.get(REPORTS_TABLE)
        with self._published.lock:
            update = self._published.current.updated(records, register)
            if reports is not None and not reports.empty:
                update = replace(update, history=update.history.with_reports(reports))
            if update.history is not self._published.current:
                self._published.publish(update.history)
            version = self._published.version
        touched = {*update.new, *update.changed}
        return ProcurementPushOutcome(
            source=self.name,
            new=update.new,
            changed=update.changed,
            unchanged=update.unchanged,
            rows_in=rows_in,
            ignored_rows=ignored,
            version=version,
            pushed_at=started,
            seconds=time.perf_counter() - started,
            records={record.ocid: record for record in records if record.ocid in touched},
            history=update.history,
            register_rows=update.register_rows,
        )
