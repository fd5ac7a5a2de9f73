"""The web console through the app: sign-in, lockout, sessions and their timeouts, CSRF,
roles, security headers, the auditor's pages and the audit log of it all."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.clock import utc_now
from core.security import PersonalData
from core.settings import Keyring
from serving.app import create_app
from serving.cli import main as cli_main
from serving.console.i18n import LANGUAGES, Catalogue
from serving.console.settings import ConsoleSettings
from serving.console.users import sign_in
from serving.platform.audit import SUBJECT_NAMESPACE
from serving.platform.audit_writer import AuditUnavailableError
from serving.settings import ServiceSettings
from store.database import Store
from tests.serving.conftest import audited_store, bearer, make_settings, with_console_world
from tests.serving.console_world import (
    ALERT_ID,
    CATEGORY,
    MANDATORY_ITEMS,
    OCID,
    OTHER_ALERT_ID,
    PASSWORDS,
    ROLE_PAGES,
    USER_OF_ROLE,
    alert_row,
    month_starts,
)

SIGNIN = "/console/signin"
QUEUE = "/console/alerts"
ALERT = f"{QUEUE}/{ALERT_ID}"
REVIEW = f"{ALERT}/review"


@pytest.fixture
def console_settings(
    service_settings: ServiceSettings, console_template: ServiceSettings
) -> ServiceSettings:
    return with_console_world(service_settings, console_template)


@pytest.fixture
def console(console_settings: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(console_settings)) as client:
        yield client


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', html)
    assert found is not None, html
    return found.group(1)


def sign_in_as(client: TestClient, user_name: str, password: str | None = None) -> TestClient:
    form = client.get(SIGNIN)
    response = client.post(
        SIGNIN,
        data={
            "csrf": _csrf(form.text),
            "user_name": user_name,
            "password": PASSWORDS[user_name] if password is None else password,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def _move_clock(client: TestClient, by: timedelta) -> None:
    start = utc_now()
    client.app.state.console.clock = lambda: start + by  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------
# Pages, languages, headers


def test_catalogues_have_the_same_words() -> None:
    keys = {language: set(Catalogue.load(language).strings) for language in LANGUAGES}
    assert keys["zh"] == keys["en"]


def test_signin_page_is_chinese_first_with_english_one_click_away(console: TestClient) -> None:
    page = console.get(SIGNIN)
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert "用户名" in page.text
    assert 'href="/console/signin?lang=en"' in page.text
    english = console.get(SIGNIN, params={"lang": "en"})
    assert "User name" in english.text
    assert "lodestar_lang=en" in english.headers["set-cookie"]
    assert "User name" in console.get(SIGNIN).text  # the cookie keeps the choice


def test_security_headers_and_a_strict_csp(console: TestClient) -> None:
    for path in (SIGNIN, "/console/static/console.css", QUEUE):
        headers = console.get(path, follow_redirects=False).headers
        policy = headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
    page = sign_in_as(console, "audit.zhao").get(ALERT).text
    assert "<script" not in page
    assert "style=" not in page
    assert "http://" not in page
    assert "https://" not in page


# --------------------------------------------------------------------------------------------
# Sign-in, sessions, sign-out


def test_signin_sets_a_strict_http_only_session_cookie(console: TestClient) -> None:
    form = console.get(SIGNIN)
    response = console.post(
        SIGNIN,
        data={
            "csrf": _csrf(form.text),
            "user_name": "audit.zhao",
            "password": PASSWORDS["audit.zhao"],
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console"
    cookie = next(c for c in response.headers.get_list("set-cookie") if "lodestar_session=" in c)
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie
    assert console.get("/console", follow_redirects=False).headers["location"] == QUEUE


def test_secure_cookies_behind_tls(console_settings: ServiceSettings) -> None:
    settings = console_settings.model_copy(update={"console": ConsoleSettings(secure_cookies=True)})
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        form = client.get(SIGNIN)
        assert "Secure" in form.headers["set-cookie"]
        response = client.post(
            SIGNIN,
            data={"csrf": _csrf(form.text), "user_name": "E1001", "password": PASSWORDS["E1001"]},
            follow_redirects=False,
        )
        assert "Secure" in response.headers["set-cookie"]


def test_a_wrong_password_is_refused(console: TestClient) -> None:
    for user_name in ("audit.zhao", "nobody"):
        form = console.get(SIGNIN)  # every answer brings a new sign-in token
        refused = console.post(
            SIGNIN,
            data={"csrf": _csrf(form.text), "user_name": user_name, "password": "wrong password"},
            follow_redirects=False,
        )
        assert refused.status_code == 401
        assert "用户名或密码不正确" in refused.text  # the same answer for an unknown name
    assert console.get(QUEUE, follow_redirects=False).headers["location"] == SIGNIN


def test_repeated_failures_lock_the_account(console: TestClient) -> None:
    limit = ConsoleSettings().max_failed_signins
    for _ in range(limit):
        form = console.get(SIGNIN)
        console.post(
            SIGNIN,
            data={"csrf": _csrf(form.text), "user_name": "audit.zhao", "password": "wrong"},
        )
    form = console.get(SIGNIN)
    locked = console.post(
        SIGNIN,
        data={
            "csrf": _csrf(form.text),
            "user_name": "audit.zhao",
            "password": PASSWORDS["audit.zhao"],
        },
        follow_redirects=False,
    )
    assert locked.status_code == 401
    assert "锁定" in locked.text


def test_the_lock_ends_after_the_lockout(console_settings: ServiceSettings) -> None:
    settings = ConsoleSettings(max_failed_signins=2, lockout_minutes=10)
    keyring = console_settings.keyring()
    personal = PersonalData(keyring)
    now = utc_now()
    with Store.open(console_settings, keyring) as store:
        outcomes = [
            sign_in(store, personal, settings, "audit.zhao", "wrong", now=now).outcome
            for _ in range(2)
        ]
        right = PASSWORDS["audit.zhao"]
        during = sign_in(store, personal, settings, "audit.zhao", right, now=now).outcome
        later = now + timedelta(minutes=11)
        after = sign_in(store, personal, settings, "audit.zhao", right, now=later)
    assert outcomes == ["refused", "locked"]
    assert during == "locked"
    assert (after.outcome, after.role) == ("ok", "auditor")


def test_idle_timeout(console: TestClient) -> None:
    sign_in_as(console, "audit.zhao")
    idle = ConsoleSettings().idle_minutes
    _move_clock(console, timedelta(minutes=idle - 1))
    assert console.get(QUEUE).status_code == 200
    _move_clock(console, timedelta(minutes=2 * idle))  # idle + 1 minute after the last use
    assert console.get(QUEUE, follow_redirects=False).headers["location"] == SIGNIN


def test_absolute_timeout(console: TestClient) -> None:
    sign_in_as(console, "audit.zhao")
    settings = ConsoleSettings()
    step = timedelta(minutes=settings.idle_minutes / 2)
    elapsed = timedelta(0)
    while elapsed < timedelta(hours=settings.absolute_hours) - step:
        elapsed += step
        _move_clock(console, elapsed)
        assert console.get(QUEUE).status_code == 200
    _move_clock(console, timedelta(hours=settings.absolute_hours, minutes=1))
    assert console.get(QUEUE, follow_redirects=False).headers["location"] == SIGNIN


def test_signout_ends_the_session(console: TestClient) -> None:
    page = sign_in_as(console, "audit.zhao").get(QUEUE)
    cookie = console.cookies.get("lodestar_session")
    response = console.post(
        "/console/signout", data={"csrf": _csrf(page.text)}, follow_redirects=False
    )
    assert response.headers["location"] == SIGNIN
    console.cookies.set("lodestar_session", cookie or "", path="/console")
    assert console.get(QUEUE, follow_redirects=False).headers["location"] == SIGNIN


def test_revoked_tokens_end_console_sessions(console: TestClient, service_keyring: Keyring) -> None:
    sign_in_as(console, "audit.zhao")
    revoked = console.post(
        "/v1/admin/revocations",
        json={"subject": "audit.zhao", "reason": "lost_device"},
        headers=bearer(service_keyring, "admin.li", "admin"),
    )
    assert revoked.status_code == 201, revoked.text
    assert console.get(QUEUE, follow_redirects=False).headers["location"] == SIGNIN


# --------------------------------------------------------------------------------------------
# CSRF and roles


def test_posts_without_the_csrf_token_are_refused(console: TestClient) -> None:
    signin = console.post(
        SIGNIN, data={"user_name": "audit.zhao", "password": PASSWORDS["audit.zhao"]}
    )
    assert signin.status_code == 403
    assert "lodestar_session" not in console.cookies
    sign_in_as(console, "audit.zhao")
    for data in ({"verdict": "dismissed"}, {"verdict": "dismissed", "csrf": "forged"}):
        refused = console.post(REVIEW, data=data)
        assert refused.status_code == 403
    assert console.post("/console/signout", data={}).status_code == 403
    detail = console.get(ALERT).text
    assert "尚无复核记录" in detail  # nothing was recorded


def test_each_role_sees_its_pages_and_no_others(console: TestClient) -> None:
    every_page = [page for pages in ROLE_PAGES.values() for page in pages]
    for page in every_page:
        assert console.get(page, follow_redirects=False).headers["location"] == SIGNIN
    for role, own in ROLE_PAGES.items():
        console.cookies.clear()
        sign_in_as(console, USER_OF_ROLE[role])
        home = console.get("/console", follow_redirects=False).headers["location"]
        assert home == own[0], role
        for page in every_page:
            status = console.get(page).status_code
            if page in own:  # 503: a page whose model this store has none of
                assert status in (200, 503), (role, page, status)
            else:
                assert status == 403, (role, page, status)
        nav = console.get(own[0]).text.split("<main>")[0]
        assert [page for page in every_page if f'href="{page}"' in nav] == own
    assert console.get(ALERT).status_code == 403  # the last role is not an auditor


def test_the_member_page_shows_only_the_signed_in_member(console: TestClient) -> None:
    sign_in_as(console, "E1001")
    own = console.get("/console/me")
    assert own.status_code == 200
    other = console.get("/console/me", params={"employee_no": "E1002"})
    assert other.text.split("<main>")[1] == own.text.split("<main>")[1]
    assert console.get("/console/members/E1002").status_code == 404


def test_the_member_page_lists_mandatory_items_with_deadlines(console: TestClient) -> None:
    """Without study models the page still shows the member's mandatory items from the store:
    this month's with their deadline and state, last month's missed ones."""
    page = sign_in_as(console, "E1001").get("/console/me").text
    this, _ = month_starts(utc_now())
    due = (this + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    section = page[page.index('id="mandatory"') :]
    assert f"本月已完成 1/2 项，截止 {due.date().isoformat()}" in section
    items = re.findall(r'<li class="mandatory-item (\w+)">(.*?)</li>', section, re.S)
    by_title = {re.sub(r"\s+", " ", body): state for state, body in items}
    states = {
        title: state
        for _, title, _ in MANDATORY_ITEMS
        for body, state in by_title.items()
        if title in body
    }
    assert states == {
        "廉洁从业若干规定": "done",
        "招标投标法实施条例测验": "due",
        "安全生产法要点": "missed",
    }
    quiz = next(body for body in by_title if "测验" in body)
    assert "已通过" not in quiz  # passed, but not completed: still due
    assert "党章学习" not in section  # done last month in time


def test_bearer_tokens_still_work_and_do_not_open_the_console(
    console: TestClient, service_keyring: Keyring
) -> None:
    token = bearer(service_keyring, "audit.zhao", "auditor")
    assert console.get("/v1/procurement/alerts", headers=token).json()["total"] == 2
    assert console.get(QUEUE, headers=token, follow_redirects=False).status_code == 303


# --------------------------------------------------------------------------------------------
# The auditor's pages


def test_queue_filters_and_pages(console: TestClient) -> None:
    sign_in_as(console, "audit.zhao")
    page = console.get(QUEUE).text
    assert OCID in page
    assert "共 2 条预警" in page
    red = console.get(QUEUE, params={"level": "red"}).text
    assert "共 1 条预警" in red
    nothing = console.get(QUEUE, params={"buyer_id": "BUY-99"}).text
    assert "共 0 条预警" in nothing
    reversed_dates = console.get(QUEUE, params={"date_from": "2025-03-10", "date_to": "2025-01-01"})
    assert reversed_dates.status_code == 422


def test_warning_page_has_its_evidence(console: TestClient) -> None:
    page = sign_in_as(console, "audit.zhao").get(ALERT).text
    assert "91.0%" in page
    assert "R024" in page
    assert "winning_bid" in page
    assert "单价为同类中位数的 1.9 倍。" in page
    assert page.count("BID-0") == 3
    assert page.count('<circle class="past"') == 12
    assert '<line class="current"' in page
    english = console.get(ALERT, params={"lang": "en"}).text
    assert "The unit price is 1.9 times its category&#39;s median." in english


def test_warning_page_has_related_bidders_and_amendments(console: TestClient) -> None:
    page = sign_in_as(console, "audit.zhao").get(ALERT).text
    related = re.findall(r'<tr class="related-pair">(.*?)</tr>', page, re.S)
    assert len(related) == 1
    assert "SUP-00004 · 华东管业" in related[0]
    assert "SUP-00978 · 浙江管材" in related[0]
    assert "电话" in related[0]
    assert "供应商名录" in related[0]
    assert "SUP-00012" not in related[0]
    assert "8800" not in page  # the shared telephone itself is never shown
    amendments = re.findall(r'<tr class="amendment">(.*?)</tr>', page, re.S)
    assert len(amendments) == 2
    assert "交货期延长" in amendments[0]
    assert "决策日之后" not in amendments[0]
    assert "合同 CON-1" in amendments[1]
    assert "决策日之后" in amendments[1]
    other = console.get(f"{QUEUE}/{OTHER_ALERT_ID}", params={"lang": "en"}).text
    assert 'id="no-related"' in other
    assert 'id="no-amendments"' in other


def _write_alert(client: TestClient, alert_id: str, level: str) -> None:
    """A warning written now, as live scoring writes one, into the running app's store."""
    row = alert_row(alert_id, f"ocds-new-{alert_id[:6]}", level, 0.77)
    row["scored_at"] = utc_now() + timedelta(seconds=1)
    with client.app.state.runtime.store.use() as store:  # type: ignore[attr-defined]
        assert store.insert_new("alerts", pd.DataFrame([row])) == 1


def test_the_queue_feed_gives_warnings_written_after_the_page_opened(console: TestClient) -> None:
    page = sign_in_as(console, "audit.zhao").get(QUEUE, params={"level": "red"}).text
    assert '<script src="/console/static/queue.js" defer></script>' in page
    feed = re.search(r'data-feed="([^"]*)" data-cursor="([^"]*)"', page)
    assert feed is not None
    url, cursor = html.unescape(feed.group(1)), feed.group(2)
    assert "level=red" in url
    quiet = console.get(f"{url}&after={quote(cursor)}")
    assert quiet.status_code == 200
    assert quiet.json()["alerts"] == []
    assert not [c for c in quiet.headers.get_list("set-cookie") if "lodestar_session" in c]
    red, yellow = "a" * 64, "b" * 64
    _write_alert(console, red, "red")
    _write_alert(console, yellow, "yellow")
    answer = console.get(f"{url}&after={quote(cursor)}").json()
    assert [row["alert_id"] for row in answer["alerts"]] == [red]  # the page's filter holds
    assert answer["alerts"][0]["level_label"] == "红色"
    assert answer["alerts"][0]["url"] == f"/console/alerts/{red}"
    assert answer["cursor"] > cursor
    assert console.get(f"{url}&after={quote(answer['cursor'])}").json()["alerts"] == []
    assert console.get(f"{url}&after=yesterday").status_code == 400


def test_the_queue_feed_refuses_with_json_and_does_not_keep_a_session_alive(
    console: TestClient,
) -> None:
    feed = "/console/alerts-feed"
    assert console.get(feed, follow_redirects=False).status_code == 401
    sign_in_as(console, "buyer.wang")
    assert console.get(feed).status_code == 403
    console.cookies.clear()
    sign_in_as(console, "audit.zhao")
    idle = ConsoleSettings().idle_minutes
    _move_clock(console, timedelta(minutes=idle * 0.75))
    assert console.get(feed).status_code == 200  # the script asking...
    _move_clock(console, timedelta(minutes=idle * 1.5))
    assert console.get(feed).status_code == 401  # ...did not move the idle timeout


def test_review_is_recorded_as_by_the_api(console: TestClient, service_keyring: Keyring) -> None:
    page = sign_in_as(console, "audit.zhao").get(ALERT)
    bad = console.post(REVIEW, data={"csrf": _csrf(page.text), "verdict": "confirmed"})
    assert bad.status_code == 400  # a confirmed finding needs its scheme
    done = console.post(
        REVIEW,
        data={
            "csrf": _csrf(page.text),
            "verdict": "confirmed",
            "scheme": "bid_rigging",
            "comment": "报价过于接近",
        },
    )
    assert done.status_code == 200
    assert "报价过于接近" in done.text
    api = console.get(
        f"/v1/procurement/alerts/{ALERT_ID}", headers=bearer(service_keyring, "a", "auditor")
    ).json()
    assert api["status"] == "confirmed"
    [review] = api["history"]
    assert (review["verdict"], review["scheme"]) == ("confirmed", "bid_rigging")
    with audited_store(console) as store:
        outcomes = store.query("SELECT finding, origin FROM audit_outcomes WHERE ocid = ?", [OCID])
    assert outcomes.to_dict("records") == [{"finding": "confirmed", "origin": "review"}]


def test_every_page_view_and_action_is_audited(
    console: TestClient, service_personal: PersonalData
) -> None:
    page = sign_in_as(console, "audit.zhao").get(ALERT)
    console.get(QUEUE)
    console.post(REVIEW, data={"csrf": _csrf(page.text), "verdict": "dismissed"})
    console.post(REVIEW, data={"verdict": "dismissed"})  # refused: no CSRF token
    with audited_store(console) as store:
        log = store.query(
            "SELECT subject_key, role, action, resource, status_code FROM audit_log "
            "WHERE resource LIKE '/console%' ORDER BY seq"
        )
    zhao = service_personal.pseudonymiser.pseudonym(SUBJECT_NAMESPACE, "audit.zhao")
    entries = [tuple(row) for row in log.itertuples(index=False)]
    assert ("", "", "GET", SIGNIN, 200) in entries
    assert (zhao, "auditor", "POST", SIGNIN, 303) in entries
    assert (zhao, "auditor", "GET", ALERT, 200) in entries
    assert (zhao, "auditor", "GET", QUEUE, 200) in entries
    assert (zhao, "auditor", "POST", REVIEW, 303) in entries
    assert (zhao, "auditor", "POST", REVIEW, 403) in entries


def test_settings_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LODESTAR_CONSOLE", json.dumps({"secure_cookies": True, "idle_minutes": 5}))
    settings = make_settings(tmp_path)
    assert settings.console.secure_cookies is True
    assert settings.console.idle_minutes == 5


def test_demo_credentials_print_passwords_that_sign_in(
    service_settings: ServiceSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    learning = tmp_path / "data" / "world" / "learning"
    learning.mkdir(parents=True)
    (learning / "members.csv").write_text("employee_no,name\nE1001,张伟\n", encoding="utf-8")
    args = ["--key-file", str(service_settings.key_file), "--data-dir", str(tmp_path / "data")]
    assert cli_main(["demo-credentials", *args]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    passwords = {
        row[0]: (row[1], row[2]) for row in rows if len(row) == 4 and row[3].count(".") == 2
    }
    assert passwords["integration"][1] == "-"  # a machine client has no password
    with TestClient(create_app(service_settings)) as client:
        for role in ("auditor", "member", "security_auditor"):
            user_name, password = passwords[role]
            client.cookies.clear()
            form = client.get(SIGNIN)
            response = client.post(
                SIGNIN,
                data={"csrf": _csrf(form.text), "user_name": user_name, "password": password},
                follow_redirects=False,
            )
            assert response.status_code == 303, (role, response.text)


def test_no_page_leaves_unaudited(console: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    sign_in_as(console, "audit.zhao")
    writer = console.app.state.runtime.audit  # type: ignore[attr-defined]

    def broken(fields: object) -> None:
        raise AuditUnavailableError("the journal's disk is full")

    monkeypatch.setattr(writer, "write", broken)
    response = console.get(ALERT)
    assert response.status_code == 503
    assert OCID not in response.text


# --------------------------------------------------------------------------------------------
# The queue's category, scheme and sort; accounts; the security auditor's and admin's pages


def test_queue_filters_by_category_and_scheme_and_sorts(console: TestClient) -> None:
    sign_in_as(console, "audit.zhao")
    assert "共 1 条预警" in console.get(QUEUE, params={"category": CATEGORY}).text
    assert "共 0 条预警" in console.get(QUEUE, params={"category": "C-NONE"}).text
    assert "共 0 条预警" in console.get(QUEUE, params={"scheme": "bid_rigging"}).text
    page = console.get(ALERT)
    console.post(
        REVIEW,
        data={"csrf": _csrf(page.text), "verdict": "confirmed", "scheme": "bid_rigging"},
    )
    named = console.get(QUEUE, params={"scheme": "bid_rigging"}).text
    assert "共 1 条预警" in named
    assert OCID in named
    by_probability = console.get(QUEUE).text
    assert by_probability.index(OCID) < by_probability.index(">other<")
    by_anomaly_then_id = console.get(QUEUE, params={"sort": "newest", "lang": "en"}).text
    assert "newest decision first" in by_anomaly_then_id
    assert console.get(QUEUE, params={"sort": "DROP TABLE"}).status_code == 200  # ignored


def test_password_change(console: TestClient, console_settings: ServiceSettings) -> None:
    other_browser = TestClient(console.app)
    sign_in_as(other_browser, "esg.liu")
    page = sign_in_as(console, "esg.liu").get("/console/password")
    csrf = _csrf(page.text)
    old, new = PASSWORDS["esg.liu"], "a brand new passphrase"
    refused = console.post(
        "/console/password", data={"csrf": csrf, "current": "wrong", "new": new, "confirm": new}
    )
    assert refused.status_code == 401
    mismatch = console.post(
        "/console/password", data={"csrf": csrf, "current": old, "new": new, "confirm": "x"}
    )
    assert mismatch.status_code == 400
    short = console.post(
        "/console/password", data={"csrf": csrf, "current": old, "new": "short", "confirm": "short"}
    )
    assert short.status_code == 400
    assert console.post("/console/password", data={"current": old, "new": new}).status_code == 403
    done = console.post(
        "/console/password", data={"csrf": csrf, "current": old, "new": new, "confirm": new}
    )
    assert done.status_code == 200
    assert "密码已修改" in done.text
    assert console.get("/console/suppliers").status_code == 200  # this browser stays in
    assert other_browser.get("/console/suppliers", follow_redirects=False).status_code == 303
    keyring = console_settings.keyring()
    settings = ConsoleSettings()
    with audited_store(console) as store:
        personal = PersonalData(keyring)
        assert sign_in(store, personal, settings, "esg.liu", old).outcome == "refused"
        assert sign_in(store, personal, settings, "esg.liu", new).outcome == "ok"


def test_a_role_change_ends_the_sessions_of_that_user(console: TestClient) -> None:
    auditor = sign_in_as(TestClient(console.app), "audit.zhao")
    assert auditor.get(QUEUE).status_code == 200
    admin_page = sign_in_as(console, "admin.li").get("/console/admin")
    assert "audit.zhao" in admin_page.text
    csrf = _csrf(admin_page.text)
    forged = console.post("/console/admin/role", data={"user_name": "audit.zhao", "role": "member"})
    assert forged.status_code == 403
    assert auditor.get(QUEUE).status_code == 200
    unknown = console.post(
        "/console/admin/role", data={"csrf": csrf, "user_name": "nobody", "role": "member"}
    )
    assert unknown.status_code == 404
    changed = console.post(
        "/console/admin/role",
        data={"csrf": csrf, "user_name": "audit.zhao", "role": "procurement_manager"},
    )
    assert changed.status_code == 200
    assert "角色已修改" in changed.text
    assert auditor.get(QUEUE, follow_redirects=False).headers["location"] == SIGNIN
    auditor.cookies.clear()
    sign_in_as(auditor, "audit.zhao")
    assert auditor.get(QUEUE).status_code == 403
    assert auditor.get("/console/tenders").status_code == 200


def test_a_revocation_from_the_console_ends_sessions_and_tokens(
    console: TestClient, service_keyring: Keyring
) -> None:
    member = sign_in_as(TestClient(console.app), "E1001")
    token = bearer(service_keyring, "E1001", "member")
    csrf = _csrf(sign_in_as(console, "admin.li").get("/console/admin").text)
    revoked = console.post(
        "/console/admin/revoke", data={"csrf": csrf, "subject": "E1001", "reason": "lost_device"}
    )
    assert revoked.status_code == 200
    assert "已吊销" in revoked.text
    assert member.get("/console/me", follow_redirects=False).headers["location"] == SIGNIN
    assert console.get("/v1/members/E1001/mastery", headers=token).status_code == 401


def test_admin_page_has_models_ingestion_and_quarantine_reasons(console: TestClient) -> None:
    page = sign_in_as(console, "admin.li").get("/console/admin", params={"lang": "en"}).text
    for model in ("procurement-risk", "supplier-esg", "mastery", "study-recommender"):
        assert model in page
    assert "not loaded" in page
    assert "releases.jsonl" in page
    assert "tender.value.amount is negative" in page
    assert '<td class="num">2</td>' in page


def test_audit_log_page_filters_and_shows_the_chain_head(
    console: TestClient, service_keyring: Keyring
) -> None:
    sign_in_as(console, "audit.zhao").get(QUEUE)
    console.cookies.clear()
    sign_in_as(console, "sec.wang")
    page = console.get("/console/audit-log")
    assert page.status_code == 200
    assert 'id="chain-valid"' in page.text
    head = re.search(r'id="head-seq">(\d+)<', page.text)
    head_hash = re.search(r'id="head-hash" class="hash">([0-9a-f]{64})<', page.text)
    assert head is not None
    assert head_hash is not None
    api = console.get(
        "/v1/audit-log",
        params={"limit": 1},
        headers=bearer(service_keyring, "s", "security_auditor"),
    ).json()
    assert api["head_seq"] >= int(head.group(1))
    auditor_only = console.get(
        "/console/audit-log", params={"role": "auditor", "resource": QUEUE}
    ).text
    rows = re.findall(r'<td class="resource">([^<]*)</td>', auditor_only)
    assert rows
    assert all(row.startswith(QUEUE) for row in rows)
    by_person = console.get("/console/audit-log", params={"subject": "audit.zhao"}).text
    assert 'class="resource">/console/signin<' in by_person
    nobody = console.get("/console/audit-log", params={"subject": "nobody"}).text
    assert "没有匹配的条目" in nobody
    anchored = console.get(
        "/console/audit-log",
        params={"anchor_seq": head.group(1), "anchor_hash": head_hash.group(1)},
    ).text
    assert "哈希一致" in anchored
    forged = console.get(
        "/console/audit-log", params={"anchor_seq": head.group(1), "anchor_hash": "0" * 64}
    ).text
    assert "哈希不一致" in forged


def test_the_member_page_as_of_a_day_shows_that_day(console: TestClient) -> None:
    """``?as_of=`` a day of last month: last month's items are that day's current ones (the
    one done in time done, the one finished only this month still due), this month's are
    not there yet; a malformed date, or a day not yet over, shows today's page."""
    _, last = month_starts(utc_now())
    day = (last + timedelta(days=14)).date().isoformat()
    member = sign_in_as(console, "E1001")
    page = member.get("/console/me", params={"as_of": day}).text
    assert f'id="as-of">截至 {day} 日终。' in page
    section = page[page.index('id="mandatory"') :]
    items = re.findall(r'<li class="mandatory-item (\w+)">(.*?)</li>', section, re.S)
    states = {
        title: state for state, body in items for _, title, _ in MANDATORY_ITEMS if title in body
    }
    assert states == {"党章学习": "done", "安全生产法要点": "due"}
    for future in ("2025-13-40", (utc_now() + timedelta(days=1)).date().isoformat()):
        today = member.get("/console/me", params={"as_of": future}).text
        assert 'id="as-of"' not in today
        assert "本月已完成 1/2 项" in today
