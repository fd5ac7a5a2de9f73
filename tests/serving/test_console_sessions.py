"""Console sessions held by the cookie and the store, not by one process: a session made by
one app instance works in another over the same store, and what ends it (a role change, a
new password, sign-out, sign-out everywhere) ends it in both.

DuckDB lets one process (one app) open the store file at a time, so the two instances take
turns on the same files: what one instance kept in memory is gone when the other answers."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.console.sessions import SessionSeal
from serving.console.settings import ConsoleSettings
from serving.settings import ServiceSettings
from tests.serving.conftest import with_console_world
from tests.serving.test_console import QUEUE, SIGNIN, _csrf, sign_in_as

COOKIE = "lodestar_session"


@pytest.fixture
def seeded(service_settings: ServiceSettings, console_template: ServiceSettings) -> ServiceSettings:
    return with_console_world(service_settings, console_template)


@contextmanager
def serving(app: FastAPI, cookies: dict[str, str] | None = None) -> Iterator[TestClient]:
    """A client of ``app`` (its lifespan open: the store is this app's while it lasts)."""
    with TestClient(app) as client:
        for name, value in (cookies or {}).items():
            client.cookies.set(name, value, path="/console")
        yield client


def _session_cookie(client: TestClient) -> str:
    cookie = client.cookies.get(COOKIE)
    assert cookie, "no session cookie"
    return cookie


def _signed_out(client: TestClient) -> bool:
    return client.get(QUEUE, follow_redirects=False).headers.get("location") == SIGNIN


def test_a_session_of_one_instance_works_in_another_until_a_role_change(
    seeded: ServiceSettings,
) -> None:
    first, second = create_app(seeded), create_app(seeded)
    with serving(first) as client:
        cookie = _session_cookie(sign_in_as(client, "audit.zhao"))
        csrf = _csrf(client.get(QUEUE).text)
    with serving(second, {COOKIE: cookie}) as client:
        page = client.get(QUEUE)
        assert page.status_code == 200
        assert _csrf(page.text) == csrf  # the CSRF token is the session's, not the process's
        admin = sign_in_as(TestClient(second), "admin.li")
        changed = admin.post(
            "/console/admin/role",
            data={
                "csrf": _csrf(admin.get("/console/admin").text),
                "user_name": "audit.zhao",
                "role": "esg_analyst",
            },
        )
        assert changed.status_code == 200, changed.text
        assert _signed_out(client)
    with serving(first, {COOKIE: cookie}) as client:
        assert _signed_out(client)
        sign_in_as(client, "audit.zhao")
        assert client.get("/console/suppliers").status_code == 200  # the new role


def test_a_new_password_and_sign_out_everywhere_end_sessions_in_other_instances(
    seeded: ServiceSettings,
) -> None:
    first, second = create_app(seeded), create_app(seeded)
    with serving(first) as client:
        phone = _session_cookie(sign_in_as(client, "esg.liu"))
    with serving(second) as client:
        desk = sign_in_as(client, "esg.liu")
        page = desk.get("/console/password")
        new = "a brand new password"
        changed = desk.post(
            "/console/password",
            data={
                "csrf": _csrf(page.text),
                "current": "analyst password 1",
                "new": new,
                "confirm": new,
            },
            follow_redirects=False,
        )
        assert changed.status_code == 303, changed.text
        assert desk.get("/console/suppliers").status_code == 200  # this session goes on
        desk_cookie = _session_cookie(desk)
    with serving(first, {COOKIE: phone}) as client:
        assert _signed_out(client)
    with serving(first, {COOKIE: desk_cookie}) as client:
        page = client.get("/console/password")
        assert page.status_code == 200
        ended = client.post(
            "/console/signout",
            data={"csrf": _csrf(page.text), "everywhere": "1"},
            follow_redirects=False,
        )
        assert ended.headers["location"] == SIGNIN
    with serving(second, {COOKIE: desk_cookie}) as client:
        assert _signed_out(client)


def test_sign_out_ends_the_session_in_every_instance_but_not_others(
    seeded: ServiceSettings,
) -> None:
    first, second = create_app(seeded), create_app(seeded)
    with serving(first) as client:
        kept = _session_cookie(sign_in_as(client, "audit.zhao"))
        client.cookies.clear()
        ended = _session_cookie(sign_in_as(client, "audit.zhao"))
        response = client.post(
            "/console/signout", data={"csrf": _csrf(client.get(QUEUE).text)}, follow_redirects=False
        )
        assert response.headers["location"] == SIGNIN
    with serving(second, {COOKIE: ended}) as client:
        assert _signed_out(client)
    with serving(second, {COOKIE: kept}) as client:
        assert client.get(QUEUE).status_code == 200


def test_a_forged_or_altered_cookie_is_no_session(seeded: ServiceSettings) -> None:
    with serving(create_app(seeded)) as client:
        cookie = _session_cookie(sign_in_as(client, "audit.zhao"))
        sealed = base64.urlsafe_b64decode(cookie.removeprefix("v1.") + "==")
        assert b"audit.zhao" not in sealed
        assert b"auditor" not in sealed
        flipped = bytearray(sealed)
        flipped[-1] ^= 1
        altered = "v1." + base64.urlsafe_b64encode(bytes(flipped)).decode().rstrip("=")
        for forged in (altered, "v1.", "v1.!!!", "x" * 5000, cookie[:-4]):
            client.cookies.set(COOKIE, forged, path="/console")
            assert _signed_out(client), forged


def test_the_csrf_token_of_one_session_does_not_pass_in_another(seeded: ServiceSettings) -> None:
    with serving(create_app(seeded)) as one:
        token = _csrf(sign_in_as(one, "audit.zhao").get(QUEUE).text)
        other = sign_in_as(TestClient(one.app), "audit.zhao")
        assert _csrf(other.get(QUEUE).text) != token
        refused = other.post("/console/signout", data={"csrf": token}, follow_redirects=False)
        assert refused.status_code == 403
        assert other.get(QUEUE).status_code == 200


def test_each_answer_carries_the_session_cookie_sealed_afresh(seeded: ServiceSettings) -> None:
    with serving(create_app(seeded)) as client:
        first = _session_cookie(sign_in_as(client, "audit.zhao"))
        response = client.get(QUEUE)
        refreshed = [c for c in response.headers.get_list("set-cookie") if c.startswith(COOKIE)]
        assert len(refreshed) == 1
        assert "HttpOnly" in refreshed[0]
        assert "SameSite=strict" in refreshed[0]
        assert _session_cookie(client) != first


def test_a_seal_opens_only_its_own_cookies_within_the_timeouts() -> None:
    settings = ConsoleSettings(idle_minutes=30, absolute_hours=10)
    seal, other = SessionSeal(settings, b"k" * 32), SessionSeal(settings, b"j" * 32)
    start = datetime(2026, 3, 1, 8, 0)
    session = seal.start("audit.zhao", "auditor", 3, start)
    cookie = seal.seal(session)
    opened = seal.open(cookie, start + timedelta(minutes=29))
    assert opened is not None
    assert (opened.subject, opened.role, opened.epoch) == ("audit.zhao", "auditor", 3)
    assert opened.csrf_token == session.csrf_token
    assert opened.last_seen_at == start + timedelta(minutes=29)
    assert other.open(cookie, start) is None
    assert seal.open(cookie, start + timedelta(minutes=31)) is None  # idle
    kept = session
    for minutes in range(20, 10 * 60, 20):  # used every 20 minutes
        refreshed = seal.open(seal.seal(kept), start + timedelta(minutes=minutes))
        assert refreshed is not None, minutes
        kept = refreshed
    assert seal.open(seal.seal(kept), start + timedelta(hours=10, minutes=1)) is None  # absolute
