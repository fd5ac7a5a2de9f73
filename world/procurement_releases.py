"""Plans written as OCDS 1.1 compiled releases, as the files look at the snapshot date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import numpy as np

from world import names
from world.procurement_plans import (
    APPROVAL_THRESHOLDS,
    CNY,
    METHOD_CODES,
    METHODS,
    TZ,
    WINTER_LATE_SHARE,
    WINTER_MONTHS,
    Buyer,
    LotPlan,
    Market,
    ProcessPlan,
)

# ---------------------------------------------------------------------------------------
# Releases


@lru_cache(maxsize=1 << 16)  # a few years of days times a few dozen minutes of day
def _ts(day: date, minute_of_day: int) -> str:
    hours, minutes = divmod(minute_of_day, 60)
    return f"{day.isoformat()}T{hours:02d}:{minutes:02d}:00{TZ}"


def _money(amount: float) -> dict[str, object]:
    return {"amount": round(amount, 2), "currency": CNY}


@dataclass
class Built:
    release: dict[str, object]
    award_day: date | None


class ReleaseWriter:
    """Turns plans into OCDS compiled releases as of the snapshot date ``config.end``."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self.rng = market.config.rng("proc-timeline")
        self.snapshot = market.config.end
        self.suppliers = market.world.suppliers
        self.counts = {"bids": 0, "awards": 0, "contracts": 0, "amendments": 0, "transactions": 0}
        self._parties: dict[tuple[int, tuple[str, ...]], dict[str, object]] = {}
        self._buyer_parties: dict[tuple[str, str], dict[str, object]] = {}

    def supplier_party(self, index: int, roles: list[str]) -> dict[str, object]:
        """The party of supplier ``index`` in ``roles``: one dict per (supplier, roles), shared
        by the releases that name it (they are serialised, never changed)."""
        key = (index, tuple(roles))
        party = self._parties.get(key)
        if party is None:
            party = self._parties[key] = self._supplier_party(index, roles)
        return party

    def _supplier_party(self, index: int, roles: list[str]) -> dict[str, object]:
        s = self.suppliers[index]
        return {
            "id": s.supplier_id,
            "name": s.name,
            "identifier": {"scheme": "CN-USCC", "id": s.credit_code, "legalName": s.name},
            "address": {
                "streetAddress": f"{s.district}{s.street_address}",
                "locality": s.city,
                "region": s.province,
                "countryName": "中国",
            },
            "contactPoint": {"name": s.contact_name, "telephone": s.phone},
            "roles": roles,
        }

    def buyer_party(self, buyer: Buyer, contact: str) -> dict[str, object]:
        """The buyer's party with ``contact``: shared like ``supplier_party``'s."""
        key = (buyer.buyer_id, contact)
        party = self._buyer_parties.get(key)
        if party is None:
            party = self._buyer_parties[key] = self._buyer_party(buyer, contact)
        return party

    def _buyer_party(self, buyer: Buyer, contact: str) -> dict[str, object]:
        return {
            "id": buyer.buyer_id,
            "name": buyer.name,
            "identifier": {"scheme": "CN-USCC", "id": buyer.credit_code, "legalName": buyer.name},
            "address": {
                "streetAddress": buyer.district,
                "locality": "鄂尔多斯市",
                "region": "内蒙古自治区",
                "countryName": "中国",
            },
            "contactPoint": {"name": contact, "telephone": buyer.phone},
            "roles": ["buyer", "procuringEntity", "payer"],
        }

    def build(self, plan: ProcessPlan, seq: int) -> Built:
        rng = self.rng
        u = rng.random(24)  # one draw per process for the timeline; used by position
        buyer = self.market.buyers[plan.buyer]
        ocid = plan.ocid
        kind, details = METHODS[plan.method]
        minute = 8 * 60 + (seq * 37) % 60  # published before the 9:30 deadline hour
        start = plan.start
        tender_end = start + timedelta(days=plan.tender_days)
        if plan.method == "single":
            award_day = start + timedelta(days=2 + int(u[0] * 9))
        elif plan.method in ("open", "selective"):
            award_day = tender_end + timedelta(days=5 + int(u[0] * 8))
        else:
            award_day = tender_end + timedelta(days=1 + int(u[0] * 5))
        awarded = award_day <= self.snapshot
        dates = [start]
        category = plan.lots[0].category
        multi = len(plan.lots) > 1
        month_tag = f"{start.month}月"
        purpose = names.TITLE_PURPOSES[seq % len(names.TITLE_PURPOSES)] if u[1] < 0.3 else ""
        title = f"{buyer.short}{start.year}年{month_tag}{purpose}{category.name}采购（{details}）"
        tender: dict[str, object] = {
            "id": f"BC-{METHOD_CODES[plan.method]}-{start.year}-{seq:06d}",
            "title": title,
            "status": "complete" if awarded else "active",
            "procurementMethod": kind,
            "procurementMethodDetails": details,
            "mainProcurementCategory": category.kind,
            "value": _money(plan.estimate),
            "items": [],
        }
        if plan.rationale:
            tender["procurementMethodRationale"] = plan.rationale
        if plan.method != "single":
            tender["tenderPeriod"] = {
                "startDate": _ts(start, minute),
                "endDate": _ts(tender_end, 9 * 60 + 30),
            }
            dates.append(tender_end)
        items: list[dict[str, object]] = []
        lots: list[dict[str, object]] = []
        for number, lot in enumerate(plan.lots, start=1):
            item: dict[str, object] = {
                "id": str(number),
                "description": lot.category.specs[lot.spec],
                "classification": {
                    "scheme": "LODESTAR-MAT",
                    "id": lot.category.code,
                    "description": lot.category.name,
                },
                "quantity": lot.quantity,
                "unit": {"name": lot.category.unit, "value": _money(lot.estimate / lot.quantity)},
            }
            if multi:
                item["relatedLot"] = f"LOT-{number}"
                lots.append(
                    {
                        "id": f"LOT-{number}",
                        "title": f"第{number}标段：{lot.category.specs[lot.spec]}",
                        "status": "complete" if awarded else "active",
                        "value": _money(lot.estimate),
                    }
                )
            items.append(item)
        tender["items"] = items
        if lots:
            tender["lots"] = lots
        parties: dict[str, dict[str, object]] = {}
        buyer_contact = buyer.contacts[seq % len(buyer.contacts)]
        release: dict[str, object] = {
            "ocid": ocid,
            "id": f"{ocid}-compiled",
            "tag": ["compiled"],
            "initiationType": "tender",
            "language": "zh",
            "buyer": {"id": buyer.buyer_id, "name": buyer.name},
            "tender": tender,
        }
        bid_details: list[dict[str, object]] = []
        bid_ids: dict[tuple[int, int], str] = {}
        tenderers: set[int] = set()
        if plan.method != "single" and tender_end <= self.snapshot:
            for lot_number, lot in enumerate(plan.lots, start=1):
                for supplier, amount, status in lot.bids:
                    bid_id = f"BID-{len(bid_details) + 1:02d}"
                    bid_ids[(lot_number, supplier)] = bid_id
                    back = int(u[2 + len(bid_details) % 8] * min(plan.tender_days, 5))
                    bid: dict[str, object] = {
                        "id": bid_id,
                        "date": _ts(
                            tender_end - timedelta(days=back), 8 * 60 + (supplier * 13) % 90
                        ),
                        "status": status,
                        "tenderers": [
                            {
                                "id": self.suppliers[supplier].supplier_id,
                                "name": self.suppliers[supplier].name,
                            }
                        ],
                        "value": _money(amount),
                    }
                    if multi:
                        bid["relatedLots"] = [f"LOT-{lot_number}"]
                    bid_details.append(bid)
                    tenderers.add(supplier)
            release["bids"] = {"details": bid_details}
            self.counts["bids"] += len(bid_details)
        if plan.method == "single":
            tender["numberOfTenderers"] = 1
        elif "bids" in release:
            tender["numberOfTenderers"] = len(tenderers)
        winners: set[int] = {lot.winner for lot in plan.lots} if awarded else set()
        for supplier in sorted(tenderers | winners):
            roles = ["tenderer"] if supplier in tenderers else []
            if supplier in winners:
                roles += ["supplier", "payee"]
            parties[self.suppliers[supplier].supplier_id] = self.supplier_party(supplier, roles)
        if awarded:
            tender["awardPeriod"] = {
                "startDate": _ts(tender_end if plan.method != "single" else start, 10 * 60),
                "endDate": _ts(award_day, 16 * 60),
            }
            awards, contracts = [], []
            for lot_number, lot in enumerate(plan.lots, start=1):
                award_id, contract_id = f"AWD-{lot_number:02d}", f"CON-{lot_number:02d}"
                winner = self.suppliers[lot.winner]
                award: dict[str, object] = {
                    "id": award_id,
                    "date": _ts(award_day, 16 * 60),
                    "status": "active",
                    "value": _money(lot.award),
                    "suppliers": [{"id": winner.supplier_id, "name": winner.name}],
                }
                if (lot_number, lot.winner) in bid_ids:
                    award["relatedBid"] = bid_ids[(lot_number, lot.winner)]
                if multi:
                    award["relatedLots"] = [f"LOT-{lot_number}"]
                awards.append(award)
                contract, contract_dates = self.contract(
                    plan, lot, lot_number, award_day, award_id, contract_id, buyer, u
                )
                contracts.append(contract)
                dates.extend(contract_dates)
            release["awards"] = awards
            release["contracts"] = contracts
            self.counts["awards"] += len(awards)
            self.counts["contracts"] += len(contracts)
            dates.append(award_day)
        release["parties"] = [self.buyer_party(buyer, buyer_contact), *parties.values()]
        release["date"] = _ts(max(d for d in dates if d <= self.snapshot), 17 * 60)
        return Built(release, award_day if awarded else None)

    def contract(
        self,
        plan: ProcessPlan,
        lot: LotPlan,
        lot_number: int,
        award_day: date,
        award_id: str,
        contract_id: str,
        buyer: Buyer,
        u: np.ndarray,
    ) -> tuple[dict[str, object], list[date]]:
        snapshot = self.snapshot
        category = lot.category
        signed = award_day + timedelta(days=1 + int(u[10] * 10))
        low, high = category.lead_days
        due = signed + timedelta(days=low + int(u[11] * (high - low + 1)))
        late = u[12] < 0.08
        if buyer.remote and due.month in WINTER_MONTHS:
            late = u[12] < WINTER_LATE_SHARE
        delay = 3 + int(u[13] * 30) if late else int(u[13] * 5) - 3
        delivered = due + timedelta(days=delay)
        acceptance_due = delivered + timedelta(days=3 + int(u[14] * 8))
        accepted = acceptance_due - timedelta(days=int(u[15] * 3))
        supplier = self.suppliers[lot.winner]
        quality_failure = u[16] < 0.02 + 0.02 * min(4.0, supplier.pillar_risk[1])
        dates = [signed] if signed <= snapshot else []
        # amendments between signing and delivery
        value = lot.award
        amendments: list[dict[str, object]] = []
        if plan.n_amendments:
            span = max(1, (delivered - signed).days)
            step = (1 + plan.growth) ** (1 / plan.n_amendments)
            for k in range(plan.n_amendments):
                when = signed + timedelta(
                    days=max(1, int(span * (k + 1) / (plan.n_amendments + 1)))
                )
                if when > snapshot:
                    break
                new_value = round(value * step, 2)
                rationale, description = names.AMENDMENT_RATIONALES[
                    int(u[17 + k] * len(names.AMENDMENT_RATIONALES))
                ]
                amendments.append(
                    {
                        "id": f"{contract_id}-AMD-{k + 1}",
                        "date": _ts(when, 15 * 60),
                        "rationale": rationale,
                        "description": (
                            f"{description}，合同金额由{value:.2f}元调整为{new_value:.2f}元"
                        ),
                    }
                )
                value = new_value
                dates.append(when)
            self.counts["amendments"] += len(amendments)
        milestones: list[dict[str, object]] = []
        delivery: dict[str, object] = {
            "id": f"{contract_id}-MS-1",
            "type": "delivery",
            "code": "delivery",
            "dueDate": _ts(due, 18 * 60),
        }
        if delivered <= snapshot:
            delivery.update(status="met", dateMet=_ts(delivered, 14 * 60))
            dates.append(delivered)
        else:
            delivery["status"] = "notMet" if due < snapshot else "scheduled"
        milestones.append(delivery)
        acceptance: dict[str, object] = {
            "id": f"{contract_id}-MS-2",
            "type": "acceptance",
            "code": "quality",
            "dueDate": _ts(acceptance_due, 18 * 60),
        }
        if delivered <= snapshot and accepted <= snapshot:
            if quality_failure:
                acceptance["status"] = "notMet"
                acceptance["description"] = "到货验收不合格，责令退换货"
            else:
                acceptance.update(status="met", dateMet=_ts(accepted, 11 * 60))
            dates.append(accepted)
        else:
            acceptance["status"] = "scheduled"
        milestones.append(acceptance)
        # payments: an advance on large contracts, the balance after acceptance, retention
        payer = {"id": buyer.buyer_id, "name": buyer.name}
        payee = {"id": supplier.supplier_id, "name": supplier.name}
        schedule: list[tuple[date, float]] = []
        if value >= APPROVAL_THRESHOLDS[1]:
            schedule.append((signed + timedelta(days=5 + int(u[18] * 10)), 0.3))
            paid_after = accepted + timedelta(days=10 + int(u[19] * 35))
            schedule.append((paid_after, 0.6))
            schedule.append((accepted + timedelta(days=365), 0.1))
        else:
            schedule.append((accepted + timedelta(days=15 + int(u[19] * 45)), 1.0))
        transactions = []
        for k, (when, share) in enumerate(schedule, start=1):
            after_acceptance = k > 1 or share == 1.0
            if when > snapshot or (after_acceptance and (quality_failure or accepted > snapshot)):
                continue
            transactions.append(
                {
                    "id": f"{contract_id}-PAY-{k}",
                    "date": _ts(when, 10 * 60),
                    "value": _money(value * share),
                    "payer": payer,
                    "payee": payee,
                }
            )
            dates.append(when)
        self.counts["transactions"] += len(transactions)
        finished = len(transactions) == len(schedule)
        contract: dict[str, object] = {
            "id": contract_id,
            "awardID": award_id,
            "title": f"{category.specs[lot.spec]}采购合同",
            "status": "terminated" if finished else "active",
            "dateSigned": _ts(signed, 10 * 60),
            "value": _money(value),
            "period": {
                "startDate": _ts(signed, 0),
                "endDate": _ts(acceptance_due + timedelta(days=30), 0),
            },
            "implementation": {"milestones": milestones, "transactions": transactions},
        }
        if amendments:
            contract["amendments"] = amendments
        if signed > snapshot:
            contract["status"] = "pending"
            contract.pop("dateSigned")
            contract["implementation"] = {"milestones": [], "transactions": []}
        return contract, [d for d in dates if d <= snapshot]
