"""Suppliers of the demo world: the material catalogue, the register, certifications,
collusive links (bid-rigging rings and related suppliers) and dated ESG events.

Fairness by construction: a supplier's latent ESG risk is drawn from its own random stream
(``supplier-risk``), independent of the streams that draw size, ownership and region, and
event rates do not scale with size (no exposure term), so size, ownership and region carry
no information about risk (DOMAIN.md: they are not criteria). Risk does depend on what a
supplier sells (materiality: explosives and on-site services weigh on safety, steel, cement
and chemicals on the environment) and, mildly, on governance for planted colluders (ring
members and colluding related suppliers have their governance risk raised by half), which
is what a real register would show through bribery findings and listings.

Risk moves from year to year (a log random walk), so recent events predict the next twelve
months better than old ones; events run from ``config.history_start`` to ``config.end``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from world import names
from world.config import WorldConfig

# ---------------------------------------------------------------------------------------
# Material catalogue


@dataclass(frozen=True)
class MaterialCategory:
    """A material category: unit prices in CNY per ``unit``; ``quantity_median`` per order."""

    code: str
    name: str
    name_en: str
    unit: str
    price_low: float
    price_high: float
    quantity_median: float
    order_weight: float  # share of purchase orders (relative)
    needs_ma: bool  # coal-mine product safety mark required (used underground)
    index: str  # price index it follows: "steel", "copper" or "general"
    kind: str  # goods or services
    business: str  # key of names.COMPANY_SUFFIXES for suppliers mainly selling it
    lead_days: tuple[int, int]  # delivery lead time after signing
    pillar_weights: tuple[float, float, float]  # materiality of E, S, G for its suppliers

    @property
    def specs(self) -> tuple[str, ...]:
        return names.MATERIAL_SPECS[self.code]

    def spec_price(self, spec: int) -> float:
        """Reference unit price of a spec: log-evenly spread over the category range."""
        count = len(self.specs)
        share = spec / (count - 1) if count > 1 else 0.5
        return float(self.price_low * (self.price_high / self.price_low) ** share)


# fmt: off
# code, name, English name, unit, unit price range (CNY), median quantity per order,
# order weight, MA mark needed, price index, goods/services, business, lead days, E/S/G weights
CATEGORIES: tuple[MaterialCategory, ...] = (
    MaterialCategory("M01", "液压支架", "hydraulic roof supports", "架", 300_000, 1_200_000,
                     6, 0.8, True, "steel", "goods", "machinery", (60, 120), (1.0, 1.2, 1.0)),
    MaterialCategory("M02", "采煤机截齿", "shearer picks", "个", 80, 400,
                     150, 7.0, False, "steel", "goods", "consumables", (7, 25), (1.0, 1.0, 1.0)),
    MaterialCategory("M03", "输送带", "conveyor belts", "米", 300, 2_500,
                     120, 4.0, True, "general", "goods", "consumables", (20, 60), (1.2, 1.0, 1.0)),
    MaterialCategory("M04", "锚杆", "roof bolts", "根", 25, 120,
                     700, 7.0, True, "steel", "goods", "consumables", (7, 20), (1.2, 1.0, 1.0)),
    MaterialCategory("M05", "锚索", "anchor cables", "根", 80, 300,
                     300, 5.0, True, "steel", "goods", "consumables", (7, 20), (1.2, 1.0, 1.0)),
    MaterialCategory("M06", "矿用电缆", "mining cables", "米", 40, 900,
                     300, 5.0, True, "copper", "goods", "electrical", (10, 30), (1.0, 1.0, 1.0)),
    MaterialCategory("M07", "防爆电机", "explosion-proof motors", "台", 8_000, 600_000,
                     2, 2.5, True, "copper", "goods", "electrical", (20, 60), (1.0, 1.0, 1.0)),
    MaterialCategory("M08", "矿用开关设备", "mining switchgear", "台", 15_000, 250_000,
                     2, 2.5, True, "general", "goods", "electrical", (20, 50), (1.0, 1.0, 1.0)),
    MaterialCategory("M09", "民爆物品", "mine explosives", "吨", 8_000, 16_000,
                     6, 2.0, True, "general", "goods", "chemicals", (3, 10), (1.2, 1.8, 1.0)),
    MaterialCategory("M10", "乳化液", "emulsion concentrate", "吨", 8_000, 20_000,
                     3, 3.0, True, "general", "goods", "chemicals", (7, 20), (1.5, 1.0, 1.0)),
    MaterialCategory("M11", "润滑油", "lubricants", "吨", 10_000, 30_000,
                     2, 4.0, False, "general", "goods", "chemicals", (5, 15), (1.5, 1.0, 1.0)),
    MaterialCategory("M12", "钢丝绳", "wire rope", "米", 30, 400,
                     200, 2.0, True, "steel", "goods", "consumables", (10, 30), (1.0, 1.0, 1.0)),
    MaterialCategory("M13", "钢材", "steel", "吨", 3_500, 6_500,
                     8, 4.0, False, "steel", "goods", "materials", (5, 20), (1.8, 1.0, 1.0)),
    MaterialCategory("M14", "水泥", "cement", "吨", 350, 650,
                     60, 3.0, False, "general", "goods", "materials", (3, 10), (1.8, 1.0, 1.0)),
    MaterialCategory("M15", "轮胎", "tyres", "条", 2_000, 60_000,
                     3, 2.0, False, "general", "goods", "general", (7, 30), (1.0, 1.0, 1.0)),
    MaterialCategory("M16", "劳保用品", "protective equipment", "套", 50, 800,
                     100, 18.0, False, "general", "goods", "general", (5, 15), (1.0, 1.2, 1.0)),
    MaterialCategory("M17", "配件", "spare parts", "件", 200, 50_000,
                     6, 18.0, False, "steel", "goods", "machinery", (5, 30), (1.0, 1.0, 1.0)),
    MaterialCategory("M18", "IT服务", "IT services", "项", 20_000, 800_000,
                     1, 2.0, False, "general", "services", "services", (30, 120), (0.6, 0.8, 1.6)),
    MaterialCategory("M19", "维修服务", "maintenance services", "项", 10_000, 1_500_000,
                     1, 5.0, False, "general", "services", "services", (15, 60), (1.0, 1.8, 1.0)),
)
# fmt: on
CATEGORY_BY_CODE: dict[str, MaterialCategory] = {c.code: c for c in CATEGORIES}
MA_CATEGORIES: tuple[str, ...] = tuple(c.code for c in CATEGORIES if c.needs_ma)

# ---------------------------------------------------------------------------------------
# Rates (documented constants; also written to truth/rates.json by procurement.py)

SIZE_SHARES = {"小型": 0.55, "中型": 0.33, "大型": 0.12}
OWNERSHIP_SHARES = {"民营": 0.68, "国有": 0.22, "外资": 0.04, "集体": 0.06}
EMISSION_REPORTED_SHARE = 0.3
BAD_ACTOR_SHARE = 0.05  # heavy tail: these suppliers carry 3-6x the risk
COLLUDER_GOVERNANCE_FACTOR = 1.5
MA_STATE_SHARES = {"valid": 0.82, "expired": 0.08, "missing": 0.06, "no_evidence": 0.04}
CLAIM_WITHOUT_EVIDENCE_SHARE = 0.08
N_RINGS_AT_SCALE_1 = 6
N_RELATED_GROUPS_AT_SCALE_1 = 14
BENIGN_RELATED_SHARE = 0.35  # related groups that share a value but do not collude
RING_SHARING_SHARE = 0.4  # rings where two members share a phone or bank account

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

# Legal representatives and contact persons of suppliers (a private pool: person names for
# members live with the learning world).
_SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈"
    "曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔"
    "康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
)
_GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红海波鑫宇浩然"
    "晓东文斌俊峰永刚玉兰德胜国庆金龙宏亮春生立新卫东雪梅丽萍凤英"
)

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def credit_code(region_code: str, body_digits: str) -> str:
    """A unified social credit code (GB 32100-2015) with valid check characters.

    ``91`` (enterprise registered by market regulation) + 6-digit division code + 8-digit
    organisation body + its GB 11714 check + the overall mod-31 check.
    """
    org_sum = sum(int(ch) * w for ch, w in zip(body_digits, _ORG_WEIGHTS, strict=True))
    org_check = 11 - org_sum % 11
    org_char = "X" if org_check == 10 else "0" if org_check == 11 else str(org_check)
    head = "91" + region_code + body_digits + org_char
    total = sum(_USCC_ALPHABET.index(ch) * w for ch, w in zip(head, _USCC_WEIGHTS, strict=True))
    check = (31 - total % 31) % 31
    return head + _USCC_ALPHABET[check]


def person_name(rng: np.random.Generator) -> str:
    surname = _SURNAMES[int(rng.integers(len(_SURNAMES)))]
    given_length = 1 if rng.random() < 0.35 else 2
    given = "".join(_GIVEN[int(i)] for i in rng.integers(len(_GIVEN), size=given_length))
    return surname + given


# ---------------------------------------------------------------------------------------
# Suppliers


@dataclass
class Supplier:
    index: int
    supplier_id: str
    name: str
    credit_code: str
    legal_representative: str
    contact_name: str
    phone: str
    province: str
    city: str
    district: str
    street_address: str
    bank_account: str
    categories: list[str]
    ownership: str
    size: str
    capital_10k: float
    founded_on: date
    tax_grade: str
    emission_intensity: float | None
    registered_on: date
    activity: float  # relative propensity to bid
    risk: float  # latent overall ESG risk (1 = typical)
    pillar_risk: list[float]  # E, S, G
    events_by_year: dict[int, int] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.province}{self.city}{self.district}{self.street_address}"

    @property
    def region(self) -> str:
        return f"{self.province}{self.city}" if self.province != self.city else self.city


@dataclass(frozen=True)
class Ring:
    ring_id: str
    category: str
    members: tuple[int, ...]  # supplier indices, in rotation order


@dataclass(frozen=True)
class RelatedGroup:
    group_id: str
    members: tuple[int, ...]
    shared: tuple[str, ...]  # of phone, address, legal_representative, bank_account
    colluding: bool
    category: str  # a category all members supply
    ring_id: str = ""


@dataclass
class SupplierWorld:
    suppliers: list[Supplier]
    by_category: dict[str, np.ndarray]  # category code -> supplier indices (sorted)
    rings: list[Ring]
    related: list[RelatedGroup]
    certifications: list[tuple[str, ...]]
    events: list[tuple[str, ...]]


def _weighted_keys(shares: dict[str, float]) -> tuple[list[str], np.ndarray]:
    keys = list(shares)
    weights = np.array([shares[k] for k in keys], dtype=float)
    return keys, weights / weights.sum()


def _phone(rng: np.random.Generator, area_code: str, mobile: bool) -> str:
    if mobile:
        prefix = ("139", "138", "135", "150", "152", "158", "186", "188", "177", "199")
        return prefix[int(rng.integers(len(prefix)))] + f"{int(rng.integers(10**8)):08d}"
    digits = 7 if len(area_code) == 4 else 8
    first, rest = int(rng.integers(2, 9)), int(rng.integers(10 ** (digits - 1)))
    return f"{area_code}-{first}{rest:0{digits - 1}d}"


def build_suppliers(config: WorldConfig) -> list[Supplier]:
    """Register entries; size, ownership and region streams are independent of risk."""
    n = config.n_suppliers
    rng_id = config.rng("supplier-identity")
    rng_size = config.rng("supplier-size")
    rng_region = config.rng("supplier-region")
    rng_risk = config.rng("supplier-risk")
    rng_cat = config.rng("supplier-categories")

    region_p = np.array(names.REGION_WEIGHTS, dtype=float)
    regions = rng_region.choice(len(names.REGIONS), size=n, p=region_p / region_p.sum())
    size_keys, size_p = _weighted_keys(SIZE_SHARES)
    sizes = rng_size.choice(len(size_keys), size=n, p=size_p)
    owner_keys, owner_p = _weighted_keys(OWNERSHIP_SHARES)
    owners = rng_size.choice(len(owner_keys), size=n, p=owner_p)
    capital_center = np.array([300.0, 3_000.0, 30_000.0])[sizes]
    capitals = np.round(capital_center * np.exp(rng_size.normal(0.0, 0.6, size=n)), 0)

    # latent risk: lognormal body plus a heavy tail of bad actors
    base = np.exp(rng_risk.normal(-0.15, 0.6, size=n))
    bad = rng_risk.random(n) < BAD_ACTOR_SHARE
    base = np.where(bad, base * rng_risk.uniform(3.0, 6.0, size=n), base)
    pillar_noise = np.exp(rng_risk.normal(0.0, 0.35, size=(n, 3)))

    # categories: a primary category by order weight, plus 0-2 more
    cat_p = np.array([c.order_weight for c in CATEGORIES]) ** 0.5
    cat_p = cat_p / cat_p.sum()
    primary = rng_cat.choice(len(CATEGORIES), size=n, p=cat_p)
    extra_counts = rng_cat.choice(3, size=n, p=[0.45, 0.4, 0.15])
    activity = np.exp(rng_cat.normal(0.0, 0.8, size=n))

    suppliers: list[Supplier] = []
    used_names: set[str] = set()
    for i in range(n):
        province, city, area, division, districts = names.REGIONS[int(regions[i])]
        district_index = int(rng_id.integers(len(districts)))
        cats = [int(primary[i])]
        for extra in rng_cat.choice(len(CATEGORIES), size=int(extra_counts[i]), p=cat_p):
            if int(extra) not in cats:
                cats.append(int(extra))
        category = CATEGORIES[cats[0]]
        suffixes = names.COMPANY_SUFFIXES[category.business]
        city_short = city.removesuffix("市")
        while True:
            brand = names.BRAND_WORDS[int(rng_id.integers(len(names.BRAND_WORDS)))]
            suffix = suffixes[int(rng_id.integers(len(suffixes)))]
            name = f"{city_short}{brand}{suffix}"
            if name in used_names:
                second = names.BRAND_WORDS[int(rng_id.integers(len(names.BRAND_WORDS)))]
                name = f"{city_short}{brand}{second[0]}{suffix}"
            if name not in used_names:
                break
        used_names.add(name)
        division_code = division[:4] + f"{district_index + 2:02d}"
        code = credit_code(division_code, f"{int(rng_id.integers(10**8)):08d}")
        legal = person_name(rng_id)
        contact = legal if rng_id.random() < 0.4 else person_name(rng_id)
        size = size_keys[int(sizes[i])]
        phone = _phone(rng_id, area, mobile=size == "小型" and rng_id.random() < 0.6)
        street = names.STREETS[int(rng_id.integers(len(names.STREETS)))]
        building = names.BUILDINGS[int(rng_id.integers(len(names.BUILDINGS)))]
        street_address = f"{street}{int(rng_id.integers(1, 300))}{building}"
        bank, bank_code = names.BANKS[int(rng_id.integers(len(names.BANKS)))]
        account = f"{bank_code}{int(rng_id.integers(10**15)):015d}"
        bank_account = f"{bank}{city_short}分行 {account}"
        founded = date(
            int(rng_id.integers(1995, 2021)),
            int(rng_id.integers(1, 13)),
            int(rng_id.integers(1, 29)),
        )
        earliest = max(founded + timedelta(days=365), date(2012, 1, 1))
        span = (date(config.start.year - 1, 12, 31) - earliest).days
        registered = earliest + timedelta(days=int(rng_id.integers(max(span, 1))))
        emission = None
        if rng_id.random() < EMISSION_REPORTED_SHARE and category.kind == "goods":
            emission = round(float(rng_id.lognormal(np.log(0.25), 0.6)), 3)
        weights = np.mean([CATEGORIES[c].pillar_weights for c in cats], axis=0)
        pillars = [float(base[i] * pillar_noise[i, p] * weights[p]) for p in range(3)]
        # tax credit grade: mostly A/B; worse with governance risk (it is a signal of it)
        g = pillars[2]
        grade_p = np.array([0.45 / g**0.5, 0.35, 0.1, 0.06 * g**0.5, 0.02 * g])
        tax_grade = "ABMCD"[int(rng_id.choice(5, p=grade_p / grade_p.sum()))]
        suppliers.append(
            Supplier(
                index=i,
                supplier_id=f"SUP-{i + 1:05d}",
                name=name,
                credit_code=code,
                legal_representative=legal,
                contact_name=contact,
                phone=phone,
                province=province,
                city=city,
                district=districts[district_index],
                street_address=street_address,
                bank_account=bank_account,
                categories=[CATEGORIES[c].code for c in cats],
                ownership=owner_keys[int(owners[i])],
                size=size,
                capital_10k=float(capitals[i]),
                founded_on=founded,
                tax_grade=tax_grade,
                emission_intensity=emission,
                registered_on=registered,
                activity=float(activity[i]),
                risk=float(base[i]),
                pillar_risk=pillars,
            )
        )
    _ensure_coverage(suppliers, config.rng("supplier-coverage"))
    return suppliers


def _ensure_coverage(suppliers: list[Supplier], rng: np.random.Generator, minimum: int = 8) -> None:
    """Every category has at least ``minimum`` suppliers, so every tender can find bidders."""
    for category in CATEGORIES:
        holders = [s for s in suppliers if category.code in s.categories]
        missing = minimum - len(holders)
        if missing <= 0:
            continue
        others = [s.index for s in suppliers if category.code not in s.categories]
        for index in rng.choice(others, size=min(missing, len(others)), replace=False):
            suppliers[int(index)].categories.append(category.code)


def index_by_category(suppliers: list[Supplier]) -> dict[str, np.ndarray]:
    return {
        c.code: np.array([s.index for s in suppliers if c.code in s.categories], dtype=np.int64)
        for c in CATEGORIES
    }


_SHARE_FIELDS = ("phone", "address", "legal_representative", "bank_account")
RING_CATEGORIES = ("M03", "M04", "M05", "M06", "M07", "M08", "M12", "M13", "M19", "M02")


def plant_links(
    config: WorldConfig, suppliers: list[Supplier]
) -> tuple[list[Ring], list[RelatedGroup]]:
    """Choose bid-rigging rings and related-supplier groups; copy shared values between them.

    Members are disjoint across rings and groups. Shared values are copied from the first
    member to the others in the register itself, so the links are findable in the data.
    """
    rng = config.rng("supplier-links")
    scale_root = config.scale**0.5
    n_rings = max(2, round(N_RINGS_AT_SCALE_1 * scale_root))
    n_groups = max(3, round(N_RELATED_GROUPS_AT_SCALE_1 * scale_root))
    taken: set[int] = set()

    def pick(category: str, count: int) -> list[int]:
        holders = [s.index for s in suppliers if category in s.categories and s.index not in taken]
        if len(holders) < count:  # recruit: add the category to free suppliers
            free = [s.index for s in suppliers if s.index not in taken and s.index not in holders]
            extra = rng.choice(free, size=count - len(holders), replace=False)
            for index in extra:
                suppliers[int(index)].categories.append(category)
            holders += [int(i) for i in extra]
        chosen = [int(i) for i in rng.choice(holders, size=count, replace=False)]
        taken.update(chosen)
        return chosen

    rings: list[Ring] = []
    related: list[RelatedGroup] = []
    ring_categories = list(RING_CATEGORIES)
    for r in range(n_rings):
        category = ring_categories[r % len(ring_categories)]
        members = pick(category, int(rng.integers(3, 6)))
        ring = Ring(f"BR-{r + 1:02d}", category, tuple(members))
        rings.append(ring)
        for index in members:
            suppliers[index].pillar_risk[2] *= COLLUDER_GOVERNANCE_FACTOR
        if rng.random() < RING_SHARING_SHARE:
            ring_shared = ("phone",) if rng.random() < 0.5 else ("bank_account",)
            group = RelatedGroup(
                f"RG-{len(related) + 1:03d}",
                tuple(members[:2]),
                ring_shared,
                True,
                category,
                ring.ring_id,
            )
            related.append(group)
    for _ in range(n_groups):
        benign = rng.random() < BENIGN_RELATED_SHARE
        category = CATEGORIES[int(rng.integers(len(CATEGORIES)))].code
        members = pick(category, 2 if rng.random() < 0.7 else 3)
        if benign:
            shared: tuple[str, ...] = (
                ("address",) if rng.random() < 0.6 else ("legal_representative",)
            )
        else:
            k = 1 if rng.random() < 0.6 else 2
            order = rng.permutation(len(_SHARE_FIELDS))[:k]
            shared = tuple(_SHARE_FIELDS[int(i)] for i in sorted(order))
            for index in members:
                suppliers[index].pillar_risk[2] *= COLLUDER_GOVERNANCE_FACTOR
        related.append(
            RelatedGroup(f"RG-{len(related) + 1:03d}", tuple(members), shared, not benign, category)
        )
    for group in related:
        source = suppliers[group.members[0]]
        for index in group.members[1:]:
            target = suppliers[index]
            for shared_field in group.shared:
                if shared_field == "address":
                    target.province, target.city = source.province, source.city
                    target.district, target.street_address = source.district, source.street_address
                else:
                    setattr(target, shared_field, getattr(source, shared_field))
    return rings, related


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

    ma_keys, ma_p = _weighted_keys(MA_STATE_SHARES)
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


def build_supplier_world(config: WorldConfig) -> SupplierWorld:
    suppliers = build_suppliers(config)
    rings, related = plant_links(config, suppliers)
    certifications = build_certifications(config, suppliers)
    events = build_events(config, suppliers)
    return SupplierWorld(
        suppliers, index_by_category(suppliers), rings, related, certifications, events
    )


# ---------------------------------------------------------------------------------------
# Files

REGISTER_HEADER = (
    "供应商编号", "供应商名称", "统一社会信用代码", "法定代表人", "联系电话", "注册地址",
    "开户银行账号", "供货类别", "企业性质", "所在地区", "注册资本（万元）", "成立日期",
    "企业规模", "纳税信用等级", "碳排放强度", "入库日期",
)  # fmt: skip
CERTIFICATION_HEADER = (
    "供应商编号",
    "证书类型",
    "证书编号",
    "适用类别",
    "发证日期",
    "有效期至",
    "证明文件",
)
EVENT_HEADER = (
    "事件编号", "供应商编号", "事件类型", "事件日期", "严重程度", "死亡人数", "罚款金额（元）",
    "列入期限至", "事件描述", "证明文件",
)  # fmt: skip


def csv_text(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def register_rows(suppliers: list[Supplier]) -> list[tuple[str, ...]]:
    return [
        (
            s.supplier_id,
            s.name,
            s.credit_code,
            s.legal_representative,
            s.phone,
            s.address,
            s.bank_account,
            "|".join(s.categories),
            s.ownership,
            s.region,
            f"{s.capital_10k:.0f}",
            s.founded_on.isoformat(),
            s.size,
            s.tax_grade,
            "" if s.emission_intensity is None else f"{s.emission_intensity:.3f}",
            s.registered_on.isoformat(),
        )
        for s in suppliers
    ]
