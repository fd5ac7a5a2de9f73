"""A member's mandatory study (``content.mandatory_month``) for their own console page: this
month's items with their deadline and whether the member has done each, and last month's
items they missed.

Months and deadlines follow the branch assessment (``features.party.assessment``): an item
mandatory in month ``YYYY-MM`` counts as done when the member completed it within that month
(UTC), so its deadline is the month's last day; a graded item (a quiz) also shows whether it
was passed. Read from the store, so the section needs no study model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from store.database import Store
from store.queries import console as queries


@dataclass(frozen=True)
class MandatoryItem:
    """``due`` is the last day of ``month``; ``days_left`` counts from ``as_of``'s day (0 on
    the last day); ``missed`` when the month is over and the item was not completed in it."""

    content_id: str
    title: str | None
    format: str | None
    minutes: float | None
    month: str
    due: date
    days_left: int
    completed_at: datetime | None
    passed_at: datetime | None
    missed: bool


@dataclass(frozen=True)
class Mandatory:
    """This month's items (``current``), last month's missed ones (``missed``)."""

    month: str
    due: date
    current: list[MandatoryItem]
    missed: list[MandatoryItem]

    @property
    def done(self) -> int:
        return sum(item.completed_at is not None for item in self.current)


def _month_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, 1)


def _next_month(start: datetime) -> datetime:
    return (start + timedelta(days=32)).replace(day=1)


def member_mandatory(store: Store, member_key: str, as_of: datetime) -> Mandatory:
    """The member's mandatory items as of ``as_of`` (naive UTC); the caller holds the store."""
    this_start = _month_start(as_of)
    last_start = _month_start(this_start - timedelta(days=1))
    this_end = _next_month(this_start)
    this_month, last_month = this_start.strftime("%Y-%m"), last_start.strftime("%Y-%m")
    rows = queries.member_mandatory(
        store.connection, member_key, [this_month, last_month], start=last_start, end=this_end
    )
    items = []
    for content_id, title, fmt, minutes, month, completed_at, passed_at in rows:
        current = month == this_month
        due = (this_end if current else this_start) - timedelta(days=1)
        items.append(
            MandatoryItem(
                content_id=str(content_id),
                title=title,
                format=fmt,
                minutes=minutes,
                month=str(month),
                due=due.date(),
                days_left=(due.date() - as_of.date()).days,
                completed_at=completed_at,
                passed_at=passed_at,
                missed=not current and completed_at is None,
            )
        )
    return Mandatory(
        month=this_month,
        due=(this_end - timedelta(days=1)).date(),
        current=[item for item in items if item.month == this_month],
        missed=[item for item in items if item.missed],
    )
