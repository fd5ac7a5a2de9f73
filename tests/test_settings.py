"""Settings: secrets from the environment or the key file, never defaults."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from core.settings import MissingSecretError, Settings, init_key_file, rotate_field_key


def test_missing_secrets_are_named(tmp_path: Path) -> None:
    settings = Settings(environment="test", key_file=tmp_path / "none.json")
    with pytest.raises(MissingSecretError, match=r"pseudonym_key.*lodestar keys init"):
        settings.keyring()


def test_key_file_is_private_and_complete(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.json"
    assert init_key_file(key_file) is True
    assert init_key_file(key_file) is False  # never overwritten by accident
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    keyring = Settings(environment="test", key_file=key_file).keyring()
    assert len(keyring.pseudonym_key) == 32
    assert len(keyring.field_keys[keyring.active_field_key_id]) == 32


def test_environment_overrides_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "keys.json"
    init_key_file(key_file)
    field_key = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("LODESTAR_FIELD_KEY", field_key)
    monkeypatch.setenv("LODESTAR_FIELD_KEY_ID", "hsm7")
    keyring = Settings(key_file=key_file).keyring()
    assert keyring.active_field_key_id == "hsm7"
    assert keyring.field_keys["hsm7"] == base64.b64decode(field_key)
    assert "k1" in keyring.field_keys  # the file's keys still decrypt older rows


def test_rotation_adds_an_active_key(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.json"
    init_key_file(key_file)
    new_id = rotate_field_key(key_file)
    keyring = Settings(key_file=key_file).keyring()
    assert keyring.active_field_key_id == new_id != "k1"
    assert set(keyring.field_keys) == {"k1", new_id}


def test_paths_derive_from_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_store_path == tmp_path / "lodestar.duckdb"
    assert settings.resolved_world_dir == tmp_path / "world"
    assert settings.resolved_mlflow_tracking_uri.startswith("sqlite:///")


def test_production_refuses_weak_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "keys.json"
    init_key_file(key_file)
    assert Settings(environment="production", key_file=key_file).keyring()  # strong: accepted
    monkeypatch.setenv("LODESTAR_STORE_KEY", "changeme")
    monkeypatch.setenv("LODESTAR_TOKEN_SIGNING_KEY", base64.b64encode(b"short").decode())
    with pytest.raises(MissingSecretError, match="store_key"):
        Settings(environment="production", key_file=key_file).keyring()
    assert Settings(environment="development", key_file=key_file).keyring()  # dev tolerates
