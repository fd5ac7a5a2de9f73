"""Queries that describe what is in the store, for notebooks and reports.

Each function takes an open ``Store`` and returns a small DataFrame; none writes. Times in
the store are UTC; study hours are shown in China Standard Time (UTC+8), when people study.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.security import PersonalData
from store.database import Store
from world.layout import TRUTH_MEMBERS, TRUTH_PROCESS_SCHEMES

CST_OFFSET_HOURS = 8
# latent columns of the member truth that the store cannot know
TRUTH_MEMBER_COLUMNS = ["check_in_only", "ability", "mastery_gain"]


def monthly_volumes(store: Store) -> pd.DataFrame:
    """Processes and estimated value (CNY) per month and procurement method.

    Columns: month, method, processes, estimated_value_cny.
    """
    return store.query(
        """
        SELECT date_trunc('month', coalesce(tender_period_start, release_date)) AS month,
               coalesce(procurement_method_details, procurement_method) AS method,
               count(*) AS processes,
               sum(tender_value_amount) FILTER (WHERE tender_value_currency = 'CNY')
                   AS estimated_value_cny
        FROM processes GROUP BY ALL ORDER BY month, method
        """
    )


def category_price_index(store: Store, *, min_items: int = 5) -> pd.DataFrame:
    """Median CNY unit price per material category and month, as an index (first month = 100).

    Columns: category, month, median_unit_price_cny, items, price_index. Months with fewer
    than ``min_items`` priced items are dropped (too noisy to read).
    """
    prices = store.query(
        """
        SELECT coalesce(i.classification_description, i.classification_id) AS category,
               date_trunc('month', coalesce(p.tender_period_start, p.release_date)) AS month,
               median(i.unit_value_amount) AS median_unit_price_cny,
               count(*) AS items
        FROM items i JOIN processes p USING (ocid)
        WHERE i.unit_value_amount > 0 AND i.unit_value_currency = 'CNY'
        GROUP BY ALL HAVING count(*) >= ? ORDER BY category, month
        """,
        [min_items],
    )
    if prices.empty:
        return prices.assign(price_index=pd.Series(dtype=float))
    first = prices.groupby("category")["median_unit_price_cny"].transform("first")
    return prices.assign(price_index=100 * prices["median_unit_price_cny"] / first)


def study_by_shift(store: Store) -> pd.DataFrame:
    """Statements per local hour of day (UTC+8) for each shift pattern.

    Columns: shift_pattern, hour, statements, share (of that pattern's statements).
    """
    frame = store.query(
        f"""
        SELECT m.shift_pattern,
               hour(s.timestamp + INTERVAL {CST_OFFSET_HOURS} HOUR) AS hour,
               count(*) AS statements
        FROM statements s JOIN members m USING (member_key)
        GROUP BY ALL ORDER BY m.shift_pattern, hour
        """
    )
    totals = frame.groupby("shift_pattern")["statements"].transform("sum")
    return frame.assign(share=frame["statements"] / totals)


def study_effort_and_results(store: Store) -> pd.DataFrame:
    """Per member: logged minutes, answers and share correct (the check-in pattern).

    Columns: member_key, shift_pattern, logged_minutes, answers, share_correct.
    """
    return store.query(
        """
        SELECT s.member_key, any_value(m.shift_pattern) AS shift_pattern,
               sum(s.duration_seconds) / 60 AS logged_minutes,
               count(*) FILTER (WHERE s.verb = 'answered') AS answers,
               avg(CASE WHEN s.success THEN 1.0 ELSE 0.0 END)
                   FILTER (WHERE s.verb = 'answered') AS share_correct
        FROM statements s JOIN members m USING (member_key)
        GROUP BY s.member_key
        """
    )


def planted_schemes(store: Store, truth_dir: Path) -> pd.DataFrame:
    """The planted schemes per kind: processes, share audited, share confirmed by audit.

    Reads the truth folder: for evaluation and exploration only, never for features.
    Columns: scheme, processes, audited, confirmed, audited_share, confirmed_share.
    """
    truth = pd.read_csv(truth_dir / TRUTH_PROCESS_SCHEMES)
    store.connection.register("_truth_schemes", truth)
    try:
        frame = store.query(
            """
            WITH audits AS (
                SELECT ocid, bool_or(finding = 'confirmed') AS confirmed
                FROM audit_outcomes GROUP BY ocid
            )
            SELECT t.scheme, count(DISTINCT t.ocid) AS processes,
                   count(DISTINCT a.ocid) AS audited,
                   count(DISTINCT a.ocid) FILTER (WHERE a.confirmed) AS confirmed
            FROM _truth_schemes t LEFT JOIN audits a USING (ocid)
            GROUP BY t.scheme ORDER BY processes DESC
            """
        )
    finally:
        store.connection.unregister("_truth_schemes")
    return frame.assign(
        audited_share=frame["audited"] / frame["processes"],
        confirmed_share=frame["confirmed"] / frame["processes"],
    )


def members_with_truth(
    effort: pd.DataFrame, truth_dir: Path, personal: PersonalData
) -> pd.DataFrame:
    """Join per-member effort to the planted member truth through the keyed pseudonym.

    The truth folder names employees; the store knows only pseudonyms, so the join needs the
    installation's pseudonym key (``personal``). For evaluation and exploration only.
    """
    truth = pd.read_csv(truth_dir / TRUTH_MEMBERS, dtype={"employee_no": str})
    truth["member_key"] = [personal.member_key(no) for no in truth["employee_no"]]
    planted = truth[["member_key", *TRUTH_MEMBER_COLUMNS]]
    return effort.merge(planted, on="member_key", how="left")
