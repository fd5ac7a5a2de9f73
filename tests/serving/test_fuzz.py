"""Every route fuzzed from the service's own OpenAPI schema, as every role and without a
token, in process: the small world ingested into a real encrypted store, the four models
trained and registered by the real training code, the app's lifespan run as in production.

Each caller's run fails on any 5xx, any status the route does not document, any body or
content type that does not match the schema, and any request to an authenticated route that
left no audit entry. The budget is small and the seed fixed (derandomised), so the run is the
same every time; ``make fuzz`` (``bench/fuzz.py``) is the long run against a real server.
Run it alone with ``pytest -m fuzz``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.python.asgi import shutdown_lifespans

from bench.fuzz import (
    ANONYMOUS,
    FUZZ_SETTINGS,
    ROLES,
    Outcome,
    audited_request_ids,
    callers,
    distinct_failures,
    failure_list,
    figures_by_route,
    fuzz_schema,
    known_ids_of,
    route_callers_for,
    route_table,
    unaudited,
    unaudited_summary,
)
from core.security import PersonalData
from serving.app import create_app
from serving.platform.auth import issue_token
from serving.settings import ServiceSettings
from tests.champions import copy_installation

pytestmark = pytest.mark.fuzz

# Fuzzed cases per route and caller (half with the installation's real path ids where the
# route takes any), valid and invalid; one caller's run stops sending after
# SECONDS_PER_CALLER. The coverage phase is left to ``make fuzz``: it sends hundreds of cases
# per route.
CASES_PER_ROUTE = 4
SECONDS_PER_CALLER = 5.0
CALLERS = [*ROLES, ANONYMOUS]


@pytest.fixture(scope="module")
def installation(
    trained_installation: ServiceSettings, tmp_path_factory: pytest.TempPathFactory
) -> ServiceSettings:
    """A copy of the session's trained installation (the four champions, small, fast options,
    the risk model's warnings in ``alerts``), with the fuzz run's settings."""
    settings = copy_installation(trained_installation, tmp_path_factory.mktemp("fuzz-api"))
    return ServiceSettings(**{**settings.model_dump(), **FUZZ_SETTINGS})


@pytest.fixture(scope="module")
def app(installation: ServiceSettings) -> Iterator[FastAPI]:
    """The app, its lifespan started by the fuzzer's in-process transport on first use and
    ended here."""
    yield create_app(installation)
    shutdown_lifespans()


@pytest.fixture(scope="module")
def schema(app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module")
def known_ids(app: FastAPI, schema: Any) -> dict[str, str]:
    """Real ids for the routes' path parameters (the schema fixture has started the app)."""
    runtime = app.state.runtime
    with runtime.store.use() as store:
        return known_ids_of(store, PersonalData(runtime.keyring))


def _logged_request_ids(app: FastAPI) -> set[str]:
    runtime = app.state.runtime
    runtime.audit.flush()
    with runtime.store.use() as store:
        return set(store.query("SELECT request_id FROM audit_log")["request_id"])


def _fuzz_as(name: str, app: FastAPI, schema: Any, known_ids: dict[str, str]) -> list[Outcome]:
    keyring = app.state.runtime.keyring
    everyone = callers(
        lambda subject, role: issue_token(keyring, subject, role, timedelta(minutes=30)),
        known_ids["employee_no"],
    )
    choose = route_callers_for(everyone)
    return fuzz_schema(
        schema,
        lambda path: [c for c in choose(path) if c.name == name],
        cases_per_route=CASES_PER_ROUTE,
        seconds=SECONDS_PER_CALLER,
        known_ids=known_ids,
        call_kwargs={},
        coverage=False,
        request_id_prefix=f"fuzz-{name}",
    )


@pytest.mark.parametrize("caller", CALLERS)
def test_every_route_answers_as_documented(
    caller: str, app: FastAPI, schema: Any, known_ids: dict[str, str]
) -> None:
    outcomes = _fuzz_as(caller, app, schema, known_ids)
    routes = {o.route for o in outcomes}
    expected = {
        f"{op.ok().method.upper()} {op.ok().path}"
        for op in schema.get_all_operations()
        if caller == ANONYMOUS or op.ok().path.startswith("/v1/")
    }
    assert routes == expected, f"routes not fuzzed: {sorted(expected - routes)}"
    failures = distinct_failures(outcomes)
    missing = unaudited(outcomes, _logged_request_ids(app))
    assert audited_request_ids(outcomes)
    clean = not failures and not missing
    assert clean, (
        f"{len(outcomes)} requests as {caller}\n{route_table(figures_by_route(outcomes))}\n"
        f"distinct failures ({len(failures)}):\n{failure_list(failures)}\n"
        f"requests without an audit entry ({len(missing)}):\n{unaudited_summary(missing)}"
    )
