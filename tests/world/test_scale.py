"""The world grows as ``WorldConfig`` documents: linear entities in proportion to ``scale``,
the catalogue as its square root, the mandatory items fixed past the default size, and the
statements at their target (the voluntary rate makes up what mandatory study does not)."""

from __future__ import annotations

import pytest

from world.config import WorldConfig
from world.learning_catalogue import Calendar, build_catalogue
from world.learning_sessions import (
    _statement_count,
    latent_traits,
    roster_windows,
    schedule_to_target,
)
from world.people import sample_members

SMALL, LARGER = 0.1, 0.3  # above every floor of ``WorldConfig``
TOLERANCE = 0.12  # relative; statements land anywhere in [target, 1.15 x target]


def _statements(config: WorldConfig) -> tuple[int, int]:
    """(statements of the year's sessions, of which mandatory), without writing the world."""
    cal = Calendar.of(config)
    catalogue = build_catalogue(config, cal)
    members = sample_members(
        config.rng("learning-members"), config.n_members, config.start, config.end
    )
    traits = latent_traits(config, members, config.n_knowledge_points)
    sessions, _ = schedule_to_target(
        config, cal, members, traits, catalogue, roster_windows(members, cal)
    )
    counts = _statement_count(sessions, catalogue)
    return int(counts.sum()), int(counts[sessions.mandatory].sum())


def test_linear_sizes_follow_the_scale() -> None:
    small, larger = WorldConfig(scale=SMALL), WorldConfig(scale=LARGER)
    ratio = LARGER / SMALL
    for size in ("n_members", "n_suppliers", "n_processes", "target_statements"):
        assert getattr(larger, size) / getattr(small, size) == pytest.approx(ratio, rel=0.01)
    assert larger.n_content / small.n_content == pytest.approx(ratio**0.5, rel=0.01)
    assert larger.n_knowledge_points == small.n_knowledge_points


def test_mandatory_items_stop_growing_past_the_default_size() -> None:
    default = WorldConfig().n_mandatory_content
    assert default == 50  # the default world's catalogue, unchanged
    for scale in (3, 10, 30, 100):
        assert WorldConfig(scale=scale).n_mandatory_content == default


def test_statements_follow_the_scale_at_two_sizes() -> None:
    small, larger = WorldConfig(scale=SMALL), WorldConfig(scale=LARGER)
    (small_total, small_mandatory), (larger_total, larger_mandatory) = map(
        _statements, (small, larger)
    )
    for config, total, mandatory in (
        (small, small_total, small_mandatory),
        (larger, larger_total, larger_mandatory),
    ):
        assert config.target_statements <= total <= 1.15 * config.target_statements
        assert mandatory < config.target_statements
    assert larger_total / small_total == pytest.approx(LARGER / SMALL, rel=TOLERANCE)
