"""pyKT CSV → xAPI: the statements ingest with nothing quarantined and match the fast path."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.security import PersonalData
from features.learning.kt_features import build_events
from features.learning.pykt_events import events_from_pykt
from ingest.readers.pykt import (
    PyktFormatError,
    read_pykt,
    write_xapi_jsonl,
)
from ingest.readers.xapi import read_xapi_statements
from store.schema import STATEMENTS

CSV = 'fold,uid,concepts,responses\n0,7,"3,3,5_9,-1","1,0,1,-1"\n1,8,"5,3","0,1"\n'


@pytest.fixture
def pykt_csv(tmp_path: Path) -> Path:
    path = tmp_path / "seqs.csv"
    path.write_text(CSV)
    return path


def test_reading_drops_padding_and_synthesises_ordered_times(pykt_csv: Path) -> None:
    responses = read_pykt(pykt_csv)
    assert len(responses) == 5
    first = responses[responses["uid"] == "7"]
    assert first["time"].is_monotonic_increasing
    assert first["response"].tolist() == [True, False, True]


def test_round_trip_through_the_xapi_reader(
    pykt_csv: Path, tmp_path: Path, personal: PersonalData
) -> None:
    out = tmp_path / "statements.jsonl"
    assert write_xapi_jsonl(pykt_csv, out) == 5
    chunks = list(read_xapi_statements(out, personal))
    assert sum(len(chunk.quarantined) for chunk in chunks) == 0
    statements = pd.concat([chunk.tables[STATEMENTS.name] for chunk in chunks])
    assert len(statements) == 5
    assert (statements["verb"] == "answered").all()
    via_xapi = build_events(statements)
    direct = events_from_pykt(pykt_csv)
    assert len(via_xapi) == len(direct) == 6  # the two-concept response becomes two rows
    assert via_xapi["correct"].sum() == direct["correct"].sum() == 4
    assert sorted(via_xapi["kp_id"]) == sorted(direct["kp_id"])
    assert via_xapi.groupby("member_key").size().sort_values().tolist() == [2, 4]


def test_converting_twice_gives_the_same_ids(pykt_csv: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_xapi_jsonl(pykt_csv, first)
    write_xapi_jsonl(pykt_csv, second)
    assert first.read_bytes() == second.read_bytes()


def test_sequences_of_different_lengths_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text('fold,uid,concepts,responses\n0,1,"1,2","1"\n')
    with pytest.raises(PyktFormatError, match="differ in length"):
        read_pykt(path)


def test_real_assistments_file_reads(shared_data: Path) -> None:
    events = events_from_pykt(shared_data / "learning" / "assist2015" / "test.csv")
    assert events["member_key"].nunique() == 3818
    assert set(events["correct"].unique()) == {0.0, 1.0}
