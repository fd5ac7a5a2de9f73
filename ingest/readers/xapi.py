"""xAPI 1.0.3 statements (study events), one JSON statement per line (``.gz`` too).

Each statement becomes one row of ``statements`` or one quarantined record. What is checked,
following the xAPI 1.0.3 specification where it matters for Lodestar:

* ``id``: a UUID (stored lower-case). A statement without one gets a deterministic UUID5
  (namespace ``STATEMENT_ID_NAMESPACE``) of its canonical JSON (keys sorted, no whitespace),
  so re-ingesting the same file, or re-posting the same statement, stores it once.
* ``version``, if given: ``1.0.x``.
* ``actor``: an Agent with exactly one inverse functional identifier (``account`` with
  ``homePage`` and ``name``, ``mbox`` as a ``mailto:`` IRI, ``mbox_sha1sum`` as 40 hex digits,
  or ``openid``). ``member_key`` is ``personal.member_key(account.name)`` (the account name is
  the employee number), else the pseudonym of the identifier's value in namespace ``member``.
  Groups are refused: study events belong to one member. Quarantine reasons never repeat an
  actor's identifier (it is personal data).
* ``verb.id``: one of ``KNOWN_VERBS`` (ADL verbs), stored as its short name; any other verb
  (``voided`` included) is quarantined as ``unknown verb <iri>``.
* ``object``: an Activity with an ``id`` IRI; ``activity_type`` is ``object.definition.type``;
  ``content_id`` is the catalogue id in the object id (``.../content/C0123`` or
  ``.../content/C0123/questions/3`` → ``C0123``), else null.
* ``result``: ``score.scaled`` a finite JSON number in [-1, 1]; ``success`` and ``completion``
  booleans; ``duration`` an ISO 8601 duration ``PnDTnHnMnS`` (decimals on seconds only;
  years, months and weeks have no fixed length and are refused) → ``duration_seconds``.
* ``timestamp``: ISO 8601 with any offset, stored as naive UTC; if absent, ``stored`` is used
  (the specification sets timestamp to stored when a statement comes without one).
* ``context.extensions``: ``KNOWLEDGE_POINTS_EXTENSION`` (a list of knowledge-point ids) and
  ``ITEM_DIFFICULTY_EXTENSION`` (a finite number).

``parse_statement`` is the same validation for one statement, for the HTTP endpoint.
"""

from __future__ import annotations

import functools
import json
import math
import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import orjson

from core.security import PersonalData
from ingest.readers.common import (
    YEARS_ACCEPTED,
    ReadChunk,
    RecordError,
    iter_json_line_bytes,
    parse_timestamp,
)
from ingest.readers.tabular import read_chunks
from store.schema import LINEAGE_COLUMNS, STATEMENTS

READER = "xapi"

ADL_VERB_PREFIX = "http://adlnet.gov/expapi/verbs/"
KNOWN_VERB_NAMES = (
    "launched",
    "experienced",
    "completed",
    "answered",
    "passed",
    "failed",
    "attempted",
    "initialized",
    "terminated",
    "progressed",
    "scored",
)
# verb IRI -> short name stored in statements.verb
KNOWN_VERBS: dict[str, str] = {ADL_VERB_PREFIX + name: name for name in KNOWN_VERB_NAMES}

KNOWLEDGE_POINTS_EXTENSION = "https://lodestar.invalid/xapi/extensions/knowledge-points"
ITEM_DIFFICULTY_EXTENSION = "https://lodestar.invalid/xapi/extensions/item-difficulty"

STATEMENT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://lodestar.invalid/xapi/statements")

STATEMENT_COLUMNS: tuple[str, ...] = tuple(
    name for name in STATEMENTS.column_names if name not in LINEAGE_COLUMNS
)

CONTENT_ID_PATTERN = re.compile(r"/content/(C\d+)(?=[/?#]|$)")
UUID_PATTERN = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
IRI_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")
SHA1_HEX_PATTERN = re.compile(r"[0-9a-fA-F]{40}")
DURATION_PATTERN = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(\d+(?:\.\d+)?S)?)?")

_INVERSE_FUNCTIONAL_IDENTIFIERS = ("account", "mbox", "mbox_sha1sum", "openid")

StatementValues = tuple[object, ...]


def parse_statement(obj: dict, personal: PersonalData) -> dict[str, object]:
    """One xAPI statement as a ``statements`` row without lineage columns; ``RecordError``."""
    values = _StatementParser(personal).values(obj)
    return dict(zip(STATEMENT_COLUMNS, values, strict=True))


def read_xapi_statements(path: Path, personal: PersonalData) -> Iterator[ReadChunk]:
    """Chunks of ``statements`` rows; one source record per non-blank line."""
    parser = _StatementParser(personal)
    yield from read_chunks(
        READER,
        path,
        STATEMENTS.name,
        iter_json_line_bytes(path),
        parser.values,
        explain=_explain_malformed,
    )


def parse_duration(text: object) -> float:
    """Seconds in an ISO 8601 duration ``PnDTnHnMnS`` (seconds may have decimals)."""
    match = DURATION_PATTERN.fullmatch(text) if isinstance(text, str) else None
    if match is None or text in ("P", "PT") or str(text).endswith("T"):
        raise RecordError(
            f"result.duration: not an ISO 8601 duration PnDTnHnMnS "
            f"(years, months and weeks are not accepted): {text!r}"
        )
    days, hours, minutes, seconds = match.groups()
    total = float(seconds[:-1]) if seconds else 0.0
    if minutes:
        total += 60 * int(minutes)
    if hours:
        total += 3600 * int(hours)
    if days:
        total += 86400 * int(days)
    return total


class _StatementParser:
    """Validates statements; keeps member pseudonyms per identifier (one HMAC per member)."""

    def __init__(self, personal: PersonalData) -> None:
        self._personal = personal
        self._member_keys: dict[tuple[str, str], str] = {}
        self._accounts: dict[tuple[object, object], str] = {}

    def values(self, obj: object) -> StatementValues:
        """The statement's values in ``STATEMENT_COLUMNS`` order; raises ``RecordError``."""
        common = self._common_values(obj)
        return common if common is not None else self._checked_values(obj)

    def _common_values(self, obj: object) -> StatementValues | None:
        """The values of a statement of the common shape, or None for ``_checked_values`` to
        judge. The same values as ``_checked_values`` wherever it answers (tests hold the two
        equal): it accepts only what every check there accepts and declines anything else,
        with no reason of its own: an Agent with only an account already pseudonymised in
        this file, no ``version`` or a 1.0.x one, an ``id``, a ``timestamp``, and every
        other field of the JSON type ``_checked_values`` wants or absent. Written flat: it
        decides for almost every statement of a file, and a call per field costs as much as
        the checks."""
        if type(obj) is not dict:
            return None
        get = obj.get
        version = get("version")
        if version is not None and not (
            type(version) is str and (version == "1.0" or version.startswith("1.0."))
        ):
            return None
        verb = get("verb")
        if type(verb) is not dict:
            return None
        verb_id = verb.get("id")
        if type(verb_id) is not str:
            return None
        verb_name = KNOWN_VERBS.get(verb_id)
        actor = get("actor")
        if verb_name is None or type(actor) is not dict:
            return None
        account = actor.get("account")
        if (
            type(account) is not dict
            or actor.get("objectType", "Agent") != "Agent"
            or actor.get("mbox") is not None
            or actor.get("mbox_sha1sum") is not None
            or actor.get("openid") is not None
        ):
            return None
        home_page, name = account.get("homePage"), account.get("name")
        if type(home_page) is not str or type(name) is not str:
            return None
        member_key = self._accounts.get((home_page, name))
        activity = get("object")
        if member_key is None or type(activity) is not dict:
            return None
        object_id = activity.get("id")
        if (
            activity.get("objectType", "Activity") != "Activity"
            or type(object_id) is not str
            or not _iri_text(object_id)
        ):
            return None
        definition = activity.get("definition")
        activity_type = None
        if definition is not None:
            if type(definition) is not dict:
                return None
            activity_type = definition.get("type")
            if activity_type is not None and not (
                type(activity_type) is str and _iri_text(activity_type)
            ):
                return None
        result = get("result")
        score_scaled = success = completion = duration_seconds = None
        if result is not None:
            if type(result) is not dict:
                return None
            score = result.get("score")
            if score is not None:
                if type(score) is not dict:
                    return None
                scaled = score.get("scaled")
                if scaled is not None:
                    if type(scaled) not in (float, int) or not -1 <= scaled <= 1:
                        return None
                    score_scaled = float(scaled)
            success, completion = result.get("success"), result.get("completion")
            if (success is not None and type(success) is not bool) or (
                completion is not None and type(completion) is not bool
            ):
                return None
            duration = result.get("duration")
            if duration is not None:
                if type(duration) is not str:
                    return None
                duration_seconds = _common_duration(duration)
                if duration_seconds is None:
                    return None
        context = get("context")
        knowledge_points = item_difficulty = None
        if context is not None:
            if type(context) is not dict:
                return None
            extensions = context.get("extensions")
            if extensions is not None:
                if type(extensions) is not dict:
                    return None
                points = extensions.get(KNOWLEDGE_POINTS_EXTENSION)
                if points is not None:
                    if type(points) is not list:
                        return None
                    knowledge_points = tuple(points)
                    if not all(type(point) is str and point for point in knowledge_points):
                        return None
                difficulty = extensions.get(ITEM_DIFFICULTY_EXTENSION)
                if difficulty is not None:
                    if type(difficulty) not in (float, int):
                        return None
                    item_difficulty = float(difficulty)
                    if not math.isfinite(item_difficulty):
                        return None
        raw_time, statement_id = get("timestamp"), get("id")
        if type(raw_time) is not str or type(statement_id) is not str:
            return None
        timestamp = _common_timestamp(raw_time)
        if timestamp is None or not UUID_PATTERN.fullmatch(statement_id):
            return None
        return (
            statement_id.lower(),
            member_key,
            verb_name,
            verb_id,
            object_id,
            _content_id(object_id),
            activity_type,
            score_scaled,
            success,
            completion,
            duration_seconds,
            knowledge_points,
            item_difficulty,
            timestamp,
        )

    def _checked_values(self, obj: object) -> StatementValues:
        """``values`` checking every field in turn, the first failure the reason."""
        if not isinstance(obj, dict):
            raise RecordError("statement: expected a JSON object")
        version = obj.get("version")
        if version is not None and not (version == "1.0" or str(version).startswith("1.0.")):
            raise RecordError(f"version: only xAPI 1.0.x is accepted, got {version!r}")
        verb = obj.get("verb")
        verb_id = verb.get("id") if isinstance(verb, dict) else None
        if not isinstance(verb_id, str) or not verb_id:
            raise RecordError("verb: missing verb.id")
        verb_name = KNOWN_VERBS.get(verb_id)
        if verb_name is None:
            raise RecordError(f"unknown verb {verb_id}")
        member_key = self._member_key(obj.get("actor"))
        object_id, content_id, activity_type = _activity(obj.get("object"))
        score_scaled, success, completion, duration_seconds = _result(obj.get("result"))
        knowledge_points, item_difficulty = _context(obj.get("context"))
        raw_time = obj.get("timestamp")
        if raw_time is None:
            raw_time = obj.get("stored")
            if raw_time is None:
                raise RecordError("timestamp: missing (and no stored time)")
        timestamp = parse_timestamp(raw_time, field_name="timestamp")
        return (
            _statement_id(obj),
            member_key,
            verb_name,
            verb_id,
            object_id,
            content_id,
            activity_type,
            score_scaled,
            success,
            completion,
            duration_seconds,
            knowledge_points,
            item_difficulty,
            timestamp,
        )

    def _member_key(self, actor: object) -> str:
        if not isinstance(actor, dict):
            raise RecordError("actor: missing (expected an Agent)")
        account = actor.get("account")
        if type(account) is dict and _only_account(actor):
            # fast path: an account already validated in this file
            known = self._accounts.get((account.get("homePage"), account.get("name")))
            if known is not None:
                return known
        kind, value = _inverse_functional_identifier(actor)
        cached = self._member_keys.get((kind, value))
        if cached is None:
            if kind == "account":
                cached = self._personal.member_key(value)
            else:
                cached = self._personal.pseudonymiser.pseudonym("member", value)
            self._member_keys[(kind, value)] = cached
        if kind == "account" and isinstance(account, dict):
            self._accounts[(account["homePage"], account["name"])] = cached
        return cached


@functools.lru_cache(maxsize=1 << 16)
def _common_duration(text: str) -> float | None:
    """``parse_duration(text)``, or None where it raises (a file holds few distinct ones)."""
    try:
        return parse_duration(text)
    except RecordError:
        return None


def _common_timestamp(text: str) -> datetime | None:
    """``parse_timestamp(text)`` where ``datetime.fromisoformat`` reads ``text`` as it is,
    else None. The same value: ``parse_timestamp`` only strips blanks and writes a ``Z``
    as ``+00:00`` before it, and shifting by the offset is ``astimezone(UTC)``."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.year not in YEARS_ACCEPTED:
        return None
    offset = parsed.utcoffset()
    return parsed if offset is None else (parsed - offset).replace(tzinfo=None)


def _only_account(actor: dict) -> bool:
    """An Agent whose one identifier is ``account`` (the common case), without its details."""
    return (
        actor.get("objectType", "Agent") == "Agent"
        and actor.get("mbox") is None
        and actor.get("mbox_sha1sum") is None
        and actor.get("openid") is None
    )


def _inverse_functional_identifier(actor: dict) -> tuple[str, str]:
    """``(kind, value)`` of the Agent's single identifier; messages never echo the value."""
    object_type = actor.get("objectType", "Agent")
    if object_type == "Group":
        raise RecordError("actor: a Group; only Agents (one member) are accepted")
    if object_type != "Agent":
        raise RecordError(f"actor: objectType must be Agent, got {str(object_type)[:40]!r}")
    present = [key for key in _INVERSE_FUNCTIONAL_IDENTIFIERS if actor.get(key) is not None]
    if len(present) != 1:
        found = ", ".join(present) or "none"
        raise RecordError(
            f"actor: an Agent needs exactly one identifier (account, mbox, mbox_sha1sum, "
            f"openid); found {found}"
        )
    kind = present[0]
    value = actor[kind]
    if kind == "account":
        if not isinstance(value, dict):
            raise RecordError("actor: account must be an object with homePage and name")
        if not _is_iri(value.get("homePage")):
            raise RecordError("actor: account.homePage must be an IRI")
        name = value.get("name")
        if not isinstance(name, str) or not name.strip():
            raise RecordError("actor: account.name missing")
        return kind, name
    if not isinstance(value, str):
        raise RecordError(f"actor: {kind} must be a string")
    if kind == "mbox" and not (value.startswith("mailto:") and "@" in value):
        raise RecordError("actor: mbox must be a mailto: IRI")
    if kind == "mbox_sha1sum" and not SHA1_HEX_PATTERN.fullmatch(value):
        raise RecordError("actor: mbox_sha1sum must be 40 hexadecimal digits")
    if kind == "openid" and not _is_iri(value):
        raise RecordError("actor: openid must be a URI")
    return kind, value


def _statement_id(obj: dict) -> str:
    statement_id = obj.get("id")
    if statement_id is None:
        canonical = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
        return str(uuid.uuid5(STATEMENT_ID_NAMESPACE, canonical.decode()))
    if not isinstance(statement_id, str) or not UUID_PATTERN.fullmatch(statement_id):
        raise RecordError(f"id: not a UUID: {str(statement_id)[:60]!r}")
    return statement_id.lower()


def _activity(activity: object) -> tuple[str, str | None, str | None]:
    """``(object_id, content_id, activity_type)`` of the statement's object."""
    if not isinstance(activity, dict):
        raise RecordError("object: missing (expected an Activity)")
    object_type = activity.get("objectType", "Activity")
    if object_type != "Activity":
        raise RecordError(f"object: only Activities are accepted, got {str(object_type)[:40]!r}")
    object_id = activity.get("id")
    if object_id is None or object_id == "":
        raise RecordError("object: missing object id")
    if not _is_iri(object_id):
        raise RecordError(f"object: id is not an IRI: {str(object_id)[:80]!r}")
    content_id = _content_id(object_id)
    definition = activity.get("definition")
    activity_type = None
    if definition is not None:
        if not isinstance(definition, dict):
            raise RecordError("object: definition must be an object")
        activity_type = definition.get("type")
        if activity_type is not None and not _is_iri(activity_type):
            raise RecordError(f"object: definition.type is not an IRI: {activity_type!r}")
    return object_id, content_id, activity_type


def _result(result: object) -> tuple[float | None, bool | None, bool | None, float | None]:
    """``(score_scaled, success, completion, duration_seconds)``; all null without a result."""
    if result is None:
        return None, None, None, None
    if not isinstance(result, dict):
        raise RecordError("result: expected an object")
    score_scaled = None
    score = result.get("score")
    if score is not None:
        if not isinstance(score, dict):
            raise RecordError("result.score: expected an object")
        scaled = score.get("scaled")
        if scaled is not None:
            score_scaled = _scaled_score(scaled)
    success = _optional_bool(result.get("success"), "result.success")
    completion = _optional_bool(result.get("completion"), "result.completion")
    duration = result.get("duration")
    duration_seconds = None if duration is None else parse_duration(duration)
    return score_scaled, success, completion, duration_seconds


def _scaled_score(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(f"result.score.scaled: expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise RecordError(f"result.score.scaled: not a finite number: {value!r}")
    if not -1.0 <= number <= 1.0:
        raise RecordError(f"result.score.scaled: {number} is outside [-1, 1]")
    return number


def _optional_bool(value: object, field_name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise RecordError(f"{field_name}: expected true or false, got {value!r}")


def _context(context: object) -> tuple[tuple[str, ...] | None, float | None]:
    """``(knowledge_points, item_difficulty)`` from the Lodestar context extensions."""
    if context is None:
        return None, None
    if not isinstance(context, dict):
        raise RecordError("context: expected an object")
    extensions = context.get("extensions")
    if extensions is None:
        return None, None
    if not isinstance(extensions, dict):
        raise RecordError("context.extensions: expected an object")
    knowledge_points = _knowledge_points(extensions.get(KNOWLEDGE_POINTS_EXTENSION))
    difficulty = extensions.get(ITEM_DIFFICULTY_EXTENSION)
    if difficulty is not None:
        if isinstance(difficulty, bool) or not isinstance(difficulty, (int, float)):
            raise RecordError(f"item difficulty extension: expected a number, got {difficulty!r}")
        difficulty = float(difficulty)
        if not math.isfinite(difficulty):
            raise RecordError("item difficulty extension: not a finite number")
    return knowledge_points, difficulty


def _knowledge_points(value: object) -> tuple[str, ...] | None:
    """The extension's ids as a tuple (a tuple of strings is not tracked by the GC)."""
    if value is None:
        return None
    if isinstance(value, list):
        ids = tuple(value)
        try:
            "".join(ids)  # TypeError unless every id is a string
        except TypeError:
            pass
        else:
            if "" not in ids:
                return ids
    raise RecordError("knowledge points extension: expected a list of non-empty strings")


def _is_iri(value: object) -> bool:
    return isinstance(value, str) and _iri_text(value)


@functools.lru_cache(maxsize=1 << 16)
def _iri_text(text: str) -> bool:
    return IRI_PATTERN.fullmatch(text) is not None


@functools.lru_cache(maxsize=1 << 16)
def _content_id(object_id: str) -> str | None:
    match = CONTENT_ID_PATTERN.search(object_id)
    return match.group(1) if match else None


def _explain_malformed(raw: str, error: RecordError) -> RecordError:
    """Name the field when a line fails only for a NaN/Infinity literal (not JSON, but common)."""
    if "NaN" not in raw and "Infinity" not in raw:
        return error
    try:
        obj = json.loads(raw)
    except ValueError:
        return error
    where = _non_finite_path(obj, "")
    if where is None:
        return error
    return RecordError(f"malformed JSON: NaN/Infinity at {where} is not a JSON number")


def _non_finite_path(value: object, prefix: str) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return prefix or "(top level)"
    children: Iterator[tuple[str, object]]
    if isinstance(value, dict):
        children = ((str(key), item) for key, item in value.items())
    elif isinstance(value, list):
        children = ((str(index), item) for index, item in enumerate(value))
    else:
        return None
    for key, item in children:
        found = _non_finite_path(item, f"{prefix}.{key}" if prefix else key)
        if found is not None:
            return found
    return None
