"""The learning half of the demo world: determinism, shapes, and the planted truth."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from core.security import PersonalData
from features.rosters import free_windows
from ingest.readers.xapi import parse_duration
from ingest.run import ingest_file
from store.database import Store
from world.config import WorldConfig
from world.layout import SHIFT_PATTERNS, TRUTH_MASTERY, TRUTH_MEMBERS
from world.learner_model import LatentLearners, LearningRates, rasch_p_correct
from world.learning import TRUTH_LEARNING_RATES, generate_learning_world
from world.learning_sessions import CHECK_IN_ONLY_RATE

SCALE = 0.05
LEARNING_FILES = (
    "learning/members.csv",
    "learning/knowledge_points.csv",
    "learning/catalogue.json",
    "learning/statements.jsonl",
    SHIFT_PATTERNS,
)
TRUTH_FILES = (TRUTH_MEMBERS, TRUTH_MASTERY, TRUTH_LEARNING_RATES)
VERBS = {"launched", "experienced", "completed", "answered", "passed", "failed"}


def _generate(root: Path, config: WorldConfig) -> tuple[Path, Path, dict[str, int]]:
    world, truth = root / "world", root / "truth"
    counts = generate_learning_world(config, world, truth)
    return world, truth, counts


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, int]]:
    return _generate(tmp_path_factory.mktemp("learning"), WorldConfig(scale=SCALE))


@pytest.fixture(scope="module")
def statements(world: tuple[Path, Path, dict[str, int]]) -> list[dict]:
    lines = (world[0] / "learning/statements.jsonl").read_bytes().splitlines()
    return [orjson.loads(line) for line in lines]


@pytest.fixture(scope="module")
def truth_members(world: tuple[Path, Path, dict[str, int]]) -> pd.DataFrame:
    return pd.read_csv(world[1] / TRUTH_MEMBERS, dtype={"employee_no": str})


def _files(world: Path, truth: Path) -> dict[str, bytes]:
    found = {name: (world / name).read_bytes() for name in LEARNING_FILES}
    found.update({f"truth/{name}": (truth / name).read_bytes() for name in TRUTH_FILES})
    return found


def _local(timestamp: str) -> datetime:
    assert timestamp.endswith("+08:00")
    return datetime.fromisoformat(timestamp).replace(tzinfo=None)


# ------------------------------------------------------------------------ determinism


def test_same_config_gives_identical_bytes(
    world: tuple[Path, Path, dict[str, int]], tmp_path: Path
) -> None:
    again_world, again_truth, counts = _generate(tmp_path, WorldConfig(scale=SCALE))
    assert counts == world[2]
    first, second = _files(world[0], world[1]), _files(again_world, again_truth)
    for name in first:
        assert first[name] == second[name], name


def test_a_different_seed_gives_a_different_world(
    world: tuple[Path, Path, dict[str, int]], tmp_path: Path
) -> None:
    other_world, other_truth, _ = _generate(tmp_path, WorldConfig(scale=SCALE, seed=7))
    first, second = _files(world[0], world[1]), _files(other_world, other_truth)
    for name in (
        "learning/members.csv",
        "learning/catalogue.json",
        "learning/statements.jsonl",
        f"truth/{TRUTH_MASTERY}",
    ):
        assert first[name] != second[name], name


# ----------------------------------------------------------------------------- shapes


def test_counts_and_statement_target(
    world: tuple[Path, Path, dict[str, int]], statements: list[dict]
) -> None:
    config = WorldConfig(scale=SCALE)
    counts = world[2]
    assert counts["xapi_statements"] == len(statements) >= config.target_statements
    assert counts["learning_members"] == config.n_members
    assert counts["content_items"] == config.n_content
    assert counts["knowledge_points"] == 60


def test_every_statement_is_valid_xapi(statements: list[dict]) -> None:
    ids = set()
    for statement in statements:
        assert {"id", "actor", "verb", "object", "timestamp", "context"} <= statement.keys()
        assert uuid.UUID(statement["id"]).version == 4
        ids.add(statement["id"])
        assert statement["actor"]["account"]["homePage"] == "https://study.lodestar.invalid"
        assert re.fullmatch(r"E\d{6}", statement["actor"]["account"]["name"])
        verb = statement["verb"]["id"].rsplit("/", 1)[1]
        assert verb in VERBS
        assert statement["verb"]["display"]["en-US"] == verb
        object_id = statement["object"]["id"]
        assert re.fullmatch(
            r"https://study\.lodestar\.invalid/content/C\d{4}(/questions/\d+)?", object_id
        )
        assert ("/questions/" in object_id) == (verb == "answered")
        extensions = statement["context"]["extensions"]
        kps = extensions["https://lodestar.invalid/xapi/extensions/knowledge-points"]
        assert 1 <= len(kps) <= 3
        assert all(re.fullmatch(r"KP\d{2}", kp) for kp in kps)
        assert 0 <= extensions["https://lodestar.invalid/xapi/extensions/item-difficulty"] <= 1
        _local(statement["timestamp"])
        result = statement.get("result", {})
        if "duration" in result:
            assert parse_duration(result["duration"]) >= 0
        if "score" in result:
            assert 0 <= result["score"]["scaled"] <= 1
    assert len(ids) == len(statements)
    timestamps = [statement["timestamp"] for statement in statements]
    assert timestamps == sorted(timestamps)


def test_members_knowledge_points_and_catalogue(world: tuple[Path, Path, dict[str, int]]) -> None:
    members = pd.read_csv(world[0] / "learning/members.csv", dtype=str, keep_default_na=False)
    assert members["employee_no"].is_unique
    assert members["phone"].is_unique
    assert members["phone"].str.fullmatch(r"1[3-9]\d{9}").all()
    assert set(members["role"]) <= {
        "buyer",
        "warehouse_keeper",
        "finance",
        "auditor",
        "party_officer",
        "manager",
        "engineer",
    }
    assert set(members["shift_pattern"]) <= {"day", "three_shift", "four_crew_three_shift"}
    assert 0.45 <= (members["party_member"] == "true").mean() <= 0.75
    party = members[members["party_member"] == "true"]
    assert party["party_branch"].str.endswith("党支部").all()
    assert (members.loc[members["party_member"] == "false", "party_branch"] == "").all()
    assert members["name"].str.fullmatch(r"[\u4e00-\u9fff]{2,3}").all()

    kps = pd.read_csv(world[0] / "learning/knowledge_points.csv")
    assert list(kps["kp_id"]) == [f"KP{k:02d}" for k in range(1, 61)]
    assert kps["domain"].nunique() == 8

    catalogue = orjson.loads((world[0] / "learning/catalogue.json").read_bytes())
    assert [item["content_id"] for item in catalogue] == [
        f"C{i:04d}" for i in range(1, len(catalogue) + 1)
    ]
    assert len({item["title"] for item in catalogue}) == len(catalogue)
    for item in catalogue:
        assert 1 <= len(item["knowledge_points"]) <= 3
        assert item["format"] in {"video", "article", "case", "quiz", "live"}
        low, high = (30, 90) if item["format"] == "live" else (3, 25)
        assert low <= item["minutes"] <= high
        assert 0 <= item["difficulty"] <= 1
        assert item["mandatory_month"] is None or re.fullmatch(
            r"2025-(0[1-9]|1[0-2])", item["mandatory_month"]
        )
    mandatory = [item for item in catalogue if item["mandatory_month"]]
    assert 0.08 <= len(mandatory) / len(catalogue) <= 0.15
    assert {item["mandatory_month"] for item in mandatory} == {
        f"2025-{m:02d}" for m in range(1, 13)
    }
    assert any(
        item["published_on"] >= "2025-01-01" and not item["mandatory_month"] for item in catalogue
    )


def test_statements_come_after_publication_and_joining(
    world: tuple[Path, Path, dict[str, int]], statements: list[dict]
) -> None:
    catalogue = orjson.loads((world[0] / "learning/catalogue.json").read_bytes())
    published = {item["content_id"]: date.fromisoformat(item["published_on"]) for item in catalogue}
    members = pd.read_csv(world[0] / "learning/members.csv", dtype=str)
    joined = dict(
        zip(members["employee_no"], members["joined_on"].map(date.fromisoformat), strict=True)
    )
    for statement in statements:
        day = _local(statement["timestamp"]).date()
        content_id = statement["object"]["id"].split("/content/")[1].split("/")[0]
        assert day >= published[content_id]
        assert day >= joined[statement["actor"]["account"]["name"]]


# ------------------------------------------------------------------------------ truth


def test_check_in_only_rate(truth_members: pd.DataFrame) -> None:
    rate = truth_members["check_in_only"].mean()
    assert abs(rate - CHECK_IN_ONLY_RATE) <= 0.01


def test_check_in_only_members_log_long_and_learn_little(
    truth_members: pd.DataFrame, statements: list[dict]
) -> None:
    check_in = set(truth_members.loc[truth_members["check_in_only"], "employee_no"])
    durations: dict[bool, list[float]] = defaultdict(list)
    answered: dict[bool, int] = defaultdict(int)
    for statement in statements:
        flagged = statement["actor"]["account"]["name"] in check_in
        if "duration" in statement.get("result", {}):
            durations[flagged].append(parse_duration(statement["result"]["duration"]))
        answered[flagged] += statement["verb"]["id"].endswith("/answered")
    assert np.mean(durations[True]) > 2 * np.mean(durations[False])
    n_flagged = len(check_in)
    assert answered[True] / n_flagged < 0.7 * answered[False] / (len(truth_members) - n_flagged)
    gain = truth_members.groupby("check_in_only")["mastery_gain"].mean()
    assert gain[True] < 0.25 * gain[False]
    assert gain[False] > 0.01
    flagged_members = truth_members[truth_members["check_in_only"]]
    answers = flagged_members["answered"].sum()
    pooled_accuracy = (flagged_members["accuracy"] * flagged_members["answered"]).sum() / answers
    margin = 3 * np.sqrt(0.25 / answers)  # chance-ish: the guess rate within sampling error
    assert abs(pooled_accuracy - LearningRates().guess_accuracy) < margin


def test_accuracy_rises_with_latent_mastery(
    world: tuple[Path, Path, dict[str, int]], truth_members: pd.DataFrame, statements: list[dict]
) -> None:
    mastery = pd.read_csv(world[1] / TRUTH_MASTERY, dtype={"employee_no": str})
    lookup = {(e, k, m): v for e, k, m, v in mastery.itertuples(index=False)}
    check_in = set(truth_members.loc[truth_members["check_in_only"], "employee_no"])
    pairs = []
    for statement in statements:
        member = statement["actor"]["account"]["name"]
        if not statement["verb"]["id"].endswith("/answered") or member in check_in:
            continue
        (kp,) = statement["context"]["extensions"][
            "https://lodestar.invalid/xapi/extensions/knowledge-points"
        ]
        month = statement["timestamp"][:7]
        pairs.append((lookup[(member, kp, month)], statement["result"]["success"]))
    frame = pd.DataFrame(pairs, columns=["mastery", "correct"])
    assert len(frame) > 1000
    by_quartile = frame.groupby(pd.qcut(frame["mastery"], 4, labels=False), observed=True)[
        "correct"
    ].mean()
    assert by_quartile.is_monotonic_increasing
    assert by_quartile.iloc[-1] - by_quartile.iloc[0] > 0.2


def test_sessions_fall_in_free_windows_of_the_roster(
    world: tuple[Path, Path, dict[str, int]], statements: list[dict]
) -> None:
    members = pd.read_csv(world[0] / "learning/members.csv", dtype=str)
    roster = {
        e: (p, c)
        for e, p, c in zip(
            members["employee_no"], members["shift_pattern"], members["crew"], strict=True
        )
    }
    cache: dict[tuple[str, str, date], list[tuple[datetime, datetime]]] = {}
    shift_workers_seen = 0
    for statement in statements:
        pattern, crew = roster[statement["actor"]["account"]["name"]]
        moment = _local(statement["timestamp"])
        key = (pattern, crew, moment.date())
        if key not in cache:
            cache[key] = free_windows(pattern, crew, moment.date())
        assert any(start <= moment <= end for start, end in cache[key]), (pattern, crew, moment)
        shift_workers_seen += pattern != "day"
    assert shift_workers_seen > 0


def test_shift_workers_study_in_shorter_sessions(
    world: tuple[Path, Path, dict[str, int]], truth_members: pd.DataFrame, statements: list[dict]
) -> None:
    normal = truth_members[~truth_members["check_in_only"]]
    day_workers = set(normal.loc[normal["shift_pattern"] == "day", "employee_no"])
    shift_workers = set(normal.loc[normal["shift_pattern"] != "day", "employee_no"])
    lengths: dict[str, list[float]] = defaultdict(list)
    for statement in statements:
        if not statement["verb"]["id"].endswith("/completed"):
            continue
        member = statement["actor"]["account"]["name"]
        group = "day" if member in day_workers else "shift" if member in shift_workers else None
        if group:
            lengths[group].append(parse_duration(statement["result"]["duration"]))
    assert np.mean(lengths["shift"]) < np.mean(lengths["day"])


def test_monthly_mastery_truth_covers_members_from_joining(
    world: tuple[Path, Path, dict[str, int]], truth_members: pd.DataFrame
) -> None:
    mastery = pd.read_csv(world[1] / TRUTH_MASTERY, dtype={"employee_no": str})
    assert mastery["mastery"].between(0, 1).all()
    assert not mastery.duplicated(["employee_no", "kp_id", "month"]).any()
    per_member = mastery.groupby("employee_no").size()
    veterans = truth_members.loc[~truth_members["cold_start"], "employee_no"]
    assert (per_member[veterans] == 60 * 12).all()
    assert truth_members["cold_start"].any()
    newcomers = truth_members[truth_members["cold_start"]]
    for employee_no, joined in zip(newcomers["employee_no"], newcomers["joined_on"], strict=True):
        months = sum(month >= joined[:7] for month in (f"2025-{m:02d}" for m in range(1, 13)))
        assert per_member.get(employee_no, 0) == 60 * months


# ----------------------------------------------------------------------- the model


def test_learner_model_answers_learns_and_forgets() -> None:
    learners = LatentLearners.from_baseline(
        np.zeros((2, 3)), absorbs=1.0, check_in_only=[False, True]
    )
    assert learners.p_correct(0, 1, 0.5) == pytest.approx(0.5)
    assert learners.p_correct(1, 1, 0.0) == pytest.approx(LearningRates().guess_accuracy)
    assert rasch_p_correct(1.0, 0.75) == pytest.approx(1 / (1 + np.exp(-(1.0 - 1.0))))

    quiz = learners.copy()
    video = learners.copy()
    quiz_gain = quiz.study(0, [0, 1], 10, "quiz")
    video_gain = video.study(0, [0, 1], 10, "video")
    assert (quiz_gain[0, :2] > video_gain[0, :2]).all()
    assert quiz.mastery[0, 2] == 0
    first = quiz.study(0, [0], 10, "quiz")[0, 0]
    for _ in range(20):
        last = quiz.study(0, [0], 10, "quiz")[0, 0]
    assert last < first  # diminishing returns near the cap
    longer = learners.copy().study(0, [0], 40, "quiz")[0, 0]
    assert first < longer < 4 * first  # more time helps, less than linearly

    lazy = learners.copy().study(0, [0], 10, "quiz", absorbs=0.02)[0, 0]
    assert lazy < 0.05 * first

    before = quiz.mastery.copy()
    quiz.forget(LearningRates().forgetting_half_life_days)
    gained = before - quiz.floor
    assert np.allclose(quiz.mastery - quiz.floor, gained / 2)
    assert (quiz.floor >= learners.floor).all()


# ---------------------------------------------------------------------- ingestion


def test_the_world_ingests_without_quarantine(
    world: tuple[Path, Path, dict[str, int]], store: Store, personal: PersonalData
) -> None:
    for kind, name in (
        ("knowledge_points", "learning/knowledge_points.csv"),
        ("catalogue", "learning/catalogue.json"),
        ("members", "learning/members.csv"),
        ("xapi", "learning/statements.jsonl"),
    ):
        report = ingest_file(store, personal, kind, world[0] / name)
        assert report.quarantined == 0, (kind, report)
        assert report.accepted == report.records_in > 0


# ---------------------------------------------------------------------- full size


@pytest.mark.slow
def test_default_size_reaches_its_targets(tmp_path: Path) -> None:
    config = WorldConfig()
    counts = generate_learning_world(config, tmp_path / "world", tmp_path / "truth")
    assert counts["xapi_statements"] >= config.target_statements
    assert counts["learning_members"] == config.n_members
