"""``ProcurementHistory``: the point-in-time index of the store's procurement history."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.security import PersonalData
from core.settings import Settings
from features.procurement.feedback import ReportIndex
from features.procurement.history.event_index import EventIndex, Fences
from features.procurement.history.events import (
    INDEX_COLUMNS,
    SupplierFingerprints,
    _Events,
    register_fingerprints,
)
from features.procurement.history.loading import (
    _SUPPLIER_QUERY,
    PROCESSES_PER_CHUNK,
    REPORTS_TABLE,
    SUPPLIER_COLUMNS,
    record_chunks,
    records_from_frames,
    records_from_store,
)
from features.procurement.history.records import ProcessRecord
from features.procurement.history.rules import HistoryRules
from ingest.readers.ocds import ReleaseFlattener
from store.database import StoreReader
from store.queries.feedback import read_linked_reports


@dataclass(frozen=True)
class HistoryUpdate:
    """What ``ProcurementHistory.updated`` did: the new history, the ocids of the processes
    it added and of those it replaced (in the order given), how many given processes were
    already there unchanged, and how many register rows added or changed a supplier."""

    history: ProcurementHistory
    new: tuple[str, ...]
    changed: tuple[str, ...]
    unchanged: int
    register_rows: int


class ProcurementHistory:
    """The point-in-time index of the store's procurement history (see the module docstring).

    Build it with ``from_store`` (or ``from_frames``). A history is never changed after it is
    built, so it is safe to share between threads: ``updated`` returns a new history with
    pushed processes added or replaced (copy-on-write: the indices it touches are new arrays,
    the rest is shared), equal in every feature to a full build on the same processes (up to
    the summation order of floating sums over events with equal times). ``records`` keeps
    every process's record, position = ocid code, for batch feature building
    (``keep_records=False`` drops them: serving needs only the indices; the records are
    most of a batch build's memory). ``records`` may also be an iterable of lists of records
    (``loading.record_chunks``): the history is then built chunk by chunk, keeps no records,
    and equals the one built from the concatenated list. ``reports`` indexes the members'
    reports linked to a process or supplier (``features.procurement.feedback``);
    ``with_reports`` adds new ones.
    """

    prices: EventIndex
    spec_prices: EventIndex
    buyer_spend: EventIndex
    pair_awards: EventIndex
    supplier_awards: EventIndex
    orders: EventIndex
    supplier_bids: EventIndex
    deliveries: EventIndex
    bid_screens: EventIndex
    fences: Fences
    reports: ReportIndex
    supplier_codes: dict[str, int]
    tender_winners: list[frozenset[int]]

    def __init__(
        self,
        records: list[ProcessRecord] | Iterable[list[ProcessRecord]],
        suppliers: pd.DataFrame,
        *,
        rules: HistoryRules,
        personal: PersonalData | None = None,
        keep_records: bool = True,
        reports: pd.DataFrame | None = None,
    ) -> None:
        self.rules = rules
        self.reports = ReportIndex() if reports is None else ReportIndex(reports)
        self.personal = personal
        self.cardinal_settings = rules.cardinal_settings()
        self.ocid_codes: dict[str, int] = {}
        self.digests: dict[str, int] = {}
        self.batch_only = False
        self.suppliers: dict[str, SupplierFingerprints] = register_fingerprints(suppliers)
        events = _Events(self.cardinal_settings, {}, [])
        for chunk in [records] if isinstance(records, list) else records:
            self._add_records(chunk, events)
        self._take_events(events, None, np.empty(0, np.int64))
        self.records: list[ProcessRecord] | None = (
            records if keep_records and isinstance(records, list) else None
        )
        self._release_flattener: ReleaseFlattener | None = None

    def _add_records(self, records: list[ProcessRecord], events: _Events) -> None:
        """Code ``records`` (a later record of a coded ocid keeps the first code and replaces
        its digest, as one list does) and gather their events."""
        for record in records:
            self.ocid_codes.setdefault(record.ocid, len(self.ocid_codes))
        self.digests.update(
            (record.ocid, record.digest) for record in records if record.digest is not None
        )
        for record in records:
            events.add(record, self.ocid_codes[record.ocid])

    def _take_events(
        self, events: _Events, base: ProcurementHistory | None, removed: np.ndarray
    ) -> None:
        """Set the indices from ``events``: built afresh, or ``base``'s indices without the
        events of the processes coded in ``removed`` and with ``events`` inserted."""
        for name in INDEX_COLUMNS:
            lists = events.lists[name]
            index = lists.index() if base is None else getattr(base, name).updated(removed, lists)
            setattr(self, name, index)
        times, ratios, owners = events.ratio_arrays()
        self.fences = (
            Fences.build(times, ratios, owners, self.rules.min_fence_observations)
            if base is None
            else base.fences.updated(removed, times, ratios, owners)
        )
        self.supplier_codes = events.supplier_codes
        self.tender_winners = events.tender_winners

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_store(
        cls,
        store: StoreReader,
        *,
        settings: Settings | None = None,
        personal: PersonalData | None = None,
        keep_records: bool = True,
    ) -> ProcurementHistory:
        """Read the store's procurement tables and supplier register once and index them.

        ``personal`` (the installation's keys) is needed only to build features for incoming
        releases: their contact telephones are fingerprinted like the stored ones.
        """
        return cls(
            records_from_store(store),
            store.query(_SUPPLIER_QUERY),
            rules=HistoryRules.from_settings(settings),
            personal=personal,
            keep_records=keep_records,
            reports=read_linked_reports(store),  # as load_procurement_frames reads them
        )

    @classmethod
    def from_frames(
        cls,
        frames: Mapping[str, pd.DataFrame],
        *,
        settings: Settings | None = None,
        rules: HistoryRules | None = None,
        personal: PersonalData | None = None,
        keep_records: bool = True,
    ) -> ProcurementHistory:
        """Index procurement tables given as frames with the store's columns (tests add or
        change rows here). Keys: the procurement table names and ``suppliers``; a missing
        table is empty. Extra columns (lineage) are ignored. ``feedback_reports``, when given,
        holds the linked reports (``store.queries.feedback.linked_reports``' columns)."""
        return cls(
            records_from_frames(frames),
            frames.get("suppliers", pd.DataFrame(columns=list(SUPPLIER_COLUMNS))),
            rules=rules or HistoryRules.from_settings(settings),
            personal=personal,
            keep_records=keep_records,
            reports=frames.get(REPORTS_TABLE),
        )

    @classmethod
    def streamed_from_store(
        cls,
        store: StoreReader,
        *,
        settings: Settings | None = None,
        processes_per_chunk: int = PROCESSES_PER_CHUNK,
        chunks: Iterable[list[ProcessRecord]] | None = None,
    ) -> ProcurementHistory:
        """``from_store(store, keep_records=False)``, reading the processes chunk by chunk
        (``loading.record_chunks``) so that at most one chunk's records are in memory; a batch
        build then reads the records again per chunk (``build.build_store_features``). For
        batch builds only: it keeps no row digests, so ``updated`` refuses it. ``chunks``: the
        records of ``store``'s processes in ocid order, chunk by chunk (default: read them)."""
        history = cls(
            (
                record_chunks(store, processes_per_chunk, digests=False)
                if chunks is None
                else chunks
            ),
            store.query(_SUPPLIER_QUERY),
            rules=HistoryRules.from_settings(settings),
            keep_records=False,
            reports=read_linked_reports(store),
        )
        history.batch_only = True
        return history

    def with_reports(self, reports: pd.DataFrame) -> ProcurementHistory:
        """This history with the linked reports of ``reports`` added (a report already there,
        same ``report_id``, is replaced); ``self`` is left as it was, and returned when the
        reports are all there already."""
        index = self.reports.added(reports)
        if index is self.reports:
            return self
        history = copy.copy(self)
        history.reports = index
        return history

    def updated(
        self, records: Iterable[ProcessRecord], suppliers: pd.DataFrame | None = None
    ) -> HistoryUpdate:
        """This history with ``records`` added, or replacing the stored process of the same
        ocid (its older self and all its events go), and the register rows of ``suppliers``
        added or replacing a supplier's row. Each record is a whole process as it now stands;
        of several records of one ocid the last counts; a record equal to the stored one
        (same row digest) changes nothing. ``self`` is left as it was.

        Cost: a copy of each touched index's arrays (one pass), a binary search per new
        event, and the R024/R058 fences recomputed from the earliest changed award date on
        (a few days for live tenders; the whole span when an old process changes).
        """
        if self.batch_only:
            raise RuntimeError("a history streamed for a batch build cannot be updated")
        latest = {record.ocid: record for record in records}
        pushed = register_fingerprints(suppliers) if suppliers is not None else {}
        register = {s: row for s, row in pushed.items() if self.suppliers.get(s) != row}
        ocid_codes, digests = dict(self.ocid_codes), dict(self.digests)
        new: list[str] = []
        changed: list[str] = []
        fresh: list[tuple[ProcessRecord, int]] = []
        for ocid, record in latest.items():
            if record.digest is None:
                raise ValueError("updated needs records with their row digests")
            if digests.get(ocid) == record.digest:
                continue
            (changed if ocid in ocid_codes else new).append(ocid)
            code = ocid_codes.setdefault(ocid, len(ocid_codes))
            digests[ocid] = record.digest
            fresh.append((record, code))
        unchanged = len(latest) - len(fresh)
        if not fresh and not register:
            return HistoryUpdate(self, (), (), unchanged, 0)
        history = copy.copy(self)
        history.suppliers = {**self.suppliers, **register} if register else self.suppliers
        if fresh:
            history.ocid_codes, history.digests = ocid_codes, digests
            events = _Events(
                self.cardinal_settings, dict(self.supplier_codes), list(self.tender_winners)
            )
            for record, code in fresh:
                events.add(record, code)
            removed = np.fromiter((ocid_codes[ocid] for ocid in changed), np.int64, len(changed))
            history._take_events(events, self, removed)
            if self.records is not None:
                kept = list(self.records)
                for record, code in fresh:
                    if code < len(kept):
                        kept[code] = record
                    else:
                        kept.append(record)
                history.records = kept
        return HistoryUpdate(history, tuple(new), tuple(changed), unchanged, len(register))

    # ------------------------------------------------------------------ lookups

    def ocid_code(self, ocid: str) -> int:
        """The process's code in the indices, -1 if it is not in the history."""
        return self.ocid_codes.get(ocid, -1)

    def record(self, ocid: str) -> ProcessRecord:
        if self.records is None:
            raise RuntimeError("this history was built with keep_records=False")
        return self.records[self.ocid_codes[ocid]]

    def supplier_known(self, supplier: str) -> bool:
        return supplier in self.suppliers

    def release_flattener(self) -> ReleaseFlattener:
        """The OCDS reader's flattener with this installation's keys (made once: it memoises
        telephone fingerprints)."""
        if self.personal is None:
            raise RuntimeError(
                "this history has no PersonalData: build it with personal=... to score incoming "
                "releases (their telephones are fingerprinted like the stored ones)"
            )
        if self._release_flattener is None:
            self._release_flattener = ReleaseFlattener(self.personal)
        return self._release_flattener
