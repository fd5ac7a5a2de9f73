"""The dated events a process adds to the history, and the supplier register's fingerprints."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.procurement.collusion import SERVED
from features.procurement.collusion.point_in_time import MIN_BIDS, reference_keys, served_screens
from features.procurement.history.event_index import _EventLists
from features.procurement.history.loading import SUPPLIER_COLUMNS
from features.procurement.history.records import (
    _NAN,
    DAY_NS,
    ProcessRecord,
)
from features.procurement.redflags import CardinalSettings

IDENTIFIER_KINDS = ("phone", "address", "legal_representative", "bank_account")


@dataclass(frozen=True)
class SupplierFingerprints:
    """Register fingerprints of one supplier (``None`` where the register has none)."""

    phone: str | None
    address: str | None
    legal_representative: str | None
    bank_account: str | None


def register_fingerprints(suppliers: pd.DataFrame) -> dict[str, SupplierFingerprints]:
    """Supplier register rows (``SUPPLIER_COLUMNS``; others ignored) by supplier id; a later
    row of the same supplier wins."""
    columns = suppliers.reindex(columns=list(SUPPLIER_COLUMNS))
    return {
        str(row[0]): SupplierFingerprints(*(value or None for value in row[1:]))
        for row in columns.astype(object)
        .where(columns.notna(), None)
        .itertuples(index=False, name=None)
    }


# The event indices of a history and the value columns of each.
INDEX_COLUMNS: dict[str, tuple[str, ...]] = {
    "prices": ("unit_price",),
    "spec_prices": ("unit_price",),
    "buyer_spend": ("supplier", "amount"),
    "pair_awards": ("amount", "direct"),
    "supplier_awards": ("amount",),
    "orders": ("amount",),
    "supplier_bids": ("tender", "won"),
    "deliveries": ("delivered", "late", "delay_days", "rejected"),
    "bid_screens": SERVED,
}


class _Events:
    """The dated events of some records, gathered per index. Supplier codes and tender
    numbers continue from the given ones (the dict and list are extended in place)."""

    def __init__(
        self,
        settings: CardinalSettings,
        supplier_codes: dict[str, int],
        tender_winners: list[frozenset[int]],
    ) -> None:
        self.settings = settings
        self.supplier_codes = supplier_codes
        self.tender_winners = tender_winners
        self.lists = {name: _EventLists(columns) for name, columns in INDEX_COLUMNS.items()}
        self.ratio_times: list[int] = []
        self.ratios: list[float] = []
        self.ratio_owners: list[int] = []

    def supplier_code(self, supplier: str) -> int:
        return self.supplier_codes.setdefault(supplier, len(self.supplier_codes))

    def add(self, record: ProcessRecord, code: int) -> None:
        """The events of one process, coded ``code``: deliveries; and, once awarded, its
        winner/second-lowest ratio, unit prices, awards, orders, bids and the served collusion
        screens of each lot of three bids or more (filed by size class and once more under
        ``ALL_SIZES``: the collusion score's reference), dated at the award."""
        lists = self.lists
        self._delivery_events(record, code, lists["deliveries"])
        when = record.award_date
        if when is None:
            return
        ratio = record.cardinal(self.settings).second_lowest_ratio
        if not math.isnan(ratio):
            self.ratio_times.append(when)
            self.ratios.append(ratio)
            self.ratio_owners.append(code)
        for item, unit_price in record.item_unit_prices():
            if item.classification_id is None or math.isnan(unit_price):
                continue
            lists["prices"].add(item.classification_id, when, code, unit_price)
            lists["spec_prices"].add((item.classification_id, item.spec), when, code, unit_price)
        direct = 1.0 if record.is_direct else 0.0
        for supplier, amount in record.supplier_award_totals().items():
            supplier_code = self.supplier_code(supplier)
            lists["buyer_spend"].add(record.buyer_id, when, code, supplier_code, amount)
            lists["pair_awards"].add((record.buyer_id, supplier), when, code, amount, direct)
            lists["supplier_awards"].add(supplier, when, code, amount)
            lists["orders"].add((record.buyer_id, supplier, record.category), when, code, amount)
        for prices in record.priced_bids_by_lot().values():
            if len(prices) >= MIN_BIDS:
                screens = served_screens(prices)
                for key in reference_keys(len(prices)):
                    lists["bid_screens"].add(key, when, code, *screens)
        bidders = record.bidders
        if bidders:
            tender = len(self.tender_winners)
            winners = frozenset(self.supplier_code(s) for s in record.winners)
            self.tender_winners.append(winners)
            for bidder in bidders:
                won = 1.0 if self.supplier_code(bidder) in winners else 0.0
                lists["supplier_bids"].add(bidder, when, code, tender, won)

    @staticmethod
    def _delivery_events(record: ProcessRecord, code: int, events: _EventLists) -> None:
        if not record.milestones:
            return
        contract_awards = {contract.contract_id: contract.award_id for contract in record.contracts}
        award_suppliers = {award.award_id: award.suppliers for award in record.awards}
        for milestone in record.milestones:
            suppliers = award_suppliers.get(contract_awards.get(milestone.contract_id) or "", ())
            if not suppliers or milestone.due is None:
                continue
            if milestone.kind == "delivery":
                if milestone.status == "met" and milestone.met is not None:
                    delay = (milestone.met - milestone.due) / DAY_NS
                    event = (milestone.met, 1.0, 1.0 if delay >= 1.0 else 0.0, delay, 0.0)
                elif milestone.status == "notMet":
                    event = (milestone.due + DAY_NS, 1.0, 1.0, _NAN, 0.0)
                else:
                    continue
            elif milestone.kind == "acceptance" and milestone.status == "notMet":
                event = (milestone.due, 0.0, 0.0, _NAN, 1.0)
            else:
                continue
            for supplier in suppliers:
                events.add(supplier, event[0], code, *event[1:])

    def ratio_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.asarray(self.ratio_times, dtype=np.int64),
            np.asarray(self.ratios, dtype=np.float64),
            np.asarray(self.ratio_owners, dtype=np.int64),
        )
