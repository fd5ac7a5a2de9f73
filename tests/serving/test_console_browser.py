"""The console in a real headless Chromium (Debian's ``chromium`` and ``chromium-driver``,
driven by Selenium) against a real ``python -m serving run``: each role signs in and sees its
pages and no others; an auditor signs in, opens the queue and a warning, records a verdict,
finds it in the review history and in the audit log, and signs out; a member's page, with its
mandatory items, has no horizontal scroll 360 px wide; a warning written while the queue is
open appears on it without a reload (that test runs uvicorn in a thread of its own process, so
that it can write the warning into the server's store as live scoring does). Nothing is fetched
from the internet: the browser starts with background networking off."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest
import uvicorn
from fastapi import FastAPI
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from core.settings import Keyring
from serving.app import create_app
from serving.console.settings import ConsoleSettings
from serving.settings import ServiceSettings
from tests.serving.chromium import headless_chromium  # skips without Chromium
from tests.serving.conftest import bearer, with_console_world
from tests.serving.console_world import (
    OCID,
    PASSWORDS,
    ROLE_PAGES,
    USER_OF_ROLE,
    alert_row,
)
from tests.serving.real_server import running_server, server_environment

PHONE_WIDTH = 360


@pytest.fixture
def server(
    service_settings: ServiceSettings, console_template: ServiceSettings, tmp_path: Path
) -> Iterator[str]:
    with_console_world(service_settings, console_template)
    env = server_environment(service_settings)
    with running_server(env, tmp_path / "server.log") as (url, _):
        yield url


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    with headless_chromium(tmp_path / "chromium-profile", console_log=True) as driver:
        yield driver


def _sign_in(driver: WebDriver, base_url: str, user_name: str) -> None:
    driver.get(f"{base_url}/console/signin")
    driver.find_element(By.ID, "user_name").send_keys(user_name)
    driver.find_element(By.ID, "password").send_keys(PASSWORDS[user_name])
    driver.find_element(By.ID, "signin").click()


def _review_posts_in_audit_log(base_url: str, keyring: Keyring) -> list[tuple[str, int]]:
    """(role, status) of the review posts in the audit log, once the writer has moved them
    from its journal into the table (it does every ``audit_move_seconds``)."""
    token = bearer(keyring, "sec.wang", "security_auditor")
    deadline = time.monotonic() + 30
    while True:
        log = httpx.get(
            f"{base_url}/v1/audit-log", params={"limit": 200}, headers=token, timeout=30
        )
        assert log.status_code == 200, log.text
        posts = [
            (entry["role"], entry["status_code"])
            for entry in log.json()["entries"]
            if entry["action"] == "POST" and entry["resource"].endswith("/review")
        ]
        if posts or time.monotonic() > deadline:
            return posts
        time.sleep(0.5)


def test_an_auditor_reviews_a_warning_and_a_member_reads_on_a_phone(
    server: str,
    browser: WebDriver,
    service_keyring: Keyring,
) -> None:
    driver = browser
    wait = WebDriverWait(driver, 30)
    _sign_in(driver, server, "audit.zhao")
    wait.until(expected_conditions.url_contains("/console/alerts"))
    assert "采购风险预警队列" in driver.title
    driver.find_element(By.LINK_TEXT, OCID).click()
    wait.until(expected_conditions.presence_of_element_located((By.ID, "probability")))
    assert driver.find_element(By.ID, "probability").text == "91.0%"
    assert len(driver.find_elements(By.CSS_SELECTOR, "svg.chart circle.past")) == 12
    related = driver.find_elements(By.CSS_SELECTOR, "#related tr.related-pair")
    assert [row.text.count("SUP-") for row in related] == [2]
    assert len(driver.find_elements(By.CSS_SELECTOR, "#amendments tr.amendment")) == 2
    driver.find_element(By.CSS_SELECTOR, "input[name=verdict][value=confirmed]").click()
    Select(driver.find_element(By.ID, "scheme")).select_by_value("bid_rigging")
    driver.find_element(By.ID, "comment").send_keys("三家报价差距不足千分之一")
    driver.find_element(By.ID, "submit-review").click()
    wait.until(expected_conditions.url_contains("#history"))
    history = driver.find_element(By.ID, "history").text
    assert "确认问题" in history
    assert "三家报价差距不足千分之一" in history
    assert driver.find_element(By.ID, "status").text == "确认问题"
    driver.find_element(By.ID, "signout").click()
    wait.until(expected_conditions.url_contains("/console/signin"))
    driver.get(f"{server}/console/alerts")
    assert driver.current_url.endswith("/console/signin")

    assert _review_posts_in_audit_log(server, service_keyring) == [("auditor", 303)]

    driver.set_window_size(PHONE_WIDTH, 800)
    _sign_in(driver, server, "E1001")
    wait.until(expected_conditions.url_contains("/console/me"))
    inner_width = driver.execute_script("return window.innerWidth")
    scroll_width = driver.execute_script("return document.documentElement.scrollWidth")
    assert inner_width <= PHONE_WIDTH
    assert scroll_width <= inner_width
    mandatory = driver.find_element(By.ID, "mandatory")
    assert mandatory.is_displayed()
    assert len(mandatory.find_elements(By.CSS_SELECTOR, "li.mandatory-item")) == 3
    assert mandatory.size["width"] <= inner_width


def test_each_role_signs_in_and_sees_its_pages_and_no_others(
    server: str, browser: WebDriver
) -> None:
    driver = browser
    wait = WebDriverWait(driver, 30)
    every_page = [page for pages in ROLE_PAGES.values() for page in pages]
    for role, own in ROLE_PAGES.items():
        _sign_in(driver, server, USER_OF_ROLE[role])
        wait.until(expected_conditions.url_contains(own[0]))
        nav = driver.find_element(By.CSS_SELECTOR, "nav.top-nav")
        links = [a.get_attribute("href") for a in nav.find_elements(By.TAG_NAME, "a")]
        assert [page for page in every_page if f"{server}{page}" in links] == own, role
        for page in every_page:
            driver.get(f"{server}{page}")
            messages = [p.text for p in driver.find_elements(By.CSS_SELECTOR, "main p.error")]
            refused = "您的角色无权查看此页面。" in messages
            assert refused == (page not in own), (role, page, driver.current_url, messages)
        driver.find_element(By.ID, "signout").click()
        wait.until(expected_conditions.url_contains("/console/signin"))


@pytest.fixture
def live_app(
    service_settings: ServiceSettings, console_template: ServiceSettings
) -> Iterator[tuple[str, FastAPI]]:
    """The app under a real uvicorn in a thread of this process (so the test can write a
    warning into its store as live scoring would), the queue asking every second."""
    with_console_world(service_settings, console_template)
    settings = service_settings.model_copy(
        update={"console": ConsoleSettings(queue_poll_seconds=1)}
    )
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="console-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 90
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_a_warning_written_after_the_queue_opened_appears_without_reloading(
    live_app: tuple[str, FastAPI], browser: WebDriver
) -> None:
    base_url, app = live_app
    driver = browser
    wait = WebDriverWait(driver, 30)
    _sign_in(driver, base_url, "audit.zhao")
    wait.until(expected_conditions.url_contains("/console/alerts"))
    before = len(driver.find_elements(By.CSS_SELECTOR, "table.alerts tbody tr"))
    assert not driver.find_element(By.ID, "new-alerts").is_displayed()
    driver.execute_script("document.body.setAttribute('data-loaded-once', 'yes')")

    new_id = "c" * 64
    row = alert_row(new_id, "ocds-lodestar-2025-000777", "orange", 0.66)
    row["scored_at"] = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)
    with app.state.runtime.store.use() as store:
        assert store.insert_new("alerts", pd.DataFrame([row])) == 1

    wait.until(
        expected_conditions.presence_of_element_located(
            (By.CSS_SELECTOR, f"tr.new-alert[data-alert-id='{new_id}']")
        )
    )
    rows = driver.find_elements(By.CSS_SELECTOR, "table.alerts tbody tr")
    assert len(rows) == before + 1
    assert "ocds-lodestar-2025-000777" in rows[0].text
    assert "66.0%" in rows[0].text
    assert driver.find_element(By.ID, "new-alerts").is_displayed()
    assert "1 条" in driver.find_element(By.ID, "new-alerts").text
    # the same page, not a reload
    assert driver.execute_script("return document.body.getAttribute('data-loaded-once')") == "yes"
    rows[0].find_element(By.CSS_SELECTOR, "a.alert-link").click()
    wait.until(expected_conditions.presence_of_element_located((By.ID, "probability")))
    assert driver.find_element(By.ID, "probability").text == "66.0%"
    errors = [
        entry
        for entry in driver.get_log("browser")
        if entry.get("level") == "SEVERE" and "Content Security Policy" in entry.get("message", "")
    ]
    assert errors == []
