"""The procurement half of the demo world: suppliers, buyers, a year of contracting processes
as OCDS 1.1 compiled releases, planted schemes, and partial, delayed audit outcomes.

Entry point: ``generate_procurement_world(config, world_dir, truth_dir)``. Same config, same
bytes: every random draw comes from a named stream (``config.rng``), records are built in a
fixed order and JSON is written with sorted keys.

What the files look like at the snapshot date ``config.end``: a process whose award falls
after it is still an active tender (no award, no contract), payments and deliveries after it
are not there yet, and milestones due later are ``scheduled``. Audit outcomes are a label
file delivered later: ``confirmed_at`` is two to nine months after the award, so some fall
in the following year.

Planted schemes (one per schemed process at most; rates in ``SCHEME_RATES``, realised rates
in ``truth/rates.json``):

* ``bid_rigging``: rings of 3-5 suppliers in one category (``suppliers_gen.plant_links``)
  take turns to win (rotation in date order); the designated winner prices 8-20% over the
  market, cover bids sit 1-6% above it, or two covers are identical, or covers are spaced
  regularly (winner x (1 + k d)); now and then a high-priced outsider joins.
* ``price_inflation``: a buyer-supplier pair in one category; the unit price (estimate and
  award) is 20-60% over the market; enquiry quotes from others sit just above, or it is a
  direct award called "生产急需".
* ``split_purchase``: one need split into 2-5 orders by one buyer to one supplier in one
  category within ``SPLIT_WINDOW_DAYS``, each 85-99.5% of an approval threshold (50,000 or
  500,000 CNY), summing above it.
* ``single_source_abuse``: repeated direct awards from one buyer to one supplier above the
  approval thresholds (some above the legal tender line) with no or a vague justification,
  5-25% over the market; legitimate direct awards carry a specific rationale.
* ``related_bidders``: members of a related-supplier group (sharing phone, address, legal
  representative or bank account in the register and in ``parties``) bid in the same tender;
  one of them wins 4-12% over the market.
* ``contract_inflation``: a contract grows 20-80% over 1-3 amendments; honest contracts are
  also amended now and then (-5% to +15%), so an amendment alone proves nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import orjson

from world import names
from world.config import WorldConfig
from world.layout import (
    TRUTH_PROCESS_SCHEMES,
    TRUTH_RATES,
    TRUTH_RELATED_GROUPS,
    TRUTH_RINGS,
    TRUTH_SUPPLIER_ESG,
)
from world.suppliers_gen import (
    CATEGORIES,
    CATEGORY_BY_CODE,
    CERTIFICATION_HEADER,
    EVENT_HEADER,
    REGISTER_HEADER,
    MaterialCategory,
    SupplierWorld,
    build_supplier_world,
    credit_code,
    csv_text,
    person_name,
    register_rows,
)

# ---------------------------------------------------------------------------------------
# Documented rates and rules

SCHEME_RATES: dict[str, float] = {
    "bid_rigging": 0.012,
    "price_inflation": 0.014,
    "split_purchase": 0.012,
    "single_source_abuse": 0.008,
    "related_bidders": 0.009,
    "contract_inflation": 0.008,
}
RELEASE_BATCH = 10_000  # release lines serialised per write (bounds memory at any scale)
APPROVAL_THRESHOLDS = (50_000.0, 500_000.0)  # as core.settings.Settings defaults
LEGAL_TENDER_THRESHOLD = 2_000_000.0
MINIMUM_TENDER_DAYS = 20
SPLIT_WINDOW_DAYS = 30
SPLIT_LOWER_THRESHOLD_SHARE = 0.7  # split groups staying under 50,000 (the rest: 500,000)
TENDER_PERIOD_VIOLATION_SHARE = 0.04  # open tenders with fewer than 20 days
HONEST_AMENDMENT_SHARE = 0.05  # of contracts of 50,000 CNY or more
MULTI_LOT_SHARE = 0.25  # of open tenders of 1,000,000 CNY or more
DISQUALIFIED_BID_SHARE = 0.05
NOT_LOWEST_WINNER_SHARE = 0.1  # scored evaluation (综合评分法) picks another bid
HONEST_BID_SIGMA = 0.045  # log-sd of honest bids around the market: spreads of 3-15%
WINTER_MONTHS = (11, 12, 1, 2, 3)
WINTER_LATE_SHARE = 0.55  # deliveries to remote mines in winter that arrive late

AUDIT_RATE_CLEAN_SMALL = 0.11  # clean processes under 500,000 CNY
AUDIT_RATE_CLEAN_LARGE = 0.35  # clean processes of 500,000 CNY or more
AUDIT_RATE_SCHEMED = 0.45  # more likely, never certain
AUDIT_CONFIRM_SHARE = 0.6  # of audited schemed processes: recall below one
AUDIT_NEEDS_INFORMATION_SHARE = 0.15  # of audited schemed processes (the rest dismissed)
AUDIT_CLEAN_NEEDS_INFORMATION_SHARE = 0.08
AUDIT_FOLLOW_UP_CONFIRM_SHARE = 0.5  # needs_information later confirmed
AUDIT_DELAY_DAYS = (60, 270)  # two to nine months after the award

N_SCHEME_PAIRS_AT_SCALE_1 = {"price_inflation": 10, "single_source_abuse": 6}

METHODS: dict[str, tuple[str, str]] = {
    "open": ("open", "公开招标"),
    "selective": ("selective", "邀请招标"),
    "negotiation": ("limited", "竞争性谈判"),
    "enquiry": ("limited", "询价"),
    "single": ("direct", "单一来源"),
}
METHOD_CODES = {
    "open": "ZB",
    "selective": "YQ",
    "negotiation": "TP",
    "enquiry": "XJ",
    "single": "DY",
}
TENDER_DAYS = {"enquiry": (3, 7), "negotiation": (5, 12), "selective": (10, 25), "open": (20, 35)}
BIDDERS = {"enquiry": (2, 4), "negotiation": (2, 4), "selective": (3, 6), "open": (3, 8)}
CNY = "CNY"
TZ = "+08:00"

# ---------------------------------------------------------------------------------------
# Plans: what happens in a process, before it is written as a release


@dataclass
class LotPlan:
    category: MaterialCategory
    spec: int
    quantity: float
    market_unit: float  # the fair unit price on the day
    estimate: float  # pre-tender estimate of the lot (CNY)
    bids: list[tuple[int, float, str]]  # (supplier index, amount, valid/disqualified)
    winner: int
    award: float


@dataclass
class ProcessPlan:
    buyer: int
    start: date
    method: str
    lots: list[LotPlan]
    tender_days: int = 0
    rationale: str | None = None
    scheme: str = ""
    detail: str = ""
    growth: float = 0.0  # relative contract growth through amendments
    n_amendments: int = 0
    ocid: str = ""

    @property
    def estimate(self) -> float:
        return sum(lot.estimate for lot in self.lots)

    @property
    def award_total(self) -> float:
        return sum(lot.award for lot in self.lots)


@dataclass(frozen=True)
class Buyer:
    buyer_id: str
    name: str
    short: str
    district: str
    remote: bool
    credit_code: str
    phone: str
    contacts: tuple[str, ...]
    weight: float


@dataclass
class Market:
    """Everything the plan builders share."""

    config: WorldConfig
    world: SupplierWorld
    buyers: list[Buyer]
    index: dict[str, np.ndarray]  # "steel"/"copper"/"general" -> monthly factor
    days: list[date]
    day_p: np.ndarray
    link_of: dict[int, str] = field(default_factory=dict)  # supplier -> ring/group id

    def month(self, day: date) -> int:
        start = self.config.start
        months = len(self.index["general"])
        return min(months - 1, max(0, (day.year - start.year) * 12 + day.month - start.month))

    def market_unit(self, category: MaterialCategory, spec: int, day: date, buyer: int) -> float:
        freight = 1.03 if self.buyers[buyer].remote else 1.0
        return (
            category.spec_price(spec) * float(self.index[category.index][self.month(day)]) * freight
        )

    def draw_days(self, rng: np.random.Generator, size: int, margin_days: int = 0) -> list[date]:
        """Business days (weekends and the Spring Festival are quiet), ``margin_days`` before
        the end of the year so that what follows (award, delivery) happens within it."""
        usable = len(self.days) - margin_days
        p = self.day_p[:usable] / self.day_p[:usable].sum()
        return [self.days[int(i)] for i in rng.choice(usable, size=size, p=p)]

    def bidders(
        self, rng: np.random.Generator, category: str, count: int, exclude: tuple[int, ...] = ()
    ) -> list[int]:
        """``count`` distinct suppliers of a category weighted by activity (Gumbel top-k);
        at most one member of any ring or related group, so that honest tenders do not
        show planted links by accident."""
        if count <= 0:
            return []
        holders = self.world.by_category[category]
        weights = np.array([self.world.suppliers[int(i)].activity for i in holders])
        keys = np.log(weights) - np.log(-np.log(rng.random(len(holders))))
        chosen: list[int] = []
        links = {self.link_of[i] for i in exclude if i in self.link_of}
        for position in np.argsort(-keys, kind="stable"):
            index = int(holders[position])
            if index in exclude:
                continue
            link = self.link_of.get(index)
            if link is not None:
                if link in links:
                    continue
                links.add(link)
            chosen.append(index)
            if len(chosen) == count:
                break
        return chosen


def _buyers(config: WorldConfig) -> list[Buyer]:
    rng = config.rng("buyers")
    buyers = []
    for number, (name, district, remote) in enumerate(names.BUYING_UNITS, start=1):
        short = name.removeprefix(names.GROUP_NAME).removeprefix("北辰煤业公司")
        short = short.removesuffix("物资供应站").removesuffix("物资站") or name
        weight = 3.0 if number == 1 else 0.6 if "集团" in name else float(rng.uniform(0.8, 1.8))
        phone = f"0477-{int(rng.integers(3, 9))}{int(rng.integers(10**6)):06d}"
        contacts = tuple(person_name(rng) for _ in range(3))
        code = credit_code("150627", f"{int(rng.integers(10**8)):08d}")
        buyers.append(
            Buyer(f"BUY-{number:02d}", name, short, district, remote, code, phone, contacts, weight)
        )
    return buyers


def _market(config: WorldConfig, world: SupplierWorld) -> Market:
    rng = config.rng("price-index")
    months = (config.end.year - config.start.year) * 12 + config.end.month - config.start.month + 1
    index = {
        "steel": np.exp(np.cumsum(rng.normal(0.004, 0.035, size=months))),
        "copper": np.exp(np.cumsum(rng.normal(0.003, 0.03, size=months))),
        "general": 1.0 + 0.0015 * np.arange(months),
    }
    days = [config.start + timedelta(days=d) for d in range((config.end - config.start).days + 1)]
    weights = np.array([0.15 if d.weekday() >= 5 else 1.0 for d in days], dtype=float) * np.array(
        [
            0.25 if (d.month == 1 and d.day >= 25) or (d.month == 2 and d.day <= 8) else 1.0
            for d in days
        ]
    )
    market = Market(config, world, _buyers(config), index, days, weights / weights.sum())
    for ring in world.rings:
        for member in ring.members:
            market.link_of[member] = ring.ring_id
    for group in world.related:
        for member in group.members:
            market.link_of.setdefault(member, group.group_id)
    return market


# ---------------------------------------------------------------------------------------
# Honest processes


def _method_for(value: float, u: float) -> str:
    low, high = APPROVAL_THRESHOLDS
    if value < low:
        return "enquiry" if u < 0.85 else "single"
    if value < high:
        return (
            "enquiry"
            if u < 0.45
            else "negotiation"
            if u < 0.75
            else "selective"
            if u < 0.95
            else "single"
        )
    if value < LEGAL_TENDER_THRESHOLD:
        return (
            "open"
            if u < 0.4
            else "selective"
            if u < 0.75
            else "negotiation"
            if u < 0.95
            else "single"
        )
    return "open" if u < 0.97 else "single"


def _round_bid(amount: float) -> float:
    step = 100.0 if amount >= 100_000 else 1.0
    return round(round(amount / step) * step, 2)


def _competition(
    market: Market,
    rng: np.random.Generator,
    lot: LotPlan,
    method: str,
    rigged: tuple[int, ...] = (),
) -> None:
    """Honest bids around the market; the lowest valid bid wins (mostly)."""
    low, high = BIDDERS[method]
    count = int(rng.integers(low, high + 1))
    bidders = market.bidders(rng, lot.category.code, count, exclude=rigged)
    fair = lot.market_unit * lot.quantity
    factors = np.exp(rng.normal(0.0, HONEST_BID_SIGMA, size=len(bidders)))
    statuses = [
        "disqualified" if u < DISQUALIFIED_BID_SHARE else "valid" for u in rng.random(len(bidders))
    ]
    if all(s == "disqualified" for s in statuses):
        statuses[0] = "valid"
    lot.bids = [
        (b, _round_bid(fair * float(f)), s)
        for b, f, s in zip(bidders, factors, statuses, strict=True)
    ]
    valid = sorted((amount, b) for b, amount, s in lot.bids if s == "valid")
    pick = 1 if len(valid) > 1 and rng.random() < NOT_LOWEST_WINNER_SHARE else 0
    lot.award, lot.winner = valid[pick]


def _direct(market: Market, rng: np.random.Generator, lot: LotPlan, premium: float = 0.02) -> None:
    supplier = market.bidders(rng, lot.category.code, 1)[0]
    lot.winner = supplier
    lot.award = _round_bid(
        lot.market_unit * lot.quantity * float(np.exp(rng.normal(premium, 0.04)))
    )
    lot.bids = []


def _quantity(category: MaterialCategory, noise: float) -> float:
    if category.kind == "services":
        return 1.0
    return float(max(1, round(category.quantity_median * math.exp(noise))))


def _honest_plans(market: Market, count: int) -> list[ProcessPlan]:
    rng = market.config.rng("proc-honest")
    cat_p = np.array([c.order_weight for c in CATEGORIES])
    categories = rng.choice(len(CATEGORIES), size=count, p=cat_p / cat_p.sum())
    buyer_p = np.array([b.weight for b in market.buyers])
    buyers = rng.choice(len(market.buyers), size=count, p=buyer_p / buyer_p.sum())
    days = market.draw_days(rng, count)
    qty_noise = rng.normal(0.0, 0.9, size=count)
    price_noise = np.exp(rng.normal(0.0, 0.04, size=count))
    service_noise = np.exp(rng.normal(0.0, 0.5, size=count))
    markup = rng.uniform(1.0, 1.1, size=count)
    method_u = rng.random(count)
    plans = []
    for i in range(count):
        category = CATEGORIES[int(categories[i])]
        spec = int(rng.integers(len(category.specs)))
        buyer, day = int(buyers[i]), days[i]
        unit = market.market_unit(category, spec, day, buyer) * float(price_noise[i])
        if category.kind == "services":
            unit *= float(service_noise[i])
        quantity = _quantity(category, float(qty_noise[i]))
        estimate = round(unit * quantity * float(markup[i]), 2)
        method = _method_for(estimate, float(method_u[i]))
        lots = [LotPlan(category, spec, quantity, unit, estimate, [], -1, 0.0)]
        if (
            method == "open"
            and estimate >= 1_000_000
            and rng.random() < MULTI_LOT_SHARE
            and quantity >= 2
        ):
            lots = _split_into_lots(market, rng, lots[0], day, buyer, int(rng.integers(2, 4)))
        plan = ProcessPlan(buyer, day, method, lots)
        _tender_days(rng, plan)
        for lot in lots:
            if method == "single":
                _direct(market, rng, lot)
            else:
                _competition(market, rng, lot, method)
        if method == "single" and estimate >= APPROVAL_THRESHOLDS[0]:
            rationales = names.SINGLE_SOURCE_RATIONALES
            plan.rationale = (
                names.VAGUE_RATIONALE
                if rng.random() < 0.1
                else rationales[int(rng.integers(len(rationales)))]
            )
        if plan.award_total >= APPROVAL_THRESHOLDS[0] and rng.random() < HONEST_AMENDMENT_SHARE:
            plan.growth, plan.n_amendments = float(rng.uniform(-0.05, 0.15)), 1
        plans.append(plan)
    return plans


def _split_into_lots(
    market: Market, rng: np.random.Generator, lot: LotPlan, day: date, buyer: int, count: int
) -> list[LotPlan]:
    specs = rng.permutation(len(lot.category.specs))
    lots = []
    for k in range(min(count, len(specs))):
        spec = int(specs[k])
        unit = market.market_unit(lot.category, spec, day, buyer) * float(
            np.exp(rng.normal(0.0, 0.04))
        )
        quantity = float(max(1, round(lot.quantity / count * float(rng.uniform(0.6, 1.4)))))
        estimate = round(unit * quantity * float(rng.uniform(1.0, 1.1)), 2)
        lots.append(LotPlan(lot.category, spec, quantity, unit, estimate, [], -1, 0.0))
    return lots


def _tender_days(rng: np.random.Generator, plan: ProcessPlan) -> None:
    if plan.method == "single":
        plan.tender_days = 0
        return
    low, high = TENDER_DAYS[plan.method]
    if plan.method == "open" and rng.random() < TENDER_PERIOD_VIOLATION_SHARE:
        low, high = 10, MINIMUM_TENDER_DAYS - 1
    plan.tender_days = int(rng.integers(low, high + 1))


# ---------------------------------------------------------------------------------------
# Planted schemes


def _scheme_counts(config: WorldConfig) -> dict[str, int]:
    return {scheme: round(rate * config.n_processes) for scheme, rate in SCHEME_RATES.items()}


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _sized_lot(
    market: Market,
    rng: np.random.Generator,
    category: MaterialCategory,
    day: date,
    buyer: int,
    value: float,
) -> LotPlan:
    """A lot whose fair value is about ``value``: the quantity follows from the unit price."""
    spec = int(rng.integers(len(category.specs)))
    unit = market.market_unit(category, spec, day, buyer) * float(np.exp(rng.normal(0.0, 0.03)))
    if category.kind == "services":
        unit, quantity = value, 1.0
    else:
        quantity = float(max(1, round(value / unit)))
    return LotPlan(category, spec, quantity, unit, round(unit * quantity, 2), [], -1, 0.0)


def _bid_rigging(market: Market, count: int) -> list[ProcessPlan]:
    rng = market.config.rng("scheme-rings")
    rings = market.world.rings
    plans: list[ProcessPlan] = []
    per_ring = [
        count // len(rings) + (1 if r < count % len(rings) else 0) for r in range(len(rings))
    ]
    for ring, n in zip(rings, per_ring, strict=True):
        category = CATEGORY_BY_CODE[ring.category]
        for turn, day in enumerate(sorted(market.draw_days(rng, n, margin_days=75))):
            buyer = int(rng.integers(len(market.buyers)))
            lot = _sized_lot(
                market, rng, category, day, buyer, _log_uniform(rng, 200_000, 3_000_000)
            )
            fair = lot.market_unit * lot.quantity
            winner = ring.members[turn % len(ring.members)]
            others = [m for m in ring.members if m != winner]
            if len(others) > 2 and rng.random() < 0.4:
                others = [
                    others[int(i)]
                    for i in sorted(rng.choice(len(others), size=len(others) - 1, replace=False))
                ]
            win_amount = _round_bid(fair * float(rng.uniform(1.08, 1.2)))
            pattern = str(rng.choice(["cover", "identical", "regular"], p=[0.6, 0.2, 0.2]))
            if pattern == "regular":
                step = float(rng.uniform(0.015, 0.03))
                covers = [_round_bid(win_amount * (1 + step * (k + 1))) for k in range(len(others))]
            else:
                covers = [_round_bid(win_amount * float(rng.uniform(1.01, 1.06))) for _ in others]
                if pattern == "identical" and len(covers) >= 2:
                    covers[1] = covers[0]
            lot.bids = [(winner, win_amount, "valid")] + [
                (m, c, "valid") for m, c in zip(others, covers, strict=True)
            ]
            if rng.random() < 0.25:
                outsider = market.bidders(rng, category.code, 1, exclude=ring.members)
                if outsider:
                    status = "disqualified" if rng.random() < 0.4 else "valid"
                    lot.bids.append(
                        (outsider[0], _round_bid(fair * float(rng.uniform(1.22, 1.4))), status)
                    )
            order = rng.permutation(len(lot.bids))
            lot.bids = [lot.bids[int(k)] for k in order]
            lot.winner, lot.award = winner, win_amount
            lot.estimate = round(win_amount / float(rng.uniform(0.97, 0.995)), 2)
            method = (
                "open"
                if lot.estimate >= LEGAL_TENDER_THRESHOLD
                else str(rng.choice(["selective", "open", "negotiation"], p=[0.5, 0.3, 0.2]))
            )
            plan = ProcessPlan(buyer, day, method, [lot], scheme="bid_rigging")
            winner_id = market.world.suppliers[winner].supplier_id
            plan.detail = f"ring={ring.ring_id};winner={winner_id};pattern={pattern}"
            _tender_days(rng, plan)
            plans.append(plan)
    return plans


def _pairs(
    market: Market, rng: np.random.Generator, scheme: str, goods_only: bool
) -> list[tuple[int, int, MaterialCategory]]:
    n_pairs = max(2, round(N_SCHEME_PAIRS_AT_SCALE_1[scheme] * market.config.scale**0.5))
    if goods_only:  # ordinary goods whose orders stay under the upper approval line
        candidates = [c for c in CATEGORIES if c.kind == "goods" and c.price_high <= 100_000]
    else:
        candidates = list(CATEGORIES)
    pairs = []
    for _ in range(n_pairs):
        category = candidates[int(rng.integers(len(candidates)))]
        buyer = int(rng.integers(len(market.buyers)))
        supplier = market.bidders(rng, category.code, 1)[0]
        pairs.append((buyer, supplier, category))
    return pairs


def _spread(count: int, parts: int) -> list[int]:
    return [count // parts + (1 if k < count % parts else 0) for k in range(parts)]


def _price_inflation(market: Market, count: int) -> list[ProcessPlan]:
    rng = market.config.rng("scheme-inflation")
    plans = []
    for (buyer, supplier, category), n in zip(
        pairs := _pairs(market, rng, "price_inflation", True),
        _spread(count, len(pairs)),
        strict=True,
    ):
        for day in sorted(market.draw_days(rng, n, margin_days=60)):
            value = _log_uniform(rng, 20_000, 300_000)
            lot = _sized_lot(market, rng, category, day, buyer, value)
            markup = float(rng.uniform(0.2, 0.6))
            lot.award = _round_bid(lot.market_unit * lot.quantity * (1 + markup))
            lot.estimate = round(lot.award * float(rng.uniform(1.0, 1.05)), 2)
            lot.winner = supplier
            u = rng.random()
            method = "single" if u < 0.25 else "negotiation" if u < 0.4 else "enquiry"
            plan = ProcessPlan(buyer, day, method, [lot], scheme="price_inflation")
            if method == "single":
                plan.rationale = names.VAGUE_RATIONALE
            else:
                others = market.bidders(
                    rng, category.code, int(rng.integers(1, 3)), exclude=(supplier,)
                )
                lot.bids = [(supplier, lot.award, "valid")] + [
                    (o, _round_bid(lot.award * float(rng.uniform(1.02, 1.12))), "valid")
                    for o in others
                ]
            plan.detail = (
                f"buyer={market.buyers[buyer].buyer_id};supplier={market.world.suppliers[supplier].supplier_id};"
                f"category={category.code};markup={markup:.2f}"
            )
            _tender_days(rng, plan)
            plans.append(plan)
    return plans


SPLIT_CATEGORIES = ("M02", "M04", "M05", "M06", "M11", "M13", "M16", "M17", "M03", "M15")


def _split_purchases(market: Market, count: int) -> list[ProcessPlan]:
    rng = market.config.rng("scheme-splits")
    plans: list[ProcessPlan] = []
    group = 0
    while count - len(plans) >= 2:
        group += 1
        parts = min(int(rng.integers(2, 6)), count - len(plans))
        if count - len(plans) - parts == 1:
            parts = parts + 1 if parts < 5 else parts - 1
        category = CATEGORY_BY_CODE[SPLIT_CATEGORIES[int(rng.integers(len(SPLIT_CATEGORIES)))]]
        buyer = int(rng.integers(len(market.buyers)))
        supplier = market.bidders(rng, category.code, 1)[0]
        threshold = (
            APPROVAL_THRESHOLDS[0]
            if rng.random() < SPLIT_LOWER_THRESHOLD_SHARE
            else APPROVAL_THRESHOLDS[1]
        )
        first = market.draw_days(rng, 1, margin_days=SPLIT_WINDOW_DAYS + 60)[0]
        offsets = sorted(int(d) for d in rng.integers(0, SPLIT_WINDOW_DAYS + 1, size=parts))
        amounts = [round(threshold * float(rng.uniform(0.85, 0.995)), 2) for _ in range(parts)]
        detail = (
            f"group=SP-{group:04d};buyer={market.buyers[buyer].buyer_id};"
            f"supplier={market.world.suppliers[supplier].supplier_id};category={category.code};"
            f"threshold={threshold:.0f};parts={parts};total={sum(amounts):.2f}"
        )
        for offset, amount in zip(offsets, amounts, strict=True):
            day = first + timedelta(days=offset)
            spec = int(rng.integers(len(category.specs)))
            unit = market.market_unit(category, spec, day, buyer) * float(
                np.exp(rng.normal(0.0, 0.03))
            )
            quantity = float(max(1, math.floor(amount / unit)))
            unit = amount / quantity  # the order is sized to the amount, not the other way
            lot = LotPlan(
                category,
                spec,
                quantity,
                unit,
                round(min(amount * 1.004, threshold - 1), 2),
                [],
                supplier,
                amount,
            )
            method = (
                "single"
                if threshold == APPROVAL_THRESHOLDS[0] and rng.random() < 0.3
                else "enquiry"
            )
            if threshold > APPROVAL_THRESHOLDS[0] and rng.random() < 0.4:
                method = "negotiation"
            if method != "single":
                others = market.bidders(
                    rng, category.code, int(rng.integers(1, 3)), exclude=(supplier,)
                )
                lot.bids = [(supplier, amount, "valid")] + [
                    (
                        o,
                        round(min(amount * float(rng.uniform(1.01, 1.08)), threshold * 1.05), 2),
                        "valid",
                    )
                    for o in others
                ]
            plan = ProcessPlan(buyer, day, method, [lot], scheme="split_purchase", detail=detail)
            _tender_days(rng, plan)
            plans.append(plan)
    return plans


def _single_source_abuse(market: Market, count: int) -> list[ProcessPlan]:
    rng = market.config.rng("scheme-single")
    plans = []
    pairs = _pairs(market, rng, "single_source_abuse", False)
    for (buyer, supplier, category), n in zip(pairs, _spread(count, len(pairs)), strict=True):
        for repeat, day in enumerate(sorted(market.draw_days(rng, n, margin_days=60)), start=1):
            lot = _sized_lot(
                market, rng, category, day, buyer, _log_uniform(rng, 80_000, 3_500_000)
            )
            premium = float(rng.uniform(0.05, 0.25))
            lot.winner, lot.award = (
                supplier,
                _round_bid(lot.market_unit * lot.quantity * (1 + premium)),
            )
            lot.estimate = round(lot.award * float(rng.uniform(1.0, 1.03)), 2)
            plan = ProcessPlan(buyer, day, "single", [lot], scheme="single_source_abuse")
            plan.rationale = None if rng.random() < 0.6 else names.VAGUE_RATIONALE
            plan.detail = (
                f"buyer={market.buyers[buyer].buyer_id};supplier={market.world.suppliers[supplier].supplier_id};"
                f"repeat={repeat};premium={premium:.2f}"
            )
            plans.append(plan)
    return plans


def _related_bidders(market: Market, count: int) -> list[ProcessPlan]:
    rng = market.config.rng("scheme-related")
    groups = [g for g in market.world.related if g.colluding and not g.ring_id]
    plans = []
    for group, n in zip(groups, _spread(count, len(groups)), strict=True):
        category = CATEGORY_BY_CODE[group.category]
        for turn, day in enumerate(sorted(market.draw_days(rng, n, margin_days=60))):
            buyer = int(rng.integers(len(market.buyers)))
            lot = _sized_lot(
                market, rng, category, day, buyer, _log_uniform(rng, 60_000, 2_500_000)
            )
            fair = lot.market_unit * lot.quantity
            winner = group.members[turn % len(group.members)]
            lot.winner, lot.award = winner, _round_bid(fair * float(rng.uniform(1.04, 1.12)))
            lot.bids = [(winner, lot.award, "valid")] + [
                (m, _round_bid(lot.award * float(rng.uniform(1.01, 1.06))), "valid")
                for m in group.members
                if m != winner
            ]
            n_outsiders = max(int(rng.integers(0, 3)), 3 - len(group.members))
            for outsider in market.bidders(rng, category.code, n_outsiders, exclude=group.members):
                lot.bids.append(
                    (outsider, _round_bid(fair * float(rng.uniform(1.12, 1.3))), "valid")
                )
            order = rng.permutation(len(lot.bids))
            lot.bids = [lot.bids[int(k)] for k in order]
            lot.estimate = round(max(lot.award, fair) * float(rng.uniform(1.0, 1.08)), 2)
            method = _method_for(lot.estimate, float(rng.random()))
            method = "enquiry" if method == "single" else method
            if lot.estimate >= LEGAL_TENDER_THRESHOLD:
                method = "open"
            plan = ProcessPlan(buyer, day, method, [lot], scheme="related_bidders")
            plan.detail = f"group={group.group_id};shared={'|'.join(group.shared)}"
            _tender_days(rng, plan)
            plans.append(plan)
    return plans


def _contract_inflation(market: Market, honest: list[ProcessPlan], count: int) -> None:
    """Turn ``count`` honest, awarded, single-lot processes into inflated contracts."""
    rng = market.config.rng("scheme-amend")
    latest = market.config.end - timedelta(days=120)
    eligible = [
        k
        for k, p in enumerate(honest)
        if len(p.lots) == 1
        and p.award_total >= 100_000
        and p.start <= latest
        and p.n_amendments == 0
    ]
    chosen = sorted(
        int(k) for k in rng.choice(eligible, size=min(count, len(eligible)), replace=False)
    )
    for k in chosen:
        plan = honest[k]
        plan.scheme = "contract_inflation"
        plan.growth = float(rng.uniform(0.2, 0.8))
        plan.n_amendments = int(rng.integers(1, 4))
        plan.detail = f"growth={plan.growth:.2f};amendments={plan.n_amendments}"


def build_plans(market: Market) -> list[ProcessPlan]:
    counts = _scheme_counts(market.config)
    schemed = (
        _bid_rigging(market, counts["bid_rigging"])
        + _price_inflation(market, counts["price_inflation"])
        + _split_purchases(market, counts["split_purchase"])
        + _single_source_abuse(market, counts["single_source_abuse"])
        + _related_bidders(market, counts["related_bidders"])
    )
    honest = _honest_plans(market, market.config.n_processes - len(schemed))
    _contract_inflation(market, honest, counts["contract_inflation"])
    plans = schemed + honest
    order = sorted(range(len(plans)), key=lambda k: (plans[k].start, k))
    ordered = [plans[k] for k in order]
    for seq, plan in enumerate(ordered, start=1):
        plan.ocid = f"ocds-lodestar-{plan.start.year}-{seq:06d}"
    return ordered


# ---------------------------------------------------------------------------------------
# Releases


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

    def supplier_party(self, index: int, roles: list[str]) -> dict[str, object]:
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


# ---------------------------------------------------------------------------------------
# Audit outcomes


def audit_rows(
    config: WorldConfig, plans: list[ProcessPlan], award_days: list[date | None]
) -> list[tuple[str, str, str, str]]:
    """``ocid, finding, scheme, confirmed_at``: partial (most never audited) and delayed."""
    rng = config.rng("audit")
    u = rng.random((len(plans), 5))
    rows = []
    low, high = AUDIT_DELAY_DAYS
    for k, (plan, award_day) in enumerate(zip(plans, award_days, strict=True)):
        if award_day is None:
            continue
        if plan.scheme:
            rate = AUDIT_RATE_SCHEMED
        else:
            rate = (
                AUDIT_RATE_CLEAN_LARGE
                if plan.estimate >= APPROVAL_THRESHOLDS[1]
                else AUDIT_RATE_CLEAN_SMALL
            )
        if u[k, 0] >= rate:
            continue
        when = award_day + timedelta(days=low + int(u[k, 1] * (high - low + 1)))
        if plan.scheme:
            if u[k, 2] < AUDIT_CONFIRM_SHARE:
                rows.append((plan.ocid, "confirmed", plan.scheme, when.isoformat()))
            elif u[k, 2] < AUDIT_CONFIRM_SHARE + AUDIT_NEEDS_INFORMATION_SHARE:
                rows.append((plan.ocid, "needs_information", plan.scheme, when.isoformat()))
                if u[k, 3] < AUDIT_FOLLOW_UP_CONFIRM_SHARE:
                    later = when + timedelta(days=30 + int(u[k, 4] * 60))
                    rows.append((plan.ocid, "confirmed", plan.scheme, later.isoformat()))
            else:
                rows.append((plan.ocid, "dismissed", "", when.isoformat()))
        elif u[k, 2] < AUDIT_CLEAN_NEEDS_INFORMATION_SHARE:
            rows.append((plan.ocid, "needs_information", "", when.isoformat()))
        else:
            rows.append((plan.ocid, "dismissed", "", when.isoformat()))
    return rows


# ---------------------------------------------------------------------------------------
# Entry point


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def generate_procurement_world(
    config: WorldConfig, world_dir: Path, truth_dir: Path
) -> dict[str, int]:
    """Write suppliers/*.csv, procurement/releases.jsonl and audit_outcomes.csv into
    ``world_dir`` and the planted truth into ``truth_dir``; returns the record counts."""
    world = build_supplier_world(config)
    market = _market(config, world)
    plans = build_plans(market)
    writer = ReleaseWriter(market)
    award_days: list[date | None] = []
    releases_path = world_dir / "procurement" / "releases.jsonl"
    releases_path.parent.mkdir(parents=True, exist_ok=True)
    with releases_path.open("wb") as handle:  # streamed: memory stays flat at any scale
        lines: list[bytes] = []
        for seq, plan in enumerate(plans, start=1):
            built = writer.build(plan, seq)
            lines.append(orjson.dumps(built.release, option=orjson.OPT_SORT_KEYS))
            award_days.append(built.award_day)
            if len(lines) >= RELEASE_BATCH:
                handle.write(b"\n".join(lines) + b"\n")
                lines = []
        if lines:
            handle.write(b"\n".join(lines) + b"\n")
    audits = audit_rows(config, plans, award_days)
    _write(
        world_dir / "procurement" / "audit_outcomes.csv",
        csv_text(("ocid", "finding", "scheme", "confirmed_at"), audits),
    )
    _write(
        world_dir / "suppliers" / "register.csv",
        csv_text(REGISTER_HEADER, register_rows(world.suppliers)),
    )
    _write(
        world_dir / "suppliers" / "certifications.csv",
        csv_text(CERTIFICATION_HEADER, world.certifications),
    )
    _write(world_dir / "suppliers" / "events.csv", csv_text(EVENT_HEADER, world.events))
    _write_truth(config, truth_dir, market, plans, award_days, audits)
    counts = {
        "suppliers": len(world.suppliers),
        "supplier_certifications": len(world.certifications),
        "supplier_events": len(world.events),
        "processes": len(plans),
        **writer.counts,
        "audit_outcomes": len(audits),
    }
    return counts


def _write_truth(
    config: WorldConfig,
    truth_dir: Path,
    market: Market,
    plans: list[ProcessPlan],
    award_days: list[date | None],
    audits: list[tuple[str, str, str, str]],
) -> None:
    world = market.world
    suppliers = world.suppliers
    schemed = [(p.ocid, p.scheme, p.detail) for p in plans if p.scheme]
    _write(truth_dir / TRUTH_PROCESS_SCHEMES, csv_text(("ocid", "scheme", "detail"), schemed))
    wins: dict[int, int] = {}
    for plan in plans:
        if plan.scheme == "bid_rigging":
            wins[plan.lots[0].winner] = wins.get(plan.lots[0].winner, 0) + 1
    ring_rows = [
        (ring.ring_id, suppliers[m].supplier_id, "member", ring.category, str(wins.get(m, 0)))
        for ring in world.rings
        for m in ring.members
    ]
    _write(
        truth_dir / TRUTH_RINGS,
        csv_text(("ring_id", "supplier_id", "role", "category", "designated_wins"), ring_rows),
    )
    related_rows = [
        (
            g.group_id,
            suppliers[m].supplier_id,
            "|".join(g.shared),
            "true" if g.colluding else "false",
            g.ring_id,
            g.category,
        )
        for g in world.related
        for m in g.members
    ]
    _write(
        truth_dir / TRUTH_RELATED_GROUPS,
        csv_text(
            ("group_id", "supplier_id", "shared", "colluding", "ring_id", "category"), related_rows
        ),
    )
    years = list(range(config.history_start.year, config.end.year + 1))
    esg_rows = [
        (
            s.supplier_id,
            f"{s.risk:.4f}",
            *(f"{r:.4f}" for r in s.pillar_risk),
            *(str(s.events_by_year.get(y, 0)) for y in years),
        )
        for s in suppliers
    ]
    esg_header = (
        "supplier_id", "latent_risk", "risk_environment", "risk_social", "risk_governance",
        *(f"incidents_{y}" for y in years),
    )  # fmt: skip
    _write(truth_dir / TRUTH_SUPPLIER_ESG, csv_text(esg_header, esg_rows))
    n = len(plans)
    realised = {scheme: sum(1 for p in plans if p.scheme == scheme) for scheme in SCHEME_RATES}
    audited = {row[0] for row in audits}
    schemed_audited = [p for p in plans if p.scheme and p.ocid in audited]
    confirmed = {row[0] for row in audits if row[1] == "confirmed"}
    rates = {
        "scheme_rates": SCHEME_RATES,
        "scheme_rate_total": round(sum(SCHEME_RATES.values()), 6),
        "realised_counts": realised,
        "realised_rates": {k: round(v / n, 6) for k, v in realised.items()},
        "realised_rate_total": round(sum(realised.values()) / n, 6),
        "processes": n,
        "awarded_processes": sum(1 for d in award_days if d is not None),
        "audit": {
            "rate_clean_small": AUDIT_RATE_CLEAN_SMALL,
            "rate_clean_large": AUDIT_RATE_CLEAN_LARGE,
            "rate_schemed": AUDIT_RATE_SCHEMED,
            "confirm_share": AUDIT_CONFIRM_SHARE,
            "needs_information_share": AUDIT_NEEDS_INFORMATION_SHARE,
            "follow_up_confirm_share": AUDIT_FOLLOW_UP_CONFIRM_SHARE,
            "delay_days": list(AUDIT_DELAY_DAYS),
            "realised_audited_share": round(len(audited) / n, 6),
            "realised_recall": round(
                sum(1 for p in schemed_audited if p.ocid in confirmed)
                / max(1, sum(realised.values())),
                6,
            ),
        },
        "rules": {
            "approval_thresholds_cny": list(APPROVAL_THRESHOLDS),
            "legal_tender_threshold_cny": LEGAL_TENDER_THRESHOLD,
            "minimum_tender_days": MINIMUM_TENDER_DAYS,
            "split_window_days": SPLIT_WINDOW_DAYS,
            "tender_period_violation_share": TENDER_PERIOD_VIOLATION_SHARE,
            "honest_amendment_share": HONEST_AMENDMENT_SHARE,
        },
        "rings": len(world.rings),
        "related_groups": len(world.related),
        "related_groups_colluding": sum(1 for g in world.related if g.colluding),
        "price_index": {k: [round(float(x), 4) for x in v] for k, v in market.index.items()},
    }
    _write(
        truth_dir / TRUTH_RATES,
        orjson.dumps(rates, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2).decode(),
    )
