"""Screenshots of each console page, taken from the real console on the demo world with
Debian's headless Chromium (Selenium and ``chromium-driver``), into ``docs/screenshots/``.

    python bench/screenshots.py [--data-dir /tmp/lodestar-consolebench] [--scale 0.2]

The installation, its users and the records shown are those of ``bench/console.py`` (made
there if missing). Each person signs in through the form, as a person would; each page is
captured whole (the viewport is set to the page's height, at most ``MAX_HEIGHT``), the
member's page at a phone's 360 px. Chinese needs a CJK font (``make install`` installs
Debian's ``fonts-noto-cjk``); without one the characters show as boxes. Nothing is fetched
from the internet: the browser starts with background networking off.
"""

from __future__ import annotations

import argparse
import base64
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.console import MODELS, PASSWORD, World, installation, prepare  # noqa: E402
from bench.server import environment, log, our_server  # noqa: E402

OUT = REPO / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DESKTOP_WIDTH = 1280
PHONE_WIDTH = 360
MAX_HEIGHT = 2400


def shots(world: World) -> list[tuple[str, str, str, int]]:
    """(file name, role, path, window width) of every page, in reading order."""
    start, end = world.report_period
    mid_month = f"{end[:8]}20"  # the member's page on a day with this month's items still due
    return [
        ("01-signin.png", "", "/console/signin", DESKTOP_WIDTH),
        ("02-auditor-queue.png", "auditor", "/console/alerts", DESKTOP_WIDTH),
        ("03-auditor-warning.png", "auditor", f"/console/alerts/{world.alert_id}", DESKTOP_WIDTH),
        ("04-manager-tenders.png", "procurement_manager", "/console/tenders", DESKTOP_WIDTH),
        (
            "05-manager-tender.png",
            "procurement_manager",
            f"/console/tenders/{world.ocid}",
            DESKTOP_WIDTH,
        ),
        (
            "06-analyst-search.png",
            "esg_analyst",
            f"/console/suppliers?q={world.supplier_id[-3:]}",
            DESKTOP_WIDTH,
        ),
        (
            "07-analyst-supplier.png",
            "esg_analyst",
            f"/console/suppliers/{world.supplier_id}",
            DESKTOP_WIDTH,
        ),
        (
            "08-analyst-gri-report.png",
            "esg_analyst",
            f"/console/esg-report?from={start}&to={end}",
            DESKTOP_WIDTH,
        ),
        ("09-officer-branch.png", "party_officer", "/console/branch", DESKTOP_WIDTH),
        (
            "10-member-phone.png",
            "member",
            f"/console/me?as_of={mid_month}",
            PHONE_WIDTH,
        ),
        ("11-security-audit-log.png", "security_auditor", "/console/audit-log", DESKTOP_WIDTH),
        ("12-admin.png", "admin", "/console/admin", DESKTOP_WIDTH),
        ("13-password.png", "admin", "/console/password", DESKTOP_WIDTH),
        ("14-auditor-queue-english.png", "auditor", "/console/alerts?lang=en", DESKTOP_WIDTH),
        ("15-auditor-problem-reports.png", "auditor", "/console/feedback", DESKTOP_WIDTH),
        ("16-officer-meetings.png", "party_officer", "/console/meetings", DESKTOP_WIDTH),
        (
            "17-officer-assessment.png",
            "party_officer",
            f"/console/assessment?as_of={end}",
            DESKTOP_WIDTH,
        ),
        ("18-member-reports.png", "member", "/console/reports", PHONE_WIDTH),
    ]


def take(base_url: str, world: World, profile: Path) -> list[str]:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.chrome.webdriver import WebDriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    options = Options()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--lang=zh-CN",
    ):
        options.add_argument(flag)
    driver = WebDriver(service=Service(CHROMEDRIVER), options=options)
    taken = []
    try:
        signed_in_as = None
        for name, role, path, width in shots(world):
            if role != signed_in_as:
                driver.delete_all_cookies()
                if role:
                    driver.get(f"{base_url}/console/signin")
                    driver.find_element(By.ID, "user_name").send_keys(world.users[role])
                    driver.find_element(By.ID, "password").send_keys(PASSWORD)
                    driver.find_element(By.ID, "signin").click()
                    # the sign-in's redirect must land before the next page is asked for,
                    # or it replaces that page
                    WebDriverWait(driver, 30).until(
                        lambda d: "/console/signin" not in d.current_url
                    )
                signed_in_as = role
            driver.set_window_size(width, 900)
            driver.get(f"{base_url}{path}")
            height = driver.execute_script("return document.documentElement.scrollHeight")
            metrics = {"width": width, "height": min(int(height), MAX_HEIGHT)}
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {**metrics, "deviceScaleFactor": 1, "mobile": width <= PHONE_WIDTH},
            )
            shot = driver.execute_cdp_cmd(
                "Page.captureScreenshot",
                {"format": "png", "clip": {"x": 0, "y": 0, **metrics, "scale": 1}},
            )
            (OUT / name).write_bytes(base64.b64decode(shot["data"]))
            driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
            taken.append(name)
            log(f"{name}: {path}")
    finally:
        driver.quit()
    return taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/lodestar-consolebench"))
    parser.add_argument("--scale", type=float, default=0.2, help="demo size if one is made")
    args = parser.parse_args()
    if shutil.which("fc-list") is None:
        log("fontconfig is missing: Chinese may show as boxes")
    data_dir = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    installation(data_dir, args.scale)
    world = prepare(data_dir)
    OUT.mkdir(parents=True, exist_ok=True)
    env = environment(data_dir)
    with (
        our_server(env, data_dir / "screenshots.log", MODELS, startup_seconds=300) as port,
        tempfile.TemporaryDirectory() as profile,
    ):
        taken = take(f"http://127.0.0.1:{port}", world, Path(profile))
    print("\n".join(taken))


if __name__ == "__main__":
    main()
