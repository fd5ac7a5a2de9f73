"""Column maps from source headers to schema columns, and the plumbing the tabular readers share.

Register files arrive as CSV (UTF-8, a BOM is tolerated) with English *or* Chinese headers.
Each file kind has ONE map below; a header is looked up after normalisation (Unicode NFKC,
so full-width ``（）`` equal ``()``; trimmed; case-folded; spaces and hyphens become ``_``).
Headers not in the map are ignored (real exports carry extra columns such as 备注); a
required column that is missing, or two headers naming the same column, stop the file with
a ``ColumnMapError`` before anything is stored.

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

Besides the maps, this module holds what every tabular reader here shares: CSV records
with their physical line numbers and raw text (``iter_csv_records``), typed frames that
match ``features.schema`` (``RowBuffer``), and the chunking loop that keeps
``records_in == accepted + quarantined`` (``read_chunks``).
"""

from __future__ import annotations

import csv
import gzip
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from operator import itemgetter
from pathlib import Path

import pandas as pd
import pyarrow as pa

from features.readers.common import CHUNK_RECORDS, ReadChunk, RecordError, now_utc
from features.schema import LINEAGE_COLUMNS, TABLES
from features.store import QuarantineRecord, file_sha256


def _identity(*names: str) -> dict[str, str]:
    return {name: name for name in names}


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
    "工号": "employee_no",
    "员工编号": "employee_no",
    "姓名": "name",
    "手机号": "phone",
    "手机号码": "phone",
    "岗位": "role",
    "单位": "unit",
    "是否党员": "party_member",
    "党支部": "party_branch",
    "班制": "shift_pattern",
    "班组": "crew",
    "入职日期": "joined_on",
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
    "供应商编号": "supplier_id",
    "供应商名称": "name",
    "统一社会信用代码": "credit_code",
    "法定代表人": "legal_representative",
    "联系电话": "phone",
    "注册地址": "address",
    "开户银行账号": "bank_account",
    "供货类别": "categories",
    "企业性质": "ownership_type",
    "所在地区": "region",
    "注册资本（万元）": "registered_capital_10k_cny",
    "注册资本（元）": "registered_capital_cny",
    "成立日期": "founded_on",
    "企业规模": "size_class",
    "纳税信用等级": "tax_credit_grade",
    "碳排放强度": "reported_emission_intensity",
    "入库日期": "registered_on",
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
    "供应商编号": "supplier_id",
    "证书类型": "cert_type",
    "证书编号": "cert_no",
    "适用类别": "category",
    "发证日期": "valid_from",
    "有效期至": "valid_to",
    "证明文件": "evidence_document",
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
    "事件编号": "event_id",
    "供应商编号": "supplier_id",
    "事件类型": "event_type",
    "事件日期": "event_date",
    "严重程度": "severity",
    "死亡人数": "deaths",
    "罚款金额（元）": "fine_cny",
    "列入期限至": "listed_until",
    "事件描述": "description",
    "证明文件": "evidence_document",
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
    "内容编号": "content_id",
    "标题": "title",
    "知识点": "knowledge_points",
    "形式": "format",
    "时长（分钟）": "minutes",
    "难度": "difficulty",
    "必学月份": "mandatory_month",
    "主题": "theme",
    "发布日期": "published_on",
}

KNOWLEDGE_POINT_COLUMNS: dict[str, str] = {
    **_identity("kp_id", "name_zh", "name_en", "domain"),
    "知识点编号": "kp_id",
    "中文名称": "name_zh",
    "英文名称": "name_en",
    "领域": "domain",
}


class ColumnMapError(ValueError):
    """A file's header cannot be mapped: a required column is missing or named twice."""


def header_key(header: str) -> str:
    """The form headers are compared in: NFKC, trimmed, case-folded, spaces/hyphens → ``_``."""
    text = unicodedata.normalize("NFKC", header).strip().lstrip("\ufeff").casefold()
    return "_".join(text.replace("-", " ").split())


def map_header(
    headers: list[str], column_map: dict[str, str], *, required: Iterable[str], source: str
) -> list[str | None]:
    """The schema column for each header position (``None`` = ignored column)."""
    lookup = {header_key(key): column for key, column in column_map.items()}
    mapped = [lookup.get(header_key(header)) for header in headers]
    seen: dict[str, str] = {}
    for header, column in zip(headers, mapped, strict=True):
        if column is None:
            continue
        if column in seen:
            raise ColumnMapError(
                f"{source}: headers {seen[column]!r} and {header!r} both map to {column!r}"
            )
        seen[column] = header
    missing = [column for column in required if column not in seen]
    if missing:
        raise ColumnMapError(
            f"{source}: missing required column(s) {', '.join(missing)}; "
            f"headers read: {', '.join(headers)} (see features/readers/columns.py)"
        )
    return mapped


class _LineTap:
    """Feeds ``csv.reader`` decoded lines and remembers the raw text of the current record."""

    def __init__(self, lines: Iterable[bytes]) -> None:
        self._lines = lines
        self.pending: list[str] = []
        self.undecodable = False

    def __iter__(self) -> Iterator[str]:
        for number, raw in enumerate(self._lines, start=1):
            data = raw[3:] if number == 1 and raw.startswith(b"\xef\xbb\xbf") else raw
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("utf-8", "replace")
                self.undecodable = True
            self.pending.append(text)
            yield text

    def take(self) -> tuple[str, bool]:
        """The raw text of the record just parsed, and whether any of it was not UTF-8."""
        raw = "".join(self.pending).rstrip("\r\n")
        undecodable = self.undecodable
        self.pending.clear()
        self.undecodable = False
        return raw, undecodable


def iter_csv_records(
    path: Path, column_map: dict[str, str], *, required: Iterable[str]
) -> Iterator[tuple[int, str, dict[str, str] | RecordError]]:
    """Yield ``(first_line_no, raw_text, {column: stripped text} or RecordError)`` per record.

    Line numbers are physical and 1-based (a quoted field may span lines; the record is
    numbered by its first line). Blank lines are not records. A record with a different
    number of fields than the header, malformed quoting or bytes that are not UTF-8 comes
    back as a ``RecordError``; the file goes on.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        tap = _LineTap(handle)
        reader = csv.reader(tap, strict=True)
        mapped: list[str | None] | None = None
        last_line = 0
        while True:
            try:
                row = next(reader)
                error: RecordError | None = None
            except StopIteration:
                return
            except csv.Error as exc:
                row, error = [], RecordError(f"malformed CSV: {exc}")
            first_line, last_line = last_line + 1, reader.line_num
            raw, undecodable = tap.take()
            if error is None and not any(field.strip() for field in row):
                continue
            if mapped is None and error is None:
                mapped = map_header(row, column_map, required=required, source=path.name)
                continue
            if error is None and undecodable:
                error = RecordError("not UTF-8")
            if error is None and mapped is not None and len(row) != len(mapped):
                error = RecordError(f"expected {len(mapped)} fields, got {len(row)}")
            if error is not None or mapped is None:
                yield first_line, raw, error or RecordError("no header before the first record")
                continue
            values = {
                column: field.strip()
                for column, field in zip(mapped, row, strict=True)
                if column is not None
            }
            yield first_line, raw, values


_ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "VARCHAR[]": pa.list_(pa.string()),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "TIMESTAMP": pa.timestamp("us"),
    "DATE": pa.date32(),
    "BLOB": pa.binary(),
}


class RowBuffer:
    """Rows for one schema table, as tuples in the table's column order without lineage.

    ``frame()`` transposes them into Arrow-backed columns typed from ``features.schema``
    (much faster to build and for DuckDB to scan than object columns) and adds the lineage
    columns: ``source_file``, ``source_line`` and one ``ingested_at`` for the whole chunk.
    """

    def __init__(self, table_name: str, source_file: str) -> None:
        self.table = TABLES[table_name]
        self.value_columns = [c for c in self.table.columns if c.name not in LINEAGE_COLUMNS]
        self.source_file = source_file
        self.rows: list[tuple[object, ...]] = []
        self.lines: list[int] = []

    def __len__(self) -> int:
        return len(self.rows)

    def append(self, values: tuple[object, ...], line_no: int) -> None:
        self.rows.append(values)
        self.lines.append(line_no)

    def frame(self, ingested_at: datetime) -> pd.DataFrame:
        arrays: dict[str, pa.Array] = {}
        for index, column in enumerate(self.value_columns):
            values = list(map(itemgetter(index), self.rows))
            arrays[column.name] = pa.array(values, type=_ARROW_TYPES[column.sql_type])
        count = len(self.rows)
        arrays["source_file"] = pa.array([self.source_file] * count, type=pa.string())
        arrays["source_line"] = pa.array(self.lines, type=pa.int64())
        arrays["ingested_at"] = pa.array([ingested_at] * count, type=pa.timestamp("us"))
        return pd.DataFrame(
            {name: pd.arrays.ArrowExtensionArray(arrays[name]) for name in self.table.column_names}
        )

    def clear(self) -> None:
        self.rows.clear()
        self.lines.clear()


RowParser = Callable[[object], tuple[object, ...]]


def read_chunks(
    reader: str,
    path: Path,
    table_name: str,
    records: Iterable[tuple[int, str, object]],
    parse_row: RowParser,
    *,
    explain: Callable[[str, RecordError], RecordError] | None = None,
) -> Iterator[ReadChunk]:
    """Turn ``(line_no, raw, parsed or RecordError)`` records into chunks for one table.

    Each source record yields one row or one quarantined record, so every chunk satisfies
    ``records_in == accepted + len(quarantined)``. A record whose table key repeats an
    earlier record of the same file is quarantined as a duplicate (the store would keep only
    the first silently). At least one chunk is yielded, so an empty file is still recorded.
    ``explain(raw, error)`` may replace the reason of a record that could not be decoded.
    """
    source_sha256 = file_sha256(path)
    buffer = RowBuffer(table_name, path.name)
    key_of = itemgetter(
        *(index for index, c in enumerate(buffer.value_columns) if c.name in buffer.table.key)
    )
    key_names = "/".join(buffer.table.key)
    first_seen: dict[object, int] = {}
    rows, lines = buffer.rows, buffer.lines  # cleared in place between chunks
    quarantined: list[QuarantineRecord] = []
    yielded = False
    for line_no, raw, parsed in records:
        try:
            if isinstance(parsed, RecordError):
                raise parsed if explain is None else explain(raw, parsed)
            values = parse_row(parsed)
            key = key_of(values)
            earlier = first_seen.setdefault(key, line_no)
            if earlier != line_no:
                shown = "/".join(map(str, key)) if isinstance(key, tuple) else key
                raise RecordError(f"duplicate {key_names} {shown} (first at line {earlier})")
        except RecordError as error:
            quarantined.append(
                QuarantineRecord(reader, path.name, source_sha256, line_no, str(error), raw)
            )
        else:
            rows.append(values)
            lines.append(line_no)
        if len(rows) + len(quarantined) >= CHUNK_RECORDS:
            yield _finish(ReadChunk(reader, path.name, source_sha256), buffer, quarantined)
            quarantined = []
            yielded = True
    if rows or quarantined or not yielded:
        yield _finish(ReadChunk(reader, path.name, source_sha256), buffer, quarantined)


def _finish(chunk: ReadChunk, buffer: RowBuffer, quarantined: list[QuarantineRecord]) -> ReadChunk:
    """Fill ``chunk`` with the buffered rows and the quarantined records, and empty the buffer."""
    chunk.accepted = len(buffer)
    chunk.quarantined = quarantined
    chunk.records_in = chunk.accepted + len(quarantined)
    if chunk.accepted:
        chunk.tables[buffer.table.name] = buffer.frame(now_utc())
    buffer.clear()
    return chunk


def split_list(text: str, separators: str) -> list[str]:
    """Split ``text`` on any of ``separators``; trimmed, empties and repeats dropped, order kept."""
    for separator in separators[1:]:
        text = text.replace(separator, separators[0])
    parts = (part.strip() for part in text.split(separators[0]))
    return list(dict.fromkeys(part for part in parts if part))
