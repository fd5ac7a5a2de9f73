"""The learning half of the demo world: members, knowledge points, a catalogue, and a year of
xAPI study statements driven by a latent learning model and by shift rosters.

World files (``world.layout``): ``learning/members.csv``, ``knowledge_points.csv``,
``catalogue.json``, ``statements.jsonl`` (xAPI 1.0.3, one statement per line, in time order)
and ``shift_patterns.json``. Truth files: ``members.csv`` (latent traits per member),
``mastery_monthly.csv`` and ``learning_rates.json``.

How the year is made:

1. Members (``people``) get latent traits: ability (logits), absorption, a voluntary
   activity rate, and for exactly ``CHECK_IN_ONLY_RATE`` of them the "check-in only" flag
   (weighted towards party members, who are under the most pressure to log hours). Members
   who join during the year (``people.COLD_START_RATE``) study only from their joining day,
   more in their first month (onboarding), and start a little below their peers.
2. Sessions: mandatory ones (each month's 三会一课, themed-party-day and theme items; party
   members mostly, around the themed party day and the month end) and voluntary ones (Poisson
   per member-day, seasonal: Spring Festival lull, month-end and 七一 peaks; content chosen by
   role, format taste, length, novelty and the month's theme). Each is placed in a free window
   of the member's roster (``features.rosters``); a session longer than its window is cut off
   (no ``completed``). Shift workers get short windows and so short sessions. The voluntary
   rate is scaled until the statements reach ``config.target_statements``.
3. The latent model (``learner_model``) runs day by day: forgetting, then answers drawn with
   P = sigmoid(mastery - difficulty), then learning gains. Check-in-only members log long
   sessions (``CHECK_IN_DURATION_FACTOR`` × the content's length), complete them, rarely take
   quizzes, skip case questions, answer at chance and absorb almost nothing.

``truth/mastery_monthly.csv`` holds every member × KP × month from the member's joining
month on (months before a member joined are left out): the mastery probability at month end,
i.e. P(correct) on a question of difficulty 0.5.

Deterministic: seeded generators only (``config.rng``), no wall clock; same config, same bytes.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from features.rosters import PATTERNS, free_minutes, shift_patterns_json
from world.config import WorldConfig
from world.layout import SHIFT_PATTERNS, TRUTH_MASTERY, TRUTH_MEMBERS
from world.learner_model import LatentLearners, LearningRates, sigmoid
from world.people import COLD_START_RATE, MEMBER_COLUMNS, ROLES, sample_members

STATEMENT_BATCH = 50_000  # statement lines serialised per write (bounds memory at any scale)
CHECK_IN_ONLY_RATE = 0.08  # exact share of members planted as "check-in only"
CHECK_IN_ABSORB = (0.0, 0.06)  # their absorption, uniform (typical members ≈ 1)
CHECK_IN_DURATION_FACTOR = (2.0, 4.0)  # logged time ÷ the time the content needs, uniform
MANDATORY_SHARE = 0.10  # share of catalogue items that are a month's mandatory study
NEW_CONTENT_SHARE = 0.20  # share of non-mandatory items published during the year
MANDATORY_PARTICIPATION = {
    "party_member": 0.6,
    "other": 0.2,
    "check_in_only": 0.9,  # they log every required session ...
    "check_in_only_quiz": 0.25,  # ... but dodge the quizzes
}
PASS_MARK = 0.6  # share of a quiz's questions right to pass
ONBOARDING_DAYS, ONBOARDING_BOOST = 30, 2.0
TRUTH_LEARNING_RATES = "learning_rates.json"

XAPI_HOME = "https://study.lodestar.invalid"
CONTENT_IRI = f"{XAPI_HOME}/content/"
KNOWLEDGE_POINTS_EXTENSION = "https://lodestar.invalid/xapi/extensions/knowledge-points"
ITEM_DIFFICULTY_EXTENSION = "https://lodestar.invalid/xapi/extensions/item-difficulty"
VERB_IRI = "http://adlnet.gov/expapi/verbs/"
ACTIVITY_IRI = "http://adlnet.gov/expapi/activities/"
ACTIVITY_TYPES = {
    "video": "media",
    "live": "media",
    "article": "lesson",
    "case": "lesson",
    "quiz": "assessment",
}
VERBS = ("launched", "experienced", "answered", "passed", "failed", "completed")
_LAUNCHED, _EXPERIENCED, _ANSWERED, _PASSED, _FAILED, _COMPLETED = range(6)
# order of statements that share a timestamp within a session
_VERB_ORDER = np.array([0, 1, 2, 3, 3, 4])

DOMAINS: tuple[tuple[str, str], ...] = (
    ("party theory and discipline", "党的理论与纪律"),
    ("bidding law", "招标投标法规"),
    ("procurement compliance", "采购合规"),
    ("supplier and contract management", "供应商与合同管理"),
    ("digital procurement platform skills", "数字化采购平台技能"),
    ("safety production", "安全生产"),
    ("green procurement", "绿色采购"),
    ("integrity risk", "廉洁风险防控"),
)

# (name_zh, name_en, domain index); kp_id is KP01, KP02, ... in this order.
KNOWLEDGE_POINTS: tuple[tuple[str, str, int], ...] = (
    ("党章基本知识", "Party Constitution basics", 0),
    ("党的二十大精神", "Spirit of the 20th Party Congress", 0),
    ("党史学习", "Party history", 0),
    ("中国共产党纪律处分条例", "CPC Regulations on Disciplinary Actions", 0),
    ("中央八项规定精神", "The Eight-point Regulation", 0),
    ("“三会一课”制度", "Three meetings and one lesson", 0),
    ("民主集中制", "Democratic centralism", 0),
    ("党员权利与义务", "Rights and duties of party members", 0),
    ("招标投标法总则", "Bidding Law: general provisions", 1),
    ("依法必须招标的项目范围", "Projects that must be tendered", 1),
    ("招标文件编制", "Preparing tender documents", 1),
    ("串通投标的认定", "Determining bid collusion", 1),
    ("开标与评标程序", "Bid opening and evaluation", 1),
    ("中标候选人公示", "Publishing winning candidates", 1),
    ("招标投标法实施条例", "Implementing Regulations of the Bidding Law", 1),
    ("异议与投诉处理", "Objections and complaints", 1),
    ("采购方式选择", "Choosing the procurement method", 2),
    ("询价采购", "Enquiry (RFQ) procurement", 2),
    ("竞争性谈判", "Competitive negotiation", 2),
    ("单一来源采购论证", "Justifying single-source procurement", 2),
    ("化整为零规避招标", "Splitting purchases to evade tendering", 2),
    ("采购审批权限", "Approval thresholds and authority", 2),
    ("采购档案管理", "Procurement records management", 2),
    ("中央企业采购管理规定", "Central SOE procurement rules", 2),
    ("供应商准入与资格审查", "Supplier admission and qualification", 3),
    ("供应商绩效评价", "Supplier performance evaluation", 3),
    ("供应商黑名单管理", "Supplier blacklist management", 3),
    ("合同订立与审查", "Contract drafting and review", 3),
    ("合同变更与索赔", "Contract amendments and claims", 3),
    ("到货验收与质量检验", "Delivery acceptance and quality inspection", 3),
    ("矿用产品安全标志管理", "Mining product safety marks (MA)", 3),
    ("付款与结算管理", "Payment and settlement", 3),
    ("电子招标投标平台操作", "Operating the e-tendering platform", 4),
    ("电子采购商城下单", "Ordering in the e-procurement mall", 4),
    ("物资编码与主数据", "Material coding and master data", 4),
    ("ERP库存管理", "ERP inventory management", 4),
    ("采购数据分析", "Procurement data analysis", 4),
    ("数据安全与个人信息保护", "Data security and personal information protection", 4),
    ("电子签章与CA证书", "E-signatures and CA certificates", 4),
    ("安全生产法", "Work Safety Law", 5),
    ("煤矿安全规程", "Coal Mine Safety Regulations", 5),
    ("危险化学品与民爆物品管理", "Hazardous chemicals and civil explosives", 5),
    ("仓储消防安全", "Warehouse fire safety", 5),
    ("劳动防护用品管理", "Personal protective equipment", 5),
    ("安全风险分级管控与隐患排查", "Risk grading and hazard investigation", 5),
    ("应急管理与事故报告", "Emergency management and accident reporting", 5),
    ("绿色采购指南", "Green procurement guidelines", 6),
    ("“双碳”目标与煤炭行业", "Dual-carbon goals and the coal industry", 6),
    ("节能产品与能效标识", "Energy-saving products and efficiency labels", 6),
    ("供应商ESG评价", "Supplier ESG assessment", 6),
    ("环境管理体系", "Environmental management systems", 6),
    ("废旧物资回收与处置", "Recycling and disposal of scrap materials", 6),
    ("绿色供应链管理", "Green supply chain management", 6),
    ("采购廉洁风险点识别", "Identifying integrity risks in procurement", 7),
    ("利益冲突与回避", "Conflicts of interest and recusal", 7),
    ("礼品礼金问题防范", "Gifts and money", 7),
    ("围标串标典型案例", "Typical bid-rigging cases", 7),
    ("虚高价格与利益输送", "Price inflation and tunnelling", 7),
    ("廉洁从业承诺", "Integrity commitments", 7),
    ("警示教育案例", "Warning-education cases", 7),
)

# month -> (theme, KP numbers 1-based): monthly themes, 三会一课 and themed party days
MONTH_THEMES: dict[int, tuple[str, tuple[int, ...]]] = {
    1: ("廉洁过节 清风迎春", (56, 5, 59)),
    2: ("节后复工安全第一课", (40, 41, 43)),
    3: ("深入贯彻中央八项规定精神学习教育", (5, 4, 8)),
    4: ("总体国家安全观与数据安全", (38, 39)),
    5: ("招标采购合规提升月", (9, 12, 21, 17)),
    6: ("安全生产月", (40, 45, 46)),
    7: ("七一主题党日：重温入党誓词", (1, 3, 8)),
    8: ("绿色低碳采购宣传月", (47, 48, 50)),
    9: ("质量月：到货验收与矿用产品安全标志", (30, 31)),
    10: ("供应商管理提升月", (25, 26, 27)),
    11: ("廉洁风险防控警示教育月", (54, 57, 60)),
    12: ("组织生活会与“三会一课”年度总结", (6, 7, 2)),
}
_MANDATORY_FORMATS = ("live", "article", "quiz", "video", "case")
_MANDATORY_TITLES = {
    "live": "{theme}专题党课（直播）",
    "article": "{theme}：学习材料",
    "quiz": "{theme}应知应会测试",
    "video": "【主题党日】{theme}",
    "case": "{theme}警示案例",
}
_TITLE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "video": (
        "【微课】{kp}｜三分钟读懂",
        "【微课】{kp}｜要点速览",
        "【微视频】{kp}常见误区",
        "【班前十分钟】{kp}",
        "一图一视频：{kp}",
        "【微课】{kp}｜实务问答",
    ),
    "article": (
        "{kp}知识要点解读",
        "{kp}实务操作指引",
        "{kp}政策条文精讲",
        "{kp}常见问题汇编",
        "学习笔记：{kp}",
        "专家解读：{kp}",
    ),
    "quiz": ("{kp}专项测试", "每日一练：{kp}", "{kp}应知应会测试", "{kp}知识闯关", "{kp}随堂小测"),
    "live": ("{kp}专题讲座（直播）", "专家在线：{kp}实务答疑", "{kp}专题培训班（直播）"),
}
_CASE_SUBJECTS: tuple[tuple[str, ...], ...] = (
    (
        "党支部“三会一课”流于形式问题整改",
        "党员干部违规接受宴请被处分",
        "组织生活会批评与自我批评走过场问题",
    ),
    ("液压支架采购项目围标串标案", "招标文件设置排他性条款被投诉", "评标专家私下接触投标人案"),
    ("化整为零规避公开招标案例", "单一来源采购论证不充分问题", "超权限审批采购合同问题"),
    (
        "输送带阻燃性能不合格致验收纠纷",
        "供应商借用资质投标被列入黑名单",
        "合同变更未履行审批程序问题",
    ),
    ("电子招标平台CA证书借用风险", "采购数据违规外发导致泄密事件", "物资编码混乱致重复采购问题"),
    ("仓库违规存放乳化液引发火情", "劳保用品以次充好问题", "民爆物品出入库台账不符问题"),
    (
        "废旧钢丝绳回收处置不规范问题",
        "高耗能设备采购未执行能效标准问题",
        "供应商环保处罚未及时预警问题",
    ),
    ("物资采购员收受供应商礼金被处分", "仓储管理员虚开验收单据案", "采购经理亲属关联企业中标案"),
)
_FORMAT_SHARES = {"video": 0.35, "article": 0.25, "case": 0.15, "quiz": 0.18, "live": 0.07}
_MINUTES = {
    "video": (3, 15),
    "article": (5, 15),
    "case": (10, 25),
    "quiz": (3, 15),
    "live": (30, 90),
}
_DIFFICULTY_SHIFT = {"video": -0.08, "article": 0.0, "case": 0.08, "quiz": 0.05, "live": 0.0}

# role -> prior mastery offset per domain (logits), in DOMAINS order
_ROLE_DOMAIN_PRIOR: dict[str, tuple[float, ...]] = {
    "buyer": (0.0, 0.6, 0.6, 0.4, 0.3, -0.2, 0.0, 0.2),
    "warehouse_keeper": (-0.1, -0.4, -0.2, 0.3, 0.2, 0.6, 0.0, 0.0),
    "finance": (0.0, -0.1, 0.3, 0.3, 0.3, -0.3, -0.1, 0.1),
    "auditor": (0.2, 0.6, 0.7, 0.2, 0.1, -0.2, 0.0, 0.7),
    "party_officer": (1.0, -0.2, 0.0, -0.2, 0.0, -0.1, 0.1, 0.5),
    "manager": (0.4, 0.3, 0.4, 0.3, 0.0, 0.2, 0.2, 0.3),
    "engineer": (-0.2, -0.3, -0.2, 0.1, 0.3, 0.5, 0.3, -0.1),
}
# taste for formats: day workers, shift workers, check-in-only members
_FORMAT_TASTE = {
    "day": {"video": 1.0, "article": 1.0, "case": 1.0, "quiz": 1.0, "live": 1.0},
    "shift": {"video": 1.4, "article": 0.8, "case": 0.6, "quiz": 1.3, "live": 0.25},
    "check_in": {"video": 1.5, "article": 1.0, "case": 0.6, "quiz": 0.15, "live": 2.0},
}


@dataclass
class Catalogue:
    """Items as parallel arrays; ``kps`` is ``(n, 3)`` KP indices padded with -1."""

    content_id: list[str]
    title: list[str]
    kps: np.ndarray
    format: np.ndarray
    minutes: np.ndarray
    difficulty: np.ndarray
    mandatory_month: np.ndarray  # 1..12, 0 when not mandatory
    theme: list[str]
    published_day: np.ndarray  # days since config.start (negative: before the year)
    n_questions: np.ndarray
    question_difficulty: np.ndarray  # (n, max questions)

    def __len__(self) -> int:
        return len(self.content_id)


@dataclass
class Sessions:
    """Study sessions as parallel arrays (times in seconds since config.start 00:00 local)."""

    member: np.ndarray
    item: np.ndarray
    start: np.ndarray
    logged: np.ndarray  # seconds the platform records
    needed: np.ndarray  # seconds the content needs
    completed: np.ndarray
    n_answered: np.ndarray
    mandatory: np.ndarray
    web: np.ndarray  # studied at a desk (PC) rather than on a phone

    def __len__(self) -> int:
        return int(self.member.size)


@dataclass
class _Calendar:
    start: date
    n_days: int
    month: np.ndarray  # 1..12 per day
    weekday: np.ndarray
    month_first: np.ndarray  # (13,) first day index of each month (index 0 unused)
    month_last: np.ndarray

    @classmethod
    def of(cls, config: WorldConfig) -> _Calendar:
        n_days = (config.end - config.start).days + 1
        days = [config.start + timedelta(days=d) for d in range(n_days)]
        month = np.array([d.month for d in days])
        first = np.zeros(13, dtype=int)
        last = np.zeros(13, dtype=int)
        for m in range(1, 13):
            where = np.flatnonzero(month == m)
            first[m], last[m] = (where[0], where[-1]) if where.size else (n_days, n_days - 1)
        return cls(config.start, n_days, month, np.array([d.weekday() for d in days]), first, last)

    def day_of(self, value: date) -> int:
        return (value - self.start).days


def generate_learning_world(
    config: WorldConfig, world_dir: Path, truth_dir: Path
) -> dict[str, int]:
    """Write the learning files and their truth; returns counts for the manifest."""
    if config.n_knowledge_points > len(KNOWLEDGE_POINTS):
        raise ValueError(f"at most {len(KNOWLEDGE_POINTS)} knowledge points are defined")
    learning_dir = world_dir / "learning"
    learning_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    cal = _Calendar.of(config)
    n_kps = config.n_knowledge_points
    catalogue = build_catalogue(config, cal)
    members = sample_members(
        config.rng("learning-members"), config.n_members, config.start, config.end
    )
    traits = _latent_traits(config, members, n_kps)
    windows = _roster_windows(members, cal)
    sessions, factor = _schedule_to_target(config, cal, members, traits, catalogue, windows)
    learners = LatentLearners.from_baseline(
        traits["baseline"], traits["absorb"], traits["check_in_only"]
    )
    rows, monthly = _simulate(config, cal, sessions, catalogue, learners)

    (learning_dir / "knowledge_points.csv").write_text(
        _knowledge_points_csv(n_kps), encoding="utf-8"
    )
    (learning_dir / "catalogue.json").write_bytes(_catalogue_json(catalogue, cal))
    (learning_dir / "members.csv").write_text(_members_csv(members), encoding="utf-8")
    (world_dir / SHIFT_PATTERNS).write_text(shift_patterns_json(), encoding="utf-8")
    with (learning_dir / "statements.jsonl").open("wb") as handle:
        for batch in _statement_lines(config, cal, members, catalogue, sessions, rows):
            handle.write(batch)

    (truth_dir / TRUTH_MEMBERS).write_text(
        _truth_members_csv(members, traits, sessions, rows, learners, cal), encoding="utf-8"
    )
    with (truth_dir / TRUTH_MASTERY).open("w", encoding="utf-8") as text:
        for part in _mastery_csv(members, monthly, cal, n_kps):
            text.write(part)
    (truth_dir / TRUTH_LEARNING_RATES).write_text(
        _learning_rates_json(config, learners.rates, traits, factor), encoding="utf-8"
    )
    return {
        "learning_members": len(members),
        "knowledge_points": n_kps,
        "content_items": len(catalogue),
        "study_sessions": len(sessions),
        "xapi_statements": int(rows["verb"].size),
        "check_in_only_members": int(traits["check_in_only"].sum()),
        "cold_start_members": int(members["cold_start"].sum()),
    }


# ---------------------------------------------------------------------------- catalogue


def _dedupe(titles: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for title in titles:
        seen[title] = seen.get(title, 0) + 1
        unique.append(title if seen[title] == 1 else f"{title}（第{seen[title]}期）")
    return unique


def build_catalogue(config: WorldConfig, cal: _Calendar) -> Catalogue:
    """``config.n_content`` items; the first ``MANDATORY_SHARE`` (at least one a month) are the
    months' mandatory items, the rest free choice over all KPs."""
    rng = config.rng("learning-catalogue")
    n = config.n_content
    n_kps = config.n_knowledge_points
    kp_domain = np.array([KNOWLEDGE_POINTS[k][2] for k in range(n_kps)])
    n_mandatory = min(n, max(12, round(MANDATORY_SHARE * n)))
    kps = np.full((n, 3), -1, dtype=np.intp)
    formats: list[str] = []
    titles: list[str] = []
    themes: list[str] = []
    mandatory_month = np.zeros(n, dtype=int)
    published = np.zeros(n, dtype=int)
    for i in range(n_mandatory):
        month = i % 12 + 1
        rank = i // 12
        theme, kp_numbers = MONTH_THEMES[month]
        fmt = _MANDATORY_FORMATS[rank % len(_MANDATORY_FORMATS)]
        theme_kps = [k - 1 for k in kp_numbers if k <= n_kps] or [0]
        chosen = rng.permutation(theme_kps)[: min(3, len(theme_kps))]
        kps[i, : chosen.size] = chosen
        formats.append(fmt)
        titles.append(_MANDATORY_TITLES[fmt].format(theme=theme))
        themes.append(theme)
        mandatory_month[i] = month
        published[i] = cal.month_first[month] - int(rng.integers(0, 8))
    names = list(_FORMAT_SHARES)
    shares = np.array(list(_FORMAT_SHARES.values()))
    for _ in range(n_mandatory, n):
        fmt = names[int(rng.choice(len(names), p=shares / shares.sum()))]
        primary = int(rng.integers(0, n_kps))
        domain = int(kp_domain[primary])
        same_domain = np.flatnonzero((kp_domain == domain) & (np.arange(n_kps) != primary))
        extra = int(rng.choice(3, p=[0.45, 0.4, 0.15]))
        row = [primary, *rng.permutation(same_domain)[:extra].tolist()]
        integrity = np.flatnonzero(kp_domain == 7)
        if rng.random() < 0.1 and domain != 7 and integrity.size:  # an integrity angle
            row = [*row[:2], int(rng.choice(integrity))]
        kps[len(formats), : len(row)] = row
        kp_name = KNOWLEDGE_POINTS[primary][0]
        if fmt == "case":
            subjects = _CASE_SUBJECTS[domain]
            title = f"案例剖析｜{subjects[int(rng.integers(0, len(subjects)))]}"
        else:
            templates = _TITLE_TEMPLATES[fmt]
            title = templates[int(rng.integers(0, len(templates)))].format(kp=kp_name)
        formats.append(fmt)
        titles.append(title)
        themes.append(DOMAINS[domain][1])
        if rng.random() < NEW_CONTENT_SHARE:
            published[len(formats) - 1] = int(rng.integers(0, cal.n_days))
        else:
            published[len(formats) - 1] = -int(rng.integers(1, 3 * 365))
    format_array = np.array(formats)
    low = np.array([_MINUTES[f][0] for f in formats])
    high = np.array([_MINUTES[f][1] for f in formats])
    minutes = rng.integers(low, high + 1)
    minutes = np.where(format_array == "live", np.round(minutes / 5) * 5, minutes).astype(int)
    shift = np.array([_DIFFICULTY_SHIFT[f] for f in formats])
    difficulty = np.round(np.clip(rng.beta(2.2, 2.2, size=n) + shift, 0.05, 0.95), 2)
    n_questions = np.where(
        format_array == "quiz",
        np.clip(np.round(minutes * 0.8), 3, 12),
        np.where(format_array == "case", 2, 0),
    ).astype(int)
    question_difficulty = np.round(
        np.clip(difficulty[:, None] + rng.normal(0, 0.12, size=(n, 12)), 0.02, 0.98), 3
    )
    return Catalogue(
        content_id=[f"C{i + 1:04d}" for i in range(n)],
        title=_dedupe(titles),
        kps=kps,
        format=format_array,
        minutes=minutes,
        difficulty=difficulty,
        mandatory_month=mandatory_month,
        theme=themes,
        published_day=published,
        n_questions=n_questions,
        question_difficulty=question_difficulty,
    )


# ----------------------------------------------------------------------------- members


def _latent_traits(config: WorldConfig, members: pd.DataFrame, n_kps: int) -> dict[str, np.ndarray]:
    rng = config.rng("learning-traits")
    n = len(members)
    party = members["party_member"].to_numpy(bool)
    cold = members["cold_start"].to_numpy(bool)
    weights = np.where(party, 1.5, 1.0)
    check_in = np.zeros(n, dtype=bool)
    check_in[
        rng.choice(n, size=round(CHECK_IN_ONLY_RATE * n), replace=False, p=weights / weights.sum())
    ] = True
    ability = rng.normal(0.0, 0.8, size=n)
    absorb = np.clip(rng.lognormal(0.0, 0.35, size=n), 0.3, 3.0)
    absorb[check_in] = rng.uniform(*CHECK_IN_ABSORB, size=int(check_in.sum()))
    role_factor = members["role"].map({"party_officer": 1.3, "manager": 0.8}).fillna(1.0).to_numpy()
    activity = rng.lognormal(np.log(0.03), 0.6, size=n) * role_factor
    kp_domain = np.array([KNOWLEDGE_POINTS[k][2] for k in range(n_kps)])
    kp_hardness = rng.normal(0.0, 0.4, size=n_kps)
    prior = np.array([_ROLE_DOMAIN_PRIOR[role] for role in members["role"]])[:, kp_domain]
    baseline = (
        ability[:, None]
        + prior
        - kp_hardness[None, :]
        + rng.normal(0.0, 0.45, size=(n, n_kps))
        - 0.3 * cold[:, None]
    )
    return {
        "check_in_only": check_in,
        "ability": ability,
        "absorb": absorb,
        "activity": activity,
        "baseline": baseline,
        "kp_hardness": kp_hardness,
    }


def _roster_windows(members: pd.DataFrame, cal: _Calendar) -> dict[str, np.ndarray]:
    """Free windows per (pattern, crew) group and day: ``start``/``length`` minutes, padded."""
    groups = sorted(
        {(p, c) for p, c in zip(members["shift_pattern"], members["crew"], strict=True)}
    )
    index = {group: g for g, group in enumerate(groups)}
    per_day = [
        [free_minutes(PATTERNS[p], c, cal.start + timedelta(days=d)) for d in range(cal.n_days)]
        for p, c in groups
    ]
    width = max(len(w) for days in per_day for w in days)
    start = np.zeros((len(groups), cal.n_days, width), dtype=np.int64)
    length = np.zeros((len(groups), cal.n_days, width), dtype=np.int64)
    for g, days in enumerate(per_day):
        for d, day_windows in enumerate(days):
            for j, (a, b) in enumerate(day_windows):
                start[g, d, j], length[g, d, j] = a, b - a
    member_group = np.array(
        [index[(p, c)] for p, c in zip(members["shift_pattern"], members["crew"], strict=True)]
    )
    return {"start": start, "length": length, "member_group": member_group}


# ---------------------------------------------------------------------------- sessions


def _season(cal: _Calendar) -> np.ndarray:
    factor = np.ones(cal.n_days)
    for d in range(cal.n_days):
        day = cal.start + timedelta(days=d)
        month_day = (day.month, day.day)
        if (1, 28) <= month_day <= (2, 4):  # Spring Festival
            factor[d] = 0.35
        elif (10, 1) <= month_day <= (10, 8) or (5, 1) <= month_day <= (5, 5):
            factor[d] = 0.6
        if d >= cal.month_last[day.month] - 6:
            factor[d] *= 1.3  # month-end push to finish the month's hours
        if day.month == 7 and day.day <= 7:
            factor[d] *= 1.2
        if day.month == 12:
            factor[d] *= 1.15  # year-end assessment
    return factor


def _party_day(cal: _Calendar, month: int) -> int:
    """The themed party day: the month's second Friday."""
    first = cal.month_first[month]
    fridays = [d for d in range(first, cal.month_last[month] + 1) if cal.weekday[d] == 4]
    return fridays[1] if len(fridays) > 1 else first


def _mandatory_sessions(
    config: WorldConfig,
    cal: _Calendar,
    members: pd.DataFrame,
    traits: dict[str, np.ndarray],
    catalogue: Catalogue,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = config.rng("learning-mandatory")
    n = len(members)
    party = members["party_member"].to_numpy(bool)
    join_day = np.array([cal.day_of(d) for d in members["joined_on"]])
    p_take = np.where(
        party, MANDATORY_PARTICIPATION["party_member"], MANDATORY_PARTICIPATION["other"]
    )
    out_member, out_item, out_day = [], [], []
    for item in np.flatnonzero(catalogue.mandatory_month > 0):
        check_in_key = "check_in_only_quiz" if catalogue.format[item] == "quiz" else "check_in_only"
        p_item = np.where(traits["check_in_only"], MANDATORY_PARTICIPATION[check_in_key], p_take)
        month = int(catalogue.mandatory_month[item])
        first = max(int(cal.month_first[month]), int(catalogue.published_day[item]), 0)
        last = int(cal.month_last[month])
        take = (join_day <= last) & (rng.random(n) < p_item)
        days = np.arange(first, last + 1)
        weight = 1.0 + 2.5 * (days >= last - 6) + 3.0 * (days == _party_day(cal, month))
        chosen = rng.choice(days, size=int(take.sum()), p=weight / weight.sum())
        lower = np.maximum(first, join_day[take])
        late = chosen < lower
        spread = rng.random(chosen.size)
        chosen = np.where(late, lower + np.floor(spread * (last - lower + 1)).astype(int), chosen)
        out_member.append(np.flatnonzero(take))
        out_item.append(np.full(chosen.size, item))
        out_day.append(chosen)
    return (
        np.concatenate(out_member) if out_member else np.zeros(0, int),
        np.concatenate(out_item) if out_item else np.zeros(0, int),
        np.concatenate(out_day) if out_day else np.zeros(0, int),
    )


def _voluntary_sessions(
    config: WorldConfig,
    cal: _Calendar,
    members: pd.DataFrame,
    traits: dict[str, np.ndarray],
    catalogue: Catalogue,
    factor: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = config.rng("learning-voluntary")
    shift_worker = (members["shift_pattern"] != "day").to_numpy()
    join_day = np.array([cal.day_of(d) for d in members["joined_on"]])
    days = np.arange(cal.n_days)
    weekend = cal.weekday >= 5
    rate = traits["activity"][:, None] * _season(cal)[None, :] * factor
    rate = rate * np.where(~shift_worker[:, None] & weekend[None, :], 0.7, 1.0)
    since_join = days[None, :] - join_day[:, None]
    rate = np.where(since_join < 0, 0.0, rate)
    rate = np.where(
        (since_join < ONBOARDING_DAYS) & (join_day[:, None] >= 0), rate * ONBOARDING_BOOST, rate
    )
    counts = rng.poisson(rate)
    member, day = np.nonzero(counts)
    repeat = counts[member, day]
    member, day = np.repeat(member, repeat), np.repeat(day, repeat)

    # content choice per (role, shift worker, check-in, party member, month)
    role_names = list(ROLES)
    role = members["role"].map({r: i for i, r in enumerate(role_names)}).to_numpy()
    party = members["party_member"].to_numpy(bool)
    check_in = traits["check_in_only"]
    member_class = ((role * 2 + shift_worker) * 2 + check_in) * 2 + party
    month = cal.month[day]
    key = member_class[member] * 13 + month
    item = np.zeros(member.size, dtype=np.intp)
    kp_domain = np.array([k[2] for k in KNOWLEDGE_POINTS])
    item_domain = kp_domain[catalogue.kps[:, 0]]
    popularity = config.rng("learning-popularity").lognormal(0.0, 0.5, size=len(catalogue))
    minutes = catalogue.minutes.astype(float)
    for k in np.unique(key):
        rows = np.flatnonzero(key == k)
        cls, mo = divmod(int(k), 13)
        is_party = cls % 2 == 1
        is_check_in = (cls // 2) % 2 == 1
        is_shift = (cls // 4) % 2 == 1
        role_name = role_names[cls // 8]
        taste = _FORMAT_TASTE["check_in" if is_check_in else "shift" if is_shift else "day"]
        interest = np.exp(np.array(_ROLE_DOMAIN_PRIOR[role_name]))[item_domain]
        if is_party:
            interest = interest * np.where(item_domain == 0, 1.5, 1.0)
        length = (
            np.sqrt(minutes / 10)
            if is_check_in
            else np.exp(-minutes / 25)
            if is_shift
            else np.ones(len(catalogue))
        )
        published = catalogue.published_day
        fresh = (published >= cal.month_first[mo] - 60) & (published <= cal.month_last[mo])
        theme_kps = [kp - 1 for kp in MONTH_THEMES[mo][1]]
        on_theme = np.isin(catalogue.kps[:, 0], theme_kps)
        old_mandatory = (catalogue.mandatory_month > 0) & (catalogue.mandatory_month != mo)
        weight = (
            popularity
            * interest
            * np.array([taste[f] for f in catalogue.format])
            * length
            * np.where(fresh, 2.5, 1.0)
            * np.where(on_theme, 2.0, 1.0)
            * np.where(old_mandatory, 0.3, 1.0)
            * (published <= cal.month_last[mo])
        )
        item[rows] = rng.choice(len(catalogue), size=rows.size, p=weight / weight.sum())
    # content published later in the month is studied after it appears
    published_day = catalogue.published_day[item]
    early = day < published_day
    last = cal.month_last[cal.month[day]]
    spread = rng.random(day.size)
    day = np.where(
        early, published_day + np.floor(spread * (last - published_day + 1)).astype(int), day
    )
    return member, item, day


def _schedule(
    config: WorldConfig,
    cal: _Calendar,
    members: pd.DataFrame,
    traits: dict[str, np.ndarray],
    catalogue: Catalogue,
    windows: dict[str, np.ndarray],
    factor: float,
) -> Sessions:
    """All sessions of the year, placed in free windows, without overlaps per member."""
    mandatory = _mandatory_sessions(config, cal, members, traits, catalogue)
    voluntary = _voluntary_sessions(config, cal, members, traits, catalogue, factor)
    member = np.concatenate([mandatory[0], voluntary[0]])
    item = np.concatenate([mandatory[1], voluntary[1]])
    day = np.concatenate([mandatory[2], voluntary[2]])
    is_mandatory = np.concatenate(
        [np.ones(mandatory[0].size, bool), np.zeros(voluntary[0].size, bool)]
    )

    rng = config.rng("learning-placement")
    n = member.size
    check_in = traits["check_in_only"][member]
    needed = np.maximum(
        60, np.round(catalogue.minutes[item] * 60 * rng.lognormal(0.0, 0.25, size=n))
    )
    desired = np.where(
        check_in, np.round(needed * rng.uniform(*CHECK_IN_DURATION_FACTOR, size=n)), needed
    )
    desired = np.minimum(desired, 4 * 3600)

    group = windows["member_group"][member]
    lengths = windows["length"][group, day].astype(float)  # (n, width) minutes
    starts = windows["start"][group, day]
    weight = lengths**0.6 * np.where(lengths * 60 >= needed[:, None], 1.0, 0.2) * (lengths > 0)
    cumulative = np.cumsum(weight, axis=1)
    total = cumulative[:, -1]
    pick = (cumulative < (rng.random(n) * total)[:, None]).sum(axis=1)
    pick = np.minimum(pick, lengths.shape[1] - 1)
    window_start = starts[np.arange(n), pick] * 60
    window_length = lengths[np.arange(n), pick] * 60
    slack = np.maximum(0.0, window_length - needed)
    start = day * 86400 + window_start + np.floor(rng.random(n) * slack).astype(np.int64)
    window_end = day * 86400 + window_start + window_length.astype(np.int64)
    web = (members["shift_pattern"] == "day").to_numpy()[member] & (rng.random(n) < 0.3)

    order = np.lexsort((start, member))
    keep = np.zeros(n, dtype=bool)
    start_out = start.astype(np.int64).copy()
    logged = np.zeros(n, dtype=np.int64)
    previous_member, previous_end = -1, 0
    member_l, start_l, end_l, desired_l, total_l = (
        member.tolist(),
        start.tolist(),
        window_end.tolist(),
        desired.tolist(),
        total.tolist(),
    )
    for i in order.tolist():
        begin = start_l[i]
        if member_l[i] == previous_member and begin < previous_end + 60:
            begin = previous_end + 60
        available = end_l[i] - begin
        if available < 120 or total_l[i] <= 0:
            continue
        keep[i] = True
        start_out[i] = begin
        logged[i] = min(int(desired_l[i]), int(available))
        previous_member, previous_end = member_l[i], begin + logged[i]
    member, item, start_out, logged, needed = (
        member[keep],
        item[keep],
        start_out[keep],
        logged[keep],
        needed[keep],
    )
    check_in, is_mandatory, web = check_in[keep], is_mandatory[keep], web[keep]
    completed = needed <= logged
    fmt = catalogue.format[item]
    questions = catalogue.n_questions[item]
    n_answered = np.where(
        fmt == "quiz",
        np.where(completed, questions, np.floor(questions * logged / needed)),
        np.where((fmt == "case") & completed & ~check_in, questions, 0),
    ).astype(int)
    order = np.lexsort((member, start_out))
    return Sessions(
        member=member[order],
        item=item[order],
        start=start_out[order],
        logged=logged[order],
        needed=needed[order].astype(np.int64),
        completed=completed[order],
        n_answered=n_answered[order],
        mandatory=is_mandatory[order],
        web=web[order],
    )


def _statement_count(sessions: Sessions, catalogue: Catalogue) -> np.ndarray:
    quiz = catalogue.format[sessions.item] == "quiz"
    return 1 + (~quiz) + sessions.n_answered + (quiz & sessions.completed) + sessions.completed


def _schedule_to_target(
    config: WorldConfig,
    cal: _Calendar,
    members: pd.DataFrame,
    traits: dict[str, np.ndarray],
    catalogue: Catalogue,
    windows: dict[str, np.ndarray],
) -> tuple[Sessions, float]:
    """Scale the voluntary rate until the statements reach the target (at most 1.15 × it)."""
    target = config.target_statements
    factor = 1.0
    for _ in range(8):
        sessions = _schedule(config, cal, members, traits, catalogue, windows, factor)
        counts = _statement_count(sessions, catalogue)
        total = int(counts.sum())
        if target <= total <= 1.15 * target:
            return sessions, factor
        voluntary = int(counts[~sessions.mandatory].sum())
        mandatory = total - voluntary
        wanted = max(1.04 * target - mandatory, 0.02 * target)
        if total > target and mandatory >= target:
            return sessions, factor
        factor *= wanted / max(voluntary, 1)
    if total < target:
        raise RuntimeError(f"could not reach {target} statements (got {total})")
    return sessions, factor


# -------------------------------------------------------------------------- simulation


def _statement_rows(sessions: Sessions, catalogue: Catalogue) -> dict[str, np.ndarray]:
    """One row per statement: session, verb, time, duration (s, -1 none), question number."""
    n = len(sessions)
    index = np.arange(n)
    fmt = catalogue.format[sessions.item]
    quiz, case = fmt == "quiz", fmt == "case"
    done = sessions.completed
    logged = sessions.logged
    parts: list[tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]] = []
    none = np.full(n, -1, dtype=np.int64)
    zero = np.zeros(n, dtype=np.int64)
    parts.append((index, _LAUNCHED, sessions.start, none, zero))
    reading = np.where(case & done, np.round(0.8 * logged), logged).astype(np.int64)
    experienced = ~quiz
    parts.append(
        (
            index[experienced],
            _EXPERIENCED,
            (sessions.start + reading)[experienced],
            reading[experienced],
            zero[experienced],
        )
    )
    answered_session = np.repeat(index, sessions.n_answered)
    offsets = np.cumsum(sessions.n_answered) - sessions.n_answered
    question = np.arange(answered_session.size) - np.repeat(offsets, sessions.n_answered) + 1
    questions = np.maximum(catalogue.n_questions[sessions.item], 1).astype(float)
    per_question = np.where(quiz, np.where(done, logged, sessions.needed) / questions, 0.1 * logged)
    base = np.where(quiz, 0, reading).astype(float)
    answer_time = base[answered_session] + question * per_question[answered_session]
    parts.append(
        (
            answered_session,
            _ANSWERED,
            sessions.start[answered_session] + np.round(answer_time).astype(np.int64),
            np.round(per_question[answered_session]).astype(np.int64),
            question,
        )
    )
    graded = quiz & done
    parts.append(
        (index[graded], _PASSED, (sessions.start + logged)[graded], logged[graded], zero[graded])
    )
    parts.append(
        (index[done], _COMPLETED, (sessions.start + logged)[done], logged[done], zero[done])
    )
    rows = {
        "session": np.concatenate([p[0] for p in parts]),
        "verb": np.concatenate([np.full(p[0].size, p[1]) for p in parts]),
        "time": np.concatenate([p[2] for p in parts]).astype(np.int64),
        "duration": np.concatenate([p[3] for p in parts]).astype(np.int64),
        "question": np.concatenate([p[4] for p in parts]).astype(np.int64),
    }
    member = sessions.member[rows["session"]]
    order = np.lexsort((rows["question"], _VERB_ORDER[rows["verb"]], member, rows["time"]))
    return {name: values[order] for name, values in rows.items()}


def _simulate(
    config: WorldConfig,
    cal: _Calendar,
    sessions: Sessions,
    catalogue: Catalogue,
    learners: LatentLearners,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Run the year day by day; returns the statement rows (with ``correct`` and ``score``)
    and the month-end mastery probabilities ``(12, n_members, n_kps)``."""
    rows = _statement_rows(sessions, catalogue)
    rng = config.rng("learning-answers")
    answered = np.flatnonzero(rows["verb"] == _ANSWERED)
    a_session = rows["session"][answered]
    a_item = sessions.item[a_session]
    a_question = rows["question"][answered]
    n_kps_item = (catalogue.kps[a_item] >= 0).sum(axis=1)
    a_kp = catalogue.kps[a_item, (a_question - 1) % n_kps_item]
    a_difficulty = catalogue.question_difficulty[a_item, a_question - 1]
    a_member = sessions.member[a_session]
    a_day = rows["time"][answered] // 86400
    a_draw = rng.random(answered.size)
    correct = np.zeros(answered.size, dtype=bool)

    s_day = sessions.start // 86400
    s_minutes = np.minimum(sessions.logged, sessions.needed) / 60.0
    s_format = catalogue.format[sessions.item]
    s_difficulty = catalogue.difficulty[sessions.item]
    a_bounds = np.searchsorted(a_day, np.arange(cal.n_days + 1))  # rows are in time order
    s_bounds = np.searchsorted(s_day, np.arange(cal.n_days + 1))
    month_ends = {
        int(cal.month_last[m]): m for m in range(1, 13) if cal.month_last[m] >= cal.month_first[m]
    }
    monthly = np.zeros((12, learners.n_members, learners.n_kps))
    for d in range(cal.n_days):
        if d:
            learners.forget(1)
        a0, a1 = a_bounds[d], a_bounds[d + 1]
        if a1 > a0:
            p = learners.p_correct(a_member[a0:a1], a_kp[a0:a1], a_difficulty[a0:a1])
            correct[a0:a1] = a_draw[a0:a1] < p
        s0, s1 = s_bounds[d], s_bounds[d + 1]
        if s1 > s0:
            learners.study(
                sessions.member[s0:s1],
                catalogue.kps[sessions.item[s0:s1]],
                s_minutes[s0:s1],
                s_format[s0:s1],
                item_difficulty=s_difficulty[s0:s1],
            )
        if d in month_ends:
            monthly[month_ends[d] - 1] = learners.mastery_probability()

    right = np.zeros(rows["verb"].size, dtype=bool)
    right[answered] = correct
    n_right = np.bincount(a_session, weights=correct, minlength=len(sessions))
    questions = np.maximum(catalogue.n_questions[sessions.item], 1)
    score = n_right / questions
    graded = rows["verb"] == _PASSED
    rows["verb"] = np.where(graded & (score[rows["session"]] < PASS_MARK), _FAILED, rows["verb"])
    rows["correct"] = right
    rows["score"] = score[rows["session"]]
    return rows, monthly


# ----------------------------------------------------------------------------- writing


def _csv_text(header: Sequence[str], records: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(records)
    return buffer.getvalue()


def _knowledge_points_csv(n_kps: int) -> str:
    return _csv_text(
        ("kp_id", "name_zh", "name_en", "domain"),
        [
            (f"KP{k + 1:02d}", zh, en, DOMAINS[d][0])
            for k, (zh, en, d) in enumerate(KNOWLEDGE_POINTS[:n_kps])
        ],
    )


def _catalogue_json(catalogue: Catalogue, cal: _Calendar) -> bytes:
    items = []
    for i in range(len(catalogue)):
        month = int(catalogue.mandatory_month[i])
        items.append(
            {
                "content_id": catalogue.content_id[i],
                "title": catalogue.title[i],
                "knowledge_points": [f"KP{k + 1:02d}" for k in catalogue.kps[i] if k >= 0],
                "format": str(catalogue.format[i]),
                "minutes": int(catalogue.minutes[i]),
                "difficulty": float(catalogue.difficulty[i]),
                "mandatory_month": f"{cal.start.year}-{month:02d}" if month else None,
                "theme": catalogue.theme[i],
                "published_on": (
                    cal.start + timedelta(days=int(catalogue.published_day[i]))
                ).isoformat(),
            }
        )
    return orjson.dumps(items, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def _members_csv(members: pd.DataFrame) -> str:
    frame = members[list(MEMBER_COLUMNS)].copy()
    frame["party_member"] = np.where(frame["party_member"], "true", "false")
    frame["joined_on"] = [day.isoformat() for day in frame["joined_on"]]
    return _csv_text(MEMBER_COLUMNS, frame.to_numpy().tolist())


def _iso_duration(seconds: int) -> str:
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"PT{hours}H{minutes}M{secs}S" if hours else f"PT{minutes}M{secs}S"


def _uuid4_strings(rng: np.random.Generator, n: int) -> list[str]:
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    text = raw.tobytes().hex()
    pieces = ((text[i : i + 32]) for i in range(0, 32 * n, 32))
    return [f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in pieces]


def _statement_lines(
    config: WorldConfig,
    cal: _Calendar,
    members: pd.DataFrame,
    catalogue: Catalogue,
    sessions: Sessions,
    rows: dict[str, np.ndarray],
) -> Iterator[bytes]:
    """The xAPI statements as JSON Lines (sorted keys), in time order, in batches of
    ``STATEMENT_BATCH`` lines so that memory stays flat at any scale."""
    n = int(rows["verb"].size)
    ids = _uuid4_strings(config.rng("learning-statement-ids"), n)
    actors = [
        {"objectType": "Agent", "account": {"homePage": XAPI_HOME, "name": employee_no}}
        for employee_no in members["employee_no"]
    ]
    verbs = [{"id": f"{VERB_IRI}{verb}", "display": {"en-US": verb}} for verb in VERBS]
    objects = []
    contexts = []
    for i in range(len(catalogue)):
        fmt = str(catalogue.format[i])
        objects.append(
            {
                "objectType": "Activity",
                "id": f"{CONTENT_IRI}{catalogue.content_id[i]}",
                "definition": {
                    "type": f"{ACTIVITY_IRI}{ACTIVITY_TYPES[fmt]}",
                    "name": {"zh-CN": catalogue.title[i]},
                },
            }
        )
        kp_ids = [f"KP{k + 1:02d}" for k in catalogue.kps[i] if k >= 0]
        contexts.append(
            [
                {
                    "platform": platform,
                    "language": "zh-CN",
                    "extensions": {
                        KNOWLEDGE_POINTS_EXTENSION: kp_ids,
                        ITEM_DIFFICULTY_EXTENSION: float(catalogue.difficulty[i]),
                    },
                }
                for platform in ("Lodestar Mobile", "Lodestar Web")
            ]
        )
    question_objects: dict[tuple[int, int], dict] = {}
    question_contexts: dict[tuple[int, int, int], dict] = {}
    durations: dict[int, str] = {}
    day_text = [(cal.start + timedelta(days=d)).isoformat() for d in range(cal.n_days)]
    time_of_day = rows["time"] % 86400
    clock = [
        f"T{h:02d}:{m:02d}:{s:02d}+08:00"
        for h, m, s in zip(
            (time_of_day // 3600).tolist(),
            (time_of_day % 3600 // 60).tolist(),
            (time_of_day % 60).tolist(),
            strict=True,
        )
    ]
    session_member = sessions.member.tolist()
    session_item = sessions.item.tolist()
    session_web = sessions.web.astype(int).tolist()
    score_right, score_wrong = {"scaled": 1.0}, {"scaled": 0.0}
    dumps, sort_keys = orjson.dumps, orjson.OPT_SORT_KEYS
    lines = []
    for k, (session, verb, when, duration, question, correct, score) in enumerate(
        zip(
            rows["session"].tolist(),
            rows["verb"].tolist(),
            rows["time"].tolist(),
            rows["duration"].tolist(),
            rows["question"].tolist(),
            rows["correct"].tolist(),
            rows["score"].tolist(),
            strict=True,
        )
    ):
        item = session_item[session]
        web = session_web[session]
        statement: dict[str, object] = {
            "id": ids[k],
            "actor": actors[session_member[session]],
            "verb": verbs[verb],
            "timestamp": day_text[when // 86400] + clock[k],
        }
        text = durations.get(duration, "")
        if duration >= 0 and not text:
            text = durations[duration] = _iso_duration(duration)
        if verb == _ANSWERED:
            key = (item, question)
            target = question_objects.get(key)
            if target is None:
                target = question_objects[key] = _question_object(catalogue, item, question)
            context_key = (item, question, web)
            context = question_contexts.get(context_key)
            if context is None:
                context = question_contexts[context_key] = _question_context(
                    catalogue, item, question, contexts[item][web]
                )
            statement["object"] = target
            statement["context"] = context
            statement["result"] = {
                "duration": text,
                "score": score_right if correct else score_wrong,
                "success": correct,
            }
        else:
            statement["object"] = objects[item]
            statement["context"] = contexts[item][web]
            if verb == _EXPERIENCED:
                statement["result"] = {
                    "duration": text,
                    "completion": bool(sessions.completed[session]),
                }
            elif verb in (_PASSED, _FAILED):
                statement["result"] = {
                    "duration": text,
                    "completion": True,
                    "score": {"scaled": round(score, 4)},
                    "success": verb == _PASSED,
                }
            elif verb == _COMPLETED:
                statement["result"] = {"duration": text, "completion": True}
        lines.append(dumps(statement, option=sort_keys))
        if len(lines) >= STATEMENT_BATCH:
            lines.append(b"")
            yield b"\n".join(lines)
            lines = []
    if lines:
        lines.append(b"")
        yield b"\n".join(lines)


def _question_object(catalogue: Catalogue, item: int, question: int) -> dict[str, object]:
    return {
        "objectType": "Activity",
        "id": f"{CONTENT_IRI}{catalogue.content_id[item]}/questions/{question}",
        "definition": {
            "type": f"{ACTIVITY_IRI}question",
            "name": {"zh-CN": f"{catalogue.title[item]} 第{question}题"},
            "interactionType": "choice",
        },
    }


def _question_context(
    catalogue: Catalogue, item: int, question: int, item_context: dict
) -> dict[str, object]:
    kps = [k for k in catalogue.kps[item] if k >= 0]
    kp = int(kps[(question - 1) % len(kps)])
    return {
        "platform": item_context["platform"],
        "language": "zh-CN",
        "contextActivities": {
            "parent": [
                {"objectType": "Activity", "id": f"{CONTENT_IRI}{catalogue.content_id[item]}"}
            ]
        },
        "extensions": {
            KNOWLEDGE_POINTS_EXTENSION: [f"KP{kp + 1:02d}"],
            ITEM_DIFFICULTY_EXTENSION: float(catalogue.question_difficulty[item, question - 1]),
        },
    }


def _truth_members_csv(
    members: pd.DataFrame,
    traits: dict[str, np.ndarray],
    sessions: Sessions,
    rows: dict[str, np.ndarray],
    learners: LatentLearners,
    cal: _Calendar,
) -> str:
    n = len(members)
    row_member = sessions.member[rows["session"]]
    answered = rows["verb"] == _ANSWERED
    n_sessions = np.bincount(sessions.member, minlength=n)
    n_statements = np.bincount(row_member, minlength=n)
    n_answered = np.bincount(row_member[answered], minlength=n)
    n_right = np.bincount(row_member[answered], weights=rows["correct"][answered], minlength=n)
    logged = np.bincount(sessions.member, weights=sessions.logged, minlength=n)
    start = sigmoid(traits["baseline"]).mean(axis=1)
    end = learners.mastery_probability().mean(axis=1)
    frame = pd.DataFrame(
        {
            "employee_no": members["employee_no"],
            "check_in_only": np.where(traits["check_in_only"], "true", "false"),
            "ability": np.round(traits["ability"], 4),
            "absorb": np.round(traits["absorb"], 4),
            "activity_rate": np.round(traits["activity"], 5),
            "role": members["role"],
            "party_member": np.where(members["party_member"], "true", "false"),
            "shift_pattern": members["shift_pattern"],
            "crew": members["crew"],
            "joined_on": [d.isoformat() for d in members["joined_on"]],
            "cold_start": np.where(members["cold_start"], "true", "false"),
            "sessions": n_sessions,
            "statements": n_statements,
            "answered": n_answered,
            "accuracy": np.round(
                np.divide(n_right, n_answered, out=np.zeros(n), where=n_answered > 0), 4
            ),
            "logged_minutes": np.round(logged / 60, 1),
            "mastery_start": np.round(start, 4),
            "mastery_end": np.round(end, 4),
            "mastery_gain": np.round(end - start, 4),
        }
    )
    return frame.to_csv(index=False, lineterminator="\n")


def _mastery_csv(
    members: pd.DataFrame, monthly: np.ndarray, cal: _Calendar, n_kps: int
) -> Iterator[str]:
    """Month-end mastery probabilities from each member's joining month on, as CSV text in
    one part per member (so memory stays flat at any scale)."""
    table = [f"{v / 10000:.4f}\n" for v in range(10001)]
    kp_ids = [f"KP{k + 1:02d}," for k in range(n_kps)]
    months = [f"{cal.start.year}-{m:02d}," for m in range(1, 13)]
    month_last = [cal.start + timedelta(days=int(cal.month_last[m])) for m in range(1, 13)]
    values = np.rint(monthly * 10000).astype(np.int64)  # (12, n, k)
    yield "employee_no,kp_id,month,mastery\n"
    for i, (employee_no, joined) in enumerate(
        zip(members["employee_no"], members["joined_on"], strict=True)
    ):
        active = [m for m in range(12) if month_last[m] >= joined]
        if not active:
            continue
        member_values = values[active, i, :].T.tolist()  # (k, months)
        parts: list[str] = []
        for k in range(n_kps):
            prefix = f"{employee_no},{kp_ids[k]}"
            parts.extend(
                prefix + months[m] + table[v] for m, v in zip(active, member_values[k], strict=True)
            )
        yield "".join(parts)


def _learning_rates_json(
    config: WorldConfig, rates: LearningRates, traits: dict[str, np.ndarray], factor: float
) -> str:
    document = {
        "check_in_only_rate": CHECK_IN_ONLY_RATE,
        "check_in_only_members": int(traits["check_in_only"].sum()),
        "check_in_absorb_uniform": list(CHECK_IN_ABSORB),
        "check_in_logged_over_needed_uniform": list(CHECK_IN_DURATION_FACTOR),
        "cold_start_rate": COLD_START_RATE,
        "absorb_lognormal_sigma": 0.35,
        "ability_sd_logits": 0.8,
        "learner_model": rates.as_dict(),
        "difficulty_logit": "4 * (difficulty - 0.5)",
        "p_correct": "sigmoid(mastery - difficulty_logit); check-in only: guess_accuracy",
        "mastery_probability": "sigmoid(mastery): P(correct) on a question of difficulty 0.5",
        "mandatory_share": MANDATORY_SHARE,
        "mandatory_participation": MANDATORY_PARTICIPATION,
        "new_content_share": NEW_CONTENT_SHARE,
        "onboarding": {"days": ONBOARDING_DAYS, "activity_boost": ONBOARDING_BOOST},
        "pass_mark": PASS_MARK,
        "questions": (
            "quiz: clip(round(0.8 * minutes), 3, 12); case: 2; question q tests the item's "
            "KP number (q - 1) mod n_kps"
        ),
        "voluntary_rate_factor": round(factor, 6),
        "target_statements": config.target_statements,
        "mastery_monthly_rows": "member x KP x month, from the member's joining month on",
    }
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
