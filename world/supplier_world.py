"""The whole supplier world (register, links, certifications, events) and its files' rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from world.config import WorldConfig
from world.supplier_events import build_certifications, build_events
from world.suppliers_gen import (
    Supplier,
    SupplierWorld,
    build_suppliers,
    index_by_category,
    plant_links,
)


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
