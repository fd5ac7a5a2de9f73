"""Suppliers' certifications and dated ESG events, drawn from each supplier's latent risk.

Event rates are yearly at risk 1 and do not scale with size; risk moves year to year (a log
random walk), so recent events predict the next twelve months better than old ones.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from world.config import WorldConfig
from world.materials import CATEGORY_BY_CODE
from world.suppliers_gen import Supplier, weighted_keys

MA_STATE_SHARES = {"valid": 0.82, "expired": 0.08, "missing": 0.06, "no_evidence": 0.04}
CLAIM_WITHOUT_EVIDENCE_SHARE = 0.08

# Event types: (pillar 0=E 1=S 2=G, yearly rate at risk 1). A negative event counts as an
# incident for the ESG truth; ``corrective_action_closed`` is a positive follow-up.
EVENT_TYPES: dict[str, tuple[int, float]] = {
    "env_penalty": (0, 0.10),
    "safety_accident": (1, 0.04),
    "labour_dispute": (1, 0.05),
    "wage_arrears": (1, 0.025),
    "court_defaulter": (2, 0.012),
    "debarment": (2, 0.006),
    "safety_blacklist": (1, 0.008),
    "serious_violation_list": (2, 0.005),
    "tax_violation": (2, 0.012),
    "litigation": (2, 0.07),
    "quality_failure": (1, 0.05),
    "bribery_finding": (2, 0.004),
}
CORRECTIVE_ACTION_SHARE = 0.35
RISK_YEARLY_DRIFT_SIGMA = 0.3

ACCIDENT_GRADES = (("一般", 0.93), ("较大", 0.055), ("重大", 0.013), ("特别重大", 0.002))
ACCIDENT_FINES = {
    "一般": (300_000, 1_000_000),
    "较大": (1_000_000, 2_000_000),
    "重大": (2_000_000, 10_000_000),
    "特别重大": (10_000_000, 20_000_000),
}
LISTING_YEARS = {"court_defaulter": (1, 3), "debarment": (1, 3), "safety_blacklist": (1, 1),
                 "serious_violation_list": (3, 3), "tax_violation": (3, 3)}  # fmt: skip
FINE_RANGES = {"wage_arrears": (10_000, 200_000), "tax_violation": (50_000, 2_000_000),
               "quality_failure": (5_000, 100_000), "bribery_finding": (100_000, 5_000_000),
               "serious_violation_list": (100_000, 1_000_000)}  # fmt: skip
ENV_FINES = {
    "minor": (20_000, 100_000),
    "serious": (100_000, 500_000),
    "major": (500_000, 3_000_000),
}

EVENT_DESCRIPTIONS: dict[str, str] = {
    "env_penalty": "因{what}被生态环境部门行政处罚",
    "safety_accident": "{where}发生{grade}生产安全事故，死亡{deaths}人",
    "labour_dispute": "劳动争议仲裁案件，涉及{n}名职工",
    "wage_arrears": "拖欠农民工工资被人社部门责令限期支付",
    "court_defaulter": "被人民法院列为失信被执行人",
    "debarment": "因提供虚假材料被集团取消投标资格",
    "safety_blacklist": "被纳入安全生产失信惩戒名单",
    "serious_violation_list": "被列入严重违法失信企业名单",
    "tax_violation": "被列入重大税收违法失信主体名单",
    "litigation": "作为被告涉及买卖合同纠纷诉讼",
    "quality_failure": "产品质量监督抽查不合格：{what}",
    "bribery_finding": "纪检监察机关通报其向采购人员行贿",
    "corrective_action_closed": "审核不符合项整改完成并通过复查",
}
ENV_WHATS = (
    "废气超标排放",
    "危险废物贮存不规范",
    "未批先建",
    "扬尘污染防治措施不到位",
    "废水超标排放",
)
ACCIDENT_PLACES = ("厂区", "施工现场", "仓库", "运输途中", "井下作业现场")
QUALITY_WHATS = ("阻燃性能不达标", "抗拉强度不达标", "尺寸偏差超标", "防爆性能不合格", "含量不达标")

# ---------------------------------------------------------------------------------------
# Certifications and events


def _doc(rng: np.random.Generator, prefix: str) -> str:
    return f"{prefix}-{int(rng.integers(10**8)):08d}.pdf"


def build_certifications(config: WorldConfig, suppliers: list[Supplier]) -> list[tuple[str, ...]]:
    """Rows of certifications.csv: ISO systems, MA/KA marks per category, licences."""
    rng = config.rng("supplier-certs")
    rows: list[tuple[str, ...]] = []
    today = config.start

    def add(
        s: Supplier, cert_type: str, number: str, category: str, years: int, state: str
    ) -> None:
        if state == "expired":
            valid_to = today - timedelta(days=int(rng.integers(10, 500)))
            if rng.random() < 0.3:  # expires during the year of business
                valid_to = today + timedelta(days=int(rng.integers(10, 300)))
        else:
            valid_to = today + timedelta(days=int(rng.integers(200, 365 * years)))
        valid_from = valid_to - timedelta(days=365 * years)
        no_evidence = state == "no_evidence" or rng.random() < CLAIM_WITHOUT_EVIDENCE_SHARE * min(
            2.0, s.risk**0.5
        )
        evidence = "" if no_evidence else _doc(rng, "CERT")
        rows.append(
            (
                s.supplier_id,
                cert_type,
                number,
                category,
                valid_from.isoformat(),
                valid_to.isoformat(),
                evidence,
            )
        )

    ma_keys, ma_p = weighted_keys(MA_STATE_SHARES)
    for s in suppliers:
        e, social, _ = s.pillar_risk
        iso = (
            ("ISO9001", 0.7, "Q"),
            ("ISO14001", 0.55 / max(1.0, e) ** 0.5, "E"),
            ("ISO45001", 0.5 / max(1.0, social) ** 0.5, "S"),
            ("ISO50001", 0.1, "En"),
        )
        for cert_type, probability, letter in iso:
            if rng.random() < probability:
                body, year = int(rng.integers(10**4)), int(rng.integers(21, 25))
                serial, revision = int(rng.integers(10**5)), int(rng.integers(0, 4))
                number = f"{body:04d}{year}{letter}{serial:05d}R{revision}M"
                state = "expired" if rng.random() < 0.07 else "valid"
                add(s, cert_type, number, "", 3, state)
        if rng.random() < 0.08 / max(1.0, e):
            add(s, "env_label", f"CEC-{int(rng.integers(10**6)):06d}", "", 3, "valid")
        for code in s.categories:
            category = CATEGORY_BY_CODE[code]
            if category.needs_ma:
                p = ma_p * np.array([1.0, max(1.0, s.risk) ** 0.5, max(1.0, s.risk) ** 0.5, 1.0])
                state = ma_keys[int(rng.choice(len(ma_keys), p=p / p.sum()))]
                if state != "missing":
                    number = (
                        f"MA{'ABCDEFGHJK'[int(rng.integers(10))]}{int(rng.integers(10**6)):06d}"
                    )
                    add(s, "MA", number, code, 5, state)
            elif category.kind == "goods" and rng.random() < 0.15:
                add(s, "KA", f"KA{int(rng.integers(10**6)):06d}", code, 5, "valid")
            if code == "M09":
                for licence in ("explosives_permit", "safety_permit"):
                    if rng.random() < 0.95:
                        add(
                            s,
                            licence,
                            f"（蒙）{licence[:2].upper()}{int(rng.integers(10**5)):05d}",
                            code,
                            3,
                            "expired" if rng.random() < 0.06 else "valid",
                        )
            if code == "M19" and rng.random() < 0.9:
                add(
                    s,
                    "safety_permit",
                    f"（蒙）JZ安许证字〔{int(rng.integers(2019, 2025))}〕"
                    f"{int(rng.integers(10**4)):04d}",
                    code,
                    3,
                    "expired" if rng.random() < 0.06 else "valid",
                )
            if code in ("M10", "M11", "M13", "M14") and rng.random() < 0.75:
                add(
                    s,
                    "discharge_permit",
                    f"{s.credit_code}{int(rng.integers(1, 3)):03d}P",
                    code,
                    5,
                    "valid",
                )
    # one row per (supplier, type, number): drop rare accidental duplicates, keep order
    unique = dict.fromkeys(rows)
    seen: set[tuple[str, str, str]] = set()
    result = []
    for row in unique:
        key = (row[0], row[1], row[2])
        if key not in seen:
            seen.add(key)
            result.append(row)
    return result


def _random_date(rng: np.random.Generator, start: date, end: date) -> date:
    return start + timedelta(days=int(rng.integers((end - start).days + 1)))


def build_events(config: WorldConfig, suppliers: list[Supplier]) -> list[tuple[str, ...]]:
    """Rows of events.csv, dated ``history_start`` .. ``end``; counts go to ``events_by_year``."""
    rng = config.rng("supplier-events")
    years = list(range(config.history_start.year, config.end.year + 1))
    n, n_years = len(suppliers), len(years)
    types = list(EVENT_TYPES)
    pillar_of = np.array([EVENT_TYPES[t][0] for t in types])
    rate = np.array([EVENT_TYPES[t][1] for t in types])
    pillars = np.array([s.pillar_risk for s in suppliers])  # (n, 3)
    drift = np.exp(np.cumsum(rng.normal(0.0, RISK_YEARLY_DRIFT_SIGMA, size=(n, n_years)), axis=1))
    drift = drift / drift[:, -1:] ** 0.5  # centre the walk so the last years are not extreme
    lam = pillars[:, None, pillar_of] * drift[:, :, None] * rate[None, None, :]
    for y, year in enumerate(years):  # partial years at either end
        first = max(date(year, 1, 1), config.history_start)
        last = min(date(year, 12, 31), config.end)
        lam[:, y, :] *= ((last - first).days + 1) / 365.0
    counts = rng.poisson(lam)
    raw: list[tuple[date, int, str, str, int | None, float | None, date | None, str, str]] = []
    listings: dict[tuple[int, str], int] = {}
    for i, y, t in zip(*np.nonzero(counts), strict=True):
        year = years[int(y)]
        supplier = suppliers[int(i)]
        event_type = types[int(t)]
        first = max(date(year, 1, 1), config.history_start)
        last = min(date(year, 12, 31), config.end)
        for _ in range(int(counts[i, y, t])):
            when = _random_date(rng, first, last)
            raw.append(_event(rng, supplier, event_type, when, listings))
            supplier.events_by_year[year] = supplier.events_by_year.get(year, 0) + 1
            if rng.random() < CORRECTIVE_ACTION_SHARE and event_type not in (
                "litigation",
                "court_defaulter",
            ):
                closed = when + timedelta(days=int(rng.integers(30, 180)))
                if closed <= config.end:
                    raw.append(
                        (
                            closed,
                            supplier.index,
                            "corrective_action_closed",
                            "",
                            None,
                            None,
                            None,
                            EVENT_DESCRIPTIONS["corrective_action_closed"],
                            _doc(rng, "CAR"),
                        )
                    )
    raw.sort(key=lambda e: (e[0], e[1], e[2]))
    rows: list[tuple[str, ...]] = []
    for number, (
        when,
        index,
        event_type,
        severity,
        deaths,
        fine,
        listed,
        text,
        evidence,
    ) in enumerate(raw, start=1):
        rows.append(
            (
                f"EV-{number:06d}",
                suppliers[index].supplier_id,
                event_type,
                when.isoformat(),
                severity,
                "" if deaths is None else str(deaths),
                "" if fine is None else f"{fine:.2f}",
                "" if listed is None else listed.isoformat(),
                text,
                evidence,
            )
        )
    return rows


def _event(
    rng: np.random.Generator,
    supplier: Supplier,
    event_type: str,
    when: date,
    listings: dict[tuple[int, str], int],
) -> tuple[date, int, str, str, int | None, float | None, date | None, str, str]:
    severity, deaths, fine, listed = "", None, None, None
    city = supplier.city.removesuffix("市")[:2]
    evidence = _doc(rng, "EVD")
    template = EVENT_DESCRIPTIONS[event_type]
    text = template
    if event_type == "env_penalty":
        risk = supplier.pillar_risk[0]
        p = np.array([0.7, 0.25 * min(2.0, risk), 0.05 * min(3.0, risk)])
        severity = ("minor", "serious", "major")[int(rng.choice(3, p=p / p.sum()))]
        low, high = ENV_FINES[severity]
        fine = round(float(np.exp(rng.uniform(np.log(low), np.log(high)))), -2)
        text = template.format(what=ENV_WHATS[int(rng.integers(len(ENV_WHATS)))])
        evidence = f"{city}环罚〔{when.year}〕{int(rng.integers(1, 400))}号"
    elif event_type == "safety_accident":
        grades = np.array([p for _, p in ACCIDENT_GRADES])
        grades[1:] *= min(3.0, supplier.pillar_risk[1])
        severity = ACCIDENT_GRADES[int(rng.choice(4, p=grades / grades.sum()))][0]
        deaths = {
            "一般": int(rng.choice(3, p=[0.65, 0.28, 0.07])),
            "较大": int(rng.integers(3, 10)),
            "重大": int(rng.integers(10, 30)),
            "特别重大": int(rng.integers(30, 40)),
        }[severity]
        low, high = ACCIDENT_FINES[severity]
        fine = (
            round(float(rng.uniform(low, high)), -3)
            if deaths > 0
            else round(float(rng.uniform(20_000, 200_000)), -2)
        )
        place = ACCIDENT_PLACES[int(rng.integers(len(ACCIDENT_PLACES)))]
        text = template.format(where=place, grade=severity, deaths=deaths)
        evidence = f"{city}应急罚〔{when.year}〕{int(rng.integers(1, 200))}号"
    elif event_type in LISTING_YEARS:
        low_years, high_years = LISTING_YEARS[event_type]
        key = (supplier.index, event_type)
        listings[key] = listings.get(key, 0) + 1
        years = (
            3
            if event_type == "safety_blacklist" and listings[key] > 1
            else int(rng.integers(low_years, high_years + 1))
        )
        listed = when + timedelta(days=365 * years)
        severity = "major"
        if event_type == "court_defaulter":
            evidence = f"（{when.year}）{city}执{int(rng.integers(100, 9999))}号"
    else:
        severity = ("minor", "serious", "major")[int(rng.choice(3, p=[0.6, 0.3, 0.1]))]
        if event_type == "labour_dispute":
            text = template.format(n=int(rng.integers(1, 40)))
        elif event_type == "quality_failure":
            text = template.format(what=QUALITY_WHATS[int(rng.integers(len(QUALITY_WHATS)))])
    if event_type in FINE_RANGES:
        low, high = FINE_RANGES[event_type]
        fine = round(float(np.exp(rng.uniform(np.log(low), np.log(high)))), -2)
    if rng.random() < 0.06:  # reported without a document
        evidence = ""
    return (when, supplier.index, event_type, severity, deaths, fine, listed, text, evidence)
