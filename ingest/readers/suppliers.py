"""The supplier register, certifications and events (penalties, accidents, listings, findings).

CSV in any encoding ``common.detect_encoding`` recognises (UTF-8 with or without a BOM,
GB18030/GBK as Excel on Chinese Windows saves it), with English or Chinese headers mapped through
``columns.SUPPLIER_REGISTER_COLUMNS``, ``SUPPLIER_CERTIFICATION_COLUMNS`` and
``SUPPLIER_EVENT_COLUMNS`` (the table and the synonyms are in ``ingest/readers/columns.py``;
headers it does not know are reported in the run's report). A row with a different number of
fields than the header is quarantined, as is any row failing the checks below; a file without
a recognisable header, or undecodable, is quarantined as one record. Quarantine reasons never
repeat a legal representative, telephone or bank account.

Register (``suppliers``):

* ``supplier_id`` and ``name`` required; ``credit_code`` (统一社会信用代码), if given, is 18
  characters from ``CREDIT_CODE_PATTERN`` (the shape only; the check digit is not verified);
* legal representative, telephone and bank account are encrypted, each with a fingerprint
  (keyed HMAC of the normalised value; namespaces ``person``, ``phone``, ``bank_account``) so
  that suppliers sharing one can be matched; the address is kept with a fingerprint
  (namespace ``address``);
* ``categories`` split on ``CATEGORY_SEPARATORS`` (``|``, ``、``, ``；``, ``;``);
* registered capital in CNY: from 注册资本（元） / ``registered_capital_cny`` as is, or from
  注册资本（万元） / ``registered_capital_10k_cny`` multiplied by 10,000 (万元 = ten thousand
  CNY); finite and ≥ 0; both given and different is an error;
* ``size_class`` via ``SIZE_CLASSES`` (小型/中型/大型 → small/medium/large);
  ``tax_credit_grade`` in ``TAX_CREDIT_GRADES``; ``reported_emission_intensity`` (kg CO2e per
  CNY) finite and ≥ 0; ``founded_on`` and ``registered_on`` dates.

Certifications (``supplier_certifications``): ``supplier_id``, ``cert_type`` and ``cert_no``
required (``ISO 14001`` is stored as ``ISO14001``); ``valid_to`` not before ``valid_from``;
an empty ``evidence_document`` is stored as null (a claim without evidence counts as absent).

Events (``supplier_events``): ``event_id``, ``supplier_id``, ``event_type`` (one of
``EVENT_TYPES``, or its Chinese label in ``EVENT_TYPE_LABELS``) and ``event_date`` required.
``severity`` is optional; when given it must belong to the type's set in
``SEVERITIES_BY_TYPE``:

* ``safety_accident``: the statutory accident grades ``ACCIDENT_GRADES`` — general (一般,
  1–2 deaths), larger (较大, 3–9), major (重大, 10–29), extraordinary (特别重大, 30+); a grade
  below what the deaths imply is an error;
* every other type: ``GENERAL_SEVERITIES`` minor (轻微/一般), serious (较重/严重), major (重大).

``deaths`` is a non-negative integer (only a ``safety_accident`` may have deaths > 0);
``fine_cny`` a finite amount ≥ 0 in CNY; ``listed_until`` (end of a listing) not before
``event_date``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from core.security import PersonalData
from ingest.readers.columns import (
    SUPPLIER_CERTIFICATION_COLUMNS,
    SUPPLIER_EVENT_COLUMNS,
    SUPPLIER_REGISTER_COLUMNS,
)
from ingest.readers.common import (
    ReadChunk,
    RecordError,
    finite_number,
    optional_text,
    parse_date,
    required_text,
)
from ingest.readers.tabular import read_csv_chunks, split_list
from store.schema import SUPPLIER_CERTIFICATIONS, SUPPLIER_EVENTS, SUPPLIERS

TEN_THOUSAND_CNY = 10_000.0  # 1 万元
CATEGORY_SEPARATORS = "|、；;"
CREDIT_CODE_PATTERN = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")
ISO_STANDARD_PATTERN = re.compile(r"ISO\s*(\d+)", re.IGNORECASE)

SIZE_CLASSES: dict[str, str] = {
    "small": "small",
    "medium": "medium",
    "large": "large",
    "小型": "small",
    "中型": "medium",
    "大型": "large",
}
TAX_CREDIT_GRADES = frozenset({"A", "B", "M", "C", "D"})

EVENT_TYPES = frozenset(
    {
        "env_penalty",
        "safety_accident",
        "labour_dispute",
        "wage_arrears",
        "court_defaulter",
        "debarment",
        "safety_blacklist",
        "serious_violation_list",
        "tax_violation",
        "litigation",
        "quality_failure",
        "bribery_finding",
        "corrective_action_closed",
    }
)
# Chinese label -> event type
EVENT_TYPE_LABELS: dict[str, str] = {
    "环保处罚": "env_penalty",
    "环境行政处罚": "env_penalty",
    "安全事故": "safety_accident",
    "生产安全事故": "safety_accident",
    "劳动争议": "labour_dispute",
    "拖欠工资": "wage_arrears",
    "欠薪": "wage_arrears",
    "失信被执行人": "court_defaulter",
    "禁止参与采购": "debarment",
    "安全生产黑名单": "safety_blacklist",
    "严重违法失信名单": "serious_violation_list",
    "重大税收违法": "tax_violation",
    "税收违法": "tax_violation",
    "诉讼": "litigation",
    "质量抽检不合格": "quality_failure",
    "行贿": "bribery_finding",
    "商业贿赂": "bribery_finding",
    "整改完成": "corrective_action_closed",
}

# accident grade -> (Chinese label, fewest deaths that force at least this grade)
ACCIDENT_GRADES: dict[str, tuple[str, int]] = {
    "general": ("一般", 0),
    "larger": ("较大", 3),
    "major": ("重大", 10),
    "extraordinary": ("特别重大", 30),
}
GENERAL_SEVERITIES: dict[str, str] = {
    "minor": "minor",
    "serious": "serious",
    "major": "major",
    "轻微": "minor",
    "一般": "minor",
    "较重": "serious",
    "严重": "serious",
    "重大": "major",
}
_ACCIDENT_SEVERITIES: dict[str, str] = {
    **{grade: grade for grade in ACCIDENT_GRADES},
    **{label: grade for grade, (label, _) in ACCIDENT_GRADES.items()},
}
# event type -> accepted spelling -> stored severity
SEVERITIES_BY_TYPE: dict[str, dict[str, str]] = {
    event_type: _ACCIDENT_SEVERITIES if event_type == "safety_accident" else GENERAL_SEVERITIES
    for event_type in EVENT_TYPES
}


def read_supplier_register(path: Path, personal: PersonalData) -> Iterator[ReadChunk]:
    """Chunks of ``suppliers`` rows; one source record per CSV row."""

    def supplier_row(record: object) -> tuple[object, ...]:
        assert isinstance(record, dict)
        return _supplier_row(record, personal)

    yield from read_csv_chunks(
        "supplier_register",
        path,
        SUPPLIERS.name,
        SUPPLIER_REGISTER_COLUMNS,
        supplier_row,
        required=("supplier_id", "name"),
    )


def read_supplier_certifications(path: Path, personal: PersonalData) -> Iterator[ReadChunk]:
    """Chunks of ``supplier_certifications`` rows; one source record per CSV row."""
    del personal  # certifications hold no personal data
    yield from read_csv_chunks(
        "supplier_certifications",
        path,
        SUPPLIER_CERTIFICATIONS.name,
        SUPPLIER_CERTIFICATION_COLUMNS,
        _certification_row,
        required=("supplier_id", "cert_type", "cert_no"),
    )


def read_supplier_events(path: Path, personal: PersonalData) -> Iterator[ReadChunk]:
    """Chunks of ``supplier_events`` rows; one source record per CSV row."""
    del personal  # events name companies, not people (descriptions are kept as written)
    yield from read_csv_chunks(
        "supplier_events",
        path,
        SUPPLIER_EVENTS.name,
        SUPPLIER_EVENT_COLUMNS,
        _event_row,
        required=("event_id", "supplier_id", "event_type", "event_date"),
    )


def _supplier_row(record: dict[str, str], personal: PersonalData) -> tuple[object, ...]:
    """One register row as ``suppliers`` values (schema order, no lineage)."""
    encrypt = personal.cipher.encrypt
    fingerprint = personal.pseudonymiser.fingerprint
    legal_representative = optional_text(record, "legal_representative")
    phone = optional_text(record, "phone")
    address = optional_text(record, "address")
    bank_account = optional_text(record, "bank_account")
    return (
        required_text(record, "supplier_id"),
        required_text(record, "name"),
        _credit_code(record.get("credit_code")),
        encrypt(legal_representative, column="legal_representative_enc"),
        fingerprint("person", legal_representative),
        encrypt(phone, column="phone_enc"),
        fingerprint("phone", phone),
        address,
        fingerprint("address", address),
        encrypt(bank_account, column="bank_account_enc"),
        fingerprint("bank_account", bank_account),
        tuple(split_list(record.get("categories") or "", CATEGORY_SEPARATORS)),
        optional_text(record, "ownership_type"),
        optional_text(record, "region"),
        _registered_capital_cny(record),
        parse_date(record.get("founded_on"), field_name="founded_on"),
        _size_class(record.get("size_class")),
        _tax_credit_grade(record.get("tax_credit_grade")),
        _non_negative(record.get("reported_emission_intensity"), "reported_emission_intensity"),
        parse_date(record.get("registered_on"), field_name="registered_on"),
    )


def _credit_code(value: str | None) -> str | None:
    text = (value or "").strip().upper()
    if not text:
        return None
    if not CREDIT_CODE_PATTERN.fullmatch(text):
        raise RecordError(f"credit_code: not an 18-character unified social credit code: {value!r}")
    return text


def _registered_capital_cny(record: dict[str, str]) -> float | None:
    """CNY; 注册资本（万元） is in ten-thousand CNY and is multiplied by 10,000."""
    in_cny = _non_negative(record.get("registered_capital_cny"), "registered_capital_cny")
    in_10k = _non_negative(record.get("registered_capital_10k_cny"), "registered_capital_10k_cny")
    from_10k = None if in_10k is None else in_10k * TEN_THOUSAND_CNY
    if in_cny is not None and from_10k is not None and abs(in_cny - from_10k) > 0.5:
        raise RecordError(
            f"registered capital: {in_cny} CNY and {in_10k} ten-thousand CNY disagree"
        )
    return in_cny if in_cny is not None else from_10k


def _size_class(value: str | None) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    size_class = SIZE_CLASSES.get(text.lower())
    if size_class is None:
        raise RecordError(f"size_class: {text!r} is not one of small/medium/large (小型/中型/大型)")
    return size_class


def _tax_credit_grade(value: str | None) -> str | None:
    text = (value or "").strip().upper()
    if not text:
        return None
    if text not in TAX_CREDIT_GRADES:
        raise RecordError(f"tax_credit_grade: {text!r} is not one of A, B, M, C, D")
    return text


def _non_negative(value: str | None, field_name: str) -> float | None:
    number = finite_number(value, field_name=field_name)
    if number is not None and number < 0:
        raise RecordError(f"{field_name}: must be >= 0, got {number}")
    return number


def _certification_row(record: object) -> tuple[object, ...]:
    """One certification row as ``supplier_certifications`` values."""
    assert isinstance(record, dict)
    valid_from = parse_date(record.get("valid_from"), field_name="valid_from")
    valid_to = parse_date(record.get("valid_to"), field_name="valid_to")
    _not_before(valid_to, valid_from, "valid_to", "valid_from")
    cert_type = ISO_STANDARD_PATTERN.sub(r"ISO\1", required_text(record, "cert_type"))
    return (
        required_text(record, "supplier_id"),
        cert_type,
        required_text(record, "cert_no"),
        optional_text(record, "category"),
        valid_from,
        valid_to,
        optional_text(record, "evidence_document"),
    )


def _event_row(record: object) -> tuple[object, ...]:
    """One event row as ``supplier_events`` values."""
    assert isinstance(record, dict)
    event_type = _event_type(required_text(record, "event_type"))
    event_date = parse_date(record.get("event_date"), field_name="event_date")
    if event_date is None:
        raise RecordError("event_date: missing")
    deaths = _deaths(record.get("deaths"), event_type)
    severity = _severity(record.get("severity"), event_type, deaths)
    listed_until = parse_date(record.get("listed_until"), field_name="listed_until")
    _not_before(listed_until, event_date, "listed_until", "event_date")
    return (
        required_text(record, "event_id"),
        required_text(record, "supplier_id"),
        event_type,
        event_date,
        severity,
        deaths,
        _non_negative(record.get("fine_cny"), "fine_cny"),
        listed_until,
        optional_text(record, "description"),
        optional_text(record, "evidence_document"),
    )


def _event_type(text: str) -> str:
    event_type = text if text in EVENT_TYPES else EVENT_TYPE_LABELS.get(text)
    if event_type is None:
        raise RecordError(f"event_type: unknown event type {text!r}")
    return event_type


def _deaths(value: str | None, event_type: str) -> int | None:
    number = _non_negative(value, "deaths")
    if number is None:
        return None
    if not number.is_integer():
        raise RecordError(f"deaths: must be a whole number, got {number}")
    if number > 0 and event_type != "safety_accident":
        raise RecordError(f"deaths: {event_type} events cannot have deaths")
    return int(number)


def _severity(value: str | None, event_type: str, deaths: int | None) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    accepted = SEVERITIES_BY_TYPE[event_type]
    severity = accepted.get(text.lower()) or accepted.get(text)
    if severity is None:
        allowed = ", ".join(sorted(set(accepted.values())))
        raise RecordError(f"severity: {text!r} is not a {event_type} severity ({allowed})")
    if event_type == "safety_accident" and deaths:
        least = max(
            (grade for grade, (_, threshold) in ACCIDENT_GRADES.items() if deaths >= threshold),
            key=lambda grade: ACCIDENT_GRADES[grade][1],
        )
        if ACCIDENT_GRADES[severity][1] < ACCIDENT_GRADES[least][1]:
            raise RecordError(
                f"severity: a {severity} accident cannot have {deaths} deaths (at least {least})"
            )
    return severity


def _not_before(
    later: date | None, earlier: date | None, later_name: str, earlier_name: str
) -> None:
    if later is not None and earlier is not None and later < earlier:
        raise RecordError(f"{later_name} {later} is before {earlier_name} {earlier}")
