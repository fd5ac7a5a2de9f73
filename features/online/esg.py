"""The ESG source of the online layer: the ``SupplierHistory`` the ESG model scores from, kept
current by pushed register, certification, event and delivery rows.

What a push holds. Tables: ``suppliers`` (the register: rows without its ESG columns, such as
the procurement source's fingerprint frames, are not applied and count as ignored),
``supplier_certifications`` and ``supplier_events`` (each row adds or replaces the row of its
store key: ``(supplier_id, cert_type, cert_no)``, ``event_id``), and the procurement tables
deliveries come from (``processes``, ``awards``, ``contracts``, ``milestones``): each process
with a ``processes`` row in the push comes whole and its deliveries replace those it had (the
procurement source's rule: ``load_process_frames`` reads exactly that).

Point in time. Events, certificates and deliveries are kept at their own dates, whenever they
arrive, and every feature as of ``t`` reads only what is dated before ``t``; after any sequence
of pushes the history equals a full build (``SupplierHistory.from_frames``) on the same rows.
The entity is the supplier: a push rebuilds the record of every supplier it touches.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.esg.history import SupplierHistory
from features.online.source import Published, PushOutcome
from store.database import StoreReader

ESG_SOURCE = "esg"
ESG_TABLES = frozenset(
    {
        "suppliers",
        "supplier_certifications",
        "supplier_events",
        "processes",
        "awards",
        "contracts",
        "milestones",
    }
)


@dataclass(frozen=True)
class EsgPushOutcome(PushOutcome):
    """An ESG push's outcome (``new``/``changed``: supplier ids) and the history after it."""

    history: SupplierHistory | None = None


class EsgSource:
    """The supplier history behind the online layer's read/write interface.

    ``view()`` is the current ``SupplierHistory`` (immutable; take it once per request);
    ``push(batch)`` applies new or changed rows and returns the suppliers whose records are
    new or changed (what to re-screen)."""

    name = ESG_SOURCE
    tables = ESG_TABLES

    def __init__(self, history: SupplierHistory) -> None:
        self._published = Published(history)

    @classmethod
    def from_store(
        cls, store: StoreReader, *, category_factors: Mapping[str, float] | None = None,
        factors_path: Path | None = None,
    ) -> EsgSource:  # fmt: skip
        return cls(
            SupplierHistory.from_store(
                store, category_factors=category_factors, factors_path=factors_path
            )
        )

    @property
    def version(self) -> int:
        return self._published.version

    def view(self) -> SupplierHistory:
        return self._published.current

    def push(self, batch: Mapping[str, pd.DataFrame]) -> EsgPushOutcome:
        started = time.perf_counter()
        mine = {table: frame for table, frame in batch.items() if table in self.tables}
        rows_in = sum(len(frame) for frame in mine.values())
        with self._published.lock:
            update = self._published.current.updated(mine)
            if update.history is not self._published.current:
                self._published.publish(update.history)
            version = self._published.version
        touched = {*update.new, *update.changed}
        return EsgPushOutcome(
            source=self.name,
            new=update.new,
            changed=update.changed,
            unchanged=len(_pushed_suppliers(mine) - touched),
            rows_in=rows_in,
            ignored_rows=update.ignored_rows,
            version=version,
            pushed_at=started,
            seconds=time.perf_counter() - started,
            history=update.history,
        )


def _pushed_suppliers(batch: Mapping[str, pd.DataFrame]) -> set[str]:
    """The supplier ids named by the batch's register, certification and event rows."""
    return {
        str(supplier_id)
        for table in ("suppliers", "supplier_certifications", "supplier_events")
        if table in batch and "supplier_id" in batch[table].columns
        for supplier_id in batch[table]["supplier_id"]
    }
