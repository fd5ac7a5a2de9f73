"""The planted schemes of the procurement world, as plans.

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
from datetime import date, timedelta

import numpy as np

from world import names
from world.config import WorldConfig
from world.materials import CATEGORIES, CATEGORY_BY_CODE, MaterialCategory
from world.procurement_plans import (
    APPROVAL_THRESHOLDS,
    LEGAL_TENDER_THRESHOLD,
    N_SCHEME_PAIRS_AT_SCALE_1,
    SCHEME_RATES,
    SPLIT_LOWER_THRESHOLD_SHARE,
    SPLIT_WINDOW_DAYS,
    LotPlan,
    Market,
    ProcessPlan,
    honest_plans,
    method_for,
    round_bid,
    set_tender_days,
)

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
            win_amount = round_bid(fair * float(rng.uniform(1.08, 1.2)))
            pattern = str(rng.choice(["cover", "identical", "regular"], p=[0.6, 0.2, 0.2]))
            if pattern == "regular":
                step = float(rng.uniform(0.015, 0.03))
                covers = [round_bid(win_amount * (1 + step * (k + 1))) for k in range(len(others))]
            else:
                covers = [round_bid(win_amount * float(rng.uniform(1.01, 1.06))) for _ in others]
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
                        (outsider[0], round_bid(fair * float(rng.uniform(1.22, 1.4))), status)
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
            set_tender_days(rng, plan)
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
            lot.award = round_bid(lot.market_unit * lot.quantity * (1 + markup))
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
                    (o, round_bid(lot.award * float(rng.uniform(1.02, 1.12))), "valid")
                    for o in others
                ]
            plan.detail = (
                f"buyer={market.buyers[buyer].buyer_id};supplier={market.world.suppliers[supplier].supplier_id};"
                f"category={category.code};markup={markup:.2f}"
            )
            set_tender_days(rng, plan)
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
            set_tender_days(rng, plan)
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
                round_bid(lot.market_unit * lot.quantity * (1 + premium)),
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
            lot.winner, lot.award = winner, round_bid(fair * float(rng.uniform(1.04, 1.12)))
            lot.bids = [(winner, lot.award, "valid")] + [
                (m, round_bid(lot.award * float(rng.uniform(1.01, 1.06))), "valid")
                for m in group.members
                if m != winner
            ]
            n_outsiders = max(int(rng.integers(0, 3)), 3 - len(group.members))
            for outsider in market.bidders(rng, category.code, n_outsiders, exclude=group.members):
                lot.bids.append(
                    (outsider, round_bid(fair * float(rng.uniform(1.12, 1.3))), "valid")
                )
            order = rng.permutation(len(lot.bids))
            lot.bids = [lot.bids[int(k)] for k in order]
            lot.estimate = round(max(lot.award, fair) * float(rng.uniform(1.0, 1.08)), 2)
            method = method_for(lot.estimate, float(rng.random()))
            method = "enquiry" if method == "single" else method
            if lot.estimate >= LEGAL_TENDER_THRESHOLD:
                method = "open"
            plan = ProcessPlan(buyer, day, method, [lot], scheme="related_bidders")
            plan.detail = f"group={group.group_id};shared={'|'.join(group.shared)}"
            set_tender_days(rng, plan)
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
    honest = honest_plans(market, market.config.n_processes - len(schemed))
    _contract_inflation(market, honest, counts["contract_inflation"])
    plans = schemed + honest
    order = sorted(range(len(plans)), key=lambda k: (plans[k].start, k))
    ordered = [plans[k] for k in order]
    for seq, plan in enumerate(ordered, start=1):
        plan.ocid = f"ocds-lodestar-{plan.start.year}-{seq:06d}"
    return ordered
