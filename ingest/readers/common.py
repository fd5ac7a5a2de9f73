"""What every reader shares: the chunk it yields, text decoding, line iteration, value parsing.

A reader is a function ``read(path, personal) -> Iterator[ReadChunk]``. Each chunk says how
many source records it covers (``records_in``), how many were accepted, and carries the
rejected ones as ``QuarantineRecord``s, so that for every chunk
``records_in == accepted + len(quarantined)``. Rows go into ``tables`` as DataFrames whose
columns are those of ``store.schema`` (lineage columns included). A chunk also carries
what the run's report should say without rejecting anything: the text encoding detected
and ``warnings`` (message -> count) for tolerated oddities such as unmapped columns.

Text files that are not JSON (the CSV readers) are decoded through ``detect_encoding``:

1. a byte-order mark (UTF-8, UTF-16 or UTF-32) decides;
2. else strict UTF-8, if the file decodes whole, or if most lines holding non-ASCII bytes
   do (the lines that do not are then quarantined one by one, as "not utf-8");
3. else GB18030 (a superset of GBK and GB2312: what Excel on Chinese Windows writes), if
   most of those lines decode (the others are quarantined one by one, as "not GB18030");
4. else what ``charset_normalizer`` finds most likely in the first ``DETECTION_SAMPLE_BYTES``;
5. else the file is refused as a whole (``FileLevelError``), as is a file that looks like an
   Excel workbook or another binary format.

Dates and date-times outside ``YEARS_ACCEPTED`` (1900..2100) are errors: nothing Lodestar
reads is dated before or after, and year 1 or 9999 is a typing slip that would otherwise
reach every report and route as a real date.
"""

from __future__ import annotations

import codecs
import gzip
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, BinaryIO, cast

import orjson
import pandas as pd
from charset_normalizer import from_bytes

from store.database import QuarantineRecord

# Records per chunk: one of DuckDB's row groups (122,880 rows). A transaction that appends a
# full row group has it written to the database file as it is, with only a reference in the
# write-ahead log; a smaller one goes to the log whole and is written again at the next
# checkpoint (about twice the storing cost: a chunk of 100,000 statements was).
CHUNK_RECORDS = 122_880
YEARS_ACCEPTED = range(1900, 2101)
DETECTION_SAMPLE_BYTES = 1 << 20  # what charset_normalizer is shown
FILE_RECORD_MAX_CHARS = 8 << 20  # a file quarantined whole keeps at most this much text
FILE_LEVEL_LINE = 0  # source_line of a quarantine record that stands for the whole file

# byte-order mark -> codec that strips it (longest first: UTF-32 LE starts like UTF-16 LE)
BYTE_ORDER_MARKS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# leading bytes of files that are not text at all -> what they probably are
BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook?): save it as CSV"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel .xls workbook: save it as CSV"),
    (b"%PDF", "a PDF document"),
)


class RecordError(ValueError):
    """One record is invalid; the message is the quarantine reason."""


class FileLevelError(ValueError):
    """The file as a whole cannot be read (undecodable, binary, no recognisable header)."""


@dataclass
class ReadChunk:
    reader: str
    source_file: str
    source_sha256: str
    records_in: int = 0
    accepted: int = 0
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    quarantined: list[QuarantineRecord] = field(default_factory=list)
    encoding: str | None = None
    warnings: Counter[str] = field(default_factory=Counter)

    def check(self) -> None:
        if self.records_in != self.accepted + len(self.quarantined):
            raise AssertionError(
                f"{self.reader} {self.source_file}: {self.records_in} in != "
                f"{self.accepted} accepted + {len(self.quarantined)} quarantined"
            )


@dataclass
class FileNotes:
    """What a record iterator learns about its file, for the run's report.

    The iterator fills it as it goes; the chunk builder moves it into the chunks
    (``encoding`` into every chunk, each warning into one chunk only).
    """

    encoding: str | None = None
    warnings: Counter[str] = field(default_factory=Counter)

    def warn(self, message: str, count: int = 1) -> None:
        self.warnings[message] += count

    def fill(self, chunk: ReadChunk) -> ReadChunk:
        chunk.encoding = self.encoding
        chunk.warnings.update(self.warnings)
        self.warnings.clear()
        return chunk


def _open_binary(path: Path) -> BinaryIO:
    if path.suffix == ".gz":
        return cast(BinaryIO, gzip.open(path, "rb"))
    return path.open("rb")


def _non_ascii_line_counts(path: Path) -> tuple[int, int, int]:
    """``(lines with non-ASCII bytes, of them valid UTF-8, of them valid GB18030)``."""
    non_ascii = utf8 = gb18030 = 0
    with _open_binary(path) as handle:
        for raw in handle:
            if raw.isascii():
                continue
            non_ascii += 1
            for codec in ("utf-8", "gb18030"):
                try:
                    raw.decode(codec)
                except UnicodeDecodeError:
                    continue
                if codec == "utf-8":
                    utf8 += 1
                else:
                    gb18030 += 1
    return non_ascii, utf8, gb18030


def detect_encoding(path: Path) -> str:
    """The codec to read ``path`` with (module docstring); raises ``FileLevelError``."""
    with _open_binary(path) as handle:
        head = handle.read(DETECTION_SAMPLE_BYTES)
    for mark, codec in BYTE_ORDER_MARKS:
        if head.startswith(mark):
            return codec
    for signature, what in BINARY_SIGNATURES:
        if head.startswith(signature):
            raise FileLevelError(f"not a text file: looks like {what}")
    non_ascii, utf8, gb18030 = _non_ascii_line_counts(path)
    if non_ascii == 0 or utf8 * 2 > non_ascii:
        return "utf-8"
    if gb18030 * 2 > non_ascii:
        return "gb18030"
    guess = from_bytes(head).best()
    if guess is None or (b"\x00" in head and not guess.encoding.startswith("utf_")):
        raise FileLevelError(
            "cannot tell the text encoding (not UTF-8, not GB18030, and no other fits): "
            "save the file as UTF-8 CSV"
        )
    return codecs.lookup(guess.encoding).name


ENCODING_LABELS: dict[str, str] = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with BOM",
    "gb18030": "GB18030",
    "utf-16": "UTF-16 with BOM",
    "utf-32": "UTF-32 with BOM",
}


def encoding_label(codec: str) -> str:
    """How the run's report names a codec: ``gb18030`` → ``GB18030``."""
    return ENCODING_LABELS.get(codec, f"{codec} (guessed by charset_normalizer)")


def is_ascii_compatible(codec: str) -> bool:
    """Whether lines can be cut on ``\\n`` bytes before decoding (not so for UTF-16/32)."""
    return codec == "utf-8-sig" or '\n,"'.encode(codec) == b'\n,"'


def decoded_lines(path: Path, codec: str) -> Iterator[tuple[str, bool]]:
    """``(text with its line ending, decoded cleanly)`` per physical line of ``path``.

    A line that does not decode comes back with its bad bytes as ``\\xNN`` escapes and
    ``False``; the file goes on. UTF-16/32 files are decoded whole (their lines cannot be cut
    as bytes); an error there raises ``FileLevelError``.
    """
    if not is_ascii_compatible(codec):
        with _open_binary(path) as handle:
            data = handle.read()
        try:
            text = data.decode(codec)
        except UnicodeDecodeError as error:
            raise FileLevelError(f"not valid {codec}: {error}") from error
        for line in text.splitlines(keepends=True):
            yield line, True
        return
    strip_bom = codec == "utf-8-sig"
    with _open_binary(path) as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and strip_bom and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                yield raw.decode(codec), True
            except UnicodeDecodeError:
                yield raw.decode(codec, "backslashreplace"), False


def file_text(path: Path, codec: str | None) -> str:
    """The file as text for a whole-file quarantine record: bad bytes escaped, size capped."""
    with _open_binary(path) as handle:
        data = handle.read(FILE_RECORD_MAX_CHARS + 1)
    text = data.decode(codec or "utf-8", "backslashreplace")
    if len(data) > FILE_RECORD_MAX_CHARS:
        text = text[:FILE_RECORD_MAX_CHARS] + "\n[... cut: the file is kept by its sha256]"
    return text


def file_level_record(
    reader: str, path: Path, source_sha256: str, reason: str, codec: str | None = None
) -> QuarantineRecord:
    """One quarantine record standing for the whole file (``source_line`` 0)."""
    return QuarantineRecord(
        reader, path.name, source_sha256, FILE_LEVEL_LINE, reason, file_text(path, codec)
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
    for line_no, raw, parsed in iter_json_line_bytes(path):
        yield line_no, line_text(raw), parsed


def iter_json_line_bytes(path: Path) -> Iterator[tuple[int, bytes, object | RecordError]]:
    """``iter_json_lines`` with each line's bytes (stripped, a first line's byte-order mark
    removed) instead of its text: most lines are parsed and never quarantined, so their
    text is never needed (``line_text`` gives it). orjson checks the bytes are UTF-8 as it
    parses; only a line it refuses is decoded, to tell undecodable from malformed."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            stripped = raw.strip()
            if line_no == 1 and stripped.startswith(b"\xef\xbb\xbf"):
                stripped = stripped[3:]
            if not stripped:
                continue
            try:
                parsed = orjson.loads(stripped)
            except orjson.JSONDecodeError as error:
                parsed = _line_error(stripped, error)
            yield line_no, stripped, parsed


def _line_error(line: bytes, error: orjson.JSONDecodeError) -> RecordError:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as undecodable:
        return RecordError(f"not UTF-8: {undecodable}")
    return RecordError(f"malformed JSON: {error}")


def line_text(raw: str | bytes) -> str:
    """A record's raw text as a quarantine record keeps it: bytes as UTF-8, bad bytes as
    replacement characters."""
    return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")


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
    if parsed.year not in YEARS_ACCEPTED:
        raise RecordError(f"{field_name}: year {parsed.year} is outside 1900..2100")
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
        parsed = date.fromisoformat(text[:10])
    except ValueError as error:
        raise RecordError(f"{field_name}: not a date (YYYY-MM-DD): {value!r}") from error
    if parsed.year not in YEARS_ACCEPTED:
        raise RecordError(f"{field_name}: year {parsed.year} is outside 1900..2100")
    return parsed


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
