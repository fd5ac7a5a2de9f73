"""The study recommender on the small demo world: k, minutes, diversity, reasons, cold start."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from features.learning.candidates import LearningData, Snapshot
from features.learning.recommender import StudyRecommender, default_cuts, kp_names_from_store
from features.settings import Settings
from features.store import Store

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
