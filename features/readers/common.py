"""What every reader shares: the chunk it yields, line iteration, and value parsing.

A reader is a function ``read(path, personal) -> Iterator[ReadChunk]``. Each chunk says how
many source records it covers (``records_in``), how many were accepted, and carries the
rejected ones as ``QuarantineRecord``s, so that for every chunk
``records_in == accepted + len(quarantined)``. Rows go into ``tables`` as DataFrames whose
columns are those of ``features.schema`` (lineage columns included).
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO

import orjson
import pandas as pd

from features.store import QuarantineRecord

CHUNK_RECORDS = 100_000


class RecordError(ValueError):
    """One record is invalid; the message is the quarantine reason."""


@dataclass
class ReadChunk:
    reader: str
    source_file: str
    source_sha256: str
    records_in: int = 0
    accepted: int = 0
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    quarantined: list[QuarantineRecord] = field(default_factory=list)

    def check(self) -> None:
        if self.records_in != self.accepted + len(self.quarantined):
            raise AssertionError(
                f"{self.reader} {self.source_file}: {self.records_in} in != "
                f"{self.accepted} accepted + {len(self.quarantined)} quarantined"
            )


def open_text(path: Path) -> IO[str]:
    """Open a UTF-8 text file, transparently gunzipping ``*.gz``; BOM tolerated."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="strict", newline="")
    return path.open("r", encoding="utf-8-sig", errors="strict", newline="")


def iter_json_lines(path: Path) -> Iterator[tuple[int, str, object | RecordError]]:
    """Yield ``(line_no, raw_line, parsed or RecordError)`` for every non-blank line.

    Undecodable bytes or malformed JSON never stop the file: they come back as errors.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            stripped = raw.strip()
            if line_no == 1 and stripped.startswith(b"\xef\xbb\xbf"):
                stripped = stripped[3:]
            if not stripped:
                continue
            try:
                text = stripped.decode("utf-8")
            except UnicodeDecodeError as error:
                yield (
                    line_no,
                    stripped.decode("utf-8", "replace"),
                    RecordError(f"not UTF-8: {error}"),
                )
                continue
            try:
                yield line_no, text, orjson.loads(stripped)
            except orjson.JSONDecodeError as error:
                yield line_no, text, RecordError(f"malformed JSON: {error}")


def parse_timestamp(value: object, *, field_name: str) -> datetime:
    """An ISO 8601 date-time (any offset) as naive UTC; raises ``RecordError``."""
    if not isinstance(value, str) or not value:
        raise RecordError(f"{field_name}: expected an ISO 8601 date-time string, got {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as error:
        raise RecordError(f"{field_name}: not an ISO 8601 date-time: {value!r}") from error
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def optional_timestamp(value: object, *, field_name: str) -> datetime | None:
    if value is None or value == "":
        return None
    return parse_timestamp(value, field_name=field_name)


def parse_date(value: object, *, field_name: str) -> date | None:
    """``YYYY-MM-DD`` (or a date-time, whose date is kept); empty -> None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError as error:
        raise RecordError(f"{field_name}: not a date (YYYY-MM-DD): {value!r}") from error


def finite_number(value: object, *, field_name: str, allow_none: bool = True) -> float | None:
    """A finite float from a JSON number or numeric string; NaN, inf and bools are errors."""
    if value is None or value == "":
        if allow_none:
            return None
        raise RecordError(f"{field_name}: missing")
    if isinstance(value, bool):
        raise RecordError(f"{field_name}: expected a number, got a boolean")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.replace(",", ""))
        except ValueError as error:
            raise RecordError(f"{field_name}: not a number: {value!r}") from error
    else:
        raise RecordError(f"{field_name}: expected a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise RecordError(f"{field_name}: not a finite number: {value!r}")
    return number


def required_text(mapping: dict, key: str, *, context: str = "") -> str:
    value = mapping.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordError(f"{context}{key}: missing")
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise RecordError(f"{context}{key}: expected text, got {type(value).__name__}")
    return str(value).strip()


def optional_text(mapping: dict, key: str) -> str | None:
    value = mapping.get(key)
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise RecordError(f"{key}: expected text, got {type(value).__name__}")
    text = str(value).strip()
    return text or None


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
