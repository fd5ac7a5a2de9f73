"""Knock-outs: gates a supplier must pass before any model score counts (DOMAIN.md).

Two kinds of gate, because they bar different things:

* **supplier-wide** (``SUPPLIER_WIDE_CODES``): the supplier may not be bought from at all.
  ``DEBARMENT``, ``COURT_DEFAULTER``, ``SERIOUS_VIOLATION``, ``TAX_VIOLATION``: a listing in
  force at ``as_of`` (began on or before it, ``listed_until`` after it; without
  ``listed_until`` the default term of ``DEFAULT_LISTING_YEARS``); ``SAFETY_BLACKLIST``: the
  production-safety blacklist, one year, three on a repeat listing (when the record gives no
  end); ``MAJOR_ACCIDENT``: an accident of grade larger (较大) or worse, or with three or more
  deaths, in the 36 months up to ``as_of``.
* **category-specific** (``CATEGORY_CODES``), a *restriction*: buying that catalogue category
  from the supplier is not allowed, its other categories are untouched.
  ``MISSING_SAFETY_MARK``: a category needing a coal-mine product safety mark
  (``MARK_REQUIRED_CATEGORIES``) without an MA/KA mark for it that is in force at ``as_of``
  and backed by a document (the evidence rule: a mark without a document is missing; an
  expired one says so); ``MISSING_LICENCE``: a licence the category needs
  (``REQUIRED_LICENCES``) missing, expired or without a document.

Each ``KnockOut`` names its code, a sentence in English and Chinese, the evidence (the
document reference of the event or certificate; the event id when the record has none), its
date (of the event or listing; for a restriction, the date checked) and, for a restriction,
its ``category``. Everything dated on or before ``as_of`` is read (a listing published today
applies today).

``gates_for(history, supplier_id, as_of, categories=None)`` gives both kinds: the supplier
screen checks every category of the supplier's register entry (``categories=None``) and is
*eligible* without a supplier-wide knock-out, whatever its restrictions; a tender checks the
categories it buys and bars a bidder with a supplier-wide knock-out or a restriction in one of
them (``Gates.barring``). ``knockouts_for(..., category)`` is that list for one category
(``None``: supplier-wide only).

The discharge permit is not a gate here: traders of chemicals, steel and cement need none, and
the register does not say who produces; it stays a signal for the analyst.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from features.esg.history import Certification, Event, SupplierHistory, SupplierRecord

MARK_REQUIRED_CATEGORIES: frozenset[str] = frozenset(
    {"M01", "M03", "M04", "M05", "M06", "M07", "M08", "M09", "M10", "M12"}
)
"""Catalogue categories used underground that need a valid MA (or KA) mark: the catalogue's
``needs_ma`` flag (``world.suppliers_gen.CATEGORIES``; a test keeps them equal)."""
MARK_TYPES: frozenset[str] = frozenset({"MA", "KA"})
REQUIRED_LICENCES: dict[str, tuple[str, ...]] = {
    "M09": ("explosives_permit", "safety_permit"),  # mine explosives (民爆物品)
    "M19": ("safety_permit",),  # on-site maintenance services
}

GOVERNANCE_LISTINGS: dict[str, str] = {
    "debarment": "DEBARMENT",
    "court_defaulter": "COURT_DEFAULTER",
    "serious_violation_list": "SERIOUS_VIOLATION",
    "tax_violation": "TAX_VIOLATION",
}
DEFAULT_LISTING_YEARS: dict[str, int] = {
    "debarment": 3,
    "court_defaulter": 3,
    "serious_violation_list": 3,
    "tax_violation": 3,
    "safety_blacklist": 1,
}
REPEAT_SAFETY_BLACKLIST_YEARS = 3
MAJOR_ACCIDENT_GRADES = frozenset({"larger", "major", "extraordinary"})
MAJOR_ACCIDENT_DEATHS = 3
MAJOR_ACCIDENT_WINDOW = timedelta(days=3 * 365 + 1)

_TEXTS: dict[str, tuple[str, str]] = {
    "DEBARMENT": ("debarred from procurement until {until}", "被禁止参与采购，期限至 {until}"),
    "COURT_DEFAULTER": (
        "listed as a court judgment defaulter until {until}",
        "被列为失信被执行人，期限至 {until}",
    ),
    "SERIOUS_VIOLATION": (
        "on the serious-violation enterprise list until {until}",
        "被列入严重违法失信企业名单，期限至 {until}",
    ),
    "TAX_VIOLATION": (
        "on the major tax-violation list until {until}",
        "被列入重大税收违法失信主体名单，期限至 {until}",
    ),
    "SAFETY_BLACKLIST": (
        "on the production-safety blacklist until {until}",
        "被纳入安全生产失信惩戒名单，期限至 {until}",
    ),
    "MISSING_SAFETY_MARK": (
        "no valid coal-mine product safety mark (MA/KA) with its document for category "
        "{category}{detail}",
        "类别 {category} 无有效且有证明文件的煤矿矿用产品安全标志（MA/KA）{detail_zh}",
    ),
    "MISSING_LICENCE": (
        "no valid {licence} with its document for category {category}{detail}",
        "类别 {category} 缺少有效且有证明文件的 {licence}{detail_zh}",
    ),
    "MAJOR_ACCIDENT": (
        "production-safety accident of grade {grade} with {deaths} death(s) on {when}",
        "{when} 发生{grade}生产安全事故，死亡 {deaths} 人",
    ),
}
_GRADE_ZH = {"general": "一般", "larger": "较大", "major": "重大", "extraordinary": "特别重大"}


SUPPLIER_WIDE_CODES: frozenset[str] = frozenset(
    {*GOVERNANCE_LISTINGS.values(), "SAFETY_BLACKLIST", "MAJOR_ACCIDENT"}
)
"""Gates that bar the supplier from every purchase."""
CATEGORY_CODES: frozenset[str] = frozenset({"MISSING_SAFETY_MARK", "MISSING_LICENCE"})
"""Gates that bar one catalogue category only (restrictions)."""


@dataclass(frozen=True)
class KnockOut:
    code: str
    description_en: str
    description_zh: str
    evidence: str | None
    date: date | None
    category: str | None = None  # the category a restriction bars; None: supplier-wide

    @property
    def supplier_wide(self) -> bool:
        return self.category is None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["date"] = None if self.date is None else self.date.isoformat()
        return out


@dataclass(frozen=True)
class Gates:
    """What a supplier fails at a date: ``knockouts`` bar it from everything (supplier-wide,
    in a stable order: listings, then accidents); ``restrictions`` bar one category each (in
    the order of the categories checked)."""

    knockouts: tuple[KnockOut, ...] = ()
    restrictions: tuple[KnockOut, ...] = ()

    @property
    def eligible(self) -> bool:
        """No supplier-wide knock-out: it may be bought from, outside its restrictions."""
        return not self.knockouts

    @property
    def restricted_categories(self) -> tuple[str, ...]:
        """The categories it may not be bought from, in the order checked, each once."""
        return tuple(dict.fromkeys(r.category for r in self.restrictions if r.category))

    def barring(self, categories: Iterable[str]) -> list[KnockOut]:
        """Every gate that bars buying any of ``categories`` from the supplier: the
        supplier-wide knock-outs, then the restrictions of those categories."""
        wanted = set(categories)
        return [*self.knockouts, *(r for r in self.restrictions if r.category in wanted)]


def _years_later(day: date, years: int) -> date:
    return day + timedelta(days=365 * years)


def listing_until(event: Event, earlier_listings: int) -> date:
    """End of a listing: its ``listed_until``, else the default term (a repeat safety
    blacklisting lasts three years)."""
    if event.listed_until is not None:
        return event.listed_until
    years = DEFAULT_LISTING_YEARS.get(event.event_type, 3)
    if event.event_type == "safety_blacklist" and earlier_listings > 0:
        years = REPEAT_SAFETY_BLACKLIST_YEARS
    return _years_later(event.event_date, years)


def active_listings(
    events: list[Event], as_of: date, *, inclusive: bool
) -> list[tuple[Event, date]]:
    """Listing events (governance lists and the safety blacklist) in force at ``as_of``, with
    their end dates. ``inclusive``: an event dated ``as_of`` counts (knock-outs) or not
    (features, which see only what is dated before)."""
    seen: dict[str, int] = {}
    active = []
    for event in events:
        if event.event_type not in DEFAULT_LISTING_YEARS:
            continue
        if event.event_date > as_of or (not inclusive and event.event_date == as_of):
            continue
        until = listing_until(event, seen.get(event.event_type, 0))
        seen[event.event_type] = seen.get(event.event_type, 0) + 1
        if until > as_of:
            active.append((event, until))
    return active


def is_major_accident(event: Event) -> bool:
    return event.event_type == "safety_accident" and (
        event.deaths >= MAJOR_ACCIDENT_DEATHS or (event.severity or "") in MAJOR_ACCIDENT_GRADES
    )


def _evidence(event: Event) -> str:
    return event.evidence_document or event.event_id


def _certificate_gap(
    certifications: list[Certification], types: frozenset[str], category: str, as_of: date
) -> tuple[bool, str, str, str | None]:
    """(missing?, English detail, Chinese detail, evidence of the closest certificate)."""
    held = [c for c in certifications if c.cert_type in types and c.category == category]
    if any(c.valid_at(as_of) for c in held):
        return False, "", "", None
    if not held:
        return True, " (none on record)", "（无记录）", None
    latest = max(held, key=lambda c: c.valid_to or date.min)
    if latest.evidence_document is None:
        return True, " (claimed without a document)", "（声明但无证明文件）", latest.cert_no
    if latest.valid_to is not None and latest.valid_to < as_of:
        when = latest.valid_to.isoformat()
        return True, f" (expired {when})", f"（已于 {when} 过期）", latest.evidence_document
    return True, " (not yet in force)", "（尚未生效）", latest.evidence_document


def _listing_knockouts(record: SupplierRecord, as_of: date) -> list[KnockOut]:
    out = []
    for event, until in active_listings(record.events, as_of, inclusive=True):
        code = GOVERNANCE_LISTINGS.get(event.event_type, "SAFETY_BLACKLIST")
        en, zh = _TEXTS[code]
        stamp = until.isoformat()
        out.append(
            KnockOut(code, en.format(until=stamp), zh.format(until=stamp), _evidence(event),
                     event.event_date)
        )  # fmt: skip
    return out


def _accident_knockouts(record: SupplierRecord, as_of: date) -> list[KnockOut]:
    out = []
    window_start = as_of - MAJOR_ACCIDENT_WINDOW
    for event in record.events:
        if window_start < event.event_date <= as_of and is_major_accident(event):
            grade = event.severity or "larger"
            en, zh = _TEXTS["MAJOR_ACCIDENT"]
            when = event.event_date.isoformat()
            out.append(
                KnockOut(
                    "MAJOR_ACCIDENT",
                    en.format(grade=grade, deaths=event.deaths, when=when),
                    zh.format(grade=_GRADE_ZH.get(grade, grade), deaths=event.deaths, when=when),
                    _evidence(event),
                    event.event_date,
                )
            )
    return out


def _category_restrictions(record: SupplierRecord, category: str, as_of: date) -> list[KnockOut]:
    out = []
    if category in MARK_REQUIRED_CATEGORIES:
        missing, detail, detail_zh, evidence = _certificate_gap(
            record.certifications, MARK_TYPES, category, as_of
        )
        if missing:
            en, zh = _TEXTS["MISSING_SAFETY_MARK"]
            out.append(
                KnockOut(
                    "MISSING_SAFETY_MARK",
                    en.format(category=category, detail=detail),
                    zh.format(category=category, detail_zh=detail_zh),
                    evidence,
                    as_of,
                    category,
                )
            )
    for licence in REQUIRED_LICENCES.get(category, ()):
        missing, detail, detail_zh, evidence = _certificate_gap(
            record.certifications, frozenset({licence}), category, as_of
        )
        if missing:
            en, zh = _TEXTS["MISSING_LICENCE"]
            out.append(
                KnockOut(
                    "MISSING_LICENCE",
                    en.format(licence=licence, category=category, detail=detail),
                    zh.format(licence=licence, category=category, detail_zh=detail_zh),
                    evidence,
                    as_of,
                    category,
                )
            )
    return out


def gates_for(
    history: SupplierHistory,
    supplier_id: str,
    as_of: date,
    categories: Sequence[str] | None = None,
) -> Gates:
    """The supplier-wide knock-outs and the restrictions of ``categories`` (``None``: every
    category of the supplier's register entry) at ``as_of``."""
    record = history.get(supplier_id)
    checked = record.categories if categories is None else categories
    return Gates(
        knockouts=(*_listing_knockouts(record, as_of), *_accident_knockouts(record, as_of)),
        restrictions=tuple(
            restriction
            for category in dict.fromkeys(checked)
            for restriction in _category_restrictions(record, category, as_of)
        ),
    )


def knockouts_for(
    history: SupplierHistory, supplier_id: str, as_of: date, category: str | None = None
) -> list[KnockOut]:
    """Every gate that bars buying ``category`` from the supplier at ``as_of`` (empty: it
    passes): the supplier-wide knock-outs and that category's restrictions. ``None`` (no
    category being bought): the supplier-wide knock-outs only."""
    categories = () if category is None else (category,)
    return gates_for(history, supplier_id, as_of, categories).barring(categories)
