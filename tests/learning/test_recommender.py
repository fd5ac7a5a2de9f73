"""The study recommender on the small demo world: k, minutes, diversity, reasons, cold start."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from core.settings import Settings
from features.learning.data import LearningData
from features.learning.snapshot import Snapshot
from models.learning.mastery import MasteryModel
from models.learning.recommender import StudyRecommender, default_cuts, kp_names_from_store
from store.database import Store

CUT = datetime(2025, 12, 1)
KINDS = {"weak_kp", "time_fit", "mandatory", "new_content", "checkin_practice"}


@pytest.fixture(scope="module")
def world(small_installation: dict[str, str]) -> Iterator[tuple[LearningData, dict]]:
    settings = Settings(
        data_dir=Path(small_installation["LODESTAR_DATA_DIR"]),
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
    )
    with Store.open(settings, settings.keyring(), read_only=True) as store:
        yield LearningData.from_store(store), kp_names_from_store(store)


@pytest.fixture(scope="module")
def fitted(world: tuple[LearningData, dict]) -> StudyRecommender:
    data, names = world
    model = StudyRecommender(n_estimators=30, min_data_in_leaf=10).fit(data, default_cuts(CUT))
    return model.attach(data, kp_names=names)


@pytest.fixture(scope="module")
def snapshot(world: tuple[LearningData, dict]) -> Snapshot:
    return Snapshot.build(world[0], CUT)


def _active_member(snapshot: Snapshot) -> str:
    return snapshot.member_keys[int(snapshot.n_launches.argmax())]


def test_respects_k_and_excludes_seen_items(fitted: StudyRecommender, snapshot: Snapshot) -> None:
    member = _active_member(snapshot)
    seen = {
        snapshot.items[j]
        for j in snapshot.ever_launched[snapshot.member_index[member]].nonzero()[0]
    }
    for k in (1, 5, 10):
        suggestions = fitted.recommend(member, k=k, context=snapshot)
        assert 1 <= len(suggestions) <= k
        assert not {s.content_id for s in suggestions} & seen
        assert [s.score for s in suggestions] == sorted(
            (s.score for s in suggestions), reverse=True
        )


def test_minutes_given_by_the_caller_are_a_hard_limit(
    fitted: StudyRecommender, snapshot: Snapshot
) -> None:
    for member in snapshot.member_keys[:10]:
        suggestions = fitted.recommend(member, k=10, minutes=12, context=snapshot)
        assert all(s.minutes is not None and s.minutes <= 12 for s in suggestions)
        assert all(any(r["kind"] == "time_fit" for r in s.reasons) for s in suggestions)


def test_at_most_three_suggestions_per_knowledge_point(
    fitted: StudyRecommender, snapshot: Snapshot
) -> None:
    lists = fitted.recommend_snapshot(snapshot, snapshot.member_keys[:30], k=10)
    for suggestions in lists.values():
        counts = Counter(kp for s in suggestions for kp in s.knowledge_points)
        assert max(counts.values(), default=0) <= 3


def test_reasons_are_in_chinese_and_english(fitted: StudyRecommender, snapshot: Snapshot) -> None:
    lists = fitted.recommend_snapshot(snapshot, snapshot.member_keys[:20], k=10)
    reasons = [r for suggestions in lists.values() for s in suggestions for r in s.reasons]
    assert reasons
    assert {r["kind"] for r in reasons} <= KINDS
    assert {"mandatory", "time_fit"} <= {r["kind"] for r in reasons}
    for reason in reasons:
        assert reason["text_en"]
        assert reason["text_zh"]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in reason["text_zh"])
    as_dict = next(s for v in lists.values() for s in v).as_dict()
    assert {"content_id", "score", "reasons"} <= set(as_dict)


def test_cold_start_member_gets_role_and_mandatory_suggestions(
    fitted: StudyRecommender, world: tuple[LearningData, dict]
) -> None:
    data = world[0]
    newcomer = pd.DataFrame(
        [
            {
                "member_key": "new-member",
                "role": "buyer",
                "shift_pattern": "three_shift",
                "crew": "A",
                "joined_on": pd.Timestamp("2025-11-30"),
            }
        ]
    )
    with_newcomer = LearningData(data.statements, data.content, pd.concat([data.members, newcomer]))
    suggestions = fitted.recommend("new-member", k=10, as_of=CUT, context=with_newcomer)
    assert len(suggestions) >= 5
    assert any(r["kind"] == "mandatory" for s in suggestions for r in s.reasons)
    assert fitted.recommend("nobody", k=10, as_of=CUT, context=with_newcomer) == []


def test_save_and_load_give_the_same_suggestions(
    fitted: StudyRecommender, snapshot: Snapshot, tmp_path: Path
) -> None:
    loaded = StudyRecommender.load(fitted.save(tmp_path / "model"))
    member = _active_member(snapshot)
    before = [s.content_id for s in fitted.recommend(member, k=10, context=snapshot)]
    after = [s.content_id for s in loaded.recommend(member, k=10, context=snapshot)]
    assert before == after
    assert (tmp_path / "model" / "booster.txt").is_file()
    # the mastery model travels inside the artefact: serving needs one model
    assert (tmp_path / "model" / "mastery" / "booster.txt").is_file()
    assert loaded.mastery_ is not None
    assert fitted.mastery_ is not None
    assert loaded.mastery_.booster_.model_to_string() == fitted.mastery_.booster_.model_to_string()
    data = fitted.data_
    assert data is not None
    with_model = [s.content_id for s in loaded.recommend(member, k=10, as_of=CUT, context=data)]
    assert with_model == [s.content_id for s in fitted.recommend(member, k=10, as_of=CUT)]


def test_uses_the_real_mastery_model_and_check_in_detector(
    fitted: StudyRecommender, snapshot: Snapshot, world: tuple[LearningData, dict]
) -> None:
    assert isinstance(fitted.mastery_, MasteryModel)
    assert fitted.metadata_["mastery"] == "fitted"
    assert pd.Timestamp(fitted.mastery_.metadata_["trained_before"]) <= pd.Timestamp(CUT)
    built = fitted.snapshot_at(world[0], CUT)
    assert built.extras["mastery"] == "model"
    assert built.extras["check_in_source"] == "detect_check_in"
    assert 0.0 < built.p_correct.min() <= built.p_correct.max() < 1.0
    # the stand-in snapshot (no model) differs: the recommender does not read it
    assert snapshot.extras["mastery"] == "stand-in"
    assert not (built.p_correct == snapshot.p_correct).all()


def test_mastery_model_never_sees_the_evaluation_month(
    fitted: StudyRecommender, world: tuple[LearningData, dict]
) -> None:
    data = world[0]
    before = data.statements[data.statements["timestamp"] < pd.Timestamp(CUT)]
    cut_data = LearningData(before, data.content, data.members)
    refit = StudyRecommender(n_estimators=30, min_data_in_leaf=10).fit(cut_data, default_cuts(CUT))
    assert fitted.mastery_ is not None
    assert refit.mastery_ is not None
    assert fitted.mastery_.booster_.model_to_string() == refit.mastery_.booster_.model_to_string()


def test_without_answers_the_cold_start_stand_in_is_used(
    world: tuple[LearningData, dict],
) -> None:
    data = world[0]
    unanswered = data.statements[data.statements["verb"] != "answered"]
    model = StudyRecommender(n_estimators=10, min_data_in_leaf=10).fit(
        LearningData(unanswered, data.content, data.members), default_cuts(CUT)
    )
    assert model.mastery_ is None
    assert model.metadata_["mastery"].startswith("stand-in")
    built = model.snapshot_at(LearningData(unanswered, data.content, data.members), CUT)
    assert built.extras["mastery"] == "stand-in"
    assert built.extras["check_in_source"] == "time_ratio"


def test_profiles_of_many_learners_equal_one_learner_at_a_time(
    fitted: StudyRecommender, world: tuple[LearningData, dict]
) -> None:
    """The snapshot reads everyone's mastery in one batch and updates one member alone: a
    learner's profile must not depend on who else is in the batch."""
    events = world[0].events()
    past = events[events["timestamp"] < pd.Timestamp(CUT)]
    members = [*sorted(past["member_key"].unique())[:7], "never-seen"]
    kps = sorted(past["kp_id"].unique())[:9]
    model = fitted.mastery_
    assert model is not None
    together = model.mastery_profiles(past, kps, pd.Timestamp(CUT), members=members)
    assert len(together) == len(members) * len(kps)
    for member in members:
        alone = model.mastery_profile(past[past["member_key"] == member], kps, pd.Timestamp(CUT))
        mine = together[together["member_key"] == member].drop(columns="member_key")
        pd.testing.assert_frame_equal(
            mine.reset_index(drop=True), alone.reset_index(drop=True), check_dtype=False
        )


def test_appended_statements_extend_the_event_frame_as_a_rebuild_would(
    world: tuple[LearningData, dict],
) -> None:
    data = world[0]
    early = data.statements[data.statements["timestamp"] < pd.Timestamp("2025-11-01")]
    late = data.statements[data.statements["timestamp"] >= pd.Timestamp("2025-11-01")]
    base = LearningData(early, data.content, data.members)
    base.events()
    extended = base.with_statements(late).events()
    rebuilt = LearningData(extended_statements(base, late), data.content, data.members).events()
    columns = [c for c in rebuilt.columns if c != "order"]
    pd.testing.assert_frame_equal(extended[columns], rebuilt[columns])


def extended_statements(base: LearningData, extra: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([base.statements, extra[list(base.statements.columns)]], ignore_index=True)
