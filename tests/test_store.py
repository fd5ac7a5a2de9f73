"""The store: schema from the classification, idempotent inserts, encrypted file."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from core.security import PersonalData
from store.database import QuarantineRecord, Store, StoreError, plaintext_present


def _kp_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "kp_id": ["KP01", "KP02"],
            "name_zh": ["党章党规", "招标投标法"],
            "name_en": ["party rules", "bidding law"],
            "domain": ["party", "law"],
            "source_file": "kp.csv",
            "source_line": [2, 3],
            "ingested_at": pd.Timestamp("2025-01-01"),
        }
    )


def test_insert_new_is_idempotent(store: Store) -> None:
    assert store.insert_new("knowledge_points", _kp_frame()) == 2
    assert store.insert_new("knowledge_points", _kp_frame()) == 0
    assert store.count("knowledge_points") == 2


def test_unknown_columns_and_bad_types_fail_loudly(store: Store) -> None:
    with pytest.raises(StoreError, match="unknown columns"):
        store.insert_new("knowledge_points", _kp_frame().assign(extra=1))
    bad = pd.DataFrame({"kp_id": ["KP9"], "source_line": ["not a number"]})
    with pytest.raises(Exception, match=r"Conversion Error|Could not convert"):
        store.insert_new("knowledge_points", bad)


def test_quarantine_is_encrypted_and_keyed(store: Store, personal: PersonalData) -> None:
    record = QuarantineRecord("members", "m.csv", "abc", 7, "bad phone", "王五,13912345678")
    assert store.quarantine([record], personal.cipher) == 1
    assert store.quarantine([record], personal.cipher) == 0
    token = store.query("SELECT record_enc FROM quarantine")["record_enc"][0]
    assert personal.cipher.decrypt(token, column="record_enc") == "王五,13912345678"
    store.checkpoint()
    assert plaintext_present(store.path, ["王五", "13912345678"]) == []


def test_whole_file_is_encrypted(tmp_path: Path) -> None:
    plain_path, encrypted_path = tmp_path / "plain.duckdb", tmp_path / "enc.duckdb"
    for path, key in ((plain_path, None), (encrypted_path, "a-store-key")):
        with Store(path, encryption_key=key) as opened:
            opened.insert_new("knowledge_points", _kp_frame())
            opened.checkpoint()
    # the test can fail: the same rows are visible in an unencrypted file
    assert plaintext_present(plain_path, ["招标投标法"]) == ["招标投标法"]
    assert plaintext_present(encrypted_path, ["招标投标法", "bidding law"]) == []
    with Store(encrypted_path, encryption_key="a-store-key", read_only=True) as reopened:
        assert reopened.count("knowledge_points") == 2
    with pytest.raises(StoreError):
        Store(encrypted_path, encryption_key="the-wrong-key", read_only=True)


def test_read_only_store_must_exist(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="lodestar ingest"):
        Store(tmp_path / "missing.duckdb", encryption_key=None, read_only=True)


def _awards_frame(related_lots: list[list[str]]) -> pd.DataFrame:
    count = len(related_lots)
    return pd.DataFrame(
        {
            "ocid": [f"ocds-x-{i:06d}" for i in range(count)],
            "award_id": ["a1"] * count,
            "award_date": pd.Timestamp("2025-03-01 08:00"),
            "status": "active",
            "value_amount": 1000.0,
            "value_currency": "CNY",
            "supplier_ids": [["SUP-1"]] * count,
            "related_lots": related_lots,
            "related_bid": None,
            "source_file": "releases.jsonl",
            "source_line": list(range(1, count + 1)),
            "ingested_at": pd.Timestamp("2025-03-02"),
        }
    )


def test_a_list_column_empty_on_its_first_thousands_of_rows_keeps_its_rare_values(
    store: Store,
) -> None:
    """Lots are rare in real OCDS: the column's type must come from the schema, not from a
    sample of rows that are all empty lists."""
    lots: list[list[str]] = [[] for _ in range(14_023)] + [["lot-1"], ["lot-2", "lot-3"], ["x"]]
    assert store.insert_new("awards", _awards_frame(lots)) == len(lots)
    stored = store.query(
        "SELECT related_lots FROM awards WHERE len(related_lots) > 0 ORDER BY ocid"
    )
    assert [list(value) for value in stored["related_lots"]] == [
        ["lot-1"],
        ["lot-2", "lot-3"],
        ["x"],
    ]


def test_a_column_null_on_all_but_a_few_rows_is_typed_by_the_schema(store: Store) -> None:
    frame = _awards_frame([[] for _ in range(5_000)])
    frame["related_bid"] = [None] * 4_998 + ["bid-1", "bid-2"]
    frame["value_currency"] = [None] * 4_999 + ["USD"]
    assert store.insert_new("awards", frame) == 5_000
    assert store.query("SELECT count(related_bid) AS n FROM awards")["n"][0] == 2
    assert store.query("SELECT count(value_currency) AS n FROM awards")["n"][0] == 1


def test_an_all_null_object_column_is_stored_as_nulls(store: Store) -> None:
    frame = _awards_frame([["lot"]] * 3)
    frame["award_date"] = pd.Series([None, None, None], dtype=object)
    frame["supplier_ids"] = pd.Series([None, None, None], dtype=object)
    assert store.insert_new("awards", frame) == 3
    assert store.query("SELECT count(award_date) AS n FROM awards")["n"][0] == 0


def test_a_store_is_owner_only_whatever_the_callers_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        Store(tmp_path / "folder" / "store.duckdb", encryption_key=None).close()
    finally:
        os.umask(previous)
    assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "folder" / "store.duckdb").stat().st_mode & 0o777 == 0o600
