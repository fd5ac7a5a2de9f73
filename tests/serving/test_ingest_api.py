"""Ingestion through the running service: every reader's kind through ``POST /v1/ingest``,
counts that add up, nothing stored twice, the integration role, bad files quarantined, an
updated release replacing its process, OCDS pushed in pieces equal to a full build with new
warnings written, and ``lodestar ingest`` sending to a real server. Real stores, real
registry, the real app."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.security import PersonalData
from features.online.source import PushOutcome
from features.procurement.build import build_process_features, feature_frame, process_features
from features.procurement.history import (
    PROCUREMENT_TABLES,
    ProcurementHistory,
    load_process_frames,
    load_procurement_frames,
    records_from_frames,
)
from ingest.readers.common import ReadChunk
from ingest.run import NOT_NEWER_WARNING, READERS, StoredChunk, ingest_run, store_chunk
from lodestar.cli import main
from serving.app import create_app
from serving.live.ingest import PHASES, SPOOL_DIR_NAME, live_frames, push_to_live_state
from serving.settings import ServiceSettings
from store.database import Store
from tests.online.test_procurement_source import RTOL
from tests.serving.conftest import bearer, make_settings
from tests.serving.installations import own_installation, served, store_of
from tests.serving.test_procurement_api import SMALL_OPTIONS
from training.procurement_risk import train
from world.layout import world_paths

INGEST = "/v1/ingest"
WITHHELD_DAYS = 30
PIECES = 4


def _world_files(small_installation: dict[str, str]) -> dict[str, Path]:
    world = Path(small_installation["LODESTAR_DATA_DIR"]) / "world"
    return dict(world_paths(world))


def _post(
    client: TestClient, kind: str, body: bytes, headers: dict[str, str], **params: str
) -> Any:
    return client.post(
        f"{INGEST}/{kind}",
        content=body,
        params=params,
        headers={**headers, "Content-Type": "application/octet-stream"},
    )


# --------------------------------------------------------------------------------------------
# An empty store: every kind, counts, idempotence, roles, bad input


@pytest.fixture
def empty_client(tmp_path: Path) -> Iterator[tuple[TestClient, ServiceSettings]]:
    from core.settings import init_key_file

    settings = make_settings(tmp_path)  # a body limit of 1 KiB for every other route
    init_key_file(settings.key_file)
    with TestClient(create_app(settings)) as client:
        yield client, settings


def _integration(settings: ServiceSettings) -> dict[str, str]:
    return bearer(settings.keyring(), "platform", "integration")


def test_every_kind_is_stored_once_with_counts_adding_up(
    empty_client: tuple[TestClient, ServiceSettings], small_installation: dict[str, str]
) -> None:
    client, settings = empty_client
    headers = _integration(settings)
    files = _world_files(small_installation)
    assert set(files) == set(READERS)
    for kind, path in files.items():
        answer = _post(client, kind, path.read_bytes(), headers, filename=path.name)
        assert answer.status_code == 200, answer.text
        run = answer.json()
        assert run["records_in"] == run["accepted"] + run["quarantined"], kind
        assert run["records_in"] > 0, kind
        assert run["new_rows"] > 0, kind
        assert run["source_file"] == path.name
        assert run["reader_ran_in"] == "thread"
        stored = client.get(f"{INGEST}/runs/{run['run_id']}", headers=headers).json()
        assert {k: stored[k] for k in ("records_in", "accepted", "quarantined", "new_rows")} == {
            k: run[k] for k in ("records_in", "accepted", "quarantined", "new_rows")
        }
        again = _post(client, kind, path.read_bytes(), headers, filename=path.name).json()
        assert again["new_rows"] == 0, kind
        assert again["records_in"] == run["records_in"], kind
        assert again["run_id"] != run["run_id"]
    with store_of(client) as store:
        assert store.count("ingest_runs") == 2 * len(files)
    spool = settings.data_dir / SPOOL_DIR_NAME
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    assert list(spool.iterdir()) == []  # every spooled file removed


def test_the_integration_role_may_only_ingest(
    empty_client: tuple[TestClient, ServiceSettings],
) -> None:
    client, settings = empty_client
    keyring = settings.keyring()
    body = b"kp_id,name\nKP1,Safety\n"
    assert _post(client, "knowledge_points", body, _integration(settings)).status_code == 200
    assert client.get(f"{INGEST}/runs", headers=_integration(settings)).status_code == 200
    admin = bearer(keyring, "ops", "admin")
    assert _post(client, "knowledge_points", body, admin).status_code == 200
    for role in ("member", "auditor", "security_auditor"):
        refused = _post(client, "knowledge_points", body, bearer(keyring, "E1001", role))
        assert refused.status_code == 403, role
        assert refused.json()["error"]["code"] == "forbidden"
    for path in ("/v1/procurement/alerts", "/v1/audit-log", "/v1/admin/snapshots"):
        assert client.get(path, headers=_integration(settings)).status_code == 403, path


def test_unknown_kind_empty_body_and_forms_are_refused(
    empty_client: tuple[TestClient, ServiceSettings],
) -> None:
    client, settings = empty_client
    headers = _integration(settings)
    assert _post(client, "spreadsheets", b"x", headers).status_code == 404
    empty = _post(client, "ocds", b"", headers)
    assert empty.status_code == 422
    assert empty.json()["error"]["code"] == "empty_body"
    form = client.post(
        f"{INGEST}/ocds", content=b"a=1", headers={**headers, "Content-Type": "multipart/form-data"}
    )
    assert form.status_code == 415
    # the other routes' 1 KiB limit does not apply here; the ingest limit does
    big = b'{"ocid": "ocds-x-1"}\n' * 200
    assert len(big) > 1024
    assert _post(client, "ocds", big, headers).status_code == 200


def test_the_ingest_limit_is_its_own(tmp_path: Path) -> None:
    from core.settings import init_key_file

    settings = make_settings(tmp_path, ingest_max_bytes=100)
    init_key_file(settings.key_file)
    with TestClient(create_app(settings)) as client:
        answer = _post(client, "ocds", b"x" * 101, _integration(settings))
    assert answer.status_code == 413


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("ocds", b'{"ocid": 12}\nnot json\n\xff\xfe\n[1, 2]\n'),
        ("members", b"PK\x03\x04 an Excel workbook"),
        ("supplier_events", b"\x00\x01\x02" * 50),
        ("xapi", b'{"actor": {}}\n{"verb": 1}\n'),
        ("catalogue", b"{not json"),
    ],
)
def test_malformed_files_are_quarantined_not_refused(
    empty_client: tuple[TestClient, ServiceSettings], kind: str, body: bytes
) -> None:
    client, settings = empty_client
    answer = _post(client, kind, body, _integration(settings), filename="bad.file")
    assert answer.status_code == 200, answer.text
    run = answer.json()
    assert run["quarantined"] > 0
    assert run["records_in"] == run["accepted"] + run["quarantined"]
    with store_of(client) as store:
        assert store.count("quarantine") == run["quarantined"]


def _release(ocid: str, date: str, amount: float, bids: list[str]) -> dict[str, Any]:
    return {
        "ocid": ocid,
        "id": f"{ocid}-{date}",
        "date": date,
        "tag": ["compiled"],
        "buyer": {"id": "B1", "name": "Buyer"},
        "tender": {"id": "T1", "value": {"amount": amount, "currency": "CNY"}},
        "bids": {
            "details": [{"id": bid, "value": {"amount": amount, "currency": "CNY"}} for bid in bids]
        },
    }


def _jsonl(*releases: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(release).encode() + b"\n" for release in releases)


def test_an_updated_release_replaces_its_process(
    empty_client: tuple[TestClient, ServiceSettings],
) -> None:
    client, settings = empty_client
    headers = _integration(settings)
    first = _release("ocds-x-1", "2025-03-01T00:00:00Z", 100.0, ["b1", "b2"])
    later = _release("ocds-x-1", "2025-03-09T00:00:00Z", 250.0, ["b3"])
    assert _post(client, "ocds", _jsonl(first), headers).json()["new_rows"] > 0
    updated = _post(client, "ocds", _jsonl(later), headers).json()
    assert updated["new_rows"] > 0
    with store_of(client) as store:
        process = store.query("SELECT * FROM processes")
        bids = store.query("SELECT bid_id, value_amount FROM bids ORDER BY bid_id")
    assert list(process["tender_value_amount"]) == [250.0]
    assert list(bids["bid_id"]) == ["b3"]  # the older release's bids are gone, not mixed in
    older = _post(client, "ocds", _jsonl(first), headers, filename="late.jsonl").json()
    assert older["new_rows"] == 0
    assert older["warnings"] == {NOT_NEWER_WARNING: 1}
    with store_of(client) as store:
        assert list(store.query("SELECT bid_id FROM bids")["bid_id"]) == ["b3"]


def test_a_chunks_returned_rows_are_its_processes_as_stored(
    tmp_path: Path, personal: PersonalData
) -> None:
    """What the live state gets after a commit, with no read-back, equals a read-back then: a
    new process, one replaced whole, and (read back) one grown without its ``processes``
    row."""
    source = tmp_path / "releases.jsonl"
    with Store(tmp_path / "plain.duckdb", encryption_key=None) as store:
        access = lambda: nullcontext(store)  # noqa: E731
        compared: list[StoredChunk] = []

        def same_as_read_back(stored: StoredChunk) -> None:
            expected = records_from_frames(load_process_frames(store, stored.touched_ocids))
            got = records_from_frames(live_frames(stored, access))
            assert [(r.ocid, r.digest) for r in got] == [(r.ocid, r.digest) for r in expected]
            compared.append(stored)

        first = _release("ocds-x-1", "2025-03-01T00:00:00Z", 100.0, ["b1", "b2"])
        later = _release("ocds-x-1", "2025-03-09T00:00:00Z", 250.0, ["b3"])
        other = _release("ocds-x-2", "2025-03-02T00:00:00Z", 80.0, ["c1"])
        for releases in [(first,), (later, other)]:
            source.write_bytes(_jsonl(*releases))
            ingest_run(
                access, personal, "ocds", source, after_commit=lambda c: same_as_read_back(c.stored)
            )
        # a reader that sends a stored process's bid without the process's row
        grown = ReadChunk("ocds", "bid.jsonl", "0" * 64, records_in=1, accepted=1)
        grown.tables["bids"] = pd.DataFrame(
            {"ocid": ["ocds-x-2"], "bid_id": ["c2"], "value_amount": [90.0]}
        )
        with store.transaction():
            stored = store_chunk(store, personal, grown)
        same_as_read_back(stored)
        assert [c.replaced_ocids for c in compared] == [(), ("ocds-x-1",), ()]
        assert stored.inserted_ocids == frozenset()
        assert [len(r.bids) for r in records_from_frames(live_frames(stored, access))] == [2]


# --------------------------------------------------------------------------------------------
# A store cut at a date, a champion, the later weeks pushed in pieces


@pytest.fixture(scope="module")
def cut_installation(
    small_installation: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[ServiceSettings, list[bytes]]:
    """The small installation without its last weeks' processes, a champion trained on the
    rest, and the world's release lines of the withheld processes, in file order."""
    settings = own_installation(small_installation, tmp_path_factory.mktemp("ingest-api"))
    with Store.open(settings, settings.keyring()) as store:
        last = store.query("SELECT max(release_date) AS last FROM processes")["last"].iloc[0]
        cut = pd.Timestamp(last) - timedelta(days=WITHHELD_DAYS)
        withheld = set(
            store.query("SELECT ocid FROM processes WHERE release_date >= ?", [cut])["ocid"]
        )
        with store.transaction():
            for table in PROCUREMENT_TABLES:
                store.connection.execute(
                    f'DELETE FROM "{table}" WHERE ocid IN (SELECT unnest(?::VARCHAR[]))',
                    [sorted(withheld)],
                )
        store.checkpoint()
    assert len(withheld) > 10
    lines = [
        line
        for line in _world_files(small_installation)["ocds"].read_bytes().splitlines(True)
        if json.loads(line).get("ocid") in withheld
    ]
    assert len({json.loads(line)["ocid"] for line in lines}) == len(withheld)
    trained = train(
        settings, SMALL_OPTIONS, tracking_uri=settings.resolved_mlflow_tracking_uri, quiet=True
    )
    assert trained.gate.promoted
    return settings, lines


def test_releases_pushed_in_pieces_equal_a_full_build_and_warn(
    cut_installation: tuple[ServiceSettings, list[bytes]],
) -> None:
    settings, lines = cut_installation
    with TestClient(create_app(settings)) as client:
        headers = _integration(settings)
        state = client.app.state.procurement  # type: ignore[attr-defined]
        assert state.risk is not None
        with store_of(client) as store:
            alerts_before = store.count("alerts")
        size = len(lines) // PIECES + 1
        answers = []
        for k in range(PIECES):
            piece = b"".join(lines[k * size : (k + 1) * size])
            answer = _post(client, "ocds", piece, headers, filename=f"piece-{k}.jsonl")
            assert answer.status_code == 200, answer.text
            answers.append(answer.json())
        assert sum(a["live"]["procurement"].get("new", 0) for a in answers) == len(
            {json.loads(line)["ocid"] for line in lines}
        )
        written = sum(a["live"]["procurement"].get("alerts_written", 0) for a in answers)
        assert written > 0, "the withheld weeks should hold some warnings"
        assert {a["live"]["model_version"] for a in answers} == {state.risk.version}
        for answer in answers:
            # ingestion (the chunk's commit) to alerts committed spans the live push, which
            # starts after the commit; every phase is timed
            live_answer = answer["live"]
            assert (
                0 < live_answer["push_to_alert_seconds"] <= live_answer["commit_to_alert_seconds"]
            )
            assert set(live_answer["phase_seconds"]) == set(PHASES)
            assert all(seconds >= 0 for seconds in live_answer["phase_seconds"].values())
            assert live_answer["phase_seconds"]["score"] > 0
        with store_of(client) as store:
            assert store.count("alerts") == alerts_before + written
            full = ProcurementHistory.from_frames(
                load_procurement_frames(store),
                settings=settings,
                personal=PersonalData(settings.keyring()),
            )
            ocids = sorted(full.ocid_codes)
            records = records_from_frames(load_process_frames(store, ocids))
        # the live history (kept without records) gives every process the features a fresh
        # full build on the store as it now is gives
        live = state.risk.history
        assert sorted(live.ocid_codes) == ocids
        pd.testing.assert_frame_equal(
            feature_frame([process_features(live, record) for record in records]),
            build_process_features(full, ocids=ocids),
            rtol=RTOL,
        )
        # posting a piece again changes nothing and warns about nothing new
        again = _post(client, "ocds", b"".join(lines[:size]), headers, filename="piece-0.jsonl")
        assert again.json()["new_rows"] == 0
        assert again.json()["live"]["pushes"] == 0


def test_lodestar_ingest_sends_to_the_running_service(
    cut_installation: tuple[ServiceSettings, list[bytes]],
    small_installation: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, lines = cut_installation
    monkeypatch.setenv("LODESTAR_STORE_PATH", str(tmp_path / "lodestar.duckdb"))  # the server's
    pushed = tmp_path / "weeks.jsonl"
    pushed.write_bytes(b"".join(lines))
    token = bearer(settings.keyring(), "platform", "integration")["Authorization"].split()[1]
    options = ["--data-dir", str(settings.data_dir), "--key-file", str(settings.key_file)]
    with served(settings, small_installation, tmp_path, startup_seconds=90) as url:
        code = main(
            [
                "ingest",
                "--kind",
                "ocds",
                str(pushed),
                *options,
                "--quiet",
                "--service-url",
                url,
                "--token",
                token,
            ]
        )
        printed = capsys.readouterr().out
        assert code == 0, printed
        assert f"sending to the running service at {url}" in printed
        assert "weeks.jsonl" in printed
        # without a token it would open the store itself, which the service holds
        assert main(["ingest", "--kind", "ocds", str(pushed), *options, "--service-url", url]) == 1
        refused = capsys.readouterr()
        assert "no token was given" in refused.out
        assert "in use by another process" in refused.err


def test_a_source_push_outcome_becomes_counts_in_the_answer_not_a_500() -> None:
    """The ESG and study hooks return their source's ``PushOutcome`` (holding the history):
    the answer gets its counts, and the push is not counted as failed."""
    outcome = PushOutcome(source="esg", new=("S1", "S2"), changed=("S3",), rows_in=7, version=4)
    app_state = SimpleNamespace(procurement=None, online_push=[lambda frames: outcome])

    live = push_to_live_state(app_state, {"supplier_events": pd.DataFrame({"a": [1]})})

    assert live.failed == []
    (summary,) = live.others.values()
    assert summary["source"] == "esg"
    assert (summary["new"], summary["changed"], summary["rows_in"]) == (2, 1, 7)
    assert json.loads(json.dumps(summary)) == summary
