"""What the store knew before a date: an in-memory, point-in-time index of procurement history.

``ProcurementHistory.from_store(store)`` reads the procurement tables once, turns every
contracting process into a ``ProcessRecord`` (the same record ``features.procurement.build``
makes from one incoming OCDS release, through the OCDS reader's own flattener) and derives
dated events from the records. Events are grouped by key (a buyer; a supplier; a buyer,
supplier and category; a material category...) into one date-sorted numpy array per column, so
an as-of query "events of this key in ``[t − window, t)``" is two binary searches and a slice.

Dates. Every date is an integer of nanoseconds since 1970-01-01 UTC (naive UTC, as stored).
Each process has two dates:

* ``facts_date``: when what the process says about itself (its award, the bids, the unit
  prices, the order) became known: the latest active award's date if awarded, else the bid
  deadline (``tender.tenderPeriod.endDate``), else the tender's start, else the release date.
  History events of a process are dated at its ``facts_date``; only awarded processes add
  price, order, award and bid events (an open tender's outcome is not yet known).
* ``decision_date``: the date its features are computed as of: the ``facts_date``, or the date
  of the latest contract amendment when one is later. A warning on an amended contract is
  therefore (re)issued when the amendment is known, with the amendments and the contract's
  current value among its inputs; a process without amendments is scored at its award.

Deliveries and quality acceptance are events of the supplier dated when they became known: a
delivery met at ``dateMet``; an unmet delivery one day after its due date (late for certain
from then); a rejected acceptance at its due date.

Point in time. Every query takes ``before`` (exclusive) and the scored process's own ``ocid``
code, and returns events strictly before ``before`` of *other* processes. The scored process's
own facts come from its record, never from the index, so a stored process scored in batch and
the same process sent as a release give the same features, and an updated release of a
stored process never counts its older self.

The supplier register is treated as static (it keeps no history of phones, addresses or
accounts): related-bidder features use the register as loaded.
"""

from features.procurement.history.event_index import EventIndex, Fences
from features.procurement.history.events import (
    IDENTIFIER_KINDS,
    INDEX_COLUMNS,
    SupplierFingerprints,
    register_fingerprints,
)
from features.procurement.history.loading import (
    PROCUREMENT_TABLES,
    REPORTS_TABLE,
    SUPPLIER_COLUMNS,
    load_process_frames,
    load_procurement_frames,
    record_chunks,
    records_and_ignored_rows,
    records_from_frames,
    records_from_store,
)
from features.procurement.history.point_in_time import HistoryUpdate, ProcurementHistory
from features.procurement.history.records import (
    DAY_NS,
    DIRECT_METHOD,
    SUBMITTED_BID_STATUSES_EXCLUDED,
    Award,
    Bid,
    Contract,
    Item,
    Milestone,
    ProcessRecord,
    ns_to_iso,
    rows_digest,
    to_ns,
)
from features.procurement.history.rules import HistoryRules

__all__ = [
    "DAY_NS",
    "DIRECT_METHOD",
    "IDENTIFIER_KINDS",
    "INDEX_COLUMNS",
    "PROCUREMENT_TABLES",
    "REPORTS_TABLE",
    "SUBMITTED_BID_STATUSES_EXCLUDED",
    "SUPPLIER_COLUMNS",
    "Award",
    "Bid",
    "Contract",
    "EventIndex",
    "Fences",
    "HistoryRules",
    "HistoryUpdate",
    "Item",
    "Milestone",
    "ProcessRecord",
    "ProcurementHistory",
    "SupplierFingerprints",
    "load_process_frames",
    "load_procurement_frames",
    "ns_to_iso",
    "record_chunks",
    "records_and_ignored_rows",
    "records_from_frames",
    "records_from_store",
    "register_fingerprints",
    "rows_digest",
    "to_ns",
]
