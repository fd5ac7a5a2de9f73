"""Column maps from source headers to schema columns, and the plumbing the tabular readers share.

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

Besides the maps, this module holds what every tabular reader here shares: CSV records
with their physical line numbers and raw text (``iter_csv_records``), typed frames that
match ``store.schema`` (``RowBuffer``), and the chunking loop that keeps
``records_in == accepted + quarantined`` (``read_chunks``).
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from operator import itemgetter
from pathlib import Path

import pandas as pd
import pyarrow as pa

from ingest.readers.common import (
    CHUNK_RECORDS,
    FILE_LEVEL_LINE,
    FileLevelError,
    FileNotes,
    ReadChunk,
    RecordError,
    decoded_lines,
    detect_encoding,
    encoding_label,
    file_text,
    now_utc,
)
from store.database import QuarantineRecord, file_sha256
from store.schema import LINEAGE_COLUMNS, TABLES

CSV_FIELD_MAX_CHARS = 16 << 20  # csv's default limit (128 KiB) would refuse long descriptions


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


class _LineTap:
    """Feeds ``csv.reader`` decoded lines and remembers the raw text of the current record."""

    def __init__(self, lines: Iterable[tuple[str, bool]]) -> None:
        self._lines = lines
        self.pending: list[str] = []
        self.undecodable = False

    def __iter__(self) -> Iterator[str]:
        for text, clean in self._lines:
            self.undecodable |= not clean
            self.pending.append(text)
            yield text

    def take(self) -> tuple[str, bool]:
        """The raw text of the record just parsed, and whether any of it did not decode."""
        raw = "".join(self.pending).rstrip("\r\n")
        undecodable = self.undecodable
        self.pending.clear()
        self.undecodable = False
        return raw, undecodable


def iter_csv_records(
    path: Path,
    column_map: dict[str, str],
    *,
    required: Iterable[str],
    notes: FileNotes | None = None,
) -> Iterator[tuple[int, str, dict[str, str] | RecordError]]:
    """Yield ``(first_line_no, raw_text, {column: stripped text} or RecordError)`` per record.

    The encoding is detected (``common.detect_encoding``) and, with the headers not mapped,
    written to ``notes`` for the run's report. Line numbers are physical and 1-based (a
    quoted field may span lines; the record is numbered by its first line). Blank lines are
    not records. A record with a different number of fields than the header, malformed
    quoting or bytes that do not decode comes back as a ``RecordError``; the file goes on.
    A file that cannot be decoded, or whose header lacks a required column, comes back as
    ONE ``RecordError`` record at line ``FILE_LEVEL_LINE`` holding the file's text.
    """
    notes = notes if notes is not None else FileNotes()
    try:
        codec = detect_encoding(path)
    except FileLevelError as undecodable_file:
        reason = f"file not read: {undecodable_file}"
        yield FILE_LEVEL_LINE, file_text(path, None), RecordError(reason)
        return
    notes.encoding = encoding_label(codec)
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_MAX_CHARS))
    tap = _LineTap(decoded_lines(path, codec))
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
        if mapped is None and error is None and not undecodable:
            try:
                mapped, warnings = map_header(row, column_map, required=required, source=path.name)
            except ColumnMapError as map_error:
                yield FILE_LEVEL_LINE, file_text(path, codec), RecordError(str(map_error))
                return
            for warning in warnings:
                notes.warn(warning)
            continue
        if error is None and undecodable:
            error = RecordError(f"not {encoding_label(codec).removesuffix(' with BOM')}")
        if error is None and mapped is not None and len(row) != len(mapped):
            error = RecordError(f"expected {len(mapped)} fields, got {len(row)}")
        if error is not None or mapped is None:
            yield first_line, raw, error or RecordError("no header before the first record")
            continue
        values = {
            column: field.strip() for column, field in zip(mapped, row, strict=True) if column
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

    ``frame()`` transposes them into Arrow-backed columns typed from ``store.schema``
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


def schema_frame(table_name: str, rows: list[tuple[object, ...]]) -> pd.DataFrame:
    """Rows holding every column of the table (lineage last, in ``store.schema`` order) as
    a frame typed from the schema, never from the data: an INTEGER column with nulls stays
    integers with nulls, and a column that is all null keeps its type."""
    table = TABLES[table_name]
    return pd.DataFrame(
        {
            column.name: pd.arrays.ArrowExtensionArray(
                pa.array(list(map(itemgetter(index), rows)), type=_ARROW_TYPES[column.sql_type])
            )
            for index, column in enumerate(table.columns)
        }
    )


RowParser = Callable[[object], tuple[object, ...]]


def read_chunks(
    reader: str,
    path: Path,
    table_name: str,
    records: Iterable[tuple[int, str, object]],
    parse_row: RowParser,
    *,
    explain: Callable[[str, RecordError], RecordError] | None = None,
    notes: FileNotes | None = None,
) -> Iterator[ReadChunk]:
    """Turn ``(line_no, raw, parsed or RecordError)`` records into chunks for one table.

    Each source record yields one row or one quarantined record, so every chunk satisfies
    ``records_in == accepted + len(quarantined)``. A record whose table key repeats an
    earlier record of the same file is quarantined as a duplicate (the store would keep only
    the first silently). Any other exception raised by ``parse_row`` quarantines its record
    (reason: the exception's type; its message is withheld as it may quote personal values),
    so a reader's bug costs one record, never the file's good rows. At least one chunk is
    yielded, so an empty file is still recorded. ``explain(raw, error)`` may replace the
    reason of a record that could not be decoded. ``notes`` (encoding, warnings) are moved
    into the chunks.
    """
    notes = notes if notes is not None else FileNotes()
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
        except Exception as error:  # one record must not cost the file
            reason = f"reader failed on this record ({type(error).__name__})"
            quarantined.append(
                QuarantineRecord(reader, path.name, source_sha256, line_no, reason, raw)
            )
        else:
            rows.append(values)
            lines.append(line_no)
        if len(rows) + len(quarantined) >= CHUNK_RECORDS:
            chunk = ReadChunk(reader, path.name, source_sha256)
            yield _finish(notes.fill(chunk), buffer, quarantined)
            quarantined = []
            yielded = True
    if rows or quarantined or not yielded or notes.warnings:
        chunk = ReadChunk(reader, path.name, source_sha256)
        yield _finish(notes.fill(chunk), buffer, quarantined)


def read_csv_chunks(
    reader: str,
    path: Path,
    table_name: str,
    column_map: dict[str, str],
    parse_row: RowParser,
    *,
    required: Iterable[str],
) -> Iterator[ReadChunk]:
    """``read_chunks`` over ``iter_csv_records``: the one way a CSV file becomes chunks, with
    the encoding detected and the unmapped columns reported in the chunks."""
    notes = FileNotes()
    records = iter_csv_records(path, column_map, required=required, notes=notes)
    yield from read_chunks(reader, path, table_name, records, parse_row, notes=notes)


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
