"""The content catalogue and the knowledge points it refers to.

Catalogue (``read_catalogue``): CSV (``.csv``, any encoding ``common.detect_encoding``
recognises, headers through ``columns.CONTENT_COLUMNS``, unknown headers reported)
or JSON: a JSON array of objects (``source_line`` is then the 1-based position of the
element, and a file that is not valid JSON is one quarantined record) or JSON Lines (one
object per line; chosen when the file does not start with ``[``). Fields:

* ``content_id``, ``title``: required text;
* ``knowledge_points``: a list of ids (JSON) or one string separated by ``|`` (CSV; a JSON
  string is split the same way); repeats dropped, order kept;
* ``format``: one of ``CONTENT_FORMATS``;
* ``minutes``: expected study time in minutes, finite and > 0 (required);
* ``difficulty``: 0 (easy) to 1 (hard), optional;
* ``mandatory_month``: ``YYYY-MM`` when the item is mandatory that month, else empty;
* ``theme``: optional text; ``published_on``: ``YYYY-MM-DD``, optional.

Knowledge points (``read_knowledge_points``): CSV ``kp_id, name_zh, name_en, domain``;
``kp_id`` and at least one name are required.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

import orjson

from core.security import PersonalData
from ingest.readers.columns import CONTENT_COLUMNS, KNOWLEDGE_POINT_COLUMNS
from ingest.readers.common import (
    ReadChunk,
    RecordError,
    finite_number,
    iter_json_lines,
    optional_text,
    parse_date,
    required_text,
)
from ingest.readers.tabular import read_chunks, read_csv_chunks, split_list
from store.schema import CONTENT, KNOWLEDGE_POINTS

CONTENT_FORMATS = frozenset({"video", "article", "case", "quiz", "live"})
KNOWLEDGE_POINT_SEPARATORS = "|"
MANDATORY_MONTH_PATTERN = re.compile(r"\d{4}-(0[1-9]|1[0-2])")

JsonRecord = tuple[int, str, object]


def read_catalogue(path: Path, personal: PersonalData) -> Iterator[ReadChunk]:
    """Chunks of ``content`` rows; one source record per CSV row, JSON element or line."""
    del personal  # the catalogue holds no personal data
    if _is_csv(path):
        yield from read_csv_chunks(
            "catalogue", path, CONTENT.name, CONTENT_COLUMNS, _content_row, required=("content_id",)
        )
    else:
        yield from read_chunks("catalogue", path, CONTENT.name, _json_records(path), _content_row)


def read_knowledge_points(path: Path, personal: PersonalData) -> Iterator[ReadChunk]:
    """Chunks of ``knowledge_points`` rows from the CSV."""
    del personal
    yield from read_csv_chunks(
        "knowledge_points",
        path,
        KNOWLEDGE_POINTS.name,
        KNOWLEDGE_POINT_COLUMNS,
        _knowledge_point_row,
        required=("kp_id",),
    )


def _is_csv(path: Path) -> bool:
    suffixes = [suffix.lower() for suffix in path.suffixes]
    return ".csv" in suffixes[-2:]


def _json_records(path: Path) -> Iterator[JsonRecord]:
    """JSON array elements (numbered by position) or JSON Lines (numbered by line)."""
    head = _first_bytes(path)
    if not head.startswith(b"["):
        yield from iter_json_lines(path)
        return
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        text = data.decode("utf-8-sig", "backslashreplace")
        yield 1, text, RecordError(f"not UTF-8 (JSON must be): {error}")
        return
    try:
        elements = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        yield 1, text, RecordError(f"malformed JSON: {error}")
        return
    for position, element in enumerate(elements, start=1):
        yield position, orjson.dumps(element).decode(), element


def _first_bytes(path: Path) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        return handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")


def _content_row(record: object) -> tuple[object, ...]:
    """One catalogue record as ``content`` values (schema order, no lineage)."""
    if not isinstance(record, dict):
        raise RecordError("content: expected an object")
    content_format = required_text(record, "format")
    if content_format not in CONTENT_FORMATS:
        raise RecordError(
            f"format: {content_format!r} is not one of {', '.join(sorted(CONTENT_FORMATS))}"
        )
    minutes = finite_number(record.get("minutes"), field_name="minutes", allow_none=False)
    if minutes is None or minutes <= 0:
        raise RecordError(f"minutes: must be > 0, got {minutes}")
    difficulty = finite_number(record.get("difficulty"), field_name="difficulty")
    if difficulty is not None and not 0.0 <= difficulty <= 1.0:
        raise RecordError(f"difficulty: {difficulty} is outside [0, 1]")
    return (
        required_text(record, "content_id"),
        required_text(record, "title"),
        _knowledge_points(record.get("knowledge_points")),
        content_format,
        minutes,
        difficulty,
        _mandatory_month(record.get("mandatory_month")),
        optional_text(record, "theme"),
        parse_date(record.get("published_on"), field_name="published_on"),
    )


def _knowledge_points(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(split_list(value, KNOWLEDGE_POINT_SEPARATORS))
    if isinstance(value, list) and all(isinstance(kp, str) for kp in value):
        return tuple(dict.fromkeys(kp.strip() for kp in value if kp.strip()))
    raise RecordError("knowledge_points: expected a list of ids or a '|' separated string")


def _mandatory_month(value: object) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    if not MANDATORY_MONTH_PATTERN.fullmatch(text):
        raise RecordError(f"mandatory_month: expected YYYY-MM or empty, got {value!r}")
    return text


def _knowledge_point_row(record: object) -> tuple[object, ...]:
    assert isinstance(record, dict)
    name_zh = optional_text(record, "name_zh")
    name_en = optional_text(record, "name_en")
    if name_zh is None and name_en is None:
        raise RecordError("name_zh/name_en: a knowledge point needs at least one name")
    return (
        required_text(record, "kp_id"),
        name_zh,
        name_en,
        optional_text(record, "domain"),
    )
