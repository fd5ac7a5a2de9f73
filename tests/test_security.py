"""Pseudonyms and field encryption: stable, keyed, rotatable, tamper-evident."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from core.security import DecryptionError, FieldCipher, Pseudonymiser, normalise_identifier
from serving.platform.audit_journal import journal_dir_for
from serving.platform.auth import issue_token
from serving.settings import ServiceSettings
from tests.conftest import REPO_ROOT
from tests.serving.real_server import running_server, server_environment


def test_pseudonym_is_stable_keyed_and_namespaced() -> None:
    first, second = Pseudonymiser(b"a" * 32), Pseudonymiser(b"b" * 32)
    assert first.pseudonym("member", "E100001") == first.pseudonym("member", "E100001")
    assert first.pseudonym("member", "E100001") != second.pseudonym("member", "E100001")
    assert first.pseudonym("member", "E100001") != first.pseudonym("phone", "E100001")
    assert len(first.pseudonym("member", "E100001")) == 32


def test_fingerprint_matches_equal_values_written_differently() -> None:
    pseudonymiser = Pseudonymiser(os.urandom(32))
    assert pseudonymiser.fingerprint("phone", "138-0013 8000") == pseudonymiser.fingerprint(
        "phone", "13800138000"
    )
    assert pseudonymiser.fingerprint("phone", "  ") is None
    assert normalise_identifier(" ＡＢ-12 ") == "ab12"  # full-width folded by NFKC


def test_short_pseudonym_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Pseudonymiser(b"short")


def test_field_cipher_round_trip_and_no_plaintext() -> None:
    cipher = FieldCipher({"k1": os.urandom(32)}, "k1")
    token = cipher.encrypt("张三 13800138000", column="name_enc")
    assert token is not None
    assert "张三".encode() not in token
    assert b"13800138000" not in token
    assert cipher.decrypt(token, column="name_enc") == "张三 13800138000"
    assert cipher.encrypt(None, column="name_enc") is None
    # the same plaintext encrypts differently each time (random nonce)
    assert cipher.encrypt("x", column="c") != cipher.encrypt("x", column="c")


def test_ciphertext_is_bound_to_its_column_and_detects_tampering() -> None:
    cipher = FieldCipher({"k1": os.urandom(32)}, "k1")
    token = cipher.encrypt("13800138000", column="phone_enc")
    assert token is not None
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, column="name_enc")
    tampered = token[:-1] + bytes([token[-1] ^ 1])
    with pytest.raises(DecryptionError):
        cipher.decrypt(tampered, column="phone_enc")


def test_rotation_keeps_old_ciphertext_readable() -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    old = FieldCipher({"k1": old_key}, "k1")
    token = old.encrypt("李四", column="name_enc")
    assert token is not None
    rotated = FieldCipher({"k1": old_key, "k2": new_key}, "k2")
    assert rotated.decrypt(token, column="name_enc") == "李四"
    fresh = rotated.encrypt("李四", column="name_enc")
    assert fresh is not None
    assert FieldCipher.key_id_of(fresh) == "k2"
    with pytest.raises(DecryptionError, match="unknown field key"):
        FieldCipher({"k2": new_key}, "k2").decrypt(token, column="name_enc")


@contextmanager
def common_umask() -> Iterator[None]:
    """Start processes with the usual default umask (022), whatever this process's own: what
    Lodestar creates must be owner-only by itself."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _lodestar(*arguments: str) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LODESTAR_")}
    subprocess.run(
        [sys.executable, "-m", *arguments],
        cwd=REPO_ROOT,
        env=environment,
        check=True,
        capture_output=True,
        timeout=300,
    )


def _open_to_others(root: Path) -> list[str]:
    """``mode path`` of everything under ``root`` (itself included) with a group or other bit."""
    paths = [root, *root.rglob("*")]
    return [f"{p.stat().st_mode & 0o777:o} {p}" for p in paths if p.stat().st_mode & 0o077]


def test_the_data_command_line_writes_owner_only(tmp_path: Path) -> None:
    from lodestar.cli import main

    root = tmp_path / "lodestar"
    options = ["--data-dir", str(root / "data"), "--key-file", str(root / "keys" / "keys.json")]
    with common_umask():
        assert main(["demo", "--scale", "0.02", "--quiet", *options]) == 0
        assert os.umask(0o022) == 0o022  # the command gave its caller's umask back
    written = {p.relative_to(root).as_posix() for p in root.rglob("*")}
    assert {"keys/keys.json", "data/world/manifest.json", "data/truth/members.csv"} <= written
    assert "data/lodestar.duckdb" in written
    assert _open_to_others(root) == []


@pytest.mark.slow
def test_everything_lodestar_writes_is_owner_only(tmp_path: Path) -> None:
    """The real entry points in their own processes: ingestion, a training run that writes to
    the store, and the service answering one audited request."""
    root = tmp_path / "lodestar"
    data_dir, key_file = root / "data", root / "keys" / "keys.json"
    installation = ["--data-dir", str(data_dir), "--key-file", str(key_file), "--quiet"]
    settings = ServiceSettings(environment="test", data_dir=data_dir, key_file=key_file)
    with common_umask():
        _lodestar("lodestar.cli", "demo", "--scale", "0.02", *installation)
        _lodestar(
            "training.mastery", "train", "--n-estimators", "10", "--store-write", *installation
        )
        with running_server(server_environment(settings), tmp_path / "server.log") as (url, _):
            token = issue_token(settings.keyring(), "demo-admin", "admin", timedelta(minutes=5))
            answer = httpx.get(
                f"{url}/v1/store/summary", headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 200, answer.text
    written = {p.relative_to(root).as_posix() for p in root.rglob("*")}
    for expected in (
        "keys/keys.json",
        "data/world/learning/members.csv",
        "data/truth/members.csv",
        "data/lodestar.duckdb",
        "data/mlflow.db",
        "data/mlartifacts",
    ):
        assert expected in written
    assert any(name.endswith("input_example.json") for name in written)
    assert journal_dir_for(data_dir / "lodestar.duckdb").is_dir()
    assert _open_to_others(root) == []
