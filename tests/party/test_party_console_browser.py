"""The party-work and problem-report pages in a real headless Chromium (Debian's ``chromium``
and ``chromium-driver``, driven by Selenium) against a real ``python -m serving run``:

* a party officer sees their branch's meeting slots with reasons, and the monthly assessment
  in which the months when fewer than five members had joined are withheld (on the page and
  in the downloaded CSV) while the month of six shows its figures;
* a member submits a named integrity concern and sees its status; the auditor it is routed
  to finds it in their queue, sees no trace of who reported it, and resolves it with the
  page's CSRF form (a post without the token is refused); the member then sees it resolved.

Nothing is fetched from the internet: the browser starts with background networking off.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from core.security import PersonalData
from core.settings import init_key_file
from serving.console.users import put_user
from serving.settings import ServiceSettings
from store.database import Store
from tests.serving.chromium import headless_chromium  # skips without Chromium
from tests.serving.conftest import make_settings
from tests.serving.real_server import running_server, server_environment

BRANCH = "物资供应中心第一党支部"
LATE = date(2025, 3, 5)  # two members join then: January and February have four
# employee_no, name, shift pattern, crew, joined
MEMBERS = [
    ("E2001", "张伟", "day", "A", date(2019, 3, 1)),
    ("E2002", "王芳", "day", "A", date(2019, 3, 1)),
    ("E2003", "李娜", "day", "A", date(2019, 3, 1)),
    ("E2004", "刘洋", "three_shift", "A", date(2019, 3, 1)),
    ("E2005", "陈静", "three_shift", "B", LATE),
    ("E2006", "杨磊", "three_shift", "C", LATE),
]
MONTHS = ("2025-01", "2025-02", "2025-03")
USERS = [
    ("E2001", "party_officer", "officer password 1"),
    ("E2002", "member", "member password 1"),
    ("audit.zhao", "auditor", "correct horse battery"),
]
PASSWORDS = {name: password for name, _, password in USERS}
INTEGRITY_TEXT = "钢丝绳这单评标前就有人打招呼，定给了关系户"


def _members(personal: PersonalData) -> pd.DataFrame:
    cipher = personal.cipher
    return pd.DataFrame(
        [
            {
                "member_key": personal.member_key(number),
                "employee_no_enc": cipher.encrypt(number, column="employee_no_enc"),
                "name_enc": cipher.encrypt(name, column="name_enc"),
                "party_branch_enc": cipher.encrypt(BRANCH, column="party_branch_enc"),
                "branch_key": personal.pseudonymiser.pseudonym("branch", BRANCH),
                "role": "party_member",
                "shift_pattern": pattern,
                "crew": crew,
                "joined_on": joined,
            }
            for number, name, pattern, crew, joined in MEMBERS
        ]
    )


def _attendance(personal: PersonalData) -> pd.DataFrame:
    """Each month's themed party day, Friday afternoon: the day workers come."""
    return pd.DataFrame(
        [
            {
                "meeting_id": f"M-{month}",
                "branch_key": personal.pseudonymiser.pseudonym("branch", BRANCH),
                "member_key": personal.member_key(number),
                "kind": "themed_party_day",
                "starts_at": datetime.fromisoformat(f"{month}-07T16:00"),
                "minutes": 90,
                "mode": "in_person",
                "attended": pattern == "day",
            }
            for number, _, pattern, _, joined in MEMBERS
            for month in MONTHS
            if joined < date.fromisoformat(f"{month}-28")
        ]
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    settings: ServiceSettings = make_settings(tmp_path)
    init_key_file(settings.key_file)
    keyring = settings.keyring()
    personal = PersonalData(keyring)
    with Store.open(settings, keyring) as store:
        store.insert_new("members", _members(personal))
        store.insert_new("meeting_attendance", _attendance(personal))
        for name, role, password in USERS:
            put_user(store, personal, name, role, password)
    with running_server(server_environment(settings), tmp_path / "server.log") as (url, _):
        yield url


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    with headless_chromium(tmp_path / "chromium-profile") as driver:
        yield driver


def _sign_in(driver: WebDriver, base_url: str, user_name: str, lands_on: str) -> None:
    driver.get(f"{base_url}/console/signin")
    driver.find_element(By.ID, "user_name").send_keys(user_name)
    driver.find_element(By.ID, "password").send_keys(PASSWORDS[user_name])
    driver.find_element(By.ID, "signin").click()
    WebDriverWait(driver, 30).until(expected_conditions.url_contains(lands_on))


def _sign_out(driver: WebDriver) -> None:
    driver.find_element(By.ID, "signout").click()
    WebDriverWait(driver, 30).until(expected_conditions.url_contains("/console/signin"))


def _cookies(driver: WebDriver) -> dict[str, str]:
    return {cookie["name"]: cookie["value"] for cookie in driver.get_cookies()}


def test_an_officer_sees_slots_and_an_assessment_withholding_months_under_five(
    server: str, browser: WebDriver
) -> None:
    driver = browser
    _sign_in(driver, server, "E2001", "/console/branch")
    nav = driver.find_element(By.CSS_SELECTOR, "nav.top-nav").text
    assert "错峰参会" in nav
    assert "量化考评" in nav

    driver.get(f"{server}/console/meetings?start=2025-04-07")
    reasons = driver.find_element(By.ID, "reasons").text
    assert "6名党员中" in reasons
    assert driver.find_element(By.ID, "main-slot").text

    driver.get(f"{server}/console/assessment?as_of=2025-03-31")
    rows = {
        row.get_attribute("data-month"): row
        for row in driver.find_elements(By.CSS_SELECTOR, "#assessment tbody tr")
    }
    assert list(rows)[-3:] == list(MONTHS)  # the twelve months up to as_of
    for month in ("2025-01", "2025-02"):
        assert "suppressed" in (rows[month].get_attribute("class") or "")
        assert rows[month].text == f"{month} 人数不足 5 人，不予显示"
    march = rows["2025-03"].find_elements(By.TAG_NAME, "td")
    assert march[1].text == "6"
    assert "50.0%" in rows["2025-03"].text  # meeting coverage: the three day workers

    link = driver.find_element(By.ID, "download")
    exported = httpx.get(link.get_attribute("href") or "", cookies=_cookies(driver), timeout=60)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    lines = exported.content.decode("utf-8").splitlines()
    assert lines[0].startswith("\ufeff党支部,月份,党员人数")
    by_month = {line.split(",")[1]: line.split(",") for line in lines[1:]}
    assert by_month["2025-03"][2] == "6"
    for month in ("2025-01", "2025-02"):
        assert by_month[month][2] == ""  # no member count of a group under five
        assert not any(cell.replace(".", "").isdigit() for cell in by_month[month][4:])
    _sign_out(driver)


def test_a_member_reports_an_integrity_concern_the_auditor_resolves_it_unnamed(
    server: str, browser: WebDriver
) -> None:
    driver = browser
    wait = WebDriverWait(driver, 30)
    _sign_in(driver, server, "E2002", "/console/me")
    driver.get(f"{server}/console/reports")
    driver.find_element(By.ID, "text").send_keys(INTEGRITY_TEXT)
    driver.find_element(By.ID, "supplier_id").send_keys("SUP-00004")
    assert not driver.find_element(By.ID, "anonymous").is_selected()  # a named report
    driver.find_element(By.ID, "submit-report").click()
    wait.until(expected_conditions.presence_of_element_located((By.ID, "submitted")))
    report_path = driver.current_url.split("?")[0].removeprefix(server)
    report_id = report_path.rsplit("/", 1)[1]
    assert driver.find_element(By.ID, "state").text == "已反馈"
    assert driver.find_element(By.ID, "kind").text == "廉洁问题"
    driver.get(f"{server}/console/reports")
    assert "已反馈" in driver.find_element(By.ID, "my-reports").text
    _sign_out(driver)

    _sign_in(driver, server, "audit.zhao", "/console/alerts")
    driver.get(f"{server}/console/feedback")
    queue = driver.find_element(By.ID, "queue")
    assert "廉洁问题" in queue.text
    driver.find_element(By.CSS_SELECTOR, f"a[href='/console/feedback/{report_id}']").click()
    wait.until(expected_conditions.presence_of_element_located((By.ID, "move-form")))
    assert INTEGRITY_TEXT in driver.find_element(By.ID, "text").text
    page = driver.page_source
    for trace in ("E2002", "王芳"):
        assert trace not in page
    assert driver.find_element(By.ID, "protected").text == "反馈人身份已加密保护，不予显示。"

    unsigned = httpx.post(
        f"{server}/console/feedback/{report_id}/state",
        data={"to_state": "resolved"},
        cookies=_cookies(driver),
        timeout=30,
    )
    assert unsigned.status_code == 403
    driver.refresh()
    assert driver.find_element(By.ID, "state").text == "已反馈"

    driver.find_element(By.CSS_SELECTOR, "input[name=to_state][value=resolved]").click()
    driver.find_element(By.ID, "note").send_keys("已转纪检部门核查")
    driver.find_element(By.ID, "submit-move").click()
    wait.until(expected_conditions.url_contains("#history"))
    assert driver.find_element(By.ID, "state").text == "已解决"
    assert "已解决 · 审计/纪检人员" in driver.find_element(By.ID, "history").text
    _sign_out(driver)

    _sign_in(driver, server, "E2002", "/console/me")
    driver.get(f"{server}{report_path}")
    assert driver.find_element(By.ID, "state").text == "已解决"
    driver.get(f"{server}/console/feedback")  # the handlers' queue is not a member's
    assert "您的角色无权查看此页面。" in driver.find_element(By.CSS_SELECTOR, "main").text
