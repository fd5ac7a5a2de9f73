"""Members' latent traits, their study sessions placed in roster windows, and the simulated
answers (``learner_model``), as parallel arrays.

Times are seconds since ``config.start`` 00:00 local; each session fits a free window of
the member's roster (``features.rosters``), and is cut off (never completed) where it does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from features.rosters import PATTERNS, free_minutes
from world.config import WorldConfig
from world.learner_model import LatentLearners
from world.learning_catalogue import KNOWLEDGE_POINTS, MONTH_THEMES, Calendar, Catalogue
from world.people import ROLES

CHECK_IN_ONLY_RATE = 0.08  # exact share of members planted as "check-in only"
CHECK_IN_ABSORB = (0.0, 0.06)  # their absorption, uniform (typical members ≈ 1)
CHECK_IN_DURATION_FACTOR = (2.0, 4.0)  # logged time ÷ the time the content needs, uniform

MANDATORY_PARTICIPATION = {
    "party_member": 0.6,
    "other": 0.2,
    "check_in_only": 0.9,  # they log every required session ...
    "check_in_only_quiz": 0.25,  # ... but dodge the quizzes
}
PASS_MARK = 0.6  # share of a quiz's questions right to pass
ONBOARDING_DAYS, ONBOARDING_BOOST = 30, 2.0

VERBS = ("launched", "experienced", "answered", "passed", "failed", "completed")
LAUNCHED, EXPERIENCED, ANSWERED, PASSED, FAILED, COMPLETED = range(6)
# order of statements that share a timestamp within a session
_VERB_ORDER = np.array([0, 1, 2, 3, 3, 4])

# role -> prior mastery offset per domain (logits), in DOMAINS order
_ROLE_DOMAIN_PRIOR: dict[str, tuple[float, ...]] = {
    "buyer": (0.0, 0.6, 0.6, 0.4, 0.3, -0.2, 0.0, 0.2),
    "warehouse_keeper": (-0.1, -0.4, -0.2, 0.3, 0.2, 0.6, 0.0, 0.0),
    "finance": (0.0, -0.1, 0.3, 0.3, 0.3, -0.3, -0.1, 0.1),
    "auditor": (0.2, 0.6, 0.7, 0.2, 0.1, -0.2, 0.0, 0.7),
    "party_officer": (1.0, -0.2, 0.0, -0.2, 0.0, -0.1, 0.1, 0.5),
    "manager": (0.4, 0.3, 0.4, 0.3, 0.0, 0.2, 0.2, 0.3),
    "engineer": (-0.2, -0.3, -0.2, 0.1, 0.3, 0.5, 0.3, -0.1),
}
# taste for formats: day workers, shift workers, check-in-only members
_FORMAT_TASTE = {
    "day": {"video": 1.0, "article": 1.0, "case": 1.0, "quiz": 1.0, "live": 1.0},
    "shift": {"video": 1.4, "article": 0.8, "case": 0.6, "quiz": 1.3, "live": 0.25},
    "check_in": {"video": 1.5, "article": 1.0, "case": 0.6, "quiz": 0.15, "live": 2.0},
}


@dataclass
class Sessions:
    """Study sessions as parallel arrays (times in seconds since config.start 00:00 local)."""

    member: np.ndarray
    item: np.ndarray
    start: np.ndarray
    logged: np.ndarray  # seconds the platform records
    needed: np.ndarray  # seconds the content needs
    completed: np.ndarray
    n_answered: np.ndarray
    mandatory: np.ndarray
    web: np.ndarray  # studied at a desk (PC) rather than on a phone

    def __len__(self) -> int:
        return int(self.member.size)


# ----------------------------------------------------------------------------- members


def latent_traits(config: WorldConfig, members: pd.DataFrame, n_kps: int) -> dict[str, np.ndarray]:
    rng = config.rng("learning-traits")
    n = len(members)
    party = members["party_member"].to_numpy(bool)
    cold = members["cold_start"].to_numpy(bool)
    weights = np.where(party, 1.5, 1.0)
    check_in = np.zeros(n, dtype=bool)
    check_in[
        rng.choice(n, size=round(CHECK_IN_ONLY_RATE * n), replace=False, p=weights / weights.sum())
    ] = True
    ability = rng.normal(0.0, 0.8, size=n)
    absorb = np.clip(rng.lognormal(0.0, 0.35, size=n), 0.3, 3.0)
    absorb[check_in] = rng.uniform(*CHECK_IN_ABSORB, size=int(check_in.sum()))
    role_factor = members["role"].map({"party_officer": 1.3, "manager": 0.8}).fillna(1.0).to_numpy()
    activity = rng.lognormal(np.log(0.03), 0.6, size=n) * role_factor
    kp_domain = np.array([KNOWLEDGE_POINTS[k][2] for k in range(n_kps)])
    kp_hardness = rng.normal(0.0, 0.4, size=n_kps)
    prior = np.array([_ROLE_DOMAIN_PRIOR[role] for role in members["role"]])[:, kp_domain]
    baseline = (
        ability[:, None]
        + prior
        - kp_hardness[None, :]
        + rng.normal(0.0, 0.45, size=(n, n_kps))
        - 0.3 * cold[:, None]
    )
    return {
        "check_in_only": check_in,
        "ability": ability,
        "absorb": absorb,
        "activity": activity,
        "baseline": baseline,
        "kp_hardness": kp_hardness,
    }


def roster_windows(members: pd.DataFrame, cal: Calendar) -> dict[str, np.ndarray]:
    """Free windows per (pattern, crew) group and day: ``start``/``length`` minutes, padded."""
    groups = sorted(
        {(p, c) for p, c in zip(members["shift_pattern"], members["crew"], strict=True)}
    )
    index = {group: g for g, group in enumerate(groups)}
    per_day = [
        [free_minutes(PATTERNS[p], c, cal.start + timedelta(days=d)) for d in range(cal.n_days)]
        for p, c in groups
    ]
    width = max(len(w) for days in per_day for w in days)
    start = np.zeros((len(groups), cal.n_days, width), dtype=np.int64)
    length = np.zeros((len(groups), cal.n_days, width), dtype=np.int64)
    for g, days in enumerate(per_day):
        for d, day_windows in enumerate(days):
            for j, (a, b) in enumerate(day_windows):
                start[g, d, j], length[g, d, j] = a, b - a
    member_group = np.array(
        [index[(p, c)] for p, c in zip(members["shift_pattern"], members["crew"], strict=True)]
    )
    return {"start": start, "length": length, "member_group": member_group}


# ---------------------------------------------------------------------------- sessions


def _season(cal: Calendar) -> np.ndarray:
    factor = np.ones(cal.n_days)
    for d in range(cal.n_days):
        day = cal.start + timedelta(days=d)
        month_day = (day.month, day.day)
        if (1, 28) <= month_day <= (2, 4):  # Spring Festival
            factor[d] = 0.35
        elif (10, 1) <= month_day <= (10, 8) or (5, 1) <= month_day <= (5, 5):
            factor[d] = 0.6
        if d >= cal.month_last[day.month] - 6:
            factor[d] *= 1.3  # month-end push to finish the month's hours
        if day.month == 7 and day.day <= 7:
            factor[d] *= 1.2
        if day.month == 12:
            factor[d] *= 1.15  # year-end assessment
    return factor


def _party_day(cal: Calendar, month: int) -> int:
    """The themed party day: the month's second Friday."""
    first = cal.month_first[month]
    fridays = [d for d in range(first, cal.month_last[month] + 1) if cal.weekday[d] == 4]
    return fridays[1] if len(fridays) > 1 else first


def _mandatory_sessions(
    config: WorldConfig,
    cal: Calendar,
    members: pd.DataFrame,
    traits: dict[str, np.ndarray],
    catalogue: Catalogue,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = config.rng("learning-mandatory")
    n = len(members)
    party = members["party_member"].to_numpy(bool)
    join_day = np.array([cal.day_of(d) for d in members["joined_on"]])
    p_take = np.where(
        party, MANDATORY_PARTICIPATION["party_member"], MANDATORY_PARTICIPATION["other"]
    )
    out_member, out_item, out_day = [], [], []
    for item in np.flatnonzero(catalogue.mandatory_month > 0):
        check_in_key = "check_in_only_quiz" if catalogue.format[item] == "quiz" else "check_in_only"
        p_item = np.where(traits["check_in_only"], MANDATORY_PARTICIPATION[check_in_key], p_take)
        month = int(catalogue.mandatory_month[item])
        first = max(int(cal.month_first[month]), int(catalogue.published_day[item]), 0)
        last = int(cal.month_last[month])
        take = (join_day <= last) & (rng.random(n) < p_item)
        days = np.arange(first, last + 1)
        weight = 1.0 + 2.5 * (days >= last - 6) + 3.0 * (days == _party_day(cal, month))
        chosen = rng.choice(days, size=int(take.sum()), p=weight / weight.sum())
        lower = np.maximum(first, join_day[take])
        late = chosen < lower
        spread = rng.random(chosen.size)
        chosen = np.where(late, lower + np.floor(spread * (last - lower + 1)).astype(int), chosen)
        out_member.append(np.flatnonzero(take))
        out_item.append(np.full(chosen.size, item))
        out_day.append(chosen)
    return (
        np.concatenate(out_member) if out_member else np.zeros(0, int),
        np.concatenate(out_item) if out_item else np.zeros(0, int),
        np.concatenate(out_day) if out_day else np.zeros(0, int),
    )


def _voluntary_sessions(
    config: WorldConfig,
    cal: Calendar,
    members: pd.DataFrame,
    traits: dict[str, np.ndarray],
    catalogue: Catalogue,
    factor: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = config.rng("learning-voluntary")
    shift_worker = (members["shift_pattern"] != "day").to_numpy()
    join_day = np.array([cal.day_of(d) for d in members["joined_on"]])
    days = np.arange(cal.n_days)
    weekend = cal.weekday >= 5
    rate = traits["activity"][:, None] * _season(cal)[None, :] * factor
    rate = rate * np.where(~shift_worker[:, None] & weekend[None, :], 0.7, 1.0)
    since_join = days[None, :] - join_day[:, None]
    rate = np.where(since_join < 0, 0.0, rate)
    rate = np.where(
        (since_join < ONBOARDING_DAYS) & (join_day[:, None] >= 0), rate * ONBOARDING_BOOST, rate
    )
    counts = rng.poisson(rate)
    member, day = np.nonzero(counts)
    repeat = counts[member, day]
    member, day = np.repeat(member, repeat), np.repeat(day, repeat)

    # content choice per (role, shift worker, check-in, party member, month)
    role_names = list(ROLES)
    role = members["role"].map({r: i for i, r in enumerate(role_names)}).to_numpy()
    party = members["party_member"].to_numpy(bool)
    check_in = traits["check_in_only"]
    member_class = ((role * 2 + shift_worker) * 2 + check_in) * 2 + party
    month = cal.month[day]
    key = member_class[member] * 13 + month
    item = np.zeros(member.size, dtype=np.intp)
    kp_domain = np.array([k[2] for k in KNOWLEDGE_POINTS])
    item_domain = kp_domain[catalogue.kps[:, 0]]
    popularity = config.rng("learning-popularity").lognormal(0.0, 0.5, size=len(catalogue))
    minutes = catalogue.minutes.astype(float)
    for k in np.unique(key):
        rows = np.flatnonzero(key == k)
        cls, mo = divmod(int(k), 13)
        is_party = cls % 2 == 1
        is_check_in = (cls // 2) % 2 == 1
        is_shift = (cls // 4) % 2 == 1
        role_name = role_names[cls // 8]
        taste = _FORMAT_TASTE["check_in" if is_check_in else "shift" if is_shift else "day"]
        interest = np.exp(np.array(_ROLE_DOMAIN_PRIOR[role_name]))[item_domain]
        if is_party:
            interest = interest * np.where(item_domain == 0, 1.5, 1.0)
        length = (
            np.sqrt(minutes / 10)
            if is_check_in
            else np.exp(-minutes / 25)
            if is_shift
            else np.ones(len(catalogue))
        )
        published = catalogue.published_day
        fresh = (published >= cal.month_first[mo] - 60) & (published <= cal.month_last[mo])
        theme_kps = [kp - 1 for kp in MONTH_THEMES[mo][1]]
        on_theme = np.isin(catalogue.kps[:, 0], theme_kps)
        old_mandatory = (catalogue.mandatory_month > 0) & (catalogue.mandatory_month != mo)
        weight = (
            popularity
            * interest
            * np.array([taste[f] for f in catalogue.format])
            * length
            * np.where(fresh, 2.5, 1.0)
            * np.where(on_theme, 2.0, 1.0)
            * np.where(old_mandatory, 0.3, 1.0)
            * (published <= cal.month_last[mo])
        )
        item[rows] = rng.choice(len(catalogue), size=rows.size, p=weight / weight.sum())
    # content published later in the month is studied after it appears
    published_day = catalogue.published_day[item]
    early = day < published_day
    last = cal.month_last[cal.month[day]]
    spread = rng.random(day.size)
    day = np.where(
        early, published_day + np.floor(spread * (last - published_day + 1)).astype(int), day
    )
    return member, item, day


def _schedule(
    config: WorldConfig,
    cal: Calendar,
    members: pd.DataFrame,
    traits: dict[str, np.ndarray],
    catalogue: Catalogue,
    windows: dict[str, np.ndarray],
    factor: float,
) -> Sessions:
    """All sessions of the year, placed in free windows, without overlaps per member."""
    mandatory = _mandatory_sessions(config, cal, members, traits, catalogue)
    voluntary = _voluntary_sessions(config, cal, members, traits, catalogue, factor)
    member = np.concatenate([mandatory[0], voluntary[0]])
    item = np.concatenate([mandatory[1], voluntary[1]])
    day = np.concatenate([mandatory[2], voluntary[2]])
    is_mandatory = np.concatenate(
        [np.ones(mandatory[0].size, bool), np.zeros(voluntary[0].size, bool)]
    )

    rng = config.rng("learning-placement")
    n = member.size
    check_in = traits["check_in_only"][member]
    needed = np.maximum(
        60, np.round(catalogue.minutes[item] * 60 * rng.lognormal(0.0, 0.25, size=n))
    )
    desired = np.where(
        check_in, np.round(needed * rng.uniform(*CHECK_IN_DURATION_FACTOR, size=n)), needed
    )
    desired = np.minimum(desired, 4 * 3600)

    group = windows["member_group"][member]
    lengths = windows["length"][group, day].astype(float)  # (n, width) minutes
    starts = windows["start"][group, day]
    weight = lengths**0.6 * np.where(lengths * 60 >= needed[:, None], 1.0, 0.2) * (lengths > 0)
    cumulative = np.cumsum(weight, axis=1)
    total = cumulative[:, -1]
    pick = (cumulative < (rng.random(n) * total)[:, None]).sum(axis=1)
    pick = np.minimum(pick, lengths.shape[1] - 1)
    window_start = starts[np.arange(n), pick] * 60
    window_length = lengths[np.arange(n), pick] * 60
    slack = np.maximum(0.0, window_length - needed)
    start = day * 86400 + window_start + np.floor(rng.random(n) * slack).astype(np.int64)
    window_end = day * 86400 + window_start + window_length.astype(np.int64)
    web = (members["shift_pattern"] == "day").to_numpy()[member] & (rng.random(n) < 0.3)

    order = np.lexsort((start, member))
    keep = np.zeros(n, dtype=bool)
    start_out = start.astype(np.int64).copy()
    logged = np.zeros(n, dtype=np.int64)
    previous_member, previous_end = -1, 0
    member_l, start_l, end_l, desired_l, total_l = (
        member.tolist(),
        start.tolist(),
        window_end.tolist(),
        desired.tolist(),
        total.tolist(),
    )
    for i in order.tolist():
        begin = start_l[i]
        if member_l[i] == previous_member and begin < previous_end + 60:
            begin = previous_end + 60
        available = end_l[i] - begin
        if available < 120 or total_l[i] <= 0:
            continue
        keep[i] = True
        start_out[i] = begin
        logged[i] = min(int(desired_l[i]), int(available))
        previous_member, previous_end = member_l[i], begin + logged[i]
    member, item, start_out, logged, needed = (
        member[keep],
        item[keep],
        start_out[keep],
        logged[keep],
        needed[keep],
    )
    check_in, is_mandatory, web = check_in[keep], is_mandatory[keep], web[keep]
    completed = needed <= logged
    fmt = catalogue.format[item]
    questions = catalogue.n_questions[item]
    n_answered = np.where(
        fmt == "quiz",
        np.where(completed, questions, np.floor(questions * logged / needed)),
        np.where((fmt == "case") & completed & ~check_in, questions, 0),
    ).astype(int)
    order = np.lexsort((member, start_out))
    return Sessions(
        member=member[order],
        item=item[order],
        start=start_out[order],
        logged=logged[order],
        needed=needed[order].astype(np.int64),
        completed=completed[order],
        n_answered=n_answered[order],
        mandatory=is_mandatory[order],
        web=web[order],
    )


def _statement_count(sessions: Sessions, catalogue: Catalogue) -> np.ndarray:
    quiz = catalogue.format[sessions.item] == "quiz"
    return 1 + (~quiz) + sessions.n_answered + (quiz & sessions.completed) + sessions.completed


def schedule_to_target(
    config: WorldConfig,
    cal: Calendar,
    members: pd.DataFrame,
    traits: dict[str, np.ndarray],
    catalogue: Catalogue,
    windows: dict[str, np.ndarray],
) -> tuple[Sessions, float]:
    """Scale the voluntary rate until the statements reach the target (at most 1.15 × it)."""
    target = config.target_statements
    factor = 1.0
    for _ in range(8):
        sessions = _schedule(config, cal, members, traits, catalogue, windows, factor)
        counts = _statement_count(sessions, catalogue)
        total = int(counts.sum())
        if target <= total <= 1.15 * target:
            return sessions, factor
        voluntary = int(counts[~sessions.mandatory].sum())
        mandatory = total - voluntary
        wanted = max(1.04 * target - mandatory, 0.02 * target)
        if total > target and mandatory >= target:
            return sessions, factor
        factor *= wanted / max(voluntary, 1)
    if total < target:
        raise RuntimeError(f"could not reach {target} statements (got {total})")
    return sessions, factor


# -------------------------------------------------------------------------- simulation


def _statement_rows(sessions: Sessions, catalogue: Catalogue) -> dict[str, np.ndarray]:
    """One row per statement: session, verb, time, duration (s, -1 none), question number."""
    n = len(sessions)
    index = np.arange(n)
    fmt = catalogue.format[sessions.item]
    quiz, case = fmt == "quiz", fmt == "case"
    done = sessions.completed
    logged = sessions.logged
    parts: list[tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]] = []
    none = np.full(n, -1, dtype=np.int64)
    zero = np.zeros(n, dtype=np.int64)
    parts.append((index, LAUNCHED, sessions.start, none, zero))
    reading = np.where(case & done, np.round(0.8 * logged), logged).astype(np.int64)
    experienced = ~quiz
    parts.append(
        (
            index[experienced],
            EXPERIENCED,
            (sessions.start + reading)[experienced],
            reading[experienced],
            zero[experienced],
        )
    )
    answered_session = np.repeat(index, sessions.n_answered)
    offsets = np.cumsum(sessions.n_answered) - sessions.n_answered
    question = np.arange(answered_session.size) - np.repeat(offsets, sessions.n_answered) + 1
    questions = np.maximum(catalogue.n_questions[sessions.item], 1).astype(float)
    per_question = np.where(quiz, np.where(done, logged, sessions.needed) / questions, 0.1 * logged)
    base = np.where(quiz, 0, reading).astype(float)
    answer_time = base[answered_session] + question * per_question[answered_session]
    parts.append(
        (
            answered_session,
            ANSWERED,
            sessions.start[answered_session] + np.round(answer_time).astype(np.int64),
            np.round(per_question[answered_session]).astype(np.int64),
            question,
        )
    )
    graded = quiz & done
    parts.append(
        (index[graded], PASSED, (sessions.start + logged)[graded], logged[graded], zero[graded])
    )
    parts.append(
        (index[done], COMPLETED, (sessions.start + logged)[done], logged[done], zero[done])
    )
    rows = {
        "session": np.concatenate([p[0] for p in parts]),
        "verb": np.concatenate([np.full(p[0].size, p[1]) for p in parts]),
        "time": np.concatenate([p[2] for p in parts]).astype(np.int64),
        "duration": np.concatenate([p[3] for p in parts]).astype(np.int64),
        "question": np.concatenate([p[4] for p in parts]).astype(np.int64),
    }
    member = sessions.member[rows["session"]]
    order = np.lexsort((rows["question"], _VERB_ORDER[rows["verb"]], member, rows["time"]))
    return {name: values[order] for name, values in rows.items()}


def simulate_answers(
    config: WorldConfig,
    cal: Calendar,
    sessions: Sessions,
    catalogue: Catalogue,
    learners: LatentLearners,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Run the year day by day; returns the statement rows (with ``correct`` and ``score``)
    and the month-end mastery probabilities ``(12, n_members, n_kps)``."""
    rows = _statement_rows(sessions, catalogue)
    rng = config.rng("learning-answers")
    answered = np.flatnonzero(rows["verb"] == ANSWERED)
    a_session = rows["session"][answered]
    a_item = sessions.item[a_session]
    a_question = rows["question"][answered]
    n_kps_item = (catalogue.kps[a_item] >= 0).sum(axis=1)
    a_kp = catalogue.kps[a_item, (a_question - 1) % n_kps_item]
    a_difficulty = catalogue.question_difficulty[a_item, a_question - 1]
    a_member = sessions.member[a_session]
    a_day = rows["time"][answered] // 86400
    a_draw = rng.random(answered.size)
    correct = np.zeros(answered.size, dtype=bool)

    s_day = sessions.start // 86400
    s_minutes = np.minimum(sessions.logged, sessions.needed) / 60.0
    s_format = catalogue.format[sessions.item]
    s_difficulty = catalogue.difficulty[sessions.item]
    a_bounds = np.searchsorted(a_day, np.arange(cal.n_days + 1))  # rows are in time order
    s_bounds = np.searchsorted(s_day, np.arange(cal.n_days + 1))
    month_ends = {
        int(cal.month_last[m]): m for m in range(1, 13) if cal.month_last[m] >= cal.month_first[m]
    }
    monthly = np.zeros((12, learners.n_members, learners.n_kps))
    for d in range(cal.n_days):
        if d:
            learners.forget(1)
        a0, a1 = a_bounds[d], a_bounds[d + 1]
        if a1 > a0:
            p = learners.p_correct(a_member[a0:a1], a_kp[a0:a1], a_difficulty[a0:a1])
            correct[a0:a1] = a_draw[a0:a1] < p
        s0, s1 = s_bounds[d], s_bounds[d + 1]
        if s1 > s0:
            learners.study(
                sessions.member[s0:s1],
                catalogue.kps[sessions.item[s0:s1]],
                s_minutes[s0:s1],
                s_format[s0:s1],
                item_difficulty=s_difficulty[s0:s1],
            )
        if d in month_ends:
            monthly[month_ends[d] - 1] = learners.mastery_probability()

    right = np.zeros(rows["verb"].size, dtype=bool)
    right[answered] = correct
    n_right = np.bincount(a_session, weights=correct, minlength=len(sessions))
    questions = np.maximum(catalogue.n_questions[sessions.item], 1)
    score = n_right / questions
    graded = rows["verb"] == PASSED
    rows["verb"] = np.where(graded & (score[rows["session"]] < PASS_MARK), FAILED, rows["verb"])
    rows["correct"] = right
    rows["score"] = score[rows["session"]]
    return rows, monthly
