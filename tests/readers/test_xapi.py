"""xAPI 1.0.3 statements: validation, quarantine reasons, idempotent re-ingest, throughput."""

from __future__ import annotations

import contextlib
import gzip
import random
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from core.security import PersonalData
from ingest.readers.common import RecordError
from ingest.readers.xapi import (
    ITEM_DIFFICULTY_EXTENSION,
    KNOWLEDGE_POINTS_EXTENSION,
    KNOWN_VERBS,
    STATEMENT_ID_NAMESPACE,
    parse_duration,
    parse_statement,
    read_xapi_statements,
)
from ingest.run import ingest_file
from store.database import Store
from store.queries.ingest import CHECKPOINT_GROWTH, MIN_CHECKPOINT_BYTES, pace_checkpoints

HOME = "https://study.lodestar.invalid"
VERBS = ("launched", "experienced", "completed", "answered", "passed", "failed")


def make_statement(rng: random.Random, **overrides: object) -> dict:
    """A realistic statement from the study platform; ``overrides`` replace top-level keys."""
    verb = rng.choice(VERBS)
    content = f"C{rng.randrange(500):04d}"
    question = verb == "answered"
    object_id = f"{HOME}/content/{content}" + (
        f"/questions/{rng.randrange(1, 11)}" if question else ""
    )
    extensions: dict[str, object] = {
        KNOWLEDGE_POINTS_EXTENSION: [
            f"KP{rng.randrange(60):02d}" for _ in range(rng.randrange(1, 3))
        ]
    }
    if question:
        extensions[ITEM_DIFFICULTY_EXTENSION] = round(rng.random(), 3)
    moment = datetime(2025, 1, 1) + timedelta(seconds=rng.randrange(31_000_000))
    statement: dict[str, object] = {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "actor": {
            "objectType": "Agent",
            "name": "学员",
            "account": {"homePage": HOME, "name": f"E{rng.randrange(200):05d}"},
        },
        "verb": {"id": f"http://adlnet.gov/expapi/verbs/{verb}", "display": {"zh-CN": verb}},
        "object": {
            "objectType": "Activity",
            "id": object_id,
            "definition": {
                "type": "http://adlnet.gov/expapi/activities/"
                + ("cmi.interaction" if question else "lesson"),
                "name": {"zh-CN": "招标投标法实施条例解读"},
            },
        },
        "timestamp": moment.isoformat() + "+08:00",
        "context": {"platform": "lodestar-study", "extensions": extensions},
    }
    if verb in ("answered", "passed", "failed", "completed"):
        statement["result"] = {
            "score": {"scaled": round(rng.random(), 2)},
            "success": rng.random() < 0.6,
            "completion": True,
            "duration": f"PT{rng.randrange(30, 900)}.{rng.randrange(10)}S",
        }
    statement.update(overrides)
    return statement


def write_lines(path: Path, lines: list[object]) -> Path:
    with path.open("wb") as handle:
        for line in lines:
            handle.write(line if isinstance(line, bytes) else orjson.dumps(line))
            handle.write(b"\n")
    return path


def quarantine_reasons(store: Store) -> dict[int, str]:
    frame = store.query("SELECT source_line, reason FROM quarantine ORDER BY source_line")
    return dict(zip(frame["source_line"].tolist(), frame["reason"].tolist(), strict=True))


def test_good_statements_are_stored_with_their_values(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    statement = {
        "id": "6F2A6B4E-1C1A-4E5B-9B1F-3C2D1E0F9A8B",
        "actor": {"account": {"homePage": HOME, "name": "E00042"}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/answered"},
        "object": {
            "id": f"{HOME}/content/C0123/questions/3",
            "definition": {"type": "http://adlnet.gov/expapi/activities/cmi.interaction"},
        },
        "result": {
            "score": {"scaled": -0.5},
            "success": False,
            "completion": True,
            "duration": "P1DT1H2M3.5S",
        },
        "context": {
            "extensions": {
                KNOWLEDGE_POINTS_EXTENSION: ["KP01", "KP07"],
                ITEM_DIFFICULTY_EXTENSION: 0.75,
            }
        },
        "timestamp": "2025-03-01T08:30:00+08:00",
    }
    path = write_lines(tmp_path / "statements.jsonl", [statement])

    report = ingest_file(store, personal, "xapi", path)

    assert (report.records_in, report.accepted, report.quarantined) == (1, 1, 0)
    row = store.query("SELECT * FROM statements").iloc[0]
    assert row["statement_id"] == "6f2a6b4e-1c1a-4e5b-9b1f-3c2d1e0f9a8b"
    assert row["member_key"] == personal.member_key("E00042")
    assert row["verb"] == "answered"
    assert row["content_id"] == "C0123"
    assert row["score_scaled"] == -0.5
    assert not row["success"]
    assert row["duration_seconds"] == pytest.approx(86_400 + 3_600 + 120 + 3.5)
    assert list(row["knowledge_points"]) == ["KP01", "KP07"]
    assert row["item_difficulty"] == 0.75
    assert row["timestamp"] == datetime(2025, 3, 1, 0, 30)  # +08:00 -> UTC
    assert row["source_file"] == "statements.jsonl"
    assert row["source_line"] == 1


def test_faults_are_quarantined_with_reasons_and_the_rest_is_kept(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    rng = random.Random(3)
    good = make_statement(rng)
    score_15 = make_statement(rng, verb={"id": "http://adlnet.gov/expapi/verbs/passed"})
    score_15["result"] = {"score": {"scaled": 1.5}}
    bad_duration = make_statement(rng)
    bad_duration["result"] = {"duration": "PT1H2X"}
    nan_score = orjson.dumps(make_statement(rng, result={"score": {"scaled": 0.5}})).replace(
        b'"scaled":0.5', b'"scaled":NaN'
    )
    two_identifiers = make_statement(
        rng,
        actor={"mbox": "mailto:a@lodestar.invalid", "account": {"homePage": HOME, "name": "E1"}},
    )
    faults: dict[str, object] = {
        "malformed JSON": b'{"id": "not closed"',
        "actor": make_statement(rng, actor=None),
        "unknown verb http://adlnet.gov/expapi/verbs/voided": make_statement(
            rng, verb={"id": "http://adlnet.gov/expapi/verbs/voided"}
        ),
        "outside [-1, 1]": score_15,
        "NaN": nan_score,
        "duration": bad_duration,
        "timestamp": make_statement(rng, timestamp="2025-13-45T99:00:00Z"),
        "object id": make_statement(rng, object={"objectType": "Activity"}),
        "exactly one identifier": two_identifiers,
    }
    lines: list[object] = [good, *faults.values(), make_statement(rng)]
    path = write_lines(tmp_path / "statements.jsonl", lines)

    report = ingest_file(store, personal, "xapi", path)

    assert report.records_in == len(lines) == report.accepted + report.quarantined
    assert (report.accepted, report.quarantined) == (2, len(faults))
    assert store.count("statements") == 2
    reasons = quarantine_reasons(store)
    for line_no, key_word in enumerate(faults, start=2):
        assert key_word in reasons[line_no], (key_word, reasons[line_no])
    assert "score" in reasons[6]  # the NaN is named where it is
    assert "E1" not in reasons[10]  # no personal data in reasons
    assert "mailto" not in reasons[10]


def test_reingest_adds_nothing(tmp_path: Path, store: Store, personal: PersonalData) -> None:
    rng = random.Random(5)
    lines: list[object] = [make_statement(rng) for _ in range(50)] + [b"not json"]
    path = write_lines(tmp_path / "statements.jsonl", lines)

    first = ingest_file(store, personal, "xapi", path)
    counts = store.table_counts()
    second = ingest_file(store, personal, "xapi", path)

    assert (first.new_rows, second.new_rows) == (50, 0)
    assert second.quarantined == 1
    after = store.table_counts()
    assert {k: v for k, v in after.items() if k != "ingest_runs"} == {
        k: v for k, v in counts.items() if k != "ingest_runs"
    }


def test_missing_id_gets_a_deterministic_uuid5(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    statement = make_statement(random.Random(9))
    del statement["id"]
    canonical = orjson.dumps(statement, option=orjson.OPT_SORT_KEYS).decode()
    expected = str(uuid.uuid5(STATEMENT_ID_NAMESPACE, canonical))
    # the same statement with keys in another order and spaces: the same canonical JSON
    reordered = orjson.loads(orjson.dumps(dict(reversed(list(statement.items())))))

    assert parse_statement(statement, personal)["statement_id"] == expected
    path_a = write_lines(tmp_path / "a.jsonl", [statement])
    path_b = tmp_path / "b.jsonl"
    path_b.write_text(orjson.dumps(reordered).decode().replace(",", ", ") + "\n", encoding="utf-8")
    ingest_file(store, personal, "xapi", path_a)
    second = ingest_file(store, personal, "xapi", path_b)

    assert second.accepted == 1
    assert second.new_rows == 0
    assert store.query("SELECT statement_id FROM statements")["statement_id"].tolist() == [expected]


def test_duplicate_statement_id_in_one_file_is_quarantined(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    statement = make_statement(random.Random(11))
    path = write_lines(tmp_path / "statements.jsonl", [statement, statement])

    report = ingest_file(store, personal, "xapi", path)

    assert (report.accepted, report.quarantined) == (1, 1)
    assert "duplicate" in quarantine_reasons(store)[2]


def test_twenty_thousand_statements_keep_unique_ids_and_counts(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    rng = random.Random(13)
    n = 20_000
    path = tmp_path / "statements.jsonl.gz"
    with gzip.open(path, "wb") as handle:
        for _ in range(n):
            handle.write(orjson.dumps(make_statement(rng)) + b"\n")

    report = ingest_file(store, personal, "xapi", path)

    assert (report.records_in, report.accepted, report.new_rows) == (n, n, n)
    distinct = store.query("SELECT count(DISTINCT statement_id) AS n FROM statements")["n"][0]
    assert distinct == n
    members = store.query("SELECT count(DISTINCT member_key) AS n FROM statements")["n"][0]
    assert 150 <= members <= 200  # 200 accounts in the generator, one pseudonym each


def test_chunks_add_up_and_match_the_schema(tmp_path: Path, personal: PersonalData) -> None:
    rng = random.Random(17)
    path = write_lines(
        tmp_path / "s.jsonl", [make_statement(rng), b"[1, 2]", make_statement(rng, verb={})]
    )
    chunks = list(read_xapi_statements(path, personal))
    assert sum(c.records_in for c in chunks) == 3
    for chunk in chunks:
        chunk.check()
    from store.schema import STATEMENTS

    assert list(chunks[0].tables["statements"].columns) == STATEMENTS.column_names
    assert [q.source_line for q in chunks[0].quarantined] == [2, 3]
    assert chunks[0].quarantined[0].record == "[1, 2]"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT0S", 0.0),
        ("PT4.5S", 4.5),
        ("PT1H", 3600.0),
        ("PT2M3S", 123.0),
        ("P2D", 172_800.0),
        ("P1DT0.25S", 86_400.25),
    ],
)
def test_parse_duration_accepts_day_time_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["PT1H2X", "P", "PT", "P1DT", "P1Y", "P1M", "P1W", "PT1.5H", "1H", "PT-1S", 30]
)
def test_parse_duration_refuses_the_rest(text: object) -> None:
    with pytest.raises(RecordError, match="duration"):
        parse_duration(text)


def test_actor_identifiers_and_verbs(personal: PersonalData) -> None:
    rng = random.Random(19)
    by_mbox = parse_statement(
        make_statement(rng, actor={"mbox": "mailto:x@lodestar.invalid"}), personal
    )
    assert by_mbox["member_key"] == personal.pseudonymiser.pseudonym(
        "member", "mailto:x@lodestar.invalid"
    )
    for iri, short in KNOWN_VERBS.items():
        statement = make_statement(rng, verb={"id": iri})
        assert parse_statement(statement, personal)["verb"] == short
    group = {"objectType": "Group", "member": [], "mbox": "mailto:g@lodestar.invalid"}
    with pytest.raises(RecordError, match="Group"):
        parse_statement(make_statement(rng, actor=group), personal)
    with pytest.raises(RecordError, match="mbox"):
        parse_statement(make_statement(rng, actor={"mbox": "x@lodestar.invalid"}), personal)
    for scaled in (-1, 1, 0.0):
        statement = make_statement(rng, result={"score": {"scaled": scaled}})
        assert parse_statement(statement, personal)["score_scaled"] == scaled
    with pytest.raises(RecordError, match="score"):
        parse_statement(make_statement(rng, result={"score": {"scaled": "0.5"}}), personal)
    outside = make_statement(rng, object={"id": "https://elsewhere.invalid/course/7"})
    assert parse_statement(outside, personal)["content_id"] is None


def test_ingestion_paces_checkpoints_to_the_store_size(
    tmp_path: Path, store: Store, personal: PersonalData
) -> None:
    """A fixed 16 MiB log threshold made a big file's checkpoints quadratic (each rewrites the
    key indexes whole); after each chunk the threshold follows the store's size."""
    connection = store.connection
    connection.execute("CREATE TABLE filler AS SELECT md5(range::VARCHAR) AS h FROM range(6000000)")
    connection.execute("CHECKPOINT")
    used = _one_value(
        store,
        "SELECT used_blocks * block_size FROM pragma_database_size() "
        "WHERE database_name = current_database()",
    )
    assert used * CHECKPOINT_GROWTH > MIN_CHECKPOINT_BYTES  # the test store is big enough

    rng = random.Random(5)
    path = write_lines(tmp_path / "statements.jsonl", [make_statement(rng) for _ in range(50)])
    report = ingest_file(store, personal, "xapi", path)

    assert (report.records_in, report.accepted) == (50, 50)
    threshold = _one_value(store, "SELECT current_setting('checkpoint_threshold')")
    mib = float(str(threshold).removesuffix(" MiB"))
    assert mib * 2**20 == pytest.approx(CHECKPOINT_GROWTH * used, rel=0.01)
    assert pace_checkpoints(connection) >= MIN_CHECKPOINT_BYTES


def _one_value(store: Store, sql: str) -> Any:
    row = store.connection.execute(sql).fetchone()
    assert row is not None
    return row[0]


def _variants(rng: random.Random) -> list[object]:
    """Statements of the common shape and one field off it each: odd but valid values,
    wrong JSON types, out-of-range numbers, other timestamp and duration spellings."""
    base = make_statement(rng, result={"score": {"scaled": 0.5}, "duration": "PT30S"})
    actor = base["actor"]
    account = actor["account"]
    odd_values: dict[str, list[object]] = {
        "id": [None, 7, "not-a-uuid", "6F2A6B4E-1C1A-4E5B-9B1F-3C2D1E0F9A8B", ["x"]],
        "version": ["1.0", "1.0.3", "1.1.0", 1.0, None, ["1.0"]],
        "verb": [{"id": "urn:x:unknown"}, {"id": ["x"]}, {"id": {}}, "answered", None],
        "actor": [
            {**actor, "objectType": "Group"},
            {**actor, "mbox": "mailto:a@example.com"},
            {**actor, "mbox": None},
            {"account": {**account, "name": ["E1"]}},
            {"account": {**account, "homePage": {"x": 1}}},
            {"account": {**account, "name": "E99999"}},  # an account not seen before
            {"account": {**account, "homePage": "not an iri"}},
            {"objectType": "Agent", "account": account},
            [],
        ],
        "object": [
            {"id": f"{HOME}/content/C0001", "objectType": "Agent"},
            {"id": "no iri"},
            {"id": ""},
            {"id": f"{HOME}/content/C0001x"},
            {"id": f"{HOME}/content/C0001?x=1", "definition": None},
            {"id": f"{HOME}/a", "definition": {"type": "not an iri"}},
            {"id": f"{HOME}/a", "definition": {"type": None}},
            {"id": f"{HOME}/a", "definition": []},
            "x",
        ],
        "result": [
            None,
            {},
            {"score": {"scaled": 1}},
            {"score": {"scaled": -1.0}},
            {"score": {"scaled": 1.5}},
            {"score": {"scaled": True}},
            {"score": {"scaled": "0.5"}},
            {"score": {"scaled": None}},
            {"score": None, "success": None},
            {"score": []},
            {"success": 1},
            {"completion": "yes"},
            {"duration": "P1DT2H3M4.25S"},
            {"duration": "PT"},
            {"duration": "P1Y"},
            {"duration": 30},
            [],
        ],
        "context": [
            None,
            {},
            {"extensions": None},
            {"extensions": {KNOWLEDGE_POINTS_EXTENSION: []}},
            {"extensions": {KNOWLEDGE_POINTS_EXTENSION: ["KP01", ""]}},
            {"extensions": {KNOWLEDGE_POINTS_EXTENSION: ["KP01", 3]}},
            {"extensions": {KNOWLEDGE_POINTS_EXTENSION: "KP01"}},
            {"extensions": {ITEM_DIFFICULTY_EXTENSION: 2}},
            {"extensions": {ITEM_DIFFICULTY_EXTENSION: False}},
            {"extensions": {ITEM_DIFFICULTY_EXTENSION: "0.4"}},
            {"extensions": []},
            "x",
        ],
        "timestamp": [
            "2025-03-01T08:30:00Z",
            "2025-03-01T08:30:00z",
            "2025-03-01T08:30:00.123456-05:30",
            "2025-03-01T08:30:00.5+14:00",
            "2025-03-01 08:30:00",
            " 2025-03-01T08:30:00+08:00 ",
            "2025-03-01",
            "20250301T083000+0800",
            "1899-12-31T23:00:00-02:00",
            "2100-12-31T23:30:00-02:00",
            "2025-02-30T08:30:00Z",
            "yesterday",
            None,
            1740816000,
        ],
    }
    variants: list[object] = [base, [], "x", None]
    for key, values in odd_values.items():
        variants += [{**base, key: value} for value in values]
        variants.append({k: v for k, v in base.items() if k != key})
    variants.append({**{k: v for k, v in base.items() if k != "timestamp"}, "stored": "2025-01-01"})
    return variants


def test_the_common_path_gives_the_checked_values_or_declines(personal: PersonalData) -> None:
    """``_common_values`` (the path almost every statement takes) must store exactly what
    ``_checked_values`` would, and leave every statement it does not fully check to it."""
    from ingest.readers.xapi import _StatementParser

    rng = random.Random(16)
    parser = _StatementParser(personal)
    statements = [make_statement(rng) for _ in range(300)] + _variants(rng)
    for statement in statements:  # pseudonymise the accounts, as a file's first lines do
        with contextlib.suppress(RecordError, TypeError):
            parser.values(statement)
    taken = 0
    for statement in statements:
        try:
            checked: object = parser._checked_values(statement)
        except (RecordError, TypeError) as error:
            checked = error
        common = parser._common_values(statement)
        if common is not None:
            taken += 1
            assert common == checked, statement
            assert [type(v) for v in common] == [type(v) for v in checked], statement
    assert taken > 300  # the generated statements and the valid variants
