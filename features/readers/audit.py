"""Audit outcomes reader: the CSV of findings (the partial, delayed labels) into ``audit_outcomes``.

Format: UTF-8 (a BOM is tolerated), header ``ocid,finding,scheme,confirmed_at``; the header's
names are matched case-insensitively and in any order, but exactly these four must be present.
A wrong header is a file-level error (``AuditHeaderError``, naming the expected and the found
columns): it is raised before any row is read, so the ingestion's transaction stores nothing
and nothing is lost silently; quarantining every row instead would bury a mislabelled file.

One record is one CSV row (blank lines are not records). ``source_line`` is the file line the
row starts on (the header is line 1). Values:

* ``finding``: ``confirmed``, ``dismissed`` or ``needs_information``, case-insensitive, spaces
  and dashes read as ``_``; synonyms ``violation`` -> ``confirmed`` and ``no_violation`` ->
  ``dismissed`` (how some audit systems export them);
* ``scheme``: one of ``SCHEMES`` or empty; required when the finding is ``confirmed``;
* ``confirmed_at``: a date ``YYYY-MM-DD`` (when the finding became known: label time);
* ``origin`` is ``file`` for every row read here (reviews entered in the service say ``review``).

Quarantined, with the reason: a wrong number of columns, a missing ocid, an unknown finding or
scheme, a confirmed finding without a scheme, a missing or malformed date. Bytes that are not
UTF-8, or CSV that cannot be parsed, raise ``AuditFileError`` for the file (the ingestion's
transaction then stores none of it).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd

from features.readers.common import CHUNK_RECORDS, ReadChunk, RecordError, now_utc, open_text
from features.schema import LINEAGE_COLUMNS
from features.security import PersonalData
from features.store import QuarantineRecord, file_sha256

READER = "audit_outcomes"
ORIGIN_FILE = "file"

OCID = "ocid"
FINDING = "finding"
SCHEME = "scheme"
CONFIRMED_AT = "confirmed_at"
HEADER = (OCID, FINDING, SCHEME, CONFIRMED_AT)
OUTPUT_COLUMNS = (*HEADER, "origin", *LINEAGE_COLUMNS)

CONFIRMED = "confirmed"
FINDINGS = frozenset({CONFIRMED, "dismissed", "needs_information"})
FINDING_SYNONYMS = {"violation": CONFIRMED, "no_violation": "dismissed"}
SCHEMES = frozenset(
    {
        "bid_rigging",
        "price_inflation",
        "split_purchase",
        "single_source_abuse",
        "related_bidders",
        "contract_inflation",
        "other",
    }
)


class AuditFileError(ValueError):
    """The file as a whole cannot be read (not UTF-8, not CSV): nothing of it is stored."""


class AuditHeaderError(AuditFileError):
    """The file's header is not the audit outcomes header: the whole file is refused."""


def _column_order(header: list[str] | None, path: Path) -> list[int]:
    """Position of each ``HEADER`` column in the file's rows."""
    found = [name.strip().lower() for name in header or []]
    if sorted(found) != sorted(HEADER):
        raise AuditHeaderError(
            f"{path.name}: expected the header {','.join(HEADER)} (any order), "
            f"found {','.join(header or []) or 'an empty file'}"
        )
    return [found.index(name) for name in HEADER]


def _code(value: str) -> str:
    return value.strip().lower().replace("-", "_").replace(" ", "_")


def _finding(value: str) -> str:
    finding = _code(value)
    finding = FINDING_SYNONYMS.get(finding, finding)
    if finding not in FINDINGS:
        allowed = ", ".join(sorted(FINDINGS | set(FINDING_SYNONYMS)))
        raise RecordError(f"finding: {value!r} is not one of {allowed}")
    return finding


def _scheme(value: str, finding: str) -> str:
    scheme = _code(value)
    if not scheme:
        if finding == CONFIRMED:
            raise RecordError("scheme: required when the finding is confirmed")
        return ""
    if scheme not in SCHEMES:
        raise RecordError(f"scheme: {value!r} is not one of {', '.join(sorted(SCHEMES))}")
    return scheme


def _confirmed_at(value: str) -> date:
    text = value.strip()
    if not text:
        raise RecordError("confirmed_at: missing")
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError as error:
        raise RecordError(f"confirmed_at: not a date (YYYY-MM-DD): {value!r}") from error


def _outcome(row: list[str], order: list[int]) -> tuple[str, str, str, date]:
    """``(ocid, finding, scheme, confirmed_at)`` of one row; ``order`` maps ``HEADER`` to it."""
    if len(row) != len(HEADER):
        raise RecordError(f"expected {len(HEADER)} columns, got {len(row)}")
    values = [row[position] for position in order]
    ocid = values[0].strip()
    if not ocid:
        raise RecordError("ocid: missing")
    finding = _finding(values[1])
    return ocid, finding, _scheme(values[2], finding), _confirmed_at(values[3])


def _row_text(row: list[str]) -> str:
    """The row as CSV text again, for the quarantine."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(row)
    return buffer.getvalue()


def read_audit_outcomes(path: Path, personal: PersonalData) -> Iterator[ReadChunk]:
    """Chunks of ``audit_outcomes`` rows (``personal`` is unused: no personal data here)."""
    del personal
    path = Path(path)
    sha256 = file_sha256(path)
    ingested_at = now_utc()
    try:
        with open_text(path) as handle:
            reader = csv.reader(handle)
            order = _column_order(next(reader, None), path)
            chunk = ReadChunk(READER, path.name, sha256)
            rows: list[tuple[object, ...]] = []
            line_no = reader.line_num + 1  # the line where the next row starts
            for row in reader:
                row_line, line_no = line_no, reader.line_num + 1
                if not row:
                    continue
                chunk.records_in += 1
                try:
                    outcome = _outcome(row, order)
                except RecordError as error:
                    chunk.quarantined.append(
                        QuarantineRecord(
                            READER, path.name, sha256, row_line, str(error), _row_text(row)
                        )
                    )
                else:
                    rows.append((*outcome, ORIGIN_FILE, path.name, row_line, ingested_at))
                    chunk.accepted += 1
                if chunk.records_in >= CHUNK_RECORDS:
                    yield _finish(chunk, rows)
                    chunk, rows = ReadChunk(READER, path.name, sha256), []
            yield _finish(chunk, rows)
    except (UnicodeDecodeError, csv.Error) as error:
        raise AuditFileError(f"{path.name}: unreadable as UTF-8 CSV: {error}") from error


def _finish(chunk: ReadChunk, rows: list[tuple[object, ...]]) -> ReadChunk:
    if rows:
        chunk.tables = {"audit_outcomes": pd.DataFrame.from_records(rows, columns=OUTPUT_COLUMNS)}
    return chunk
