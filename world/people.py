"""The members and staff of the demo world: Chinese names, roles, units, branches, rosters.

The materials-supply company of the (fictitious) 北辰能源集团: offices at headquarters work
day hours; warehouses and the mine supply stations run shifts. Party membership (about 60% in
such a unit) is drawn by role; party members belong to a branch of their unit.

Only the observable attributes live here; latent traits (ability, absorption, check-in only)
are the learning generator's.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

COLD_START_RATE = 0.10  # share of members who join during the simulated year

# (surname, relative frequency)
SURNAMES: tuple[tuple[str, float], ...] = tuple(
    (name, 1.0 / (rank + 1) ** 0.8)
    for rank, name in enumerate(
        "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
        "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
        "龚邵万钱严武戴孔汤乔"
    )
)
GIVEN_CHARACTERS = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰飞鹏辉波宁建国志海峰斌亮红梅林文利云"
    "晓俊浩宇鑫凯佳欣晨婷雪颖琳怡博昊帅龙东春慧荣兵成瑞彬坤旭晶新宏振永福忠德庆蒙润泽"
)
MOBILE_SECOND_DIGITS = "3456789"

# role -> (share of staff, P(party member))
ROLES: dict[str, tuple[float, float]] = {
    "buyer": (0.25, 0.60),
    "warehouse_keeper": (0.30, 0.50),
    "finance": (0.10, 0.60),
    "auditor": (0.06, 0.75),
    "party_officer": (0.06, 1.00),
    "manager": (0.08, 0.92),
    "engineer": (0.15, 0.50),
}

OFFICE_UNITS: tuple[str, ...] = (
    "物资供应中心",
    "招标采购部",
    "计划合同部",
    "财务资产部",
    "审计监察部",
    "党群工作部",
    "电子商务中心",
    "质量检验中心",
)
SITE_UNITS: tuple[str, ...] = (
    "伊金霍洛中心库",
    "准格尔物资储备库",
    "纳林沟矿物资供应站",
    "察汗塔拉矿物资供应站",
    "巴图梁矿物资供应站",
    "哈尔乌素矿物资供应站",
    "柳沟矿物资供应站",
    "机电维修中心",
)
UNITS: tuple[str, ...] = OFFICE_UNITS + SITE_UNITS

# role -> weight of each unit in UNITS order
_UNIT_WEIGHTS: dict[str, tuple[float, ...]] = {
    "buyer": (4, 5, 3, 0, 0, 0, 2, 0, 1, 1, 1, 1, 1, 1, 1, 1),
    "warehouse_keeper": (1, 0, 0, 0, 0, 0, 0, 1, 5, 4, 3, 3, 3, 3, 3, 1),
    "finance": (1, 0, 1, 6, 0, 0, 0, 0, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3),
    "auditor": (0, 0, 0, 1, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    "party_officer": (1, 0, 0, 0, 0, 5, 0, 0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5),
    "manager": (2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
    "engineer": (1, 0, 0, 0, 0, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1, 4),
}

# (role, at a site?) -> P(day, three_shift, four_crew_three_shift); offices work day hours.
_SITE_PATTERN_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "warehouse_keeper": (0.10, 0.35, 0.55),
    "engineer": (0.30, 0.50, 0.20),
    "buyer": (0.70, 0.30, 0.00),
    "finance": (1.0, 0.0, 0.0),
    "auditor": (1.0, 0.0, 0.0),
    "party_officer": (0.85, 0.15, 0.0),
    "manager": (0.90, 0.10, 0.0),
}
SHIFT_PATTERN_NAMES = ("day", "three_shift", "four_crew_three_shift")
_CREWS = {"day": "A", "three_shift": "ABC", "four_crew_three_shift": "ABCD"}
_BRANCH_NUMERALS = "一二三"

MEMBER_COLUMNS = (
    "employee_no",
    "name",
    "phone",
    "role",
    "unit",
    "party_member",
    "party_branch",
    "shift_pattern",
    "crew",
    "joined_on",
)


def _names(rng: np.random.Generator, n: int) -> list[str]:
    surnames = [s for s, _ in SURNAMES]
    weights = np.array([w for _, w in SURNAMES])
    family = rng.choice(len(surnames), size=n, p=weights / weights.sum())
    two_chars = rng.random(n) < 0.65
    given = rng.integers(0, len(GIVEN_CHARACTERS), size=(n, 2))
    return [
        surnames[f] + GIVEN_CHARACTERS[g[0]] + (GIVEN_CHARACTERS[g[1]] if two else "")
        for f, g, two in zip(family.tolist(), given.tolist(), two_chars.tolist(), strict=True)
    ]


def _phones(rng: np.random.Generator, n: int) -> list[str]:
    phones: list[str] = []
    seen: set[str] = set()
    while len(phones) < n:
        second = rng.integers(0, len(MOBILE_SECOND_DIGITS), size=n)
        rest = rng.integers(0, 1_000_000_000, size=n)
        for s, r in zip(second.tolist(), rest.tolist(), strict=True):
            phone = f"1{MOBILE_SECOND_DIGITS[s]}{r:09d}"
            if phone not in seen and len(phones) < n:
                seen.add(phone)
                phones.append(phone)
    return phones


def sample_members(
    rng: np.random.Generator, n: int, year_start: date, year_end: date
) -> pd.DataFrame:
    """``n`` members sorted by employee number; columns ``MEMBER_COLUMNS`` plus ``cold_start``.

    ``joined_on`` is before ``year_start`` for most, within the year for ``COLD_START_RATE``
    of them (at least two weeks before ``year_end``).
    """
    role_names = list(ROLES)
    shares = np.array([ROLES[r][0] for r in role_names])
    role_idx = rng.choice(len(role_names), size=n, p=shares / shares.sum())
    roles = [role_names[i] for i in role_idx.tolist()]
    unit_idx = np.empty(n, dtype=np.intp)
    pattern_idx = np.zeros(n, dtype=np.intp)
    for r, role in enumerate(role_names):
        rows = np.flatnonzero(role_idx == r)
        weights = np.array(_UNIT_WEIGHTS[role], dtype=float)
        unit_idx[rows] = rng.choice(len(UNITS), size=rows.size, p=weights / weights.sum())
        at_site = rows[unit_idx[rows] >= len(OFFICE_UNITS)]
        site_weights = np.array(_SITE_PATTERN_WEIGHTS[role])
        pattern_idx[at_site] = rng.choice(3, size=at_site.size, p=site_weights / site_weights.sum())
    patterns = [SHIFT_PATTERN_NAMES[i] for i in pattern_idx.tolist()]
    crew_draw = rng.integers(0, 12, size=n)  # 12 is divisible by 1, 3 and 4 crews
    crews = [
        _CREWS[p][c % len(_CREWS[p])] for p, c in zip(patterns, crew_draw.tolist(), strict=True)
    ]

    party_p = np.array([ROLES[r][1] for r in roles])
    party = rng.random(n) < party_p
    branch_no = rng.integers(0, len(_BRANCH_NUMERALS), size=n)
    branches = [
        f"{UNITS[u]}第{_BRANCH_NUMERALS[b]}党支部" if is_member else ""
        for u, b, is_member in zip(
            unit_idx.tolist(), branch_no.tolist(), party.tolist(), strict=True
        )
    ]

    cold_start = np.zeros(n, dtype=bool)
    cold_start[rng.choice(n, size=round(COLD_START_RATE * n), replace=False)] = True
    year_days = (year_end - year_start).days
    tenure_days = np.minimum(rng.exponential(8 * 365, size=n).astype(int) + 30, 30 * 365)
    new_days = rng.integers(7, max(8, year_days - 14), size=n)
    joined = [
        year_start + timedelta(days=int(new)) if cold else year_start - timedelta(days=int(tenure))
        for cold, new, tenure in zip(
            cold_start.tolist(), new_days.tolist(), tenure_days.tolist(), strict=True
        )
    ]
    numbers = rng.choice(900_000, size=n, replace=False) + 100_000
    frame = pd.DataFrame(
        {
            "employee_no": [f"E{number}" for number in numbers.tolist()],
            "name": _names(rng, n),
            "phone": _phones(rng, n),
            "role": roles,
            "unit": [UNITS[u] for u in unit_idx.tolist()],
            "party_member": party,
            "party_branch": branches,
            "shift_pattern": patterns,
            "crew": crews,
            "joined_on": joined,
            "cold_start": cold_start,
        }
    )
    return frame.sort_values("employee_no", kind="stable").reset_index(drop=True)
