"""Audit outcomes reader: the CSV of findings (the partial, delayed labels) into ``audit_outcomes``.

Format: CSV in any encoding ``common.detect_encoding`` recognises (UTF-8, a BOM tolerated;
GB18030 ...), header ``ocid,finding,scheme,confirmed_at`` in any order and case, read through
``columns.AUDIT_OUTCOME_COLUMNS`` (a few Chinese synonyms: 审计结论, 问题类型, 确认日期). All
four columns are required; other columns are reported in the run's report, not stored. A file
without that header, or that cannot be decoded, is quarantined as ONE record holding the file
(``source_line`` 0), with the reason naming the expected and the found columns: nothing of a
mislabelled file is stored as labels, and nothing is lost.

One record is one CSV row (blank lines are not records). ``source_line`` is the file line the
row starts on (the header is line 1). Values:

* ``finding``: ``confirmed``, ``dismissed`` or ``needs_information``, case-insensitive, spaces
  and dashes read as ``_``; synonyms ``violation`` -> ``confirmed`` and ``no_violation`` ->
  ``dismissed`` (how some audit systems export them);
* ``scheme``: one of ``SCHEMES`` or empty; required when the finding is ``confirmed``;
* ``confirmed_at``: a date ``YYYY-MM-DD`` in 1900..2100 (when the finding became known:
  label time);
* ``origin`` is ``file`` for every row read here (reviews entered in the service say ``review``).

Quarantined, with the reason: a wrong number of fields, malformed quoting, a line that does
not decode, a missing ocid, an unknown finding or scheme, a confirmed finding without a
scheme, a missing or malformed date, and a row repeating an earlier row of the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

from core.security import PersonalData
from ingest.readers.columns import AUDIT_OUTCOME_COLUMNS
from ingest.readers.common import ReadChunk, RecordError, parse_date
from ingest.readers.tabular import read_csv_chunks
from store.schema import AUDIT_OUTCOMES, AUDIT_SCHEMES

READER = "audit_outcomes"
ORIGIN_FILE = "file"

HEADER = ("ocid", "finding", "scheme", "confirmed_at")

CONFIRMED = "confirmed"
FINDINGS = frozenset({CONFIRMED, "dismissed", "needs_information"})
FINDING_SYNONYMS = {"violation": CONFIRMED, "no_violation": "dismissed"}
SCHEMES = frozenset(AUDIT_SCHEMES)


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
    if len(text) != 10:
        raise RecordError(f"confirmed_at: not a date (YYYY-MM-DD): {value!r}")
    confirmed_at = parse_date(text, field_name="confirmed_at")
    assert confirmed_at is not None
    return confirmed_at


def _outcome(record: object) -> tuple[object, ...]:
    """``(ocid, finding, scheme, confirmed_at, origin)`` of one row, in the schema's order."""
    assert isinstance(record, dict)
    ocid = record["ocid"]
    if not ocid:
        raise RecordError("ocid: missing")
    finding = _finding(record["finding"])
    return (
        ocid,
        finding,
        _scheme(record["scheme"], finding),
        _confirmed_at(record["confirmed_at"]),
        ORIGIN_FILE,
    )


def read_audit_outcomes(path: Path, personal: PersonalData) -> Iterator[ReadChunk]:
    """Chunks of ``audit_outcomes`` rows (``personal`` is unused: no personal data here)."""
    del personal
    yield from read_csv_chunks(
        READER,
        Path(path),
        AUDIT_OUTCOMES.name,
        AUDIT_OUTCOME_COLUMNS,
        _outcome,
        required=HEADER,
    )
