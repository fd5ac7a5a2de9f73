"""Markets for the bid-rigging detector: labelled bid files, OCDS releases, the demo world.

A market is one source of tenders priced under one set of rules: the Swiss file, the
Brazilian file, the demo world's releases. ``load_market`` turns any of them into one row per
tender with every screen of ``features.procurement.collusion`` (ranks within this market
included) and, when known, the 0/1 label ``collusive``.

Sources and labels:

* a CSV laid out like the García Rodríguez et al. (2022) files (``Tender``, ``Bid_value``,
  ``Collusive_competitor``): a tender is collusive when more than half of its bids are
  (``training.collusion.cv.COLLUSIVE_SHARE_ABOVE``). Without ``Collusive_competitor`` the
  tenders are scored unlabelled.
* OCDS compiled releases (``.jsonl``): a tender is an ocid's lot (``ocid/lot``, or the ocid
  when bids name no lot); its bids are ``bids.details[]`` with a positive ``value.amount``,
  whatever their status (a disqualified cover bid is still a cover bid). Labels come from a
  truth folder laid out like the demo world's (``world.layout.TRUTH_PROCESS_SCHEMES``):
  processes planted as ``bid_rigging`` are collusive, every other process is not, except
  ``related_bidders`` processes, which are dropped (related firms bidding together are a
  collusion of another kind whose prices are not rigged; counting them either way would
  blur what the screens are tested on). Truth is read for evaluation only.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from features.procurement.collusion import collusion_screens, with_market_ranks
from training.collusion.cv import (
    COLLUSIVE_BID_COL,
    COLLUSIVE_SHARE_ABOVE,
    PRICE_COL,
    TENDER_COL,
    CollusionDataError,
)

LABEL = "collusive"
RIGGED_SCHEME = "bid_rigging"
DROPPED_SCHEMES = frozenset({"related_bidders"})


@dataclass
class Market:
    """One market's tenders: ``screens`` indexed by tender, ``labels`` aligned (or None), and
    the bid rows they come from (``tender``, ``price``: what a served model is given)."""

    name: str
    source: Path
    screens: pd.DataFrame
    labels: pd.Series | None
    bids: pd.DataFrame | None = None

    @property
    def labelled(self) -> bool:
        return self.labels is not None


def market_name(path: Path) -> str:
    if path.suffix == ".jsonl" or path.name.endswith(".jsonl.gz"):
        return "demo_world" if path.name == "releases.jsonl" else path.stem
    return path.stem.removeprefix("DB_Collusion_").removesuffix("_processed")


def read_csv_bids(path: Path) -> pd.DataFrame:
    """Bid rows: ``tender``, ``price``, and ``collusive_bid`` when the file has labels."""
    frame = pd.read_csv(path)
    missing = [c for c in (TENDER_COL, PRICE_COL) if c not in frame.columns]
    if missing:
        raise CollusionDataError(f"{path}: missing column(s) {missing}")
    bids = pd.DataFrame({"tender": frame[TENDER_COL], "price": frame[PRICE_COL]})
    if COLLUSIVE_BID_COL in frame.columns:
        bids["collusive_bid"] = frame[COLLUSIVE_BID_COL]
    return bids


def read_ocds_bids(path: Path) -> pd.DataFrame:
    """Bid rows of OCDS compiled releases: ``tender`` (``ocid`` or ``ocid/lot``), ``ocid``,
    ``price``. Bids without a positive amount are skipped."""
    rows: list[tuple[str, str, float]] = []
    with path.open("rb") as lines:
        for line in lines:
            if not line.strip():
                continue
            release = orjson.loads(line)
            ocid = str(release.get("ocid", ""))
            details = (release.get("bids") or {}).get("details") or []
            for bid in details:
                amount = (bid.get("value") or {}).get("amount")
                if not isinstance(amount, int | float) or not amount > 0:
                    continue
                lots = bid.get("relatedLots") or []
                tender = f"{ocid}/{lots[0]}" if lots else ocid
                rows.append((tender, ocid, float(amount)))
    return pd.DataFrame(rows, columns=["tender", "ocid", "price"])


def truth_labels(truth_dir: Path) -> dict[str, int | None]:
    """``ocid → 1`` for planted rigging, ``None`` for processes to drop; others absent (0)."""
    from world.layout import TRUTH_PROCESS_SCHEMES

    labels: dict[str, int | None] = {}
    with (truth_dir / TRUTH_PROCESS_SCHEMES).open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["scheme"] == RIGGED_SCHEME:
                labels[row["ocid"]] = 1
            elif row["scheme"] in DROPPED_SCHEMES:
                labels[row["ocid"]] = None
    return labels


def load_market(
    path: Path, *, min_bids: int = 3, truth_dir: Path | None = None, name: str | None = None
) -> Market:
    """Screen every tender of ``path`` with at least ``min_bids`` bids (module docstring)."""
    if path.suffix == ".jsonl":
        bids = read_ocds_bids(path)
        if truth_dir is not None:
            truth = truth_labels(truth_dir)
            per_bid = bids["ocid"].map(lambda ocid: truth.get(ocid, 0))
            bids = bids[per_bid.notna()].assign(collusive_bid=per_bid[per_bid.notna()])
    else:
        bids = read_csv_bids(path)
    if bids.empty:
        raise CollusionDataError(f"{path}: no bids")
    counts = bids.groupby("tender")["price"].size()
    bids = bids[bids["tender"].map(counts) >= min_bids]
    if bids.empty:
        raise CollusionDataError(f"{path}: no tender with at least {min_bids} bids")
    screens = collusion_screens(bids, tender_col="tender", price_col="price")
    label_name = name or market_name(path)
    screens = with_market_ranks(screens, market=pd.Series(label_name, index=screens.index))
    labels = None
    if "collusive_bid" in bids.columns:
        share = bids.groupby("tender")["collusive_bid"].mean().reindex(screens.index)
        labels = (share > COLLUSIVE_SHARE_ABOVE).astype(int).rename(LABEL)
        if labels.nunique() < 2:
            raise CollusionDataError(f"{path}: fewer than two classes among tenders")
    return Market(
        name=label_name,
        source=path,
        screens=screens,
        labels=labels,
        bids=bids[["tender", "price"]].reset_index(drop=True),
    )


def positive_share(market: Market) -> float:
    return float(np.mean(market.labels)) if market.labels is not None else float("nan")
