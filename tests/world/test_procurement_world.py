"""The procurement half of the demo world: determinism, formats, planted truth, labels."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import math
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

import orjson
import pytest

from world.config import WorldConfig
from world.layout import (
    TRUTH_PROCESS_SCHEMES,
    TRUTH_RATES,
    TRUTH_RELATED_GROUPS,
    TRUTH_RINGS,
    TRUTH_SUPPLIER_ESG,
)
from world.procurement import generate_procurement_world
from world.procurement_plans import (
    APPROVAL_THRESHOLDS,
    LEGAL_TENDER_THRESHOLD,
    SCHEME_RATES,
    SPLIT_WINDOW_DAYS,
)
from world.supplier_events import EVENT_TYPES
from world.supplier_world import CERTIFICATION_HEADER, EVENT_HEADER, REGISTER_HEADER
from world.suppliers_gen import build_suppliers, credit_code

SMALL = WorldConfig(scale=0.05)

WORLD_FILES = (
    "suppliers/register.csv",
    "suppliers/certifications.csv",
    "suppliers/events.csv",
    "procurement/releases.jsonl",
    "procurement/audit_outcomes.csv",
)
TRUTH_FILES = (
    TRUTH_PROCESS_SCHEMES,
    TRUTH_RINGS,
    TRUTH_RELATED_GROUPS,
    TRUTH_SUPPLIER_ESG,
    TRUTH_RATES,
)

# Which register column holds each shareable value.
SHARED_COLUMN = {
    "phone": "联系电话",
    "address": "注册地址",
    "legal_representative": "法定代表人",
    "bank_account": "开户银行账号",
}


def _generate(root: Path, config: WorldConfig = SMALL) -> tuple[Path, Path, dict[str, int]]:
    world, truth = root / "world", root / "truth"
    counts = generate_procurement_world(config, world, truth)
    return world, truth, counts


@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, int]]:
    return _generate(tmp_path_factory.mktemp("procurement"))


def _digests(world: Path, truth: Path) -> dict[str, str]:
    paths = [world / name for name in WORLD_FILES] + [truth / name for name in TRUTH_FILES]
    return {
        str(p.relative_to(p.parent.parent)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in paths
    }


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _releases(world: Path) -> dict[str, dict]:
    lines = (world / "procurement" / "releases.jsonl").read_bytes().splitlines()
    return {release["ocid"]: release for release in map(orjson.loads, lines)}


def _detail(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split(";"))


def _bidders(release: dict) -> set[str]:
    return {
        tenderer["id"]
        for bid in release.get("bids", {}).get("details", [])
        for tenderer in bid["tenderers"]
    }


# --- determinism ----------------------------------------------------------------------


def test_same_config_gives_identical_bytes(tmp_path: Path, small_world) -> None:
    world, truth, counts = small_world
    again_world, again_truth, again_counts = _generate(tmp_path)
    assert _digests(world, truth) == _digests(again_world, again_truth)
    assert counts == again_counts


def test_other_seed_gives_other_files(tmp_path: Path, small_world) -> None:
    world, truth, _ = small_world
    other_world, other_truth, _ = _generate(tmp_path, WorldConfig(scale=0.05, seed=7))
    ours, theirs = _digests(world, truth), _digests(other_world, other_truth)
    assert all(ours[name] != theirs[name] for name in ours)


# --- formats --------------------------------------------------------------------------


def test_counts_match_files(small_world) -> None:
    world, _, counts = small_world
    assert counts["suppliers"] == SMALL.n_suppliers == len(_csv(world / "suppliers/register.csv"))
    assert counts["processes"] == SMALL.n_processes == len(_releases(world))
    assert counts["supplier_events"] == len(_csv(world / "suppliers/events.csv"))
    assert counts["audit_outcomes"] == len(_csv(world / "procurement/audit_outcomes.csv"))


def test_supplier_files_have_chinese_headers(small_world) -> None:
    world, _, _ = small_world
    for name, header in (
        ("register.csv", REGISTER_HEADER),
        ("certifications.csv", CERTIFICATION_HEADER),
        ("events.csv", EVENT_HEADER),
    ):
        first_line = (world / "suppliers" / name).read_text(encoding="utf-8").splitlines()[0]
        assert first_line.split(",") == list(header)


def test_credit_codes_carry_valid_check_characters(small_world) -> None:
    world, _, _ = small_world
    for row in _csv(world / "suppliers/register.csv"):
        code = row["统一社会信用代码"]
        assert len(code) == 18
        assert credit_code(code[2:8], code[8:16]) == code


def test_every_release_is_a_compiled_cny_release(small_world) -> None:
    world, _, _ = small_world
    lines = (world / "procurement" / "releases.jsonl").read_bytes().splitlines()
    for line in lines:
        release = json.loads(line)
        assert release["ocid"].startswith("ocds-lodestar-")
        assert release["tag"] == ["compiled"]
        tender = release["tender"]
        assert tender["value"]["currency"] == "CNY"
        assert tender["items"][0]["classification"]["scheme"] == "LODESTAR-MAT"
        amounts = [b["value"] for b in release.get("bids", {}).get("details", [])]
        amounts += [a["value"] for a in release.get("awards", [])]
        amounts += [c["value"] for c in release.get("contracts", [])]
        assert all(value["currency"] == "CNY" for value in amounts)
        assert release["buyer"]["id"] in {party["id"] for party in release["parties"]}


def test_supplier_contact_phones_are_register_phones(small_world) -> None:
    world, _, _ = small_world
    phone = {row["供应商编号"]: row["联系电话"] for row in _csv(world / "suppliers/register.csv")}
    for release in _releases(world).values():
        for party in release["parties"]:
            if party["id"].startswith("SUP-"):
                assert party["contactPoint"]["telephone"] == phone[party["id"]]
                assert party["identifier"]["scheme"] == "CN-USCC"


def test_small_purchases_dominate_and_big_tenders_are_open(small_world) -> None:
    world, _, _ = small_world
    releases = list(_releases(world).values())
    small = sum(1 for r in releases if r["tender"]["value"]["amount"] < APPROVAL_THRESHOLDS[0])
    assert small / len(releases) > 0.45
    for release in releases:
        tender = release["tender"]
        if (
            tender["value"]["amount"] < LEGAL_TENDER_THRESHOLD
            or tender["procurementMethod"] == "direct"
        ):
            continue
        assert tender["procurementMethod"] == "open"
        if "bids" in release:
            assert len(_bidders(release)) >= 3


# --- planted truth --------------------------------------------------------------------


def test_scheme_rates_match_the_documented_constants(small_world) -> None:
    world, truth, _ = small_world
    schemes = _csv(truth / TRUTH_PROCESS_SCHEMES)
    n = SMALL.n_processes
    by_scheme: dict[str, int] = defaultdict(int)
    for row in schemes:
        by_scheme[row["scheme"]] += 1
    assert set(by_scheme) == set(SCHEME_RATES)
    for scheme, rate in SCHEME_RATES.items():
        assert by_scheme[scheme] / n == pytest.approx(rate, abs=0.004)
    total = len({row["ocid"] for row in schemes}) / n
    assert 0.04 <= total <= 0.08
    rates = json.loads((truth / TRUTH_RATES).read_text(encoding="utf-8"))
    assert rates["scheme_rates"] == SCHEME_RATES
    assert rates["realised_counts"] == dict(by_scheme)
    assert {row["ocid"] for row in schemes} <= set(_releases(world))


def test_split_purchase_parts_stay_under_and_sum_over_the_threshold(small_world) -> None:
    world, truth, _ = small_world
    releases = _releases(world)
    groups: dict[str, list[dict]] = defaultdict(list)
    thresholds: dict[str, float] = {}
    for row in _csv(truth / TRUTH_PROCESS_SCHEMES):
        if row["scheme"] == "split_purchase":
            detail = _detail(row["detail"])
            groups[detail["group"]].append(releases[row["ocid"]])
            thresholds[detail["group"]] = float(detail["threshold"])
    assert groups
    for group, members in groups.items():
        assert 2 <= len(members) <= 5
        threshold = thresholds[group]
        awards = [r["awards"][0] for r in members]
        assert all(a["value"]["amount"] < threshold for a in awards)
        assert all(r["tender"]["value"]["amount"] < threshold for r in members)
        assert sum(a["value"]["amount"] for a in awards) > threshold
        assert len({a["suppliers"][0]["id"] for a in awards}) == 1
        assert len({r["buyer"]["id"] for r in members}) == 1
        assert len({r["tender"]["items"][0]["classification"]["id"] for r in members}) == 1
        days = sorted(date.fromisoformat(a["date"][:10]) for a in awards)
        assert (days[-1] - days[0]).days <= SPLIT_WINDOW_DAYS + 12  # awards trail the requests


def test_related_suppliers_share_register_values(small_world) -> None:
    world, truth, _ = small_world
    register = {row["供应商编号"]: row for row in _csv(world / "suppliers/register.csv")}
    groups: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in _csv(truth / TRUTH_RELATED_GROUPS):
        groups[row["group_id"]].append(row)
    assert groups
    assert any(rows[0]["colluding"] == "false" for rows in groups.values())
    for rows in groups.values():
        for shared in rows[0]["shared"].split("|"):
            values = {register[row["supplier_id"]][SHARED_COLUMN[shared]] for row in rows}
            assert len(values) == 1, (rows, shared)


def test_related_bidders_bid_together_with_shared_contacts_in_parties(small_world) -> None:
    world, truth, _ = small_world
    releases = _releases(world)
    members: dict[str, set[str]] = defaultdict(set)
    for row in _csv(truth / TRUTH_RELATED_GROUPS):
        members[row["group_id"]].add(row["supplier_id"])
    rows = [r for r in _csv(truth / TRUTH_PROCESS_SCHEMES) if r["scheme"] == "related_bidders"]
    assert rows
    for row in rows:
        release = releases[row["ocid"]]
        detail = _detail(row["detail"])
        group = members[detail["group"]]
        assert group <= _bidders(release)
        if "phone" in detail["shared"].split("|"):
            phones = {
                p["contactPoint"]["telephone"] for p in release["parties"] if p["id"] in group
            }
            assert len(phones) == 1


def test_ring_members_co_bid_and_take_turns(small_world) -> None:
    world, truth, _ = small_world
    releases = _releases(world)
    rings: dict[str, set[str]] = defaultdict(set)
    for row in _csv(truth / TRUTH_RINGS):
        rings[row["ring_id"]].add(row["supplier_id"])
    winners: dict[str, set[str]] = defaultdict(set)
    for row in _csv(truth / TRUTH_PROCESS_SCHEMES):
        if row["scheme"] != "bid_rigging":
            continue
        detail = _detail(row["detail"])
        release = releases[row["ocid"]]
        ring_bidders = _bidders(release) & rings[detail["ring"]]
        assert len(ring_bidders) >= 3
        assert release["awards"][0]["suppliers"][0]["id"] == detail["winner"]
        winners[detail["ring"]].add(detail["winner"])
        bids = sorted(
            b["value"]["amount"] for b in release["bids"]["details"] if b["status"] == "valid"
        )
        assert bids[0] == release["awards"][0]["value"]["amount"]
    assert all(len(w) >= 2 for w in winners.values())


def test_contract_inflation_grows_contracts_by_amendment(small_world) -> None:
    world, truth, _ = small_world
    releases = _releases(world)
    rows = [r for r in _csv(truth / TRUTH_PROCESS_SCHEMES) if r["scheme"] == "contract_inflation"]
    assert rows
    for row in rows:
        contract = releases[row["ocid"]]["contracts"][0]
        award = releases[row["ocid"]]["awards"][0]
        assert contract["amendments"]
        assert 1.19 <= contract["value"]["amount"] / award["value"]["amount"] <= 1.81


def test_single_source_abuse_lacks_a_specific_justification(small_world) -> None:
    world, truth, _ = small_world
    releases = _releases(world)
    rows = [r for r in _csv(truth / TRUTH_PROCESS_SCHEMES) if r["scheme"] == "single_source_abuse"]
    assert rows
    for row in rows:
        tender = releases[row["ocid"]]["tender"]
        assert tender["procurementMethod"] == "direct"
        assert tender["value"]["amount"] >= APPROVAL_THRESHOLDS[0]
        assert tender.get("procurementMethodRationale") in (None, "生产急需")


# --- audit outcomes -------------------------------------------------------------------


def test_audits_are_partial_delayed_and_imperfect(small_world) -> None:
    world, truth, _ = small_world
    releases = _releases(world)
    outcomes = _csv(world / "procurement/audit_outcomes.csv")
    assert list(outcomes[0]) == ["ocid", "finding", "scheme", "confirmed_at"]
    audited = {row["ocid"] for row in outcomes}
    assert 0.05 < len(audited) / len(releases) < 0.3
    assert {row["finding"] for row in outcomes} <= {"confirmed", "dismissed", "needs_information"}
    schemes = {row["ocid"]: row["scheme"] for row in _csv(truth / TRUTH_PROCESS_SCHEMES)}
    for row in outcomes:
        release_day = date.fromisoformat(
            releases[row["ocid"]]["tender"]["awardPeriod"]["endDate"][:10]
        )
        assert date.fromisoformat(row["confirmed_at"]) > release_day
        if row["finding"] == "confirmed":
            assert row["scheme"] == schemes[row["ocid"]]
    confirmed = {row["ocid"] for row in outcomes if row["finding"] == "confirmed"}
    assert 0 < len(confirmed) < len(schemes)  # recall below one
    assert any(row["confirmed_at"] >= "2026" for row in outcomes)


# --- supplier ESG ---------------------------------------------------------------------


def test_supplier_events_span_history_and_the_year_of_business(small_world) -> None:
    world, truth, _ = small_world
    events = _csv(world / "suppliers/events.csv")
    assert {row["事件类型"] for row in events} <= {*EVENT_TYPES, "corrective_action_closed"}
    years = {row["事件日期"][:4] for row in events}
    assert {"2021", "2024", "2025"} <= years
    assert all(
        SMALL.history_start.isoformat() <= row["事件日期"] <= SMALL.end.isoformat()
        for row in events
    )
    esg = _csv(truth / TRUTH_SUPPLIER_ESG)
    assert len(esg) == SMALL.n_suppliers
    assert sum(int(row["incidents_2025"]) for row in esg) > 0


def test_some_marks_are_missing_expired_or_without_evidence(small_world) -> None:
    world, _, _ = small_world
    register = _csv(world / "suppliers/register.csv")
    certs = _csv(world / "suppliers/certifications.csv")
    ma = {(row["供应商编号"], row["适用类别"]): row for row in certs if row["证书类型"] == "MA"}
    needs = [
        (row["供应商编号"], category)
        for row in register
        for category in row["供货类别"].split("|")
        if category in {"M01", "M03", "M04", "M05", "M06", "M07", "M08", "M09", "M10", "M12"}
    ]
    assert any(key not in ma for key in needs)
    assert any(row["有效期至"] < SMALL.start.isoformat() for row in ma.values())
    assert any(row["证明文件"] == "" for row in certs)


def test_size_and_region_do_not_drive_latent_risk() -> None:
    suppliers = build_suppliers(WorldConfig())
    for attribute in ("size", "province"):
        logs: dict[str, list[float]] = defaultdict(list)
        for supplier in suppliers:
            logs[getattr(supplier, attribute)].append(math.log(supplier.risk))
        means = [sum(v) / len(v) for v in logs.values() if len(v) >= 50]
        assert len(means) >= 2
        assert max(means) - min(means) < 0.25, attribute


# --- readers --------------------------------------------------------------------------

READER_INPUTS = (
    ("supplier_register", "suppliers/register.csv", "ingest.readers.suppliers"),
    ("supplier_certifications", "suppliers/certifications.csv", "ingest.readers.suppliers"),
    ("supplier_events", "suppliers/events.csv", "ingest.readers.suppliers"),
    ("ocds", "procurement/releases.jsonl", "ingest.readers.ocds"),
    ("audit_outcomes", "procurement/audit_outcomes.csv", "ingest.readers.audit"),
)


@pytest.mark.parametrize(("kind", "name", "module"), READER_INPUTS)
def test_readers_accept_every_record(small_world, store, personal, kind, name, module) -> None:
    assert importlib.util.find_spec(module) is not None, f"{module} is missing"
    from ingest.run import ingest_file

    world, _, _ = small_world
    report = ingest_file(store, personal, kind, world / name)
    assert report.records_in > 0
    assert report.quarantined == 0, str(report)
    assert report.accepted == report.records_in


# --- full size ------------------------------------------------------------------------


@pytest.mark.slow
def test_default_size_generates(tmp_path: Path) -> None:
    started = datetime.now()
    _, _, counts = _generate(tmp_path, WorldConfig())
    assert counts["processes"] == WorldConfig().n_processes
    seconds = (datetime.now() - started).total_seconds()
    print(f"procurement world at scale 1: {seconds:.1f} s, {counts}")
