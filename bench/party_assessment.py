"""The branch assessment route with and without its cache, on the demo world, in one run.

    python bench/party_assessment.py [--data-dir /tmp/lodestar-partybench] [--scale 1] [--rounds 5]

Without an installation at ``--data-dir`` one is made there (``lodestar demo``: keys, world,
ingestion; no model is needed). ``python -m serving run`` on loopback; an officer of a branch
of five or more members asks ``GET /v1/branches/mine/assessment`` for the twelve months of the
demo year. Each round first lands new data, then times one request (a miss: the cache was
dropped, so this is the uncached path every request took before the cache) and ``--hits``
requests after it (hits), one at a time on one keep-alive connection:

* odd rounds land a member's problem report (``POST /v1/feedback``): the store's row counts
  change, which the cache compares on every read;
* even rounds land a meeting register of one row (``POST /v1/ingest/meeting_attendance``):
  ingestion's push to the live state drops the cache.

Each hit's body must equal its round's miss body (the cache serves what was computed).
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.results import write_section  # noqa: E402
from bench.server import BIN, environment, our_server, run  # noqa: E402

ASSESSMENT = "/v1/branches/mine/assessment?months=12&as_of=2025-12-31"
REGISTER_HEADER = "meeting_id,party_branch,kind,starts_at,minutes,mode,employee_no,attended\n"


def installation(data_dir: Path, scale: float) -> None:
    if not (data_dir / "lodestar.duckdb").exists():
        options = ["--data-dir", str(data_dir), "--key-file", str(data_dir / "keys.json")]
        run(
            [str(BIN / "lodestar"), "demo", *options, "--quiet", "--scale", str(scale)],
            timeout=7200,
        )


def people(data_dir: Path) -> tuple[str, str, str]:
    """(officer, their branch's name, another member of it): the first member of the largest
    branch in the world's members file, and the second."""
    with (data_dir / "world" / "learning" / "members.csv").open(encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("party_branch")]
    sizes: dict[str, int] = {}
    for row in rows:
        sizes[row["party_branch"]] = sizes.get(row["party_branch"], 0) + 1
    branch = max(sorted(sizes), key=lambda name: sizes[name])
    members = [row["employee_no"] for row in rows if row["party_branch"] == branch]
    return members[0], branch, members[1]


def tokens(data_dir: Path, officer: str, member: str) -> dict[str, str]:
    from core.settings import Settings
    from serving.platform.auth import issue_token

    keyring = Settings(data_dir=data_dir, key_file=data_dir / "keys.json").keyring()
    hours = timedelta(hours=3)
    return {
        "party_officer": issue_token(keyring, officer, "party_officer", hours),
        "member": issue_token(keyring, member, "member", hours),
        "integration": issue_token(keyring, "bench.loader", "integration", hours),
    }


class Client:
    """One keep-alive loopback connection."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def request(
        self, method: str, path: str, token: str, body: bytes | None = None, media: str = ""
    ) -> tuple[int, bytes, float]:
        headers = {"Authorization": f"Bearer {token}"}
        if media:
            headers["Content-Type"] = media
        started = time.perf_counter()
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        payload = response.read()
        return response.status, payload, time.perf_counter() - started


def land_report(client: Client, token: str, round_no: int) -> None:
    body = json.dumps({"text": f"第{round_no}批物资的采购申请在审批环节卡住了，没人处理"})
    status, payload, _ = client.request(
        "POST", "/v1/feedback", token, body.encode(), "application/json"
    )
    assert status in (200, 201), payload[:500]


def land_register(
    client: Client, token: str, branch: str, member: str, meeting_id: str, day: int
) -> None:
    """A one-row register of a meeting not stored before (the store keeps nothing twice, so a
    register posted again would land no row and drop nothing)."""
    register = REGISTER_HEADER + (
        f"{meeting_id},{branch},themed_party_day,2025-12-{day:02d}T10:00,90,"
        f"in_person,{member},true\n"
    )
    status, payload, _ = client.request(
        "POST",
        f"/v1/ingest/meeting_attendance?filename={meeting_id}.csv",
        token,
        register.encode(),
        "application/octet-stream",
    )
    assert status == 200, payload[:500]
    assert json.loads(payload)["new_rows"] == 1, payload[:500]


def measure(
    port: int, branch: str, member: str, keys: dict[str, str], rounds: int, hits: int
) -> dict[str, list[float]]:
    client = Client(port)
    run_id = time.strftime("%Y%m%d%H%M%S")
    times: dict[str, list[float]] = {"miss_report": [], "miss_ingest": [], "hit": []}
    for round_no in range(1, rounds + 1):
        by_ingest = round_no % 2 == 0
        if by_ingest:
            meeting_id = f"BENCH-{run_id}-{round_no}"
            land_register(client, keys["integration"], branch, member, meeting_id, 10 + round_no)
        else:
            land_report(client, keys["member"], round_no)
        status, first, seconds = client.request("GET", ASSESSMENT, keys["party_officer"])
        assert status == 200, first[:500]
        times["miss_ingest" if by_ingest else "miss_report"].append(seconds)
        for _ in range(hits):
            status, again, seconds = client.request("GET", ASSESSMENT, keys["party_officer"])
            assert status == 200, again[:500]
            assert again == first, "a hit differs from its round's miss"
            times["hit"].append(seconds)
    return times


def ms(values: list[float], q: float) -> str:
    ordered = sorted(values)
    return f"{1000 * ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]:.1f}"


def report(times: dict[str, list[float]], scale: float, rounds: int, hits: int) -> str:
    misses = times["miss_report"] + times["miss_ingest"]
    ratio = statistics.median(misses) / statistics.median(times["hit"])
    rows = [
        ("uncached (miss after a report through the API)", times["miss_report"]),
        ("uncached (miss after an ingested register)", times["miss_ingest"]),
        ("cached (hit)", times["hit"]),
    ]
    lines = [
        f"`python bench/party_assessment.py --scale {scale:g} --rounds {rounds} --hits {hits}`:"
        " one server on the demo world, an officer of the largest branch asking for the twelve"
        " months of 2025; each round lands new data, then one request recomputes (the path"
        " every request took before the cache: the baseline) and the next ones are served"
        " from the cache. Times are the client's, one request at a time on loopback.",
        "",
        "| request | n | p50 ms | max ms |",
        "| --- | ---: | ---: | ---: |",
        *(f"| {name} | {len(v)} | {ms(v, 0.5)} | {ms(v, 1.0)} |" for name, v in rows),
        "",
        f"Cached / uncached p50: **{ratio:.0f}× faster**. Every hit's body equals its round's"
        " miss; a miss follows each landing (a report submitted and a register ingested both"
        " drop the cached frame), so the first request after new data still pays the full"
        " computation.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/lodestar-partybench"))
    parser.add_argument("--scale", type=float, default=1.0, help="demo size if one is made")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--hits", type=int, default=10, help="cached requests per round")
    parser.add_argument("--no-write", action="store_true", help="print, do not write RESULTS.md")
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    installation(data_dir, args.scale)
    officer, branch, member = people(data_dir)
    keys = tokens(data_dir, officer, member)
    manifest = json.loads((data_dir / "world" / "manifest.json").read_text())
    scale = float(manifest["config"]["scale"])
    with our_server(
        environment(data_dir), data_dir / "party-bench.log", (), startup_seconds=600
    ) as port:
        times = measure(port, branch, member, keys, args.rounds, args.hits)
    body = report(times, scale, args.rounds, args.hits)
    print(body)
    if not args.no_write:
        write_section("Branch assessment cache (bench/party_assessment.py)", body)


if __name__ == "__main__":
    main()
