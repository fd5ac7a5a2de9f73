"""The members register: who studies, pseudonymised and encrypted on the way in.

CSV in any encoding ``common.detect_encoding`` recognises, with English or Chinese headers
(``columns.MEMBER_COLUMNS``, synonyms included; headers it does not know are reported).
Output: ``members`` rows in which nothing identifies a person in plaintext:

* ``member_key`` = ``personal.member_key(employee_no)`` (the same pseudonym xAPI statements get
  from ``actor.account.name``);
* ``employee_no_enc``, ``name_enc``, ``phone_enc``, ``party_member_enc`` (``'true'`` or
  ``'false'``) and ``party_branch_enc``: AES-GCM, bound to their column name;
* ``branch_key`` = pseudonym of the party branch (namespace ``branch``) for branch aggregates.

``employee_no`` and ``name`` are required. ``party_member`` accepts ``PARTY_MEMBER_VALUES``
(empty = unknown); ``shift_pattern`` accepts ``SHIFT_PATTERNS`` keys (empty = unknown).
Quarantine reasons never repeat a personal value; the rejected row itself is stored encrypted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from core.security import PersonalData
from ingest.readers.columns import MEMBER_COLUMNS
from ingest.readers.common import ReadChunk, RecordError, optional_text, parse_date, required_text
from ingest.readers.tabular import read_csv_chunks
from store.schema import MEMBERS

READER = "members"

PARTY_MEMBER_VALUES: dict[str, bool] = {
    "true": True,
    "false": False,
    "是": True,
    "否": False,
    "yes": True,
    "no": False,
    "1": True,
    "0": False,
}

# accepted spelling -> stored shift pattern
SHIFT_PATTERNS: dict[str, str] = {
    "day": "day",
    "three_shift": "three_shift",
    "four_crew_three_shift": "four_crew_three_shift",
    "常白班": "day",
    "白班": "day",
    "三班倒": "three_shift",
    "三班制": "three_shift",
    "四班三倒": "four_crew_three_shift",
    "四班三运转": "four_crew_three_shift",
}

PHONE_PATTERN = re.compile(r"\+?[\d\s\-()]{5,24}")


def read_members(path: Path, personal: PersonalData) -> Iterator[ReadChunk]:
    """Chunks of ``members`` rows; one source record per CSV row."""

    def member_row(record: object) -> tuple[object, ...]:
        assert isinstance(record, dict)
        return _member_row(record, personal)

    yield from read_csv_chunks(
        READER, path, MEMBERS.name, MEMBER_COLUMNS, member_row, required=("employee_no", "name")
    )


def _member_row(record: dict[str, str], personal: PersonalData) -> tuple[object, ...]:
    """One register row as ``members`` values (schema order, no lineage)."""
    encrypt = personal.cipher.encrypt
    employee_no = required_text(record, "employee_no")
    name = required_text(record, "name")
    phone = optional_text(record, "phone")
    if phone is not None and not PHONE_PATTERN.fullmatch(phone):
        raise RecordError("phone: not a telephone number (digits, spaces, +, - and brackets)")
    party_member = _party_member(record.get("party_member"))
    party_branch = optional_text(record, "party_branch")
    return (
        personal.member_key(employee_no),
        encrypt(employee_no, column="employee_no_enc"),
        encrypt(name, column="name_enc"),
        encrypt(phone, column="phone_enc"),
        encrypt(
            None if party_member is None else str(party_member).lower(), column="party_member_enc"
        ),
        encrypt(party_branch, column="party_branch_enc"),
        personal.pseudonymiser.pseudonym("branch", party_branch) if party_branch else None,
        optional_text(record, "role"),
        optional_text(record, "unit"),
        _shift_pattern(record.get("shift_pattern")),
        optional_text(record, "crew"),
        parse_date(record.get("joined_on"), field_name="joined_on"),
    )


def _party_member(value: str | None) -> bool | None:
    text = (value or "").strip().lower()
    if not text:
        return None
    if text not in PARTY_MEMBER_VALUES:
        # the value is sensitive: name the accepted forms, not what was found
        raise RecordError("party_member: expected true/false/是/否 (or yes/no, 1/0)")
    return PARTY_MEMBER_VALUES[text]


def _shift_pattern(value: str | None) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    pattern = SHIFT_PATTERNS.get(text.lower()) or SHIFT_PATTERNS.get(text)
    if pattern is None:
        raise RecordError(
            f"shift_pattern: {text!r} is not one of day, three_shift, four_crew_three_shift"
        )
    return pattern
