"""A tender's bidders, screened and ranked by a blend of bid price and ESG risk.

Who is ranked (``tender_bids``): every supplier named as a tenderer on a ``valid`` bid of the
tender with a positive amount, at its lowest such bid (a consortium bid counts for each of its
tenderers). Disqualified, pending and withdrawn bids are not offers the buyer can accept.

What removes a bidder: a gate that bars what the tender buys (``features.esg.knockouts``): a
supplier-wide knock-out (debarment, court defaulter, safety blacklist, a major accident in the
last 36 months ...) or a restriction in one of the tender's item categories (a missing or
expired MA/KA mark or licence for it). A restriction in a category the tender does not buy
removes no one. A removed bidder is listed apart, with its gates and their evidence, and never
ranked, whatever its price or score. A tender whose items carry no category is checked against
the supplier-wide knock-outs only (there is no category to check).

The blend, for each remaining bidder with a known ESG band (lower is better)::

    price_premium = bid / lowest eligible bid − 1          (0 for the cheapest, 0.10 = 10 % dearer)
    blended       = (1 − w) × price_premium + w × ESG score / 100

``w`` is ``esg_weight`` in [0, 1] (default ``DEFAULT_ESG_WEIGHT``, 0.3): 0 ranks on price
alone, 1 on ESG risk alone. The premium is over the lowest bid *after* knock-outs, so a
knocked-out bidder's price never sets the reference. It is a relative premium rather than a
min-max scale so that a bidder's figure does not depend on how expensive the dearest bidder
is: with w = 0.3, ten ESG points (0.1 × 0.3 = 0.03) are worth a 0.03 / 0.7 ≈ 4.3 % premium,
in every tender. Ties are broken by price, then by supplier id (stable across runs).

A bidder whose band is ``unknown`` (no history to score: the evidence rule says missing
history is never safe) is not given a blended figure and is placed after every scored
bidder, cheapest first, marked for manual review. No bidder with no data can outrank one
that was screened. Bidders absent from the supplier register are treated the same way.

``recommended`` is the first ranked bidder whose action allows an award without further
review: band negligible, low or medium (high needs a corrective plan and an audit first,
severe is rejected or escalated); ``None`` if there is none.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from features.esg.build import supplier_rows
from features.esg.history import SupplierHistory
from features.esg.knockouts import gates_for
from store.database import Store

if TYPE_CHECKING:
    from models.esg.model import EsgModel

DEFAULT_ESG_WEIGHT = 0.3
UNKNOWN_BAND = "unknown"
AWARDABLE_BANDS = frozenset({"negligible", "low", "medium"})
VALID_BID_STATUS = "valid"

# column names of the bid frame
SUPPLIER_ID = "supplier_id"
BID_ID = "bid_id"
BID_AMOUNT = "bid_amount"
BID_CURRENCY = "bid_currency"


class TenderNotFoundError(LookupError):
    """No contracting process with this ocid in the store."""


class NoBidsError(ValueError):
    """The tender exists but has no valid, priced bid to rank."""


class ScoredSupplier(Protocol):
    """What the ranking reads of an ESG assessment (``models.esg.model.EsgAssessment``)."""

    @property
    def supplier_id(self) -> str: ...
    @property
    def score(self) -> float | None: ...
    @property
    def band(self) -> str: ...


@dataclass(frozen=True)
class Offer:
    """A supplier's lowest valid bid on a tender."""

    supplier_id: str
    bid_id: str
    bid_amount: float
    currency: str | None


@dataclass(frozen=True)
class TenderBids:
    """A tender's rankable offers, one per supplier, lowest bid first; and what the screen is
    as of."""

    ocid: str
    title: str | None
    as_of: date  # the bid deadline, else the release date: when the bids were evaluated
    categories: tuple[str, ...]  # material categories of the tender's items
    offers: tuple[Offer, ...]

    @property
    def bids(self) -> pd.DataFrame:
        """The offers as a frame: ``SUPPLIER_ID``, ``BID_ID``, ``BID_AMOUNT``,
        ``BID_CURRENCY`` (what ``rank`` also takes)."""
        return pd.DataFrame(
            [(o.supplier_id, o.bid_id, o.bid_amount, o.currency) for o in self.offers],
            columns=[SUPPLIER_ID, BID_ID, BID_AMOUNT, BID_CURRENCY],
        )


@dataclass(frozen=True)
class RankedBidder:
    rank: int  # 1 = best
    supplier_id: str
    bid_id: str
    bid_amount: float
    currency: str | None
    price_premium: float  # bid / lowest eligible bid − 1
    esg_score: float | None  # None when the band is unknown
    band: str
    blended: float | None  # None when the band is unknown
    manual_review: bool  # unknown band: a person must screen it before any award
    assessment: Any  # the EsgAssessment, for its pillars and reasons (None if not in register)
    explanation_en: str
    explanation_zh: str


@dataclass(frozen=True)
class ExcludedBidder:
    supplier_id: str
    bid_id: str
    bid_amount: float
    currency: str | None
    knockouts: Sequence[Any]  # features.esg.knockouts.KnockOut, at least one


@dataclass(frozen=True)
class TenderRanking:
    ocid: str
    as_of: date
    esg_weight: float
    lowest_eligible_bid: float | None
    ranked: list[RankedBidder] = field(default_factory=list)
    excluded: list[ExcludedBidder] = field(default_factory=list)

    @property
    def recommended(self) -> str | None:
        return next(
            (
                b.supplier_id
                for b in self.ranked
                if b.band in AWARDABLE_BANDS and not b.manual_review
            ),
            None,
        )


def _as_date(value: Any) -> date | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return pd.Timestamp(value).date()


def tender_bids(store: Store, ocid: str) -> TenderBids:
    """The tender's lowest valid bid per supplier. Raises ``TenderNotFoundError`` when the
    ocid is not in ``processes`` and ``NoBidsError`` when no valid priced bid remains.

    Read with three queries into plain rows, no frame: it runs under the store lock on every
    ranking request."""
    connection = store.connection
    process = connection.execute(
        "SELECT title, tender_period_end, release_date FROM processes WHERE ocid = ?", [ocid]
    ).fetchone()
    if process is None:
        raise TenderNotFoundError(ocid)
    title, deadline, released = process
    as_of = _as_date(deadline) or _as_date(released) or date.today()
    categories = sorted(
        {
            str(category)
            for (category,) in connection.execute(
                "SELECT classification_id FROM items "
                "WHERE ocid = ? AND classification_id IS NOT NULL",
                [ocid],
            ).fetchall()
        }
    )
    offers = sorted(
        (
            (float(amount), str(bid_id), str(supplier_id), _currency(currency))
            for bid_id, amount, currency, tenderers in connection.execute(
                "SELECT bid_id, value_amount, value_currency, tenderer_ids "
                "FROM bids WHERE ocid = ? AND status = ? AND value_amount > 0",
                [ocid, VALID_BID_STATUS],
            ).fetchall()
            if math.isfinite(amount)
            for supplier_id in tenderers or ()
            if supplier_id is not None
        ),
        key=lambda offer: (offer[0], offer[1]),
    )
    lowest: dict[str, Offer] = {}
    for amount, bid_id, supplier_id, currency in offers:
        lowest.setdefault(supplier_id, Offer(supplier_id, bid_id, amount, currency))
    if not lowest:
        raise NoBidsError(f"tender {ocid} has no valid priced bid to rank")
    return TenderBids(
        ocid=ocid,
        title=title if isinstance(title, str) else None,
        as_of=as_of,
        categories=tuple(categories),
        offers=tuple(lowest.values()),
    )


def _is_unknown(assessment: ScoredSupplier | None) -> bool:
    if assessment is None or assessment.band == UNKNOWN_BAND:
        return True
    if getattr(assessment, "unknown", False):
        return True
    score = assessment.score
    return score is None or not math.isfinite(float(score))


def _currency(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _explanations(
    premium: float, score: float | None, blended: float | None, weight: float, in_register: bool
) -> tuple[str, str]:
    price_en = f"bid {premium:.1%} above the lowest eligible bid"
    price_zh = f"报价高于最低有效报价 {premium:.1%}"
    if score is None or blended is None:
        if not in_register:
            return (
                f"{price_en}; not in the supplier register: no ESG data, manual review "
                "before any award",
                f"{price_zh}；不在供应商库中，无ESG数据，授标前须人工审核",
            )
        return (
            f"{price_en}; ESG risk unknown (no history to score): manual review before any "
            "award, never treated as safe",
            f"{price_zh}；ESG风险未知（无可评估的历史记录），授标前须人工审核，不视为安全",
        )
    terms = f"{1 - weight:.2f} × {premium:.4f} + {weight:.2f} × {score / 100:.4f}"
    formula = f"blended {blended:.4f} = {terms}"
    return (
        f"{price_en}; ESG risk score {score:.1f}/100; {formula}",
        f"{price_zh}；ESG风险评分 {score:.1f}/100；综合值 {formula.removeprefix('blended ')}",
    )


def _offers(bids: pd.DataFrame | Sequence[Offer]) -> list[Offer]:
    if not isinstance(bids, pd.DataFrame):
        return list(bids)
    return [
        Offer(
            str(getattr(row, SUPPLIER_ID)),
            str(getattr(row, BID_ID)),
            float(getattr(row, BID_AMOUNT)),
            _currency(getattr(row, BID_CURRENCY)),
        )
        for row in bids.itertuples(index=False)
    ]


def rank(
    bids: pd.DataFrame | Sequence[Offer],
    assessments: Mapping[str, ScoredSupplier],
    knockouts: Mapping[str, Sequence[Any]],
    *,
    esg_weight: float = DEFAULT_ESG_WEIGHT,
    ocid: str = "",
    as_of: date | None = None,
) -> TenderRanking:
    """Rank the bidders of ``bids`` (one per supplier: ``TenderBids.offers``, or a frame with
    its columns, as ``TenderBids.bids``).

    ``assessments`` maps supplier id to its ESG assessment (absent: not in the register);
    ``knockouts`` maps supplier id to its knock-outs (absent or empty: none)."""
    if not 0.0 <= esg_weight <= 1.0 or math.isnan(esg_weight):
        raise ValueError(f"esg_weight must be in [0, 1], got {esg_weight}")
    excluded: list[ExcludedBidder] = []
    eligible: list[tuple[str, str, float, str | None]] = []
    for offer in _offers(bids):
        supplier_id, bid_id = offer.supplier_id, offer.bid_id
        amount, currency = offer.bid_amount, offer.currency
        found = list(knockouts.get(supplier_id) or [])
        if found:
            excluded.append(ExcludedBidder(supplier_id, bid_id, amount, currency, found))
        else:
            eligible.append((supplier_id, bid_id, amount, currency))
    lowest = min((amount for _, _, amount, _ in eligible), default=None)

    scored: list[tuple[tuple[float, float, str], RankedBidder]] = []
    unknown: list[tuple[tuple[float, float, str], RankedBidder]] = []
    for supplier_id, bid_id, amount, currency in eligible:
        assert lowest is not None
        premium = amount / lowest - 1.0
        assessment = assessments.get(supplier_id)
        is_unknown = _is_unknown(assessment)
        score = None if is_unknown or assessment is None else float(assessment.score or 0.0)
        blended = None if score is None else (1 - esg_weight) * premium + esg_weight * score / 100
        en, zh = _explanations(premium, score, blended, esg_weight, assessment is not None)
        bidder = RankedBidder(
            rank=0,
            supplier_id=supplier_id,
            bid_id=bid_id,
            bid_amount=amount,
            currency=currency,
            price_premium=premium,
            esg_score=score,
            band=UNKNOWN_BAND if is_unknown or assessment is None else assessment.band,
            blended=blended,
            manual_review=is_unknown,
            assessment=assessment,
            explanation_en=en,
            explanation_zh=zh,
        )
        if blended is None:
            unknown.append(((premium, amount, supplier_id), bidder))
        else:
            scored.append(((blended, amount, supplier_id), bidder))
    ordered = [b for _, b in sorted(scored, key=lambda p: p[0])] + [
        b for _, b in sorted(unknown, key=lambda p: p[0])
    ]
    ranked = [replace(bidder, rank=i + 1) for i, bidder in enumerate(ordered)]
    excluded.sort(key=lambda b: (b.bid_amount, b.supplier_id))
    return TenderRanking(
        ocid=ocid,
        as_of=as_of or date.today(),
        esg_weight=esg_weight,
        lowest_eligible_bid=lowest,
        ranked=ranked,
        excluded=excluded,
    )


def unique_knockouts(knockouts: Iterable[Any]) -> list[Any]:
    """Knock-outs listed more than once, each once (by code, category, evidence and date: the
    same missing mark in two categories is two restrictions)."""
    seen: set[tuple[Any, ...]] = set()
    kept = []
    for knockout in knockouts:
        key = (
            getattr(knockout, "code", None),
            getattr(knockout, "category", None),
            str(getattr(knockout, "evidence", "")),
            getattr(knockout, "date", None),
        )
        if key not in seen:
            seen.add(key)
            kept.append(knockout)
    return kept


# --------------------------------------------------------------------------------------------
# The screen: knock-outs, features and the model, for a set of suppliers


@dataclass(frozen=True)
class Screen:
    """Per supplier id: its assessment (absent when not in the register), the gates that bar
    it from what was screened (``knockouts``: the supplier-wide knock-outs, and with
    ``categories`` the restrictions in them) and its category ``restrictions`` (of the
    categories checked). Ids with nothing barring or restricted are absent from those."""

    as_of: date
    assessments: dict[str, Any]
    knockouts: dict[str, list[Any]]
    restrictions: dict[str, list[Any]] = field(default_factory=dict)


def screen_suppliers(
    history: SupplierHistory,
    model: EsgModel,
    supplier_ids: Sequence[str],
    as_of: date,
    *,
    categories: Sequence[str] = (),
    k: int = 5,
) -> Screen:
    """Gates and the model's assessment with its top ``k`` reasons, of every id in the
    register, as of ``as_of``.

    Without ``categories`` (a supplier's screen, the GRI report) each supplier is checked for
    the supplier-wide knock-outs, and its register categories for restrictions that bar
    nothing else. With ``categories`` (a tender's) those categories are checked and a
    restriction in one of them bars the supplier. Ids not in the register get no assessment
    (the ranking treats them as unknown) and no gates (nothing is known about them).

    Scores come from ``EsgModel.assess_rows`` on ``supplier_rows``: the reference path
    (``assess`` on a ``supplier_features`` frame) gives the same, at several times the cost
    for the few suppliers of a request."""
    known = [sid for sid in dict.fromkeys(supplier_ids) if sid in history]
    knockouts: dict[str, list[Any]] = {}
    restrictions: dict[str, list[Any]] = {}
    for sid in known:
        gates = gates_for(history, sid, as_of, list(categories) if categories else None)
        barring = gates.barring(categories) if categories else list(gates.knockouts)
        if barring:
            knockouts[sid] = barring
        if gates.restrictions:
            restrictions[sid] = list(gates.restrictions)
    assessments: dict[str, Any] = {}
    if known:
        rows = supplier_rows(history, known, as_of)
        for assessment in model.assess_rows(rows, k=k, history=history):
            assessments[str(assessment.supplier_id)] = assessment
    return Screen(
        as_of=as_of, assessments=assessments, knockouts=knockouts, restrictions=restrictions
    )


def rank_bidders(
    tender: TenderBids,
    history: SupplierHistory,
    model: EsgModel,
    *,
    esg_weight: float = DEFAULT_ESG_WEIGHT,
    as_of: date | None = None,
    k: int = 5,
) -> TenderRanking:
    """The tender's bidders (``tender_bids``), screened as of ``as_of`` (default: the bid
    deadline) against the tender's item categories, and ranked (module docstring). Raises
    ``ValueError`` for a weight outside [0, 1]."""
    if not 0.0 <= esg_weight <= 1.0:
        raise ValueError(f"esg_weight must be in [0, 1], got {esg_weight}")
    when = as_of or tender.as_of
    ids = [offer.supplier_id for offer in tender.offers]
    screen = screen_suppliers(history, model, ids, when, categories=tender.categories, k=k)
    return rank(
        tender.offers,
        screen.assessments,
        screen.knockouts,
        esg_weight=esg_weight,
        ocid=tender.ocid,
        as_of=when,
    )
