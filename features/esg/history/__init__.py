"""The point-in-time index of what the store knows about each supplier, for ESG features and
knock-outs.

Per supplier: the register entry (categories, tax credit grade, reported carbon intensity,
date entered in the register), its certifications with validity and evidence, its events
sorted by date, and its deliveries to the group (from contract milestones). Nothing here
filters by date: ``features.esg.build`` and ``features.esg.knockouts`` take an ``as_of`` and
read only what was dated before it.

Register attributes that are not criteria by rule (ownership, region, registered capital,
founding date; ``features.esg.specs.NOT_CRITERIA``) are never read into the history.

``data_through`` is the latest date the history knows of: an event, a certificate's start or
an entry in the register (deliveries and certificate expiries are not counted: they are not
news about the supplier). ``freshness(as_of)`` compares a screen's date with it: a screen more
than ``STALE_AFTER_DAYS`` after the data ends may miss listings and accidents that happened
since (the store is behind, not the supplier clean).

Deliveries follow the procurement model's definitions: a delivery milestone met at
``date_met`` (late when a day or more after ``due_date``) or not met (late, dated the day
after it was due); an acceptance milestone not met is a quality rejection dated when due.
Each counts for every supplier of the contract's award.
"""

from features.esg.history.parts import RegisterEntry, SupplierParts
from features.esg.history.reading import (
    known_supplier_ids,
    process_deliveries,
    read_supplier_frames,
)
from features.esg.history.records import Certification, Deliveries, Delivery, Event, SupplierRecord
from features.esg.history.supplier_history import (
    STALE_AFTER_DAYS,
    DataFreshness,
    SupplierHistory,
    SupplierUpdate,
)

__all__ = [
    "STALE_AFTER_DAYS",
    "Certification",
    "DataFreshness",
    "Deliveries",
    "Delivery",
    "Event",
    "RegisterEntry",
    "SupplierHistory",
    "SupplierParts",
    "SupplierRecord",
    "SupplierUpdate",
    "known_supplier_ids",
    "process_deliveries",
    "read_supplier_frames",
]
