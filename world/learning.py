"""The learning half of the demo world: members, knowledge points, a catalogue, and a year of
xAPI study statements driven by a latent learning model and by shift rosters.

World files (``world.layout``): ``learning/members.csv``, ``knowledge_points.csv``,
``catalogue.json``, ``statements.jsonl`` (xAPI 1.0.3, one statement per line, in time order)
and ``shift_patterns.json``. Truth files: ``members.csv`` (latent traits per member),
``mastery_monthly.csv`` and ``learning_rates.json``.

How the year is made:

1. Members (``people``) get latent traits: ability (logits), absorption, a voluntary
   activity rate, and for exactly ``CHECK_IN_ONLY_RATE`` of them the "check-in only" flag
   (weighted towards party members, who are under the most pressure to log hours). Members
   who join during the year (``people.COLD_START_RATE``) study only from their joining day,
   more in their first month (onboarding), and start a little below their peers.
2. Sessions: mandatory ones (each month's 三会一课, themed-party-day and theme items; party
   members mostly, around the themed party day and the month end) and voluntary ones (Poisson
   per member-day, seasonal: Spring Festival lull, month-end and 七一 peaks; content chosen by
   role, format taste, length, novelty and the month's theme). Each is placed in a free window
   of the member's roster (``features.rosters``); a session longer than its window is cut off
   (no ``completed``). Shift workers get short windows and so short sessions. The voluntary
   rate is scaled until the statements reach ``config.target_statements``.
3. The latent model (``learner_model``) runs day by day: forgetting, then answers drawn with
   P = sigmoid(mastery - difficulty), then learning gains. Check-in-only members log long
   sessions (``CHECK_IN_DURATION_FACTOR`` × the content's length), complete them, rarely take
   quizzes, skip case questions, answer at chance and absorb almost nothing.

``truth/mastery_monthly.csv`` holds every member × KP × month from the member's joining
month on (months before a member joined are left out): the mastery probability at month end,
i.e. P(correct) on a question of difficulty 0.5.

The parts: ``learning_catalogue`` (knowledge points, themes, catalogue, calendar),
``learning_sessions`` (traits, sessions, simulation) and ``learning_files`` (the files).

Deterministic: seeded generators only (``config.rng``), no wall clock; same config, same bytes.
"""

from __future__ import annotations

from pathlib import Path

from features.rosters import shift_patterns_json
from world.config import WorldConfig
from world.layout import SHIFT_PATTERNS, TRUTH_MASTERY, TRUTH_MEMBERS
from world.learner_model import LatentLearners
from world.learning_catalogue import KNOWLEDGE_POINTS, Calendar, build_catalogue
from world.learning_files import (
    catalogue_json,
    knowledge_points_csv,
    learning_rates_json,
    mastery_csv,
    members_csv,
    statement_lines,
    truth_members_csv,
)
from world.learning_sessions import (
    latent_traits,
    roster_windows,
    schedule_to_target,
    simulate_answers,
)
from world.people import sample_members

TRUTH_LEARNING_RATES = "learning_rates.json"


def generate_learning_world(
    config: WorldConfig, world_dir: Path, truth_dir: Path
) -> dict[str, int]:
    """Write the learning files and their truth; returns counts for the manifest."""
    if config.n_knowledge_points > len(KNOWLEDGE_POINTS):
        raise ValueError(f"at most {len(KNOWLEDGE_POINTS)} knowledge points are defined")
    learning_dir = world_dir / "learning"
    learning_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    cal = Calendar.of(config)
    n_kps = config.n_knowledge_points
    catalogue = build_catalogue(config, cal)
    members = sample_members(
        config.rng("learning-members"), config.n_members, config.start, config.end
    )
    traits = latent_traits(config, members, n_kps)
    windows = roster_windows(members, cal)
    sessions, factor = schedule_to_target(config, cal, members, traits, catalogue, windows)
    learners = LatentLearners.from_baseline(
        traits["baseline"], traits["absorb"], traits["check_in_only"]
    )
    rows, monthly = simulate_answers(config, cal, sessions, catalogue, learners)

    (learning_dir / "knowledge_points.csv").write_text(
        knowledge_points_csv(n_kps), encoding="utf-8"
    )
    (learning_dir / "catalogue.json").write_bytes(catalogue_json(catalogue, cal))
    (learning_dir / "members.csv").write_text(members_csv(members), encoding="utf-8")
    (world_dir / SHIFT_PATTERNS).write_text(shift_patterns_json(), encoding="utf-8")
    with (learning_dir / "statements.jsonl").open("wb") as handle:
        for batch in statement_lines(config, cal, members, catalogue, sessions, rows):
            handle.write(batch)

    (truth_dir / TRUTH_MEMBERS).write_text(
        truth_members_csv(members, traits, sessions, rows, learners, cal), encoding="utf-8"
    )
    with (truth_dir / TRUTH_MASTERY).open("w", encoding="utf-8") as text:
        for part in mastery_csv(members, monthly, cal, n_kps):
            text.write(part)
    (truth_dir / TRUTH_LEARNING_RATES).write_text(
        learning_rates_json(config, learners.rates, traits, factor), encoding="utf-8"
    )
    return {
        "learning_members": len(members),
        "knowledge_points": n_kps,
        "content_items": len(catalogue),
        "study_sessions": len(sessions),
        "xapi_statements": int(rows["verb"].size),
        "check_in_only_members": int(traits["check_in_only"].sum()),
        "cold_start_members": int(members["cold_start"].sum()),
    }
