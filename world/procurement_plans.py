"""The procurement market of the demo world and its honest processes, as plans.

A plan (``ProcessPlan``, ``LotPlan``) says what happens in a contracting process (method,
buyer, lots, bids, winner, dates) before it is written as an OCDS release. Rates and rules are
the documented constants below; amounts are CNY.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from world import names
from world.config import WorldConfig
from world.materials import CATEGORIES, MaterialCategory
from world.suppliers_gen import SupplierWorld, credit_code, person_name

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
    # category -> log activity of its holders, made once: made per lot, it cost a pass over
    # the category's suppliers for every lot, so generation grew as scale squared
    log_activity: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

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
        log_weights = self.log_activity.get(category)
        if log_weights is None:
            log_weights = self.log_activity[category] = np.log(
                np.array([self.world.suppliers[int(i)].activity for i in holders])
            )
        keys = log_weights - np.log(-np.log(rng.random(len(holders))))
        # the first positions by key usually suffice (a rejection costs one more): sort only
        # those, and the whole category if they do not; the same order either way
        first = 2 * (count + len(exclude)) + 8
        if first < len(keys) and len(keys) > TOP_KEYS_FROM:
            chosen = self._first_acceptable(holders, _descending(keys, first), count, exclude)
            if len(chosen) == count:
                return chosen
        return self._first_acceptable(holders, _descending(keys, len(keys)), count, exclude)

    def _first_acceptable(
        self, holders: np.ndarray, order: np.ndarray, count: int, exclude: tuple[int, ...]
    ) -> list[int]:
        """Up to ``count`` holders taken in ``order`` (positions), skipping ``exclude`` and any
        second member of a ring or related group."""
        chosen: list[int] = []
        links = {self.link_of[i] for i in exclude if i in self.link_of}
        for position in order:
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


# Categories with more holders than this sort only their first keys (``_descending``): at the
# default world's size a full sort is as quick, and it grows with the holders (so with scale).
TOP_KEYS_FROM = 256


def _descending(keys: np.ndarray, first: int) -> np.ndarray:
    """The positions of the ``first`` largest ``keys``, largest first, equal keys in position
    order: the head of ``np.argsort(-keys, kind="stable")``, without sorting the rest (unless
    equal keys straddle the head's end, which random continuous keys never do)."""
    if first >= len(keys):
        return np.argsort(-keys, kind="stable")
    head = np.argpartition(-keys, first - 1)[:first]
    return head[np.lexsort((head, -keys[head]))]


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


def build_market(config: WorldConfig, world: SupplierWorld) -> Market:
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


def method_for(value: float, u: float) -> str:
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


def round_bid(amount: float) -> float:
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
        (b, round_bid(fair * float(f)), s)
        for b, f, s in zip(bidders, factors, statuses, strict=True)
    ]
    valid = sorted((amount, b) for b, amount, s in lot.bids if s == "valid")
    pick = 1 if len(valid) > 1 and rng.random() < NOT_LOWEST_WINNER_SHARE else 0
    lot.award, lot.winner = valid[pick]


def _direct(market: Market, rng: np.random.Generator, lot: LotPlan, premium: float = 0.02) -> None:
    supplier = market.bidders(rng, lot.category.code, 1)[0]
    lot.winner = supplier
    lot.award = round_bid(lot.market_unit * lot.quantity * float(np.exp(rng.normal(premium, 0.04))))
    lot.bids = []


def _quantity(category: MaterialCategory, noise: float) -> float:
    if category.kind == "services":
        return 1.0
    return float(max(1, round(category.quantity_median * math.exp(noise))))


def honest_plans(market: Market, count: int) -> list[ProcessPlan]:
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
        method = method_for(estimate, float(method_u[i]))
        lots = [LotPlan(category, spec, quantity, unit, estimate, [], -1, 0.0)]
        if (
            method == "open"
            and estimate >= 1_000_000
            and rng.random() < MULTI_LOT_SHARE
            and quantity >= 2
        ):
            lots = _split_into_lots(market, rng, lots[0], day, buyer, int(rng.integers(2, 4)))
        plan = ProcessPlan(buyer, day, method, lots)
        set_tender_days(rng, plan)
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


def set_tender_days(rng: np.random.Generator, plan: ProcessPlan) -> None:
    if plan.method == "single":
        plan.tender_days = 0
        return
    low, high = TENDER_DAYS[plan.method]
    if plan.method == "open" and rng.random() < TENDER_PERIOD_VIOLATION_SHARE:
        low, high = 10, MINIMUM_TENDER_DAYS - 1
    plan.tender_days = int(rng.integers(low, high + 1))
