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

How one compiled release becomes rows, and what in it is an error or tolerated, is in
``ingest/readers/ocds_release.py``.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from ocdsmerge import Merger
from ocdsmerge.exceptions import DuplicateIdValueWarning, OCDSMergeError

from core.security import PersonalData
from ingest.readers.common import (
    ReadChunk,
    RecordError,
    iter_json_line_bytes,
    line_text,
    now_utc,
    open_text,
)
from ingest.readers.ocds_release import TABLE_COLUMNS, ReleaseFlattener, Rows, array_field
from ingest.readers.tabular import schema_frame
from store.database import QuarantineRecord, file_sha256

READER = "ocds"
CHUNK_RELEASES = 20_000  # compiled releases per chunk (a single huge package line may exceed it)

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
        for release in array_field(record, "releases", path)
        if isinstance(release, dict) and set(release) - {"url", "date", "tag"}
    ]
    if not embedded:
        raise RecordError(f"{path[:-1]}: no compiledRelease and no embedded releases to merge")
    return Unit(_ocid(record, path), embedded, mergeable=False)


# --------------------------------------------------------------------------- the reader


def _whole_document(path: Path) -> tuple[int, str, object] | None:
    """The file as one JSON object when its first line alone is not JSON but the file is."""
    first = next(iter_json_line_bytes(path), None)  # the generator, dropped, closes the file
    if first is None or not isinstance(first[2], RecordError):
        return None
    with open_text(path) as handle:
        text = handle.read()
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return (1, text, document) if isinstance(document, dict) else None


def _parsed_lines(path: Path) -> Iterator[tuple[int, str | bytes, object]]:
    """``(line_no, raw, parsed or RecordError)``: ``raw`` is the text of a whole document,
    else a line's bytes (``line_text`` decodes them for a quarantine record)."""
    document = _whole_document(path)
    if document is not None:
        yield document
    else:
        yield from iter_json_line_bytes(path)


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
            builder.quarantine(line_no, [str(parsed)], line_text(raw))
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
            builder.quarantine(line_no, reasons, _quarantined_text(line_text(raw), failed_groups))
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
