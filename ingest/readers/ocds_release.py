"""One compiled OCDS 1.1 release flattened into rows of every procurement table.

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
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache

from core.security import PersonalData
from ingest.readers.common import RecordError, finite_number, parse_timestamp

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


def array_field(parent: dict, key: str, path: str) -> list:
    """``parent[key]`` as a list (missing or null: empty); any other type is a ``RecordError``."""
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"{path}{key}: expected a list, got {type(value).__name__}")
    return value


def _elements(parent: dict, key: str, path: str) -> Iterator[tuple[int, dict, str]]:
    """``(position, object, path of the object + ".")`` for an array of objects."""
    for position, element in enumerate(array_field(parent, key, path)):
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
    for position, value in enumerate(array_field(parent, key, path)):
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
    for position, reference in enumerate(array_field(parent, "relatedLots", path)):
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
