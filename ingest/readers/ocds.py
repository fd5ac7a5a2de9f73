"""OCDS 1.1 reader: compiled releases, releases and packages into the procurement tables.

Accepted input, one JSON value per line (``.jsonl``, optionally gzipped):

* a release, compiled (``"tag": ["compiled"]``) or not;
* a release package (``{"releases": [...]}``);
* a record package (``{"records": [{"ocid", "releases", "compiledRelease"?}]}``).

A file that is one (pretty-printed) JSON object over many lines is read as one document:
every row and quarantine record from it carries ``source_line`` 1.

Compiling. Every release that is not tagged ``compiled`` and is not inside a record is
grouped by ``ocid`` across the whole file. An ocid seen once is used as it is (a single
release is its own compiled release); an ocid seen more than once is merged with
``ocdsmerge`` (the latest ``date`` wins; arrays of objects are merged by ``id``) and the result
is attributed to the line holding the ocid's last release. A record uses its
``compiledRelease`` if present, else the merge of its embedded releases. A first pass over the
file finds the ocids to merge, so memory holds only the releases of ocids still open, never
the whole file. Two compiled releases with the same ocid are both counted as accepted; the
store keeps the first (keys are ``schema`` primary keys).

Counting. The unit is the compiled release: ``records_in = accepted + quarantined``, where
``accepted`` counts compiled releases stored and ``quarantined`` counts quarantine records. A
quarantine record is one source line: a line that cannot be used at all (undecodable,
malformed JSON, not an object, a package whose ``releases``/``records`` is not a list) or the
compiled releases completed on that line that failed validation (their reasons joined,
ocids named). One line yields at most one quarantine record because the quarantine is keyed
by file and line; with one release per line, as usual, every bad release is one record.

What is an error and what is tolerated. An error quarantines the whole compiled release, with
the field path in the reason; a tolerated oddity is accepted and counted as a warning of the
run's report (``ReadChunk.warnings``, printed by ``lodestar ingest``; positions in arrays
are written ``[]`` so that the same oddity is counted once per kind).

| field | error (quarantined) | tolerated (warning) |
| --- | --- | --- |
| ``ocid`` | missing, blank, or not a string (a number: ids are prefixed text) | |
| ``id`` of an array's objects (1) | not a scalar | missing: ``#<position>`` derived |
| ``value.amount`` (2) | not a finite number; negative | a numeric string (``"1,234.5"``) |
| ``transactions[].value.amount`` | not a finite number | negative (OCDS: a refund or correction) |
| ``value.currency`` | not text | not an ISO 4217 code; missing beside an amount |
| every date | not ISO 8601; year outside 1900..2100 | |
| ``tender.numberOfTenderers`` | not a whole number; negative | missing |
| ``tender``, ``buyer`` | not an object | missing |
| other objects and arrays | the wrong JSON type | missing (NULL, or no rows) |
| several releases of one ocid | ocdsmerge cannot merge them (e.g. no ``date``) | |

(1) bids, awards, contracts, lots, items, parties, amendments, milestones, transactions; the
position is 0-based in the array, so no key column is NULL. (2) of the tender, lots, item
unit values, bids, awards and contracts.

Also tolerated silently, as OCDS publishers commonly write them: numbers as ids (kept as
text) and Armenia's lot references (``relatedLot``; ``relatedLots`` of ``{"lotId"}``).
Amounts keep their currency and are never converted. Dates become naive UTC. Frames are typed
from ``store.schema`` (``tabular.schema_frame``), never from the data. Contact names and
telephones are stored only encrypted (and the telephone's fingerprint); reasons never quote
them, and a release the reader fails on for an unforeseen reason is quarantined with the
exception's type only.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import orjson
from ocdsmerge import Merger
from ocdsmerge.exceptions import DuplicateIdValueWarning, OCDSMergeError

from core.security import PersonalData
from ingest.readers.common import (
    ReadChunk,
    RecordError,
    finite_number,
    iter_json_lines,
    now_utc,
    open_text,
    parse_timestamp,
)
from ingest.readers.tabular import schema_frame
from store.database import QuarantineRecord, file_sha256

READER = "ocds"
CHUNK_RELEASES = 20_000  # compiled releases per chunk (a single huge package line may exceed it)
FINGERPRINT_CACHE_SIZE = 200_000
MISSING_ID_PREFIX = "#"  # stable id of an array object without ``id``: "#" + its position
ARRAY_POSITION = re.compile(r"\[\d+\]")
EXPECTED_SECTIONS = ("tender", "buyer")  # optional in OCDS, but a release without is odd

# ISO 4217 alphabetic codes in use (and the funds codes OCDS publishers meet)
ISO_4217_CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK
    JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK
    MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN
    PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB
    TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XCD
    XCG XDR XOF XPF XSU XUA YER ZAR ZMW ZWG ZWL
    """.split()  # noqa: SIM905 - a list of 180 codes one per line reads worse
)

# OCDS 1.1 merge rules (what ``ocdsmerge.get_merge_rules`` derives from the 1.1 release schema,
# plus the bids extension), given explicitly so the Merger never fetches the schema. Arrays of
# non-objects are always replaced whole by ocdsmerge; arrays of objects not listed here are
# merged by ``id`` (objects without ``id`` are appended).
OCDS_1_1_MERGE_RULES: dict[tuple[str, ...], str] = {
    ("id",): "omitWhenMerged",
    ("date",): "omitWhenMerged",
    ("tag",): "omitWhenMerged",
    ("parties", "roles"): "wholeListMerge",
    ("parties", "additionalIdentifiers"): "wholeListMerge",
    ("buyer", "additionalIdentifiers"): "wholeListMerge",
    ("tender", "tenderers"): "wholeListMerge",
    ("tender", "submissionMethod"): "wholeListMerge",
    ("tender", "additionalProcurementCategories"): "wholeListMerge",
    ("tender", "items", "additionalClassifications"): "wholeListMerge",
    ("tender", "procuringEntity", "additionalIdentifiers"): "wholeListMerge",
    ("tender", "amendment", "changes"): "wholeListMerge",
    ("tender", "amendments", "changes"): "wholeListMerge",
    ("awards", "suppliers"): "wholeListMerge",
    ("awards", "items", "additionalClassifications"): "wholeListMerge",
    ("awards", "amendment", "changes"): "wholeListMerge",
    ("awards", "amendments", "changes"): "wholeListMerge",
    ("contracts", "items", "additionalClassifications"): "wholeListMerge",
    ("contracts", "relatedProcesses", "relationship"): "wholeListMerge",
    ("contracts", "amendment", "changes"): "wholeListMerge",
    ("contracts", "amendments", "changes"): "wholeListMerge",
    ("contracts", "implementation", "transactions", "payer", "additionalIdentifiers"): (
        "wholeListMerge"
    ),
    ("contracts", "implementation", "transactions", "payee", "additionalIdentifiers"): (
        "wholeListMerge"
    ),
    ("relatedProcesses", "relationship"): "wholeListMerge",
    ("bids", "details", "tenderers"): "wholeListMerge",
}

# Columns each flattener fills, in the order of its row tuples (lineage columns are appended).
PROCESS_COLUMNS = (
    "ocid",
    "release_id",
    "release_date",
    "buyer_id",
    "buyer_name",
    "title",
    "status",
    "procurement_method",
    "procurement_method_details",
    "main_procurement_category",
    "tender_value_amount",
    "tender_value_currency",
    "tender_period_start",
    "tender_period_end",
    "award_period_start",
    "award_period_end",
    "number_of_tenderers",
)
LOT_COLUMNS = ("ocid", "lot_id", "title", "status", "value_amount", "value_currency")
ITEM_COLUMNS = (
    "ocid",
    "item_id",
    "description",
    "classification_scheme",
    "classification_id",
    "classification_description",
    "quantity",
    "unit_name",
    "unit_value_amount",
    "unit_value_currency",
    "related_lot",
)
BID_COLUMNS = (
    "ocid",
    "bid_id",
    "bid_date",
    "status",
    "value_amount",
    "value_currency",
    "tenderer_ids",
    "related_lots",
)
AWARD_COLUMNS = (
    "ocid",
    "award_id",
    "award_date",
    "status",
    "value_amount",
    "value_currency",
    "supplier_ids",
    "related_lots",
    "related_bid",
)
CONTRACT_COLUMNS = (
    "ocid",
    "contract_id",
    "award_id",
    "status",
    "date_signed",
    "value_amount",
    "value_currency",
    "period_start",
    "period_end",
)
AMENDMENT_COLUMNS = (
    "ocid",
    "scope",
    "parent_id",
    "amendment_id",
    "amendment_date",
    "rationale",
    "description",
)
MILESTONE_COLUMNS = (
    "ocid",
    "contract_id",
    "milestone_id",
    "milestone_type",
    "code",
    "status",
    "due_date",
    "date_met",
    "description",
)
TRANSACTION_COLUMNS = (
    "ocid",
    "contract_id",
    "transaction_id",
    "transaction_date",
    "value_amount",
    "value_currency",
    "payer_id",
    "payee_id",
)
PARTY_COLUMNS = (
    "ocid",
    "party_id",
    "name",
    "roles",
    "identifier_scheme",
    "identifier_id",
    "address_locality",
    "address_region",
    "contact_name_enc",
    "contact_phone_enc",
    "contact_phone_fingerprint",
)

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "processes": PROCESS_COLUMNS,
    "lots": LOT_COLUMNS,
    "items": ITEM_COLUMNS,
    "bids": BID_COLUMNS,
    "awards": AWARD_COLUMNS,
    "contracts": CONTRACT_COLUMNS,
    "amendments": AMENDMENT_COLUMNS,
    "milestones": MILESTONE_COLUMNS,
    "transactions": TRANSACTION_COLUMNS,
    "parties": PARTY_COLUMNS,
}

SCOPE_TENDER = "tender"
SCOPE_CONTRACT = "contract"
CONTACT_NAME_COLUMN = "contact_name_enc"
CONTACT_PHONE_COLUMN = "contact_phone_enc"
PHONE_NAMESPACE = "phone"

_EMPTY: dict[str, object] = {}
Rows = dict[str, list[tuple[object, ...]]]


# --------------------------------------------------------------------------- field access
# ``path`` is the JSON path of the parent object, ending in "." (or ""), used in reasons.


def _object(parent: dict, key: str, path: str) -> dict:
    value = parent.get(key)
    if value is None:
        return _EMPTY
    if not isinstance(value, dict):
        raise RecordError(f"{path}{key}: expected an object, got {type(value).__name__}")
    return value


def _array(parent: dict, key: str, path: str) -> list:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"{path}{key}: expected a list, got {type(value).__name__}")
    return value


def _elements(parent: dict, key: str, path: str) -> Iterator[tuple[int, dict, str]]:
    """``(position, object, path of the object + ".")`` for an array of objects."""
    for position, element in enumerate(_array(parent, key, path)):
        element_path = f"{path}{key}[{position}]."
        if not isinstance(element, dict):
            raise RecordError(
                f"{element_path[:-1]}: expected an object, got {type(element).__name__}"
            )
        yield position, element, element_path


def _text(parent: dict, key: str, path: str) -> str | None:
    """Text of a scalar field (numbers become text); blank -> None. Never quotes the value."""
    value = parent.get(key)
    if type(value) is str:
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise RecordError(f"{path}{key}: expected text, got {type(value).__name__}")


@lru_cache(maxsize=1 << 16)
def _cached_timestamp(text: str) -> datetime:
    """Processes share many dates; parsed datetimes are immutable, so cache them."""
    return parse_timestamp(text, field_name="")


def _timestamp(parent: dict, key: str, path: str) -> datetime | None:
    value = parent.get(key)
    if value is None or value == "":
        return None
    if type(value) is str:
        try:
            return _cached_timestamp(value)
        except RecordError:
            pass
    return parse_timestamp(value, field_name=f"{path}{key}")  # raises, naming the field


def _integer(parent: dict, key: str, path: str) -> int | None:
    number = finite_number(parent.get(key), field_name=f"{path}{key}")
    if number is None:
        return None
    if not number.is_integer():
        raise RecordError(f"{path}{key}: expected a whole number, got {number!r}")
    if number < 0:
        raise RecordError(f"{path}{key}: must be >= 0, got {number:g}")
    return int(number)


def _field_kind(path: str) -> str:
    """A field path without array positions, for counting warnings: ``bids.details[].``."""
    return ARRAY_POSITION.sub("[]", path)


def _organisation_ids(parent: dict, key: str, path: str) -> list[str]:
    """Ids of an array of OrganizationReferences; references without an id are skipped."""
    ids = []
    for _, reference, reference_path in _elements(parent, key, path):
        identifier = _text(reference, "id", reference_path)
        if identifier is not None:
            ids.append(identifier)
    return ids


def _strings(parent: dict, key: str, path: str) -> list[str]:
    strings = []
    for position, value in enumerate(_array(parent, key, path)):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise RecordError(f"{path}{key}[{position}]: expected text, got {type(value).__name__}")
        strings.append(str(value))
    return strings


def _related_lots(parent: dict, path: str) -> list[str]:
    """``relatedLots`` as lot ids.

    Tolerates two non-standard Armenian shapes: a singular ``relatedLot`` string, and
    ``relatedLots`` entries that are objects ``{"lotId": ...}`` (or ``{"id": ...}``).
    """
    lots = []
    for position, reference in enumerate(_array(parent, "relatedLots", path)):
        reference_path = f"{path}relatedLots[{position}]"
        if isinstance(reference, dict):
            lot = _text(reference, "lotId", f"{reference_path}.") or _text(
                reference, "id", f"{reference_path}."
            )
        elif isinstance(reference, (str, int)) and not isinstance(reference, bool):
            lot = str(reference)
        else:
            raise RecordError(
                f"{reference_path}: expected a lot id, got {type(reference).__name__}"
            )
        if lot is not None:
            lots.append(lot)
    if not lots:
        single = _text(parent, "relatedLot", path)
        if single is not None:
            lots = [single]
    return lots


# --------------------------------------------------------------------------- flattening


class ReleaseFlattener:
    """Turns one compiled release into rows of every procurement table (no lineage yet).

    Raises ``RecordError`` for the first field that cannot be used; then no row of the release
    is kept.
    """

    def __init__(self, personal: PersonalData) -> None:
        self._cipher = personal.cipher
        self._pseudonymiser = personal.pseudonymiser
        self._phone_fingerprints: dict[str, str | None] = {}
        self.warnings: Counter[str] = Counter()  # of the last release flattened

    def _warn(self, message: str) -> None:
        self.warnings[message] += 1

    def _id(self, parent: dict, path: str, position: int) -> str:
        """The object's ``id``, or ``#<position>`` when it has none (key columns are never
        NULL); a derived id is a warning."""
        identifier = _text(parent, "id", path)
        if identifier is None:
            self._warn(f"{_field_kind(path)}id missing: derived from the position ('#0', ...)")
            return f"{MISSING_ID_PREFIX}{position}"
        return identifier

    def _value(
        self, parent: dict, key: str, path: str, *, refund_allowed: bool = False
    ) -> tuple[float | None, str | None]:
        """``(amount, currency)`` of an OCDS Value object; the currency is kept, never converted.

        A negative amount is an error except where OCDS gives it a meaning (a transaction's
        refund or correction: ``refund_allowed``).
        """
        value = _object(parent, key, path)
        if not value:
            return None, None
        field = f"{path}{key}."
        amount = value.get("amount")
        if type(amount) is not float or not math.isfinite(amount):
            if isinstance(amount, str) and amount.strip():
                self._warn(f"{_field_kind(field)}amount given as text")
            amount = finite_number(amount, field_name=f"{field}amount")
        if amount is not None and amount < 0 and not refund_allowed:
            raise RecordError(f"{field}amount: must be >= 0, got {amount:g}")
        currency = _text(value, "currency", field)
        if currency is None:
            if amount is not None:
                self._warn(f"{_field_kind(field)}currency missing")
        elif currency not in ISO_4217_CURRENCIES:
            self._warn(f"{_field_kind(field)}currency not an ISO 4217 code: {currency[:12]!r}")
        return amount, currency

    def _phone_fingerprint(self, telephone: str | None) -> str | None:
        """Suppliers recur across processes: memoise (bounded) the normalise-and-HMAC step."""
        if telephone is None:
            return None
        fingerprint = self._phone_fingerprints.get(telephone)
        if fingerprint is None:
            fingerprint = self._pseudonymiser.fingerprint(PHONE_NAMESPACE, telephone)
            if len(self._phone_fingerprints) < FINGERPRINT_CACHE_SIZE:
                self._phone_fingerprints[telephone] = fingerprint
        return fingerprint

    def rows(self, ocid: str, release: dict) -> Rows:
        self.warnings = Counter()
        for section in EXPECTED_SECTIONS:
            if release.get(section) is None:
                self._warn(f"{section} missing")
        rows: Rows = {name: [] for name in TABLE_COLUMNS}
        tender = _object(release, "tender", "")
        rows["processes"].append(self._process(ocid, release, tender))
        self._tender_parts(ocid, tender, rows)
        bids = _object(release, "bids", "")
        rows["bids"] = [
            self._bid(ocid, position, bid, path)
            for position, bid, path in _elements(bids, "details", "bids.")
        ]
        rows["awards"] = [
            self._award(ocid, position, award, path)
            for position, award, path in _elements(release, "awards", "")
        ]
        for position, contract, path in _elements(release, "contracts", ""):
            self._contract(ocid, position, contract, path, rows)
        rows["parties"] = [
            self._party(ocid, position, party, path)
            for position, party, path in _elements(release, "parties", "")
        ]
        return rows

    def _process(self, ocid: str, release: dict, tender: dict) -> tuple[object, ...]:
        buyer = _object(release, "buyer", "")
        tender_period = _object(tender, "tenderPeriod", "tender.")
        award_period = _object(tender, "awardPeriod", "tender.")
        amount, currency = self._value(tender, "value", "tender.")
        return (
            ocid,
            _text(release, "id", ""),
            _timestamp(release, "date", ""),
            _text(buyer, "id", "buyer."),
            _text(buyer, "name", "buyer."),
            _text(tender, "title", "tender."),
            _text(tender, "status", "tender."),
            _text(tender, "procurementMethod", "tender."),
            _text(tender, "procurementMethodDetails", "tender."),
            _text(tender, "mainProcurementCategory", "tender."),
            amount,
            currency,
            _timestamp(tender_period, "startDate", "tender.tenderPeriod."),
            _timestamp(tender_period, "endDate", "tender.tenderPeriod."),
            _timestamp(award_period, "startDate", "tender.awardPeriod."),
            _timestamp(award_period, "endDate", "tender.awardPeriod."),
            _integer(tender, "numberOfTenderers", "tender."),
        )

    def _tender_parts(self, ocid: str, tender: dict, rows: Rows) -> None:
        for position, lot, path in _elements(tender, "lots", "tender."):
            amount, currency = self._value(lot, "value", path)
            rows["lots"].append(
                (
                    ocid,
                    self._id(lot, path, position),
                    _text(lot, "title", path),
                    _text(lot, "status", path),
                    amount,
                    currency,
                )
            )
        for position, item, path in _elements(tender, "items", "tender."):
            rows["items"].append(self._item(ocid, position, item, path))
        for position, amendment, path in _elements(tender, "amendments", "tender."):
            rows["amendments"].append(
                self._amendment(ocid, SCOPE_TENDER, "", position, amendment, path)
            )

    def _item(self, ocid: str, position: int, item: dict, path: str) -> tuple[object, ...]:
        classification = _object(item, "classification", path)
        classification_path = f"{path}classification."
        unit = _object(item, "unit", path)
        unit_amount, unit_currency = self._value(unit, "value", f"{path}unit.")
        return (
            ocid,
            self._id(item, path, position),
            _text(item, "description", path),
            _text(classification, "scheme", classification_path),
            _text(classification, "id", classification_path),
            _text(classification, "description", classification_path),
            finite_number(item.get("quantity"), field_name=f"{path}quantity"),
            _text(unit, "name", f"{path}unit."),
            unit_amount,
            unit_currency,
            _text(item, "relatedLot", path),
        )

    def _bid(self, ocid: str, position: int, bid: dict, path: str) -> tuple[object, ...]:
        amount, currency = self._value(bid, "value", path)
        return (
            ocid,
            self._id(bid, path, position),
            _timestamp(bid, "date", path),
            _text(bid, "status", path),
            amount,
            currency,
            _organisation_ids(bid, "tenderers", path),
            _related_lots(bid, path),
        )

    def _award(self, ocid: str, position: int, award: dict, path: str) -> tuple[object, ...]:
        amount, currency = self._value(award, "value", path)
        return (
            ocid,
            self._id(award, path, position),
            _timestamp(award, "date", path),
            _text(award, "status", path),
            amount,
            currency,
            _organisation_ids(award, "suppliers", path),
            _related_lots(award, path),
            _text(award, "relatedBid", path),
        )

    def _contract(self, ocid: str, position: int, contract: dict, path: str, rows: Rows) -> None:
        contract_id = self._id(contract, path, position)
        amount, currency = self._value(contract, "value", path)
        period = _object(contract, "period", path)
        rows["contracts"].append(
            (
                ocid,
                contract_id,
                _text(contract, "awardID", path),
                _text(contract, "status", path),
                _timestamp(contract, "dateSigned", path),
                amount,
                currency,
                _timestamp(period, "startDate", f"{path}period."),
                _timestamp(period, "endDate", f"{path}period."),
            )
        )
        for amendment_position, amendment, amendment_path in _elements(
            contract, "amendments", path
        ):
            rows["amendments"].append(
                self._amendment(
                    ocid, SCOPE_CONTRACT, contract_id, amendment_position, amendment, amendment_path
                )
            )
        implementation = _object(contract, "implementation", path)
        implementation_path = f"{path}implementation."
        for milestone_position, milestone, milestone_path in _elements(
            implementation, "milestones", implementation_path
        ):
            rows["milestones"].append(
                (
                    ocid,
                    contract_id,
                    self._id(milestone, milestone_path, milestone_position),
                    _text(milestone, "type", milestone_path),
                    _text(milestone, "code", milestone_path),
                    _text(milestone, "status", milestone_path),
                    _timestamp(milestone, "dueDate", milestone_path),
                    _timestamp(milestone, "dateMet", milestone_path),
                    _text(milestone, "description", milestone_path),
                )
            )
        for transaction_position, transaction, transaction_path in _elements(
            implementation, "transactions", implementation_path
        ):
            rows["transactions"].append(
                self._transaction(
                    ocid, contract_id, transaction_position, transaction, transaction_path
                )
            )

    def _amendment(
        self, ocid: str, scope: str, parent_id: str, position: int, amendment: dict, path: str
    ) -> tuple[object, ...]:
        return (
            ocid,
            scope,
            parent_id,
            self._id(amendment, path, position),
            _timestamp(amendment, "date", path),
            _text(amendment, "rationale", path),
            _text(amendment, "description", path),
        )

    def _transaction(
        self, ocid: str, contract_id: str, position: int, transaction: dict, path: str
    ) -> tuple[object, ...]:
        """OCDS 1.1 ``value``/``payer``/``payee``, else the 1.0 ``amount`` and organisations."""
        if transaction.get("value") is not None:
            amount, currency = self._value(transaction, "value", path, refund_allowed=True)
        else:
            amount, currency = self._value(transaction, "amount", path, refund_allowed=True)
        payer = _text(_object(transaction, "payer", path), "id", f"{path}payer.")
        payee = _text(_object(transaction, "payee", path), "id", f"{path}payee.")
        if payer is None:
            provider = _object(transaction, "providerOrganization", path)
            payer = _text(provider, "id", f"{path}providerOrganization.")
        if payee is None:
            receiver = _object(transaction, "receiverOrganization", path)
            payee = _text(receiver, "id", f"{path}receiverOrganization.")
        return (
            ocid,
            contract_id,
            self._id(transaction, path, position),
            _timestamp(transaction, "date", path),
            amount,
            currency,
            payer,
            payee,
        )

    def _party(self, ocid: str, position: int, party: dict, path: str) -> tuple[object, ...]:
        identifier = _object(party, "identifier", path)
        address = _object(party, "address", path)
        contact = _object(party, "contactPoint", path)
        contact_name = _text(contact, "name", f"{path}contactPoint.")
        telephone = _text(contact, "telephone", f"{path}contactPoint.")
        return (
            ocid,
            self._id(party, path, position),
            _text(party, "name", path),
            _strings(party, "roles", path),
            _text(identifier, "scheme", f"{path}identifier."),
            _text(identifier, "id", f"{path}identifier."),
            _text(address, "locality", f"{path}address."),
            _text(address, "region", f"{path}address."),
            self._cipher.encrypt(contact_name, column=CONTACT_NAME_COLUMN),
            self._cipher.encrypt(telephone, column=CONTACT_PHONE_COLUMN),
            self._phone_fingerprint(telephone),
        )


# --------------------------------------------------------------------------- units of input


@dataclass
class Unit:
    """The releases of one ocid found in one line: to merge across the file, or complete."""

    ocid: str
    releases: list[dict]
    mergeable: bool  # a plain release (not compiled, not in a record): grouped by ocid


def _ocid(release: dict, path: str) -> str:
    """The ocid: a non-blank string (a number is refused: ocids are prefixed identifiers, and
    a number would have lost its leading zeros or prefix on the way)."""
    value = release.get("ocid")
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordError(f"{path}ocid: missing")
    if not isinstance(value, str):
        raise RecordError(f"{path}ocid: expected text, got {type(value).__name__}")
    return value.strip()


def _is_compiled(release: dict) -> bool:
    tag = release.get("tag")
    return isinstance(tag, list) and "compiled" in tag


def _units(document: object) -> list[Unit | RecordError]:
    """The units of one parsed line (or document), or the errors that make parts unusable."""
    if not isinstance(document, dict):
        return [RecordError(f"not a JSON object (got {type(document).__name__})")]
    if "records" in document:
        return _record_package_units(document)
    if "releases" in document:
        return _release_package_units(document)
    try:
        return [Unit(_ocid(document, ""), [document], not _is_compiled(document))]
    except RecordError as error:
        return [error]


def _release_package_units(package: dict) -> list[Unit | RecordError]:
    releases = package["releases"]
    if not isinstance(releases, list):
        return [RecordError(f"releases: expected a list, got {type(releases).__name__}")]
    units: list[Unit | RecordError] = []
    for position, release in enumerate(releases):
        path = f"releases[{position}]."
        if not isinstance(release, dict):
            units.append(RecordError(f"{path[:-1]}: expected an object"))
            continue
        try:
            units.append(Unit(_ocid(release, path), [release], not _is_compiled(release)))
        except RecordError as error:
            units.append(error)
    return units


def _record_package_units(package: dict) -> list[Unit | RecordError]:
    records = package["records"]
    if not isinstance(records, list):
        return [RecordError(f"records: expected a list, got {type(records).__name__}")]
    units: list[Unit | RecordError] = []
    for position, record in enumerate(records):
        path = f"records[{position}]."
        try:
            units.append(_record_unit(record, path))
        except RecordError as error:
            units.append(error)
    return units


def _record_unit(record: object, path: str) -> Unit:
    """A record's compiledRelease, else its embedded releases (linked ones cannot be used)."""
    if not isinstance(record, dict):
        raise RecordError(f"{path[:-1]}: expected an object")
    compiled = record.get("compiledRelease")
    if isinstance(compiled, dict):
        ocid = _ocid(compiled, f"{path}compiledRelease.") if "ocid" in compiled else None
        return Unit(ocid or _ocid(record, path), [compiled], mergeable=False)
    embedded = [
        release
        for release in _array(record, "releases", path)
        if isinstance(release, dict) and set(release) - {"url", "date", "tag"}
    ]
    if not embedded:
        raise RecordError(f"{path[:-1]}: no compiledRelease and no embedded releases to merge")
    return Unit(_ocid(record, path), embedded, mergeable=False)


# --------------------------------------------------------------------------- the reader


def _whole_document(path: Path) -> tuple[int, str, object] | None:
    """The file as one JSON object when its first line alone is not JSON but the file is."""
    first = next(iter_json_lines(path), None)  # the generator, dropped, closes the file
    if first is None or not isinstance(first[2], RecordError):
        return None
    with open_text(path) as handle:
        text = handle.read()
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return (1, text, document) if isinstance(document, dict) else None


def _parsed_lines(path: Path) -> Iterator[tuple[int, str, object]]:
    document = _whole_document(path)
    if document is not None:
        yield document
    else:
        yield from iter_json_lines(path)


def _merge_plan(path: Path) -> dict[str, int]:
    """First pass: ocid -> line of its last release, for ocids with releases to merge (2+)."""
    counts: dict[str, int] = defaultdict(int)
    last_line: dict[str, int] = {}
    for line_no, _, parsed in _parsed_lines(path):
        if isinstance(parsed, RecordError):
            continue
        for unit in _units(parsed):
            if isinstance(unit, Unit) and unit.mergeable:
                counts[unit.ocid] += 1
                last_line[unit.ocid] = line_no
    return {ocid: line for ocid, line in last_line.items() if counts[ocid] > 1}


@dataclass
class _OpenGroup:
    releases: list[dict] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)


class _MergeGroups:
    """Releases of the ocids to merge, held from their first line until their last."""

    def __init__(self, last_lines: dict[str, int]) -> None:
        self._last_lines = last_lines
        self._closing_at: dict[int, list[str]] = defaultdict(list)
        for ocid, line_no in last_lines.items():
            self._closing_at[line_no].append(ocid)
        self._open: dict[str, _OpenGroup] = defaultdict(_OpenGroup)

    def hold(self, unit: Unit, line_no: int) -> bool:
        """Keep a plain release whose ocid is merged later; False if it is complete as it is."""
        if not unit.mergeable or unit.ocid not in self._last_lines:
            return False
        group = self._open[unit.ocid]
        group.releases.extend(unit.releases)
        group.lines.append(line_no)
        return True

    def closing(self, line_no: int) -> list[tuple[str, _OpenGroup]]:
        """The groups whose last release is on ``line_no``: ready to merge."""
        return [(ocid, self._open.pop(ocid)) for ocid in self._closing_at.pop(line_no, [])]


class _ChunkBuilder:
    """Accumulates rows and quarantine records; one DataFrame per table when flushed."""

    def __init__(self, source_file: str, source_sha256: str) -> None:
        self.source_file = source_file
        self.source_sha256 = source_sha256
        self._reset()

    def _reset(self) -> None:
        self.chunk = ReadChunk(READER, self.source_file, self.source_sha256)
        self.rows: Rows = {name: [] for name in TABLE_COLUMNS}

    def accept(self, release_rows: Rows, lineage: tuple[object, ...]) -> None:
        for name, table_rows in release_rows.items():
            self.rows[name].extend(row + lineage for row in table_rows)
        self.chunk.accepted += 1
        self.chunk.records_in += 1

    def quarantine(self, line_no: int, reasons: list[str], record: str) -> None:
        self.chunk.quarantined.append(
            QuarantineRecord(
                READER, self.source_file, self.source_sha256, line_no, "; ".join(reasons), record
            )
        )
        self.chunk.records_in += 1

    def flush(self) -> ReadChunk:
        chunk = self.chunk
        chunk.tables = {
            name: schema_frame(name, table_rows)
            for name, table_rows in self.rows.items()
            if table_rows
        }
        self._reset()
        return chunk


def _compile(merger: Merger, ocid: str, releases: list[dict]) -> dict:
    if len(releases) == 1:
        return releases[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DuplicateIdValueWarning)
            return merger.create_compiled_release(releases)
    except (OCDSMergeError, TypeError, KeyError) as error:
        raise RecordError(
            f"cannot merge the {len(releases)} releases of ocid {ocid}: {error}"
        ) from error


def read_ocds(path: Path, personal: PersonalData) -> Iterator[ReadChunk]:
    """Compiled releases of an OCDS file as rows of the procurement tables (see module doc)."""
    path = Path(path)
    builder = _ChunkBuilder(path.name, file_sha256(path))
    flattener = ReleaseFlattener(personal)
    merger = Merger(merge_rules=OCDS_1_1_MERGE_RULES)
    groups = _MergeGroups(_merge_plan(path))
    ingested_at = now_utc()
    for line_no, raw, parsed in _parsed_lines(path):
        if isinstance(parsed, RecordError):
            builder.quarantine(line_no, [str(parsed)], raw)
            continue
        reasons: list[str] = []
        complete: list[tuple[str, list[dict], _OpenGroup | None]] = []
        for unit in _units(parsed):
            if isinstance(unit, RecordError):
                reasons.append(str(unit))
            elif not groups.hold(unit, line_no):
                complete.append((unit.ocid, unit.releases, None))
        complete.extend((ocid, group.releases, group) for ocid, group in groups.closing(line_no))
        failed_groups: list[dict] = []
        for ocid, releases, group in complete:
            try:
                release_rows = flattener.rows(ocid, _compile(merger, ocid, releases))
            except Exception as error:  # a reader bug costs this release, not the file
                reason = str(error) if isinstance(error, RecordError) else _failure(error)
                reasons.append(f"{reason} (ocid {ocid})")
                if group is not None and set(group.lines) != {line_no}:
                    failed_groups.append(
                        {"ocid": ocid, "source_lines": group.lines, "releases": group.releases}
                    )
                continue
            builder.accept(release_rows, (builder.source_file, line_no, ingested_at))
            builder.chunk.warnings.update(flattener.warnings)
        if reasons:
            builder.quarantine(line_no, reasons, _quarantined_text(raw, failed_groups))
        if builder.chunk.records_in >= CHUNK_RELEASES:
            yield builder.flush()
    yield builder.flush()


def _failure(error: Exception) -> str:
    """The reason for a release the reader failed on: the exception's type only (its message
    may quote a contact's name or telephone)."""
    return f"reader failed on this release ({type(error).__name__})"


def _quarantined_text(raw: str, merged_from_other_lines: list[dict]) -> str:
    """The line as read; plus, when releases merged in from other lines, those releases too."""
    if not merged_from_other_lines:
        return raw
    return orjson.dumps({"line": raw, "merged_releases": merged_from_other_lines}).decode()
