"""The store: schema from the classification, idempotent inserts, encrypted file."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from features.security import PersonalData
from features.store import QuarantineRecord, Store, StoreError, plaintext_present


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


def test_a_store_is_owner_only_whatever_the_callers_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        Store(tmp_path / "folder" / "store.duckdb", encryption_key=None).close()
    finally:
        os.umask(previous)
    assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "folder" / "store.duckdb").stat().st_mode & 0o777 == 0o600
