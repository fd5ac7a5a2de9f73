"""Typed settings shared by every Lodestar deployable.

Settings are built explicitly (``Settings()`` reads ``LODESTAR_*`` environment variables),
never at import time. Secrets have no defaults: they come from the environment or from a key
file that ``lodestar keys init`` writes outside the repository (``.lodestar/keys.json`` by
default, git-ignored). Outside ``development`` and ``test`` a missing secret is an error.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]

DEFAULT_KEY_FILE = Path(".lodestar/keys.json")

OWNER_ONLY_UMASK = 0o077
"""Files 600 and folders 700: the store, MLflow's database and artefacts, the audit journal,
the demo world and truth, key files and reports are for the installation's owner only."""


@contextmanager
def owner_only_files() -> Iterator[None]:
    """Everything created inside is owner-only (``OWNER_ONLY_UMASK``); the process's umask is
    restored on exit. Every entry point (``lodestar``, ``python -m serving``, the training
    and bench commands) runs inside one. The umask is process-wide: threads started inside
    share it."""
    previous = os.umask(OWNER_ONLY_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def chmod_owner_only(*paths: Path) -> None:
    """Clear the group and other bits of each existing path (for files a library creates with
    a fixed mode, whatever the umask)."""
    for path in paths:
        if path.exists():
            path.chmod(path.stat().st_mode & 0o700)


class MissingSecretError(RuntimeError):
    """A secret the caller needs is configured nowhere."""


class Settings(BaseSettings):
    """Paths, business thresholds and secrets for one Lodestar installation.

    Environment variables use the prefix ``LODESTAR_`` (``LODESTAR_DATA_DIR=/srv/lodestar``).
    """

    model_config = SettingsConfigDict(env_prefix="LODESTAR_", extra="ignore")

    environment: Environment = "development"
    data_dir: Path = Path("data")
    store_path: Path | None = Field(
        default=None, description="DuckDB file; defaults to <data_dir>/lodestar.duckdb"
    )
    world_dir: Path | None = Field(default=None, description="defaults to <data_dir>/world")
    truth_dir: Path | None = Field(default=None, description="defaults to <data_dir>/truth")
    key_file: Path = DEFAULT_KEY_FILE
    encrypt_store: bool = Field(
        default=True, description="encrypt the whole DuckDB file (AES-GCM, httpfs extension)"
    )

    # Secrets: environment first, then the key file. Never defaults.
    pseudonym_key: SecretStr | None = None
    field_key: SecretStr | None = Field(
        default=None, description="the active AES-256-GCM key for personal fields, base64"
    )
    field_key_id: str | None = None
    store_key: SecretStr | None = None
    token_signing_key: SecretStr | None = None

    # Business rules that are the group's own choice (DOMAIN.md): CNY, inclusive lower bounds.
    approval_thresholds_cny: tuple[float, ...] = (50_000.0, 500_000.0)
    legal_tender_threshold_cny: float = 2_000_000.0
    minimum_tender_days: int = 20

    snapshot_keep: int = Field(
        default=5, ge=1, description="snapshots kept under <data_dir>/snapshots; older are pruned"
    )

    mlflow_tracking_uri: str | None = Field(
        default=None, description="defaults to sqlite:///<data_dir>/mlflow.db"
    )
    service_url: str = Field(
        default="http://127.0.0.1:8000",
        description="the running service `lodestar ingest` sends files to when it answers",
    )

    @property
    def resolved_store_path(self) -> Path:
        return self.store_path or self.data_dir / "lodestar.duckdb"

    @property
    def resolved_world_dir(self) -> Path:
        return self.world_dir or self.data_dir / "world"

    @property
    def resolved_truth_dir(self) -> Path:
        return self.truth_dir or self.data_dir / "truth"

    @property
    def resolved_mlflow_tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.data_dir.resolve() / 'mlflow.db'}"

    def keyring(self) -> Keyring:
        """All secrets, from the environment or else the key file; raises if one is missing."""
        stored = _read_key_file(self.key_file)
        field_keys = {kid: _b64(v) for kid, v in stored.get("field_keys", {}).items()}
        active_id = self.field_key_id or stored.get("active_field_key_id")
        if self.field_key is not None:
            active_id = active_id or "env"
            field_keys[active_id] = _b64(self.field_key.get_secret_value())
        values = {
            "pseudonym_key": _secret_or(self.pseudonym_key, stored.get("pseudonym_key")),
            "store_key": _secret_or(self.store_key, stored.get("store_key")),
            "token_signing_key": _secret_or(
                self.token_signing_key, stored.get("token_signing_key")
            ),
        }
        missing = [name for name, value in values.items() if not value]
        if not field_keys or active_id not in field_keys:
            missing.append("field_key")
        if missing:
            raise MissingSecretError(
                f"missing secret(s) {', '.join(missing)}: set LODESTAR_<NAME> or run "
                f"`lodestar keys init --key-file {self.key_file}`"
            )
        keyring = Keyring(
            pseudonym_key=_b64(str(values["pseudonym_key"])),
            field_keys=field_keys,
            active_field_key_id=str(active_id),
            store_key=str(values["store_key"]),
            token_signing_key=_b64(str(values["token_signing_key"])),
        )
        if self.environment == "production":
            _refuse_weak_keys(keyring)
        return keyring


PLACEHOLDER_SECRETS = frozenset({"changethis", "changeme", "secret", "password", "test"})


def _refuse_weak_keys(keyring: Keyring) -> None:
    """Outside development and tests every key must be 32 random bytes, never a placeholder."""
    weak = [
        name
        for name, key in (
            ("pseudonym_key", keyring.pseudonym_key),
            ("token_signing_key", keyring.token_signing_key),
            *((f"field_key {kid}", key) for kid, key in keyring.field_keys.items()),
        )
        if len(key) < 32
    ]
    if len(keyring.store_key) < 32 or keyring.store_key.lower() in PLACEHOLDER_SECRETS:
        weak.append("store_key")
    if weak:
        raise MissingSecretError(
            f"weak or placeholder secret(s) in production: {', '.join(weak)} "
            "(each must be 32 random bytes; `lodestar keys init` makes such keys)"
        )


@dataclass(frozen=True)
class Keyring:
    """Raw key material. ``field_keys`` maps a key id to a 32-byte AES key; old ids stay
    readable after rotation, new ciphertext uses ``active_field_key_id``."""

    pseudonym_key: bytes
    field_keys: dict[str, bytes]
    active_field_key_id: str
    store_key: str
    token_signing_key: bytes


def _b64(value: str) -> bytes:
    return base64.b64decode(value.encode("ascii"), validate=True)


def _secret_or(secret: SecretStr | None, fallback: str | None) -> str | None:
    return secret.get_secret_value() if secret is not None else fallback


def _read_key_file(path: Path) -> dict:
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def new_key_material() -> dict:
    """Fresh random keys in the key-file layout (base64 strings)."""

    def fresh() -> str:
        return base64.b64encode(secrets.token_bytes(32)).decode("ascii")

    return {
        "pseudonym_key": fresh(),
        "field_keys": {"k1": fresh()},
        "active_field_key_id": "k1",
        "store_key": fresh(),
        "token_signing_key": fresh(),
    }


def init_key_file(path: Path, *, overwrite: bool = False) -> bool:
    """Write a key file readable only by its owner; returns False if one already exists."""
    if path.exists() and not overwrite:
        return False
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(new_key_material(), handle, indent=2)
    return True


def rotate_field_key(path: Path) -> str:
    """Add a new field key to the key file and make it active; returns the new key id."""
    stored = _read_key_file(path)
    if not stored:
        raise MissingSecretError(f"no key file at {path}")
    existing = stored.setdefault("field_keys", {})
    new_id = f"k{len(existing) + 1}"
    while new_id in existing:
        new_id += "x"
    existing[new_id] = new_key_material()["field_keys"]["k1"]
    stored["active_field_key_id"] = new_id
    descriptor = os.open(path, os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(stored, handle, indent=2)
    return new_id
