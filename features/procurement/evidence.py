"""The evidence behind a procurement warning: what an auditor opens after the alert.

Each function reads an open ``Store`` (read-only is enough) and returns DataFrames; none
writes and none decrypts. Related bidders are matched on the store's keyed fingerprints
(HMAC of the telephone, address, legal representative and bank account), never on the values
themselves, so the evidence shows *that* two bidders share a telephone, not the number.

Point in time. ``before`` is exclusive and is normally the warning's ``decision_date``: the
history shown is what the features saw (see ``features.procurement.history``). A process's
own facts come from its rows; another process counts from its *award* date (the latest date of
its active awards), the date its outcome became known, exactly as in the feature history. With
the same window, the counts here equal the features: ``pair_history`` within 365 days is
``buyer_supplier_award_count_365d``, ``bidder_cobids`` is
``bidder_group_shared_tenders_365d`` and ``related_bidders`` per kind is
``related_bidder_pairs_<kind>`` (a test checks all three on the small world).

Amounts keep their currency (bid prices are commercial secrets: show them to auditors only).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from itertools import combinations, pairwise
from typing import Any

import numpy as np
import pandas as pd

from features.procurement.history import ProcessRecord, ProcurementHistory
from features.procurement.redflags import ProcessEvidence
from features.procurement.specs import CATEGORICAL_FEATURES, FEATURES
from store.database import Store

RELATIONSHIP_WINDOW_DAYS = 365
"""The window of the relationship and rotation features (``HistoryRules``)."""

IDENTIFIER_KINDS: tuple[str, ...] = ("phone", "address", "legal_representative", "bank_account")
"""Kinds of shared identifier that make two bidders related, as in ``related_bidder_pairs_*``."""

SIZE_BANDS_CNY: tuple[float, ...] = (0.0, 50_000.0, 500_000.0, 2_000_000.0)
"""Lower bounds of the pre-tender estimate bands of ``audit_coverage_by_size``: the internal
approval thresholds and the legal tendering line."""

# an award in force (``ProcessRecord.active_awards``) and a submitted bid (``submitted_bids``)
_ACTIVE_AWARD = "(coalesce(status, 'active') = 'active' AND len(supplier_ids) > 0)"
_SUBMITTED_BID = "coalesce(status, '') NOT IN ('invited', 'withdrawn')"
_AWARDED = f"""
    SELECT ocid, max(award_date) AS awarded_at,
           list_sort(list_distinct(flatten(list(supplier_ids)))) AS winners
    FROM awards WHERE {_ACTIVE_AWARD} GROUP BY ocid
"""
_LINEAGE = "source_file, source_line, ingested_at"


def red_flags_as_of(
    history: ProcurementHistory, record: ProcessRecord, moment: int | None
) -> ProcessEvidence:
    """The Cardinal flags of ``record`` as its features see them at ``moment`` (ns since the
    epoch, naive UTC; None, for a process without a date: after all of ``history``).

    Its own per-process flags (computed once, cached on the record) and R024/R058 decided
    against the fences of the ratios in ``history`` before ``moment``'s day, so nothing later
    leaks in. The ``flag_r...`` features and the figures the service shows for them both come
    from here."""
    evidence = record.cardinal(history.cardinal_settings)
    if evidence.second_lowest is None:
        return evidence
    return evidence.as_of(*history.fences.at(_AFTER_ALL if moment is None else moment))


_AFTER_ALL = int(np.iinfo(np.int64).max)


class UnknownAlertError(KeyError):
    """No warning with this id in the ``alerts`` table."""


def _named_query(store: Store, sql: str, parameters: Mapping[str, object]) -> pd.DataFrame:
    """``Store.query`` with DuckDB's named parameters (``$name``)."""
    return store.connection.execute(sql, dict(parameters)).df()


# --------------------------------------------------------------------------------------------
# The warning


def read_alerts(store: Store, *, level: str | None = None) -> pd.DataFrame:
    """The ``alerts`` table (optionally one ``warning_level``), most probable first."""
    where = "WHERE warning_level = ?" if level is not None else ""
    return store.query(
        f"SELECT * FROM alerts {where} ORDER BY probability DESC, alert_id",
        [level] if level is not None else None,
    )


def read_alert(store: Store, alert_id: str) -> pd.Series:
    """One row of ``alerts``; ``UnknownAlertError`` if there is none."""
    rows = store.query("SELECT * FROM alerts WHERE alert_id = ?", [alert_id])
    if rows.empty:
        raise UnknownAlertError(alert_id)
    return rows.iloc[0]


def red_flags_table(alert: Mapping[str, Any] | pd.Series) -> pd.DataFrame:
    """The alert's ``red_flags`` JSON as rows: code, feature, value, titles and descriptions
    in English and Chinese."""
    columns = ["code", "feature", "value", "title_en", "title_zh", "description_en"]
    columns += ["description_zh"]
    return pd.DataFrame(json.loads(alert["red_flags"] or "[]"), columns=columns)


def reasons_table(alert: Mapping[str, Any] | pd.Series) -> pd.DataFrame:
    """The alert's ``reasons`` JSON as rows: feature, value, SHAP contribution (log-odds),
    direction and the sentence in English and Chinese, strongest first."""
    columns = ["feature", "value", "contribution", "direction", "sentence_en", "sentence_zh"]
    return pd.DataFrame(json.loads(alert["reasons"] or "[]"), columns=columns)


# --------------------------------------------------------------------------------------------
# The process and its bids


def process_row(store: Store, ocid: str) -> pd.DataFrame:
    """The ``processes`` row of one contracting process (lineage columns left out)."""
    return store.query(f"SELECT * EXCLUDE ({_LINEAGE}) FROM processes WHERE ocid = ?", [ocid])


def process_bids(store: Store, ocid: str) -> pd.DataFrame:
    """The process's bids, cheapest first: bid_id, bid_date, status, value_amount,
    value_currency, tenderer_ids, tenderer_names (as named in the process, else the supplier
    register), price_rank (1 = lowest among submitted bids with a price), to_lowest (price /
    lowest submitted price) and won (a tenderer holds an active award of the process)."""
    return _named_query(
        store,
        f"""
        WITH names AS (
            SELECT party_id AS supplier_id, any_value(name) AS name
            FROM parties WHERE ocid = $ocid GROUP BY party_id
        ),
        winners AS (
            SELECT DISTINCT unnest(supplier_ids) AS supplier_id
            FROM awards WHERE ocid = $ocid AND {_ACTIVE_AWARD}
        ),
        tenderers AS (
            SELECT b.bid_id, t.supplier_id, t.position,
                   coalesce(n.name, s.name) AS name,
                   t.supplier_id IN (SELECT supplier_id FROM winners) AS won
            FROM bids b,
                 unnest(b.tenderer_ids) WITH ORDINALITY AS t(supplier_id, position)
                 LEFT JOIN names n USING (supplier_id)
                 LEFT JOIN suppliers s USING (supplier_id)
            WHERE b.ocid = $ocid
        ),
        submitted AS (
            SELECT bid_id, value_amount FROM bids
            WHERE ocid = $ocid AND {_SUBMITTED_BID} AND value_amount > 0
        )
        SELECT b.bid_id, b.bid_date, b.status, b.value_amount, b.value_currency, b.tenderer_ids,
               (SELECT list(t.name ORDER BY t.position) FROM tenderers t
                WHERE t.bid_id = b.bid_id) AS tenderer_names,
               (SELECT CAST(1 + count(*) AS INTEGER) FROM submitted o
                WHERE o.value_amount < b.value_amount) AS price_rank,
               b.value_amount / (SELECT min(value_amount) FROM submitted) AS to_lowest,
               coalesce((SELECT bool_or(t.won) FROM tenderers t WHERE t.bid_id = b.bid_id),
                        false) AS won
        FROM bids b WHERE b.ocid = $ocid
        ORDER BY b.value_amount NULLS LAST, b.bid_id
        """,
        {"ocid": ocid},
    )


# --------------------------------------------------------------------------------------------
# The related history


def pair_history(
    store: Store,
    buyer_id: str,
    supplier_id: str,
    before: datetime | pd.Timestamp,
    *,
    exclude: str = "",
) -> pd.DataFrame:
    """The buyer's earlier processes awarded to the supplier (award date before ``before``;
    not the process ``exclude``: a warning's own award may precede its decision date when a
    later amendment sets that date), oldest first: ocid, awarded_at, days_before, title,
    procurement method (and details), the estimate, the value awarded to this supplier (a
    joint award shared equally) and its currency, and the number of bidders."""
    moment = pd.Timestamp(before).to_pydatetime()
    frame = _named_query(
        store,
        f"""
        WITH awarded AS ({_AWARDED}),
        pair AS (
            SELECT ocid, sum(value_amount / len(supplier_ids)) AS awarded_to_supplier,
                   any_value(value_currency) AS awarded_currency
            FROM awards WHERE {_ACTIVE_AWARD} AND list_contains(supplier_ids, $supplier)
            GROUP BY ocid
        ),
        bidders AS (
            SELECT ocid, count(DISTINCT t) AS bidders
            FROM bids, unnest(tenderer_ids) AS u(t) WHERE {_SUBMITTED_BID} GROUP BY ocid
        )
        SELECT p.ocid, a.awarded_at, p.title, p.procurement_method,
               p.procurement_method_details, p.tender_value_amount, p.tender_value_currency,
               pair.awarded_to_supplier, pair.awarded_currency,
               coalesce(b.bidders, 0) AS bidders
        FROM pair JOIN awarded a USING (ocid) JOIN processes p USING (ocid)
             LEFT JOIN bidders b USING (ocid)
        WHERE p.buyer_id = $buyer AND a.awarded_at < $before AND p.ocid <> $exclude
        ORDER BY a.awarded_at, p.ocid
        """,
        {"buyer": buyer_id, "supplier": supplier_id, "before": moment, "exclude": exclude},
    )
    days = (pd.Timestamp(moment) - frame["awarded_at"]).dt.total_seconds() / 86_400
    frame.insert(2, "days_before", days)
    return frame


def bidder_cobids(
    store: Store,
    ocid: str,
    before: datetime | pd.Timestamp,
    *,
    window_days: int = RELATIONSHIP_WINDOW_DAYS,
) -> pd.DataFrame:
    """Earlier awarded tenders (award date in ``[before − window_days, before)``) in which at
    least two of this process's bidders bid together, oldest first: ocid, awarded_at,
    group_bidders (this process's bidders who bid there), winners, won_by_group."""
    moment = pd.Timestamp(before).to_pydatetime()
    return _named_query(
        store,
        f"""
        WITH awarded AS ({_AWARDED}),
        bidders AS (
            SELECT DISTINCT ocid, unnest(tenderer_ids) AS supplier_id
            FROM bids WHERE {_SUBMITTED_BID}
        ),
        own AS (SELECT supplier_id FROM bidders WHERE ocid = $ocid),
        shared AS (
            SELECT ocid, list_sort(list(supplier_id)) AS group_bidders
            FROM bidders WHERE supplier_id IN (SELECT supplier_id FROM own) AND ocid <> $ocid
            GROUP BY ocid HAVING count(*) >= 2
        )
        SELECT s.ocid, a.awarded_at, s.group_bidders, a.winners,
               len(list_intersect(a.winners, s.group_bidders)) > 0 AS won_by_group
        FROM shared s JOIN awarded a USING (ocid)
        WHERE a.awarded_at >= $start AND a.awarded_at < $before
        ORDER BY a.awarded_at, s.ocid
        """,
        {
            "ocid": ocid,
            "start": moment - timedelta(days=window_days),
            "before": moment,
        },
    )


def related_bidders(store: Store, ocid: str) -> pd.DataFrame:
    """Pairs of this process's bidders that share an identifier: supplier_a, supplier_b (ids,
    a < b), their names, kind (``IDENTIFIER_KINDS``) and where the match was found
    (``register``, ``contact point`` or both). Telephones come from the supplier register and
    from the contact points named in the process; the other kinds from the register."""
    identifiers = _named_query(
        store,
        f"""
        WITH own AS (
            SELECT DISTINCT unnest(tenderer_ids) AS supplier_id
            FROM bids WHERE ocid = $ocid AND {_SUBMITTED_BID}
        ),
        register AS (
            SELECT supplier_id, name, phone_fingerprint, address_fingerprint,
                   legal_representative_fingerprint, bank_account_fingerprint
            FROM suppliers WHERE supplier_id IN (SELECT supplier_id FROM own)
        ),
        contact AS (
            SELECT party_id AS supplier_id, any_value(name) AS name,
                   any_value(contact_phone_fingerprint) AS fingerprint
            FROM parties WHERE ocid = $ocid AND party_id IN (SELECT supplier_id FROM own)
            GROUP BY party_id
        )
        SELECT supplier_id, name, kind, fingerprint, 'register' AS source
        FROM register
        UNPIVOT (fingerprint FOR kind IN (
            phone_fingerprint AS 'phone',
            address_fingerprint AS 'address',
            legal_representative_fingerprint AS 'legal_representative',
            bank_account_fingerprint AS 'bank_account'))
        UNION ALL
        SELECT supplier_id, name, 'phone' AS kind, fingerprint, 'contact point' AS source
        FROM contact WHERE fingerprint IS NOT NULL
        """,
        {"ocid": ocid},
    )
    identifiers = identifiers[
        identifiers["fingerprint"].notna() & (identifiers["fingerprint"] != "")
    ]
    names = identifiers.dropna(subset=["name"]).groupby("supplier_id")["name"].first()
    rows: list[dict[str, Any]] = []
    for (kind, _), group in identifiers.groupby(["kind", "fingerprint"], sort=True):
        sources = group.groupby("supplier_id")["source"].agg(lambda s: sorted(set(s)))
        for a, b in combinations(sorted(sources.index), 2):
            rows.append(
                {
                    "supplier_a": a,
                    "supplier_b": b,
                    "kind": kind,
                    "source": " and ".join(sorted(set(sources[a]) | set(sources[b]))),
                }
            )
    columns = ["supplier_a", "name_a", "supplier_b", "name_b", "kind", "source"]
    if not rows:
        return pd.DataFrame(columns=columns)
    pairs = pd.DataFrame(rows)
    # one row per pair and kind: a pair sharing two telephones is one related pair
    pairs = (
        pairs.groupby(["supplier_a", "supplier_b", "kind"], sort=True)["source"]
        .agg(lambda s: " and ".join(sorted({part for text in s for part in text.split(" and ")})))
        .reset_index()
    )
    pairs["name_a"] = pairs["supplier_a"].map(names)
    pairs["name_b"] = pairs["supplier_b"].map(names)
    return pairs[columns]


# --------------------------------------------------------------------------------------------
# Features against their norms


def feature_norms(
    features: pd.DataFrame,
    ocid: str,
    *,
    feature_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The process's numeric feature values beside those of its peers decided before it.

    ``features`` is a batch feature frame (``build_process_features``: identity columns and
    features, one row per process). Peers are the rows with a ``decision_date`` strictly
    before this process's, of the same material ``category`` and, separately, of the same
    ``buyer_id``. Index: feature; columns: value, unit, category_median, category_percentile,
    category_peers, buyer_median, buyer_percentile, buyer_peers. A percentile is the mid-rank
    share of peers below the value (0.5 = typical, 1.0 = above all of them); NaN when the value
    or every peer value is missing.
    """
    rows = features.loc[features["ocid"] == ocid]
    if rows.empty:
        raise KeyError(f"{ocid} is not in the feature frame")
    row = rows.iloc[0]
    names = [
        name
        for name in (feature_names or list(FEATURES))
        if name not in CATEGORICAL_FEATURES and name in features.columns
    ]
    earlier = features[
        pd.to_datetime(features["decision_date"]) < pd.Timestamp(row["decision_date"])
    ]
    peers = {
        "category": earlier[earlier["category"] == row["category"]],
        "buyer": earlier[earlier["buyer_id"] == row["buyer_id"]],
    }
    records = []
    for name in names:
        value = float(row[name])
        record: dict[str, Any] = {"feature": name, "value": value, "unit": FEATURES[name].unit}
        for group, frame in peers.items():
            values = frame[name].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            record[f"{group}_median"] = float(np.median(values)) if len(values) else np.nan
            record[f"{group}_percentile"] = _mid_rank(value, values)
            record[f"{group}_peers"] = len(values)
        records.append(record)
    return pd.DataFrame(records).set_index("feature")


def _mid_rank(value: float, values: np.ndarray) -> float:
    if not np.isfinite(value) or len(values) == 0:
        return float("nan")
    below = float((values < value).sum())
    equal = float((values == value).sum())
    return (below + equal / 2) / len(values)


# --------------------------------------------------------------------------------------------
# Everything for one warning


def alert_evidence(
    store: Store, alert: str | Mapping[str, Any] | pd.Series
) -> dict[str, pd.DataFrame]:
    """The evidence of one warning, for an auditor: ``alert`` is an ``alert_id`` in the
    ``alerts`` table or an alert row itself (as ``training.procurement_risk.score`` returns).

    Keys: ``alert`` (the row), ``process``, ``bids``, ``red_flags``, ``reasons``,
    ``pair_history`` (every supplier of the warning with its buyer, a ``supplier_id`` column
    added), ``cobids`` and ``related_bidders``; history before the warning's decision date.
    """
    row = read_alert(store, alert) if isinstance(alert, str) else pd.Series(dict(alert))
    ocid = str(row["ocid"])
    before = pd.Timestamp(row["decision_date"])
    suppliers = [str(s) for s in _as_list(row["supplier_ids"])]
    histories = [
        pair_history(store, str(row["buyer_id"]), supplier, before, exclude=ocid).assign(
            supplier_id=supplier
        )
        for supplier in suppliers
    ]
    pairs = (
        pd.concat(histories, ignore_index=True)
        if histories
        else pair_history(store, str(row["buyer_id"]), "", before, exclude=ocid).assign(
            supplier_id=""
        )
    )
    return {
        "alert": row.to_frame().T.reset_index(drop=True),
        "process": process_row(store, ocid),
        "bids": process_bids(store, ocid),
        "red_flags": red_flags_table(row),
        "reasons": reasons_table(row),
        "pair_history": pairs,
        "cobids": bidder_cobids(store, ocid, before),
        "related_bidders": related_bidders(store, ocid),
    }


def _as_list(value: Any) -> list[Any]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


# --------------------------------------------------------------------------------------------
# Who gets audited


def audit_coverage_by_size(
    store: Store, *, bands: Sequence[float] = SIZE_BANDS_CNY, currency: str = "CNY"
) -> pd.DataFrame:
    """Processes, audited share and confirmed share of the audited, per band of pre-tender
    estimate (``bands`` are lower bounds, in ``currency``; other currencies are left out).

    The labels a model learns from exist only where someone audited: if larger processes are
    audited more, size predicts *being labelled*, and the model's view of size mixes risk
    with audit policy. Columns: band, processes, audited, audit_rate, confirmed,
    confirmed_share_of_audited.
    """
    lows = sorted(float(b) for b in bands)
    labels = [f"{low:,.0f} – {high:,.0f}" for low, high in pairwise(lows)] + [f"{lows[-1]:,.0f} +"]
    frame = store.query(
        """
        WITH outcomes AS (
            SELECT ocid, bool_or(finding = 'confirmed') AS confirmed
            FROM audit_outcomes GROUP BY ocid
        )
        SELECT p.tender_value_amount AS estimate, o.ocid IS NOT NULL AS audited,
               coalesce(o.confirmed, false) AS confirmed
        FROM processes p LEFT JOIN outcomes o USING (ocid)
        WHERE p.tender_value_currency = ? AND p.tender_value_amount >= ?
        """,
        [currency, lows[0]],
    )
    band = pd.cut(frame["estimate"], [*lows, np.inf], right=False, labels=labels)
    grouped = frame.groupby(band, observed=False)
    out = pd.DataFrame(
        {
            "processes": grouped.size(),
            "audited": grouped["audited"].sum(),
            "confirmed": grouped["confirmed"].sum(),
        }
    )
    out.index.name = "band"
    out["audit_rate"] = out["audited"] / out["processes"]
    out["confirmed_share_of_audited"] = out["confirmed"] / out["audited"]
    return out.reset_index()[
        ["band", "processes", "audited", "audit_rate", "confirmed", "confirmed_share_of_audited"]
    ]
