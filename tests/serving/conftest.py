"""A real key file, a real encrypted store with two members, and the app over them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.security import PersonalData
from core.settings import Keyring, init_key_file
from serving.app import create_app
from serving.platform.auth import issue_token
from serving.settings import RateLimits, ServiceSettings
from store.database import Store
from tests.serving.console_world import seed_console_world

MAX_BODY_BYTES = 1024

# employee_no, name, phone, party branch
MEMBERS = [
    ("E1001", "张伟", "13800000001", "物资供应中心第一党支部"),
    ("E1002", "李娜", "13900000002", "采购管理部党支部"),
]


def members_frame(personal: PersonalData) -> pd.DataFrame:
    cipher = personal.cipher
    rows = [
        {
            "member_key": personal.member_key(employee_no),
            "employee_no_enc": cipher.encrypt(employee_no, column="employee_no_enc"),
            "name_enc": cipher.encrypt(name, column="name_enc"),
            "phone_enc": cipher.encrypt(phone, column="phone_enc"),
            "party_member_enc": cipher.encrypt("true", column="party_member_enc"),
            "party_branch_enc": cipher.encrypt(branch, column="party_branch_enc"),
            "branch_key": personal.pseudonymiser.pseudonym("branch", branch),
            "role": "buyer",
            "unit": "物资供应中心",
            "shift_pattern": "day",
            "crew": None,
            "joined_on": date(2019, 3, 1),
        }
        for employee_no, name, phone, branch in MEMBERS
    ]
    return pd.DataFrame(rows)


def make_settings(tmp_path: Path, **overrides: object) -> ServiceSettings:
    values: dict[str, object] = {
        "environment": "test",
        "data_dir": tmp_path / "data",
        "key_file": tmp_path / "keys.json",
        "max_body_bytes": MAX_BODY_BYTES,
        "rate_limits": RateLimits(enabled=False),  # tests/serving/test_rate_limits.py sets some
        **overrides,
    }
    return ServiceSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def service_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a real key file and a real encrypted store holding ``MEMBERS`` (as
    ``make_settings`` lays them out), made once: ``service_settings`` gives each test a copy."""
    root = tmp_path_factory.mktemp("service-template")
    settings = make_settings(root)
    init_key_file(settings.key_file)
    keyring = settings.keyring()
    with Store.open(settings, keyring) as store:
        assert store.insert_new("members", members_frame(PersonalData(keyring))) == len(MEMBERS)
    assert not Path(f"{settings.resolved_store_path}.wal").exists()  # closed: all in the file
    return root


@pytest.fixture
def service_settings(tmp_path: Path, service_template: Path) -> ServiceSettings:
    """Settings over the test's own copy of ``service_template`` in ``tmp_path``."""
    shutil.copytree(service_template, tmp_path, dirs_exist_ok=True)
    return make_settings(tmp_path)


@pytest.fixture(scope="module")
def console_template(
    service_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> ServiceSettings:
    """A copy of ``service_template`` (the same keys) with the console world seeded
    (``seed_console_world``: its users' argon2 hashes are slow to make), once per module."""
    root = tmp_path_factory.mktemp("console-template")
    shutil.copytree(service_template, root, dirs_exist_ok=True)
    settings = make_settings(root)
    seed_console_world(settings)
    assert not Path(f"{settings.resolved_store_path}.wal").exists()
    return settings


def with_console_world(settings: ServiceSettings, template: ServiceSettings) -> ServiceSettings:
    """``settings`` (a copy of ``service_template``, closed) with its store replaced by a copy
    of ``template``'s: as if ``seed_console_world(settings)`` had run."""
    store = settings.resolved_store_path
    Path(f"{store}.wal").unlink(missing_ok=True)
    shutil.copy(template.resolved_store_path, store)
    return settings


@pytest.fixture
def service_keyring(service_settings: ServiceSettings) -> Keyring:
    return service_settings.keyring()


@pytest.fixture
def service_personal(service_keyring: Keyring) -> PersonalData:
    return PersonalData(service_keyring)


@pytest.fixture
def client(service_settings: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(service_settings)) as test_client:
        yield test_client


def audited_store(client: TestClient) -> AbstractContextManager[Store]:
    """The app's store, after moving every journaled audit entry into ``audit_log``."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    runtime.audit.flush()
    store: AbstractContextManager[Store] = runtime.store.use()
    return store


def bearer(
    keyring: Keyring, subject: str, role: str, *, ttl: timedelta = timedelta(minutes=5)
) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(keyring, subject, role, ttl)}"}


def expired_bearer(keyring: Keyring, subject: str, role: str) -> dict[str, str]:
    past = datetime.now(UTC) - timedelta(hours=2)
    token = issue_token(keyring, subject, role, timedelta(minutes=5), now=past)
    return {"Authorization": f"Bearer {token}"}
