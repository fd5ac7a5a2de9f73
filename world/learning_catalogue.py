"""The learning world's knowledge points, monthly themes and content catalogue, and its calendar.

Difficulties are on the P(correct) scale of ``learner_model`` (0.5 = an average item);
minutes are the time the content needs; days count from ``config.start``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from world.config import WorldConfig

NEW_CONTENT_SHARE = 0.20  # share of non-mandatory items published during the year

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
class Calendar:
    start: date
    n_days: int
    month: np.ndarray  # 1..12 per day
    weekday: np.ndarray
    month_first: np.ndarray  # (13,) first day index of each month (index 0 unused)
    month_last: np.ndarray

    @classmethod
    def of(cls, config: WorldConfig) -> Calendar:
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


# ---------------------------------------------------------------------------- catalogue


def _dedupe(titles: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for title in titles:
        seen[title] = seen.get(title, 0) + 1
        unique.append(title if seen[title] == 1 else f"{title}（第{seen[title]}期）")
    return unique


def build_catalogue(config: WorldConfig, cal: Calendar) -> Catalogue:
    """``config.n_content`` items; the first ``config.n_mandatory_content`` (at least one a
    month) are the months' mandatory items, the rest free choice over all KPs."""
    rng = config.rng("learning-catalogue")
    n = config.n_content
    n_kps = config.n_knowledge_points
    kp_domain = np.array([KNOWLEDGE_POINTS[k][2] for k in range(n_kps)])
    n_mandatory = config.n_mandatory_content
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
