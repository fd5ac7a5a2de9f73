"""Column maps from source headers to schema columns, and the header matching.

Register files arrive as CSV in whatever encoding the exporting program chose (UTF-8 with or
without a BOM, GB18030/GBK from Excel on Chinese Windows, others found by
``common.detect_encoding``) with English *or* Chinese headers. Each file kind has ONE map
below; the tables name the main Chinese header and the map holds the synonyms real exports
use (供应商编号/供应商编码/供应商代码, 企业名称/单位名称/公司名称, 法人/法人代表/法定代表人 ...).
A header is looked up after normalisation (``header_key``: Unicode NFKC, so full-width
``（）`` equal ``()`` and the full-width space is a space; BOMs and zero-width characters
dropped; case-folded; spaces, ``_``, ``-`` and ``*`` markers removed).

Headers not in the map are not stored but reported, never dropped in silence: each becomes a
warning of the run's report ("column not mapped ..."); so does a second header naming a
column already named (the first one is read). A file whose header lacks a required column,
or that cannot be decoded, is quarantined as one record (``source_line`` 0) holding the file.

Members register (``members``):

| Chinese | column | values |
| --- | --- | --- |
| 工号 | employee_no | required; pseudonymised (``member_key``) and encrypted |
| 姓名 | name | required; encrypted |
| 手机号 | phone | encrypted |
| 岗位 | role | |
| 单位 | unit | |
| 是否党员 | party_member | true/false/是/否 (also yes/no, 1/0); encrypted |
| 党支部 | party_branch | encrypted; ``branch_key`` pseudonym |
| 班制 | shift_pattern | day, three_shift, four_crew_three_shift (常白班, 三班倒, 四班三倒) |
| 班组 | crew | |
| 入职日期 | joined_on | YYYY-MM-DD |

Supplier register (``supplier_register``):

| Chinese | column | values |
| --- | --- | --- |
| 供应商编号 | supplier_id | required |
| 供应商名称 | name | required |
| 统一社会信用代码 | credit_code | 18 characters (digits and capitals except I, O, S, V, Z) |
| 法定代表人 | legal_representative | encrypted + fingerprint (namespace ``person``) |
| 联系电话 | phone | encrypted + fingerprint (namespace ``phone``) |
| 注册地址 | address | kept; fingerprint (namespace ``address``) |
| 开户银行账号 | bank_account | encrypted + fingerprint (namespace ``bank_account``) |
| 供货类别 | categories | separated by ``|``, ``、``, ``；`` or ``;`` |
| 企业性质 | ownership_type | |
| 所在地区 | region | |
| 注册资本（万元） | registered_capital_10k_cny | 万元 (10,000 CNY); stored ×10,000 in CNY |
| 注册资本（元） | registered_capital_cny | CNY |
| 成立日期 | founded_on | YYYY-MM-DD |
| 企业规模 | size_class | 小型/中型/大型 or small/medium/large |
| 纳税信用等级 | tax_credit_grade | A, B, M, C, D |
| 碳排放强度 | reported_emission_intensity | kg CO2e per CNY, ≥ 0 |
| 入库日期 | registered_on | YYYY-MM-DD |

Supplier certifications (``supplier_certifications``): 供应商编号 supplier_id, 证书类型
cert_type, 证书编号 cert_no, 适用类别 category, 发证日期 valid_from, 有效期至 valid_to,
证明文件 evidence_document.

Supplier events (``supplier_events``): 事件编号 event_id, 供应商编号 supplier_id, 事件类型
event_type, 事件日期 event_date, 严重程度 severity, 死亡人数 deaths, 罚款金额（元） fine_cny,
列入期限至 listed_until, 事件描述 description, 证明文件 evidence_document.

Content catalogue CSV (``catalogue``): 内容编号 content_id, 标题 title, 知识点
knowledge_points, 形式 format, 时长（分钟） minutes, 难度 difficulty, 必学月份
mandatory_month, 主题 theme, 发布日期 published_on. Knowledge points CSV: 知识点编号 kp_id,
中文名称 name_zh, 英文名称 name_en, 领域 domain.

What the tabular readers share beyond the maps (CSV records with their line numbers, typed
frames, the chunking loop) is in ``ingest/readers/tabular.py``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from ingest.readers.common import FileLevelError


def _identity(*names: str) -> dict[str, str]:
    return {name: name for name in names}


def _synonyms(column: str, *headers: str) -> dict[str, str]:
    return dict.fromkeys(headers, column)


SUPPLIER_ID_HEADERS = (
    "供应商编号",
    "供应商编码",
    "供应商代码",
    "供应商id",
    "客商编码",
    "客商编号",
    "客商代码",
)


MEMBER_COLUMNS: dict[str, str] = {
    **_identity(
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
    ),
    **_synonyms("employee_no", "工号", "员工编号", "员工号", "职工编号", "人员编号", "员工工号"),
    **_synonyms("name", "姓名", "员工姓名", "职工姓名"),
    **_synonyms("phone", "手机号", "手机号码", "手机", "联系电话", "电话", "联系方式"),
    **_synonyms("role", "岗位", "职务", "岗位名称"),
    **_synonyms("unit", "单位", "部门", "所在单位", "所在部门"),
    **_synonyms("party_member", "是否党员", "党员"),
    **_synonyms("party_branch", "党支部", "所在党支部", "所属党支部"),
    **_synonyms("shift_pattern", "班制", "班次", "倒班方式"),
    **_synonyms("crew", "班组", "所在班组"),
    **_synonyms("joined_on", "入职日期", "入职时间"),
}

SUPPLIER_REGISTER_COLUMNS: dict[str, str] = {
    **_identity(
        "supplier_id",
        "name",
        "credit_code",
        "legal_representative",
        "phone",
        "address",
        "bank_account",
        "categories",
        "ownership_type",
        "region",
        "registered_capital_cny",
        "registered_capital_10k_cny",
        "founded_on",
        "size_class",
        "tax_credit_grade",
        "reported_emission_intensity",
        "registered_on",
    ),
    **_synonyms("supplier_id", *SUPPLIER_ID_HEADERS, "编号", "编码", "代码", "企业编号"),
    **_synonyms(
        "name",
        "供应商名称",
        "供应商全称",
        "供应商",
        "企业名称",
        "单位名称",
        "公司名称",
        "客商名称",
        "名称",
    ),
    **_synonyms("credit_code", "统一社会信用代码", "信用代码", "社会信用代码", "统一信用代码"),
    **_synonyms(
        "legal_representative", "法定代表人", "法人", "法人代表", "法定代表人姓名", "法人姓名"
    ),
    **_synonyms("phone", "联系电话", "电话", "手机", "手机号", "手机号码", "电话号码", "联系方式"),
    **_synonyms("address", "注册地址", "地址", "企业地址", "公司地址", "住所"),
    **_synonyms(
        "bank_account",
        "开户银行账号",
        "开户行账号",
        "银行账号",
        "银行帐号",
        "开户账号",
        "银行账户",
        "账号",
        "帐号",
    ),
    **_synonyms("categories", "供货类别", "供应类别", "物资类别", "产品类别", "供货范围"),
    **_synonyms("ownership_type", "企业性质", "企业类型", "单位性质", "公司类型"),
    **_synonyms("region", "所在地区", "地区", "所在地", "省份", "区域"),
    **_synonyms("registered_capital_10k_cny", "注册资本（万元）", "注册资金（万元）"),
    **_synonyms("registered_capital_cny", "注册资本（元）", "注册资金（元）"),
    **_synonyms("founded_on", "成立日期", "成立时间"),
    **_synonyms("size_class", "企业规模", "规模"),
    **_synonyms("tax_credit_grade", "纳税信用等级", "纳税信用级别", "纳税等级"),
    **_synonyms("reported_emission_intensity", "碳排放强度"),
    **_synonyms("registered_on", "入库日期", "入库时间", "准入日期", "登记日期"),
}

SUPPLIER_CERTIFICATION_COLUMNS: dict[str, str] = {
    **_identity(
        "supplier_id",
        "cert_type",
        "cert_no",
        "category",
        "valid_from",
        "valid_to",
        "evidence_document",
    ),
    **_synonyms("supplier_id", *SUPPLIER_ID_HEADERS),
    **_synonyms("cert_type", "证书类型", "证书名称", "认证类型"),
    **_synonyms("cert_no", "证书编号", "证书号", "证书号码"),
    **_synonyms("category", "适用类别", "适用范围", "认证范围"),
    **_synonyms("valid_from", "发证日期", "颁发日期", "生效日期", "有效期起"),
    **_synonyms("valid_to", "有效期至", "有效期止", "到期日期", "截止日期", "失效日期"),
    **_synonyms("evidence_document", "证明文件", "证明材料", "附件"),
}

SUPPLIER_EVENT_COLUMNS: dict[str, str] = {
    **_identity(
        "event_id",
        "supplier_id",
        "event_type",
        "event_date",
        "severity",
        "deaths",
        "fine_cny",
        "listed_until",
        "description",
        "evidence_document",
    ),
    **_synonyms("event_id", "事件编号", "记录编号"),
    **_synonyms("supplier_id", *SUPPLIER_ID_HEADERS),
    **_synonyms("event_type", "事件类型"),
    **_synonyms("event_date", "事件日期", "发生日期", "处罚日期"),
    **_synonyms("severity", "严重程度", "事故等级"),
    **_synonyms("deaths", "死亡人数"),
    **_synonyms("fine_cny", "罚款金额（元）", "罚款金额", "罚款（元）"),
    **_synonyms("listed_until", "列入期限至", "移出日期"),
    **_synonyms("description", "事件描述", "情况说明", "描述"),
    **_synonyms("evidence_document", "证明文件", "证明材料", "附件"),
}

CONTENT_COLUMNS: dict[str, str] = {
    **_identity(
        "content_id",
        "title",
        "knowledge_points",
        "format",
        "minutes",
        "difficulty",
        "mandatory_month",
        "theme",
        "published_on",
    ),
    **_synonyms("content_id", "内容编号", "课程编号", "课件编号"),
    **_synonyms("title", "标题", "课程名称"),
    "知识点": "knowledge_points",
    "形式": "format",
    "时长（分钟）": "minutes",
    "难度": "difficulty",
    "必学月份": "mandatory_month",
    "主题": "theme",
    "发布日期": "published_on",
}

AUDIT_OUTCOME_COLUMNS: dict[str, str] = {
    **_identity("ocid", "finding", "scheme", "confirmed_at"),
    **_synonyms("finding", "审计结论", "结论"),
    **_synonyms("scheme", "问题类型"),
    **_synonyms("confirmed_at", "确认日期"),
}

KNOWLEDGE_POINT_COLUMNS: dict[str, str] = {
    **_identity("kp_id", "name_zh", "name_en", "domain"),
    **_synonyms("kp_id", "知识点编号", "知识点编码"),
    **_synonyms("name_zh", "中文名称", "名称"),
    "英文名称": "name_en",
    "领域": "domain",
}


class ColumnMapError(FileLevelError):
    """A file's header lacks a required column: the file is quarantined as one record."""


INVISIBLE_IN_HEADERS = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060"))
IGNORED_IN_HEADER_KEYS = str.maketrans("", "", " _-*")


def header_key(header: str) -> str:
    """Headers as compared (module docstring): ``"供应商 编码*"`` → ``"供应商编码"``."""
    text = unicodedata.normalize("NFKC", header.translate(INVISIBLE_IN_HEADERS)).casefold()
    return "".join(text.split()).translate(IGNORED_IN_HEADER_KEYS)


def map_header(
    headers: list[str], column_map: dict[str, str], *, required: Iterable[str], source: str
) -> tuple[list[str | None], list[str]]:
    """The schema column for each header position (``None`` = not read), and the warnings
    naming the headers that were not read (unknown, or a column already named)."""
    lookup = {header_key(key): column for key, column in column_map.items()}
    mapped: list[str | None] = []
    warnings: list[str] = []
    seen: dict[str, str] = {}
    for position, header in enumerate(headers, start=1):
        column = lookup.get(header_key(header))
        shown = header.strip() or f"(unnamed, position {position})"
        if column is None:
            warnings.append(f"column not mapped, its values are not stored: {shown!r}")
        elif column in seen:
            warnings.append(f"column {shown!r} not read: {column} is read from {seen[column]!r}")
            column = None
        else:
            seen[column] = header.strip()
        mapped.append(column)
    missing = [column for column in required if column not in seen]
    if missing:
        raise ColumnMapError(
            f"{source}: no header names the required column(s) {', '.join(missing)}; "
            f"headers read: {', '.join(headers)} (see ingest/readers/columns.py)"
        )
    return mapped, warnings
