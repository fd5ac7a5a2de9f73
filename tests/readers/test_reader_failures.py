"""A reader's own failure never loses the good rows: per record, and for the rest of a file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ingest.readers.common import FILE_LEVEL_LINE, ReadChunk
from ingest.readers.tabular import iter_csv_records, read_chunks
from ingest.run import _chunks_or_failure


def _knowledge_point_or_crash(record: object) -> tuple[object, ...]:
    """A row parser with a bug: ``int()`` on a value it should not convert."""
    assert isinstance(record, dict)
    return (record["kp_id"], record["name_zh"], None, str(int(record["domain"])))


def test_an_unexpected_exception_on_one_row_quarantines_that_row_only(tmp_path: Path) -> None:
    path = tmp_path / "kp.csv"
    path.write_text("kp_id,name_zh,domain\nKP1,甲,1\nKP2,乙,私密值\nKP3,丙,3\n", encoding="utf-8")
    records = iter_csv_records(
        path, {"kp_id": "kp_id", "name_zh": "name_zh", "domain": "domain"}, required=("kp_id",)
    )

    (chunk,) = read_chunks(
        "knowledge_points", path, "knowledge_points", records, _knowledge_point_or_crash
    )

    chunk.check()
    assert chunk.tables["knowledge_points"]["kp_id"].tolist() == ["KP1", "KP3"]
    (quarantined,) = chunk.quarantined
    assert (quarantined.source_line, quarantined.reason) == (
        3,
        "reader failed on this record (ValueError)",
    )
    assert "私密值" not in quarantined.reason  # the message may quote personal values


def test_a_reader_failing_mid_file_keeps_what_it_read(tmp_path: Path) -> None:
    path = tmp_path / "any.csv"
    path.write_text("a\n1\n2\n", encoding="utf-8")

    def failing_reader() -> Iterator[ReadChunk]:
        yield ReadChunk("members", path.name, "sha", records_in=2, accepted=2)
        raise KeyError("a bug")

    chunks = list(_chunks_or_failure(failing_reader(), "members", path))

    assert [chunk.records_in for chunk in chunks] == [2, 1]
    (rest,) = chunks[1].quarantined
    assert rest.source_line == FILE_LEVEL_LINE
    assert rest.reason.startswith("reader failed after 2 record(s) (KeyError)")
    assert rest.record == "a\n1\n2\n"
    chunks[1].check()
