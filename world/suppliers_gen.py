"""Suppliers of the demo world: the register, each supplier's latent ESG risk, and collusive
links (bid-rigging rings and related suppliers). The material catalogue is in ``materials``,
certifications and dated ESG events in ``supplier_events``, the whole world and its file rows
in ``supplier_world``.

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

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from world import names
from world.config import WorldConfig
from world.materials import CATEGORIES

# ---------------------------------------------------------------------------------------
# Rates (documented constants; also written to truth/rates.json by procurement.py)

SIZE_SHARES = {"小型": 0.55, "中型": 0.33, "大型": 0.12}
OWNERSHIP_SHARES = {"民营": 0.68, "国有": 0.22, "外资": 0.04, "集体": 0.06}
EMISSION_REPORTED_SHARE = 0.3
BAD_ACTOR_SHARE = 0.05  # heavy tail: these suppliers carry 3-6x the risk
COLLUDER_GOVERNANCE_FACTOR = 1.5
N_RINGS_AT_SCALE_1 = 6
N_RELATED_GROUPS_AT_SCALE_1 = 14
BENIGN_RELATED_SHARE = 0.35  # related groups that share a value but do not collude
RING_SHARING_SHARE = 0.4  # rings where two members share a phone or bank account


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


def weighted_keys(shares: dict[str, float]) -> tuple[list[str], np.ndarray]:
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
    size_keys, size_p = weighted_keys(SIZE_SHARES)
    sizes = rng_size.choice(len(size_keys), size=n, p=size_p)
    owner_keys, owner_p = weighted_keys(OWNERSHIP_SHARES)
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
