"""The Armenia run: Cardinal's counts on the real file, and a score in 0..1 for every process."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any

import pytest

from training.studies.armenia import main, report_stem, run

ARMENIA = Path("procurement/ocds_armenia/armenia_armeps_tenders_prepared.jsonl.gz")

# ``ocdscardinal indicators`` with the default settings on this file (flagged processes)
CARDINAL_PROCESSES = {"R003": 306, "R018": 23, "R036": 29, "R028": 15, "R035": 19, "R058": 2}


@pytest.fixture(scope="module")
def report(shared_data: Path) -> dict[str, Any]:
    return run(shared_data / ARMENIA, seed=0, top=10)


def test_cardinal_counts_match_the_known_results(report: dict[str, Any]) -> None:
    fired = {
        code: row["processes"] for code, row in report["indicators"].items() if row["processes"]
    }
    assert fired == CARDINAL_PROCESSES
    # R035 and R058 also flag the winning tenderers; R028 the tenderers of identical bids
    tenderers = {
        code: row["organisations"]["Tenderer"]
        for code, row in report["indicators"].items()
        if row["organisations"]["Tenderer"]
    }
    assert set(tenderers) == {"R028", "R035", "R058"}


def test_the_real_file_gives_the_readme_figures(report: dict[str, Any]) -> None:
    source = report["source"]
    assert (source["processes"], source["quarantined"]) == (428, 0)
    assert source["processes_with_any_flag"] == 313


def test_number_of_tenderers_on_some_processes_only(shared_data: Path, tmp_path: Path) -> None:
    """Real processes with ``tender.numberOfTenderers`` removed from every other one: a column
    of integers with nulls, which used to become float NaN and stop the run."""
    path = tmp_path / "some_with_number_of_tenderers.jsonl"
    with gzip.open(shared_data / ARMENIA, "rt", encoding="utf-8") as source:
        releases = [json.loads(next(source)) for _ in range(30)]
    for position, release in enumerate(releases):
        if position % 2:
            del release["tender"]["numberOfTenderers"]
    assert sum("numberOfTenderers" in r["tender"] for r in releases) == 15
    path.write_text("".join(json.dumps(r) + "\n" for r in releases), encoding="utf-8")

    result = run(path, seed=0, top=5)

    assert (result["source"]["accepted"], result["source"]["quarantined"]) == (30, 0)
    assert len(result["scores"]) == 30
    assert all(0.0 <= score <= 1.0 for score in result["scores"].values())


def test_every_process_is_read_and_scored_in_0_1(report: dict[str, Any]) -> None:
    source = report["source"]
    assert source["records_in"] == source["accepted"] + source["quarantined"]
    assert source["main_currency"] == "AMD"
    scores = report["scores"]
    assert len(scores) == source["processes"] == source["accepted"] > 400
    assert all(0.0 <= score <= 1.0 and math.isfinite(score) for score in scores.values())
    top = [row["unsupervised_score"] for row in report["top"]]
    assert len(top) == 10
    assert top == sorted(top, reverse=True)
    assert top[0] == max(scores.values())


def test_currency_bound_features_are_left_out(report: dict[str, Any]) -> None:
    used = set(report["unsupervised"]["features"])
    assert "order_value_to_approval_threshold" not in used
    assert "estimate_log10_cny" not in used
    assert {"bid_cv", "tender_period_days", "disqualified_bid_share"} <= used


def test_command_writes_markdown_and_json(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / ARMENIA
    assert main(["--ocds", str(path), "--out", str(tmp_path), "--top", "3"]) == 0
    stem = report_stem(path)
    assert stem == "armenia_armeps_tenders_prepared"
    written = json.loads((tmp_path / f"{stem}.json").read_text(encoding="utf-8"))
    assert written["indicators"]["R003"]["processes"] == 306
    assert len(written["top"]) == 3
    assert "| R018 Single bid received | 23 |" in (tmp_path / f"{stem}.md").read_text("utf-8")
