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

The plans (``procurement_plans``: the market and honest processes; ``procurement_schemes``:
the planted schemes) are written as releases by ``procurement_releases``; this module writes
the audit outcomes and the files.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import orjson

from world.config import WorldConfig
from world.layout import (
    TRUTH_PROCESS_SCHEMES,
    TRUTH_RATES,
    TRUTH_RELATED_GROUPS,
    TRUTH_RINGS,
    TRUTH_SUPPLIER_ESG,
)
from world.procurement_plans import (
    APPROVAL_THRESHOLDS,
    HONEST_AMENDMENT_SHARE,
    LEGAL_TENDER_THRESHOLD,
    MINIMUM_TENDER_DAYS,
    RELEASE_BATCH,
    SCHEME_RATES,
    SPLIT_WINDOW_DAYS,
    TENDER_PERIOD_VIOLATION_SHARE,
    Market,
    ProcessPlan,
    build_market,
)
from world.procurement_releases import ReleaseWriter
from world.procurement_schemes import build_plans
from world.supplier_world import (
    CERTIFICATION_HEADER,
    EVENT_HEADER,
    REGISTER_HEADER,
    build_supplier_world,
    csv_text,
    register_rows,
)

# ---------------------------------------------------------------------------------------
# Audit outcomes

AUDIT_RATE_CLEAN_SMALL = 0.11  # clean processes under 500,000 CNY
AUDIT_RATE_CLEAN_LARGE = 0.35  # clean processes of 500,000 CNY or more
AUDIT_RATE_SCHEMED = 0.45  # more likely, never certain
AUDIT_CONFIRM_SHARE = 0.6  # of audited schemed processes: recall below one
AUDIT_NEEDS_INFORMATION_SHARE = 0.15  # of audited schemed processes (the rest dismissed)
AUDIT_CLEAN_NEEDS_INFORMATION_SHARE = 0.08
AUDIT_FOLLOW_UP_CONFIRM_SHARE = 0.5  # needs_information later confirmed
AUDIT_DELAY_DAYS = (60, 270)  # two to nine months after the award


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
    market = build_market(config, world)
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
