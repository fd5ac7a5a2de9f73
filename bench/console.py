"""Page loads of the web console on the demo world: server time p50/p99 of each role's pages,
beside the JSON API route that serves the same data, measured in the same run on the same
server.

    python bench/console.py [--data-dir /tmp/lodestar-consolebench] [--scale 0.2] [--requests 60]

Without an installation at ``--data-dir`` a demo is made there (``lodestar demo``, then every
model trained, gated and registered and the store scored into alerts, as ``make demo``
does). A console user per role is put in the store; then ``python -m serving run`` on
loopback. Each person signs in once; each page is then requested ``--requests`` times, one
at a time on one keep-alive loopback connection (so the time is the server's: rendering,
the service call, the session and the audit entry), after ``WARMUP`` unmeasured requests.
The baseline is the API route the page calls through the same service function, with a
bearer token, measured the same way between the page's requests (interleaved, so a noisy
neighbour slows both alike).
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.results import write_section  # noqa: E402
from bench.server import BIN, environment, log, our_server, run  # noqa: E402

MODELS = ("procurement-risk", "supplier-esg", "mastery", "study-recommender")
PASSWORD = "console bench password"
WARMUP = 5
STAFF = {
    "auditor": "audit.bench",
    "procurement_manager": "buyer.bench",
    "esg_analyst": "esg.bench",
    "security_auditor": "sec.bench",
    "admin": "admin.bench",
}


def installation(data_dir: Path, scale: float) -> None:
    """A demo installation at ``data_dir`` with every champion registered and alerts scored."""
    options = ["--data-dir", str(data_dir), "--key-file", str(data_dir / "keys.json"), "--quiet"]
    if not (data_dir / "lodestar.duckdb").exists():
        run([str(BIN / "lodestar"), "demo", *options, "--scale", str(scale)], timeout=3600)
    if not (data_dir / "mlflow.db").exists():
        run([str(BIN / "lodestar"), "snapshot", *options])
        for module, extra in (
            ("training.procurement_risk", []),
            ("training.supplier_esg", []),
            ("training.mastery", []),
            ("training.recommender", ["--sim-weeks", "0"]),
        ):
            run([sys.executable, "-m", module, "train", *options, *extra], timeout=3600)
        run([sys.executable, "-m", "training.procurement_risk", "score", "--store-write", *options])


@dataclass(frozen=True)
class World:
    """The people and records the pages are opened on."""

    users: dict[str, str]  # role -> user name (members and officers by employee number)
    alert_id: str
    ocid: str
    supplier_id: str
    report_period: tuple[str, str]
    feed_cursor: str  # the latest warning's scored_at: what an open queue polls with


def prepare(data_dir: Path) -> World:
    """Console users for every role, and the records to open, picked from the store: the
    top warning of a tender with amendments (so its page shows every evidence section), a
    tender with three or more valid bids, the supplier with most events, a member with the
    most statements and an officer of a branch of five or more."""
    from core.security import PersonalData
    from core.settings import Settings
    from serving.console.users import put_user
    from store.database import Store

    settings = Settings(data_dir=data_dir, key_file=data_dir / "keys.json")
    keyring = settings.keyring()
    personal = PersonalData(keyring)
    with Store.open(settings, keyring) as store:

        def first(sql: str) -> Any:
            return store.query(sql).iloc[0, 0]

        alert_id = first(
            "SELECT alert_id FROM alerts ORDER BY (ocid IN (SELECT ocid FROM amendments)) DESC, "
            "probability DESC, alert_id LIMIT 1"
        )
        ocid = first(
            "SELECT ocid FROM bids WHERE status = 'valid' GROUP BY ocid HAVING count(*) >= 3 "
            "ORDER BY (ocid IN (SELECT ocid FROM alerts)) DESC, ocid DESC LIMIT 1"
        )
        supplier_id = first(
            "SELECT supplier_id FROM supplier_events GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        )
        members = store.query(
            "SELECT m.employee_no_enc, count(*) OVER (PARTITION BY m.branch_key) AS size, "
            "m.branch_key IS NOT NULL AS in_branch, "
            "(SELECT count(*) FROM statements s WHERE s.member_key = m.member_key) AS n "
            "FROM members m ORDER BY n DESC, m.member_key"
        )

        def number(enc: bytes) -> str:
            return str(personal.cipher.decrypt(enc, column="employee_no_enc"))

        officer_row = members[members["in_branch"] & (members["size"] >= 5)].iloc[0]
        member_row = members[members["employee_no_enc"] != officer_row["employee_no_enc"]].iloc[0]
        users = dict(STAFF)
        users["member"] = number(member_row["employee_no_enc"])
        users["party_officer"] = number(officer_row["employee_no_enc"])
        for role, name in users.items():
            put_user(store, personal, name, role, PASSWORD)
        cursor = first("SELECT max(scored_at) FROM alerts")
    return World(
        users,
        str(alert_id),
        str(ocid),
        str(supplier_id),
        ("2025-01-01", "2025-12-31"),
        cursor.isoformat(),
    )


# --------------------------------------------------------------------------------------------
# Requests


class Browser:
    """One keep-alive loopback connection with a console session's cookies."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes, float]:
        """(status, body, seconds from sending to the last byte)."""
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        started = time.perf_counter()
        self.connection.request(method, path, body, sent)
        response = self.connection.getresponse()
        answer = response.read()
        elapsed = time.perf_counter() - started
        for header in response.headers.get_all("set-cookie") or []:
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if value:
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        return response.status, answer, elapsed

    def sign_in(self, user_name: str) -> None:
        _, form, _ = self.request("GET", "/console/signin")
        found = re.search(rb'name="csrf" value="([^"]*)"', form)
        assert found is not None
        body = urlencode(
            {"csrf": found.group(1).decode(), "user_name": user_name, "password": PASSWORD}
        ).encode()
        status, _, _ = self.request(
            "POST",
            "/console/signin",
            body,
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        if status != 303:
            raise SystemExit(f"{user_name} could not sign in ({status})")


@dataclass(frozen=True)
class Page:
    name: str
    role: str
    path: str
    api_method: str
    api_path: str
    api_body: bytes | None = None


def pages(world: World) -> list[Page]:
    start, end = world.report_period
    member = world.users["member"]
    ranking = json.dumps({"esg_weight": 0.3}).encode()
    return [
        Page(
            "auditor: warning queue",
            "auditor",
            "/console/alerts",
            "GET",
            "/v1/procurement/alerts?limit=25",
        ),
        Page(
            "auditor: new-warnings feed (the queue's script)",
            "auditor",
            f"/console/alerts-feed?{urlencode({'after': world.feed_cursor})}",
            "GET",
            "/v1/procurement/alerts?limit=25",
        ),
        Page(
            "auditor: one warning with evidence",
            "auditor",
            f"/console/alerts/{world.alert_id}",
            "GET",
            f"/v1/procurement/alerts/{world.alert_id}",
        ),
        Page(
            "manager: tender ranked greener",
            "procurement_manager",
            f"/console/tenders/{world.ocid}",
            "POST",
            f"/v1/tenders/{world.ocid}/esg-ranking",
            ranking,
        ),
        Page(
            "analyst: supplier screen and events",
            "esg_analyst",
            f"/console/suppliers/{world.supplier_id}",
            "GET",
            f"/v1/suppliers/{world.supplier_id}/esg",
        ),
        Page(
            "analyst: GRI 308/414 report",
            "esg_analyst",
            f"/console/esg-report?from={start}&to={end}",
            "GET",
            f"/v1/esg/report?from={start}&to={end}",
        ),
        Page(
            "analyst: GRI report as CSV",
            "esg_analyst",
            f"/console/esg-report.csv?from={start}&to={end}",
            "GET",
            f"/v1/esg/report?from={start}&to={end}",
        ),
        Page(
            "officer: branch study",
            "party_officer",
            "/console/branch",
            "GET",
            "/v1/branches/mine/mastery",
        ),
        Page(
            "member: suggestions and mastery",
            "member",
            "/console/me",
            "GET",
            f"/v1/members/{member}/recommendations?k=5",
        ),
        Page(
            "security: audit log and chain",
            "security_auditor",
            "/console/audit-log",
            "GET",
            "/v1/audit-log?limit=25",
        ),
        Page(
            "admin: models, ingestion, users", "admin", "/console/admin", "GET", "/v1/admin/drift"
        ),
    ]


def _tokens(data_dir: Path, world: World) -> dict[str, str]:
    from core.settings import Settings
    from serving.platform.auth import issue_token

    keyring = Settings(data_dir=data_dir, key_file=data_dir / "keys.json").keyring()
    return {
        role: issue_token(keyring, name, role, timedelta(hours=2))
        for role, name in world.users.items()
    }


def _shown(path: str, world: World) -> str:
    """``path`` without its query, the records it names as placeholders."""
    path = path.split("?")[0]
    for value, name in (
        (world.alert_id, "{alert_id}"),
        (world.ocid, "{ocid}"),
        (world.supplier_id, "{supplier_id}"),
        (world.users["member"], "{employee_no}"),
    ):
        path = path.replace(value, name)
    return path


def measure(port: int, world: World, tokens: dict[str, str], repeats: int) -> list[dict[str, Any]]:
    rows = []
    for page in pages(world):
        browser = Browser(port)
        browser.sign_in(world.users[page.role])
        api = Browser(port)
        api_headers = {"Authorization": f"Bearer {tokens[page.role]}"}
        if page.api_body is not None:
            api_headers["Content-Type"] = "application/json"
        console_s: list[float] = []
        api_s: list[float] = []
        for i in range(WARMUP + repeats):
            status, body, seconds = browser.request("GET", page.path)
            if status != 200:
                raise SystemExit(f"{page.path}: {status} {body[:300]!r}")
            api_status, api_answer, api_seconds = api.request(
                page.api_method, page.api_path, page.api_body, api_headers
            )
            if api_status != 200:
                raise SystemExit(f"{page.api_path}: {api_status} {api_answer[:300]!r}")
            if i >= WARMUP:
                console_s.append(seconds)
                api_s.append(api_seconds)
        rows.append(
            {
                "page": page.name,
                "path": _shown(page.path, world),
                "api": f"{page.api_method} {_shown(page.api_path, world)}",
                "bytes": len(body),
                "p50": 1000 * float(np.quantile(console_s, 0.5)),
                "p99": 1000 * float(np.quantile(console_s, 0.99)),
                "api_p50": 1000 * float(np.quantile(api_s, 0.5)),
                "api_p99": 1000 * float(np.quantile(api_s, 0.99)),
            }
        )
        log(f"{page.name}: p50 {rows[-1]['p50']:.1f} ms (API {rows[-1]['api_p50']:.1f} ms)")
    return rows


def report(rows: list[dict[str, Any]], scale: float, repeats: int, world: World) -> str:
    lines = [
        "Each role's console pages against the JSON API route that serves the same data "
        f"through the same service function, on the demo world at scale {scale:g} with every "
        "champion loaded (`make demo`'s models). One keep-alive loopback connection per "
        f"person, requests one at a time, {repeats} measured after {WARMUP} unmeasured, page "
        "and API request interleaved; time from sending to the last byte, so it is the "
        "server's (session, service call, rendering, audit entry). Command: "
        f"`python bench/console.py --scale {scale:g} --requests {repeats}`.",
        "",
        "| page | path | p50 ms | p99 ms | baseline route | p50 ms | p99 ms "
        "| page / API p50 | body bytes |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        ratio = row["p50"] / row["api_p50"] if row["api_p50"] else float("nan")
        lines.append(
            f"| {row['page']} | `{row['path']}` | {row['p50']:.1f} | {row['p99']:.1f} | "
            f"`{row['api']}` | {row['api_p50']:.1f} | {row['api_p99']:.1f} | {ratio:.2f} | "
            f"{row['bytes']:,} |"
        )
    lines += [
        "",
        "The member page asks the service for suggestions and for mastery (two calls); its "
        "baseline is the suggestions route alone. The officer page computes the branch's "
        "mastery twice (by domain, the API's aggregates, and by knowledge point with the "
        "mandatory completion); its baseline is the domain route. The admin page reads "
        "readiness, the registry's gate tags, drift, ingestion runs, quarantine reasons and "
        "users; its baseline is the drift route alone. The queue page also lists the "
        "categories bought by warned tenders for its filter.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/lodestar-consolebench"))
    parser.add_argument("--scale", type=float, default=0.2, help="demo size if one is made")
    parser.add_argument("--requests", type=int, default=60, help="measured requests per page")
    parser.add_argument("--no-write", action="store_true", help="print, do not write RESULTS.md")
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    installation(data_dir, args.scale)
    world = prepare(data_dir)
    tokens = _tokens(data_dir, world)
    manifest = data_dir / "world" / "manifest.json"
    scale = (
        float(json.loads(manifest.read_text())["config"]["scale"])
        if manifest.exists()
        else args.scale
    )
    env = environment(data_dir)
    with our_server(env, data_dir / "console-bench.log", MODELS, startup_seconds=300) as port:
        rows = measure(port, world, tokens, args.requests)
    body = report(rows, scale, args.requests, world)
    print(body)
    if not args.no_write:
        write_section("Web console (bench/console.py)", body)


if __name__ == "__main__":
    main()
