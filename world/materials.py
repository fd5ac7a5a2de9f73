"""The material catalogue the demo world buys: categories with units, price ranges and ESG
materiality (which pillar weighs on what a supplier sells).
"""

from __future__ import annotations

from dataclasses import dataclass

from world import names

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
