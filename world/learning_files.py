"""The learning world written as files: knowledge points, catalogue, members, xAPI 1.0.3
statements (one per line, in time order), and the truth files (latent traits, monthly
mastery, planted rates).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from datetime import timedelta

import numpy as np
import orjson
import pandas as pd

from world.config import MANDATORY_SHARE, WorldConfig
from world.learner_model import LatentLearners, LearningRates, sigmoid
from world.learning_catalogue import (
    DOMAINS,
    KNOWLEDGE_POINTS,
    NEW_CONTENT_SHARE,
    Calendar,
    Catalogue,
)
from world.learning_sessions import (
    ANSWERED,
    CHECK_IN_ABSORB,
    CHECK_IN_DURATION_FACTOR,
    CHECK_IN_ONLY_RATE,
    COMPLETED,
    EXPERIENCED,
    FAILED,
    MANDATORY_PARTICIPATION,
    ONBOARDING_BOOST,
    ONBOARDING_DAYS,
    PASS_MARK,
    PASSED,
    VERBS,
    Sessions,
)
from world.people import COLD_START_RATE, MEMBER_COLUMNS

STATEMENT_BATCH = 50_000  # statement lines serialised per write (bounds memory at any scale)

XAPI_HOME = "https://study.lodestar.invalid"
CONTENT_IRI = f"{XAPI_HOME}/content/"
KNOWLEDGE_POINTS_EXTENSION = "https://lodestar.invalid/xapi/extensions/knowledge-points"
ITEM_DIFFICULTY_EXTENSION = "https://lodestar.invalid/xapi/extensions/item-difficulty"
VERB_IRI = "http://adlnet.gov/expapi/verbs/"
ACTIVITY_IRI = "http://adlnet.gov/expapi/activities/"
ACTIVITY_TYPES = {
    "video": "media",
    "live": "media",
    "article": "lesson",
    "case": "lesson",
    "quiz": "assessment",
}

# ----------------------------------------------------------------------------- writing


def _csv_text(header: Sequence[str], records: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(records)
    return buffer.getvalue()


def knowledge_points_csv(n_kps: int) -> str:
    return _csv_text(
        ("kp_id", "name_zh", "name_en", "domain"),
        [
            (f"KP{k + 1:02d}", zh, en, DOMAINS[d][0])
            for k, (zh, en, d) in enumerate(KNOWLEDGE_POINTS[:n_kps])
        ],
    )


def catalogue_json(catalogue: Catalogue, cal: Calendar) -> bytes:
    items = []
    for i in range(len(catalogue)):
        month = int(catalogue.mandatory_month[i])
        items.append(
            {
                "content_id": catalogue.content_id[i],
                "title": catalogue.title[i],
                "knowledge_points": [f"KP{k + 1:02d}" for k in catalogue.kps[i] if k >= 0],
                "format": str(catalogue.format[i]),
                "minutes": int(catalogue.minutes[i]),
                "difficulty": float(catalogue.difficulty[i]),
                "mandatory_month": f"{cal.start.year}-{month:02d}" if month else None,
                "theme": catalogue.theme[i],
                "published_on": (
                    cal.start + timedelta(days=int(catalogue.published_day[i]))
                ).isoformat(),
            }
        )
    return orjson.dumps(items, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def members_csv(members: pd.DataFrame) -> str:
    frame = members[list(MEMBER_COLUMNS)].copy()
    frame["party_member"] = np.where(frame["party_member"], "true", "false")
    frame["joined_on"] = [day.isoformat() for day in frame["joined_on"]]
    return _csv_text(MEMBER_COLUMNS, frame.to_numpy().tolist())


def _iso_duration(seconds: int) -> str:
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"PT{hours}H{minutes}M{secs}S" if hours else f"PT{minutes}M{secs}S"


def _uuid4_strings(rng: np.random.Generator, n: int) -> list[str]:
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    text = raw.tobytes().hex()
    pieces = ((text[i : i + 32]) for i in range(0, 32 * n, 32))
    return [f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in pieces]


def statement_lines(
    config: WorldConfig,
    cal: Calendar,
    members: pd.DataFrame,
    catalogue: Catalogue,
    sessions: Sessions,
    rows: dict[str, np.ndarray],
) -> Iterator[bytes]:
    """The xAPI statements as JSON Lines (sorted keys), in time order, in batches of
    ``STATEMENT_BATCH`` lines so that memory stays flat at any scale. Each line is joined from
    parts serialised once (actor, verb, object, context, result), in the order of the sorted
    keys: the bytes ``orjson.dumps(statement, option=OPT_SORT_KEYS)`` writes."""
    dumps, sort_keys = orjson.dumps, orjson.OPT_SORT_KEYS
    actors = [
        dumps(
            {"objectType": "Agent", "account": {"homePage": XAPI_HOME, "name": employee_no}},
            option=sort_keys,
        )
        for employee_no in members["employee_no"]
    ]
    verbs = [
        dumps({"id": f"{VERB_IRI}{verb}", "display": {"en-US": verb}}, option=sort_keys)
        for verb in VERBS
    ]
    objects: list[bytes] = []
    contexts: list[list[dict[str, object]]] = []
    for i in range(len(catalogue)):
        fmt = str(catalogue.format[i])
        objects.append(
            dumps(
                {
                    "objectType": "Activity",
                    "id": f"{CONTENT_IRI}{catalogue.content_id[i]}",
                    "definition": {
                        "type": f"{ACTIVITY_IRI}{ACTIVITY_TYPES[fmt]}",
                        "name": {"zh-CN": catalogue.title[i]},
                    },
                },
                option=sort_keys,
            )
        )
        kp_ids = [f"KP{k + 1:02d}" for k in catalogue.kps[i] if k >= 0]
        contexts.append(
            [
                {
                    "platform": platform,
                    "language": "zh-CN",
                    "extensions": {
                        KNOWLEDGE_POINTS_EXTENSION: kp_ids,
                        ITEM_DIFFICULTY_EXTENSION: float(catalogue.difficulty[i]),
                    },
                }
                for platform in ("Lodestar Mobile", "Lodestar Web")
            ]
        )
    context_bytes = [[dumps(c, option=sort_keys) for c in pair] for pair in contexts]
    question_parts: dict[tuple[int, int, int], tuple[bytes, bytes]] = {}  # (context, object)
    results: dict[tuple[int, str, object], bytes] = {}
    durations: dict[int, str] = {}
    day_text = [(cal.start + timedelta(days=d)).isoformat().encode() for d in range(cal.n_days)]
    session_member = sessions.member.tolist()
    session_item = sessions.item.tolist()
    session_web = sessions.web.astype(int).tolist()
    session_completed = sessions.completed.tolist()
    score_right, score_wrong = {"scaled": 1.0}, {"scaled": 0.0}
    lines = []
    for statement_id, clock, session, verb, when, duration, question, correct, score in _row_values(
        rows, config.rng("learning-statement-ids")
    ):
        item = session_item[session]
        web = session_web[session]
        text = durations.get(duration, "")
        if duration >= 0 and not text:
            text = durations[duration] = _iso_duration(duration)
        if verb == ANSWERED:
            key = (item, question, web)
            parts = question_parts.get(key)
            if parts is None:
                context = _question_context(catalogue, item, question, contexts[item][web])
                parts = question_parts[key] = (
                    dumps(context, option=sort_keys),
                    dumps(_question_object(catalogue, item, question), option=sort_keys),
                )
            result_key: tuple[int, str, object] = (verb, text, correct)
            result = results.get(result_key)
            if result is None:
                result = results[result_key] = _result_part(
                    {
                        "duration": text,
                        "score": score_right if correct else score_wrong,
                        "success": correct,
                    }
                )
        else:
            parts = (context_bytes[item][web], objects[item])
            if verb == EXPERIENCED:
                completed = session_completed[session]
                result_key = (verb, text, completed)
                result = results.get(result_key)
                if result is None:
                    result = results[result_key] = _result_part(
                        {"duration": text, "completion": bool(completed)}
                    )
            elif verb in (PASSED, FAILED):
                result = _result_part(
                    {
                        "duration": text,
                        "completion": True,
                        "score": {"scaled": round(score, 4)},
                        "success": verb == PASSED,
                    }
                )
            elif verb == COMPLETED:
                result_key = (verb, text, True)
                result = results.get(result_key)
                if result is None:
                    result = results[result_key] = _result_part(
                        {"duration": text, "completion": True}
                    )
            else:
                result = b""
        lines.append(
            b"".join(
                (
                    b'{"actor":',
                    actors[session_member[session]],
                    b',"context":',
                    parts[0],
                    b',"id":"',
                    statement_id.encode(),
                    b'","object":',
                    parts[1],
                    result,
                    b',"timestamp":"',
                    day_text[when // 86400],
                    clock.encode(),
                    b'","verb":',
                    verbs[verb],
                    b"}",
                )
            )
        )
        if len(lines) >= STATEMENT_BATCH:
            lines.append(b"")
            yield b"\n".join(lines)
            lines = []
    if lines:
        lines.append(b"")
        yield b"\n".join(lines)


def _result_part(result: dict[str, object]) -> bytes:
    """``,"result":{...}``: the part of a statement line after its object."""
    return b',"result":' + orjson.dumps(result, option=orjson.OPT_SORT_KEYS)


def _row_values(rows: dict[str, np.ndarray], id_rng: np.random.Generator) -> Iterator[tuple]:
    """Per statement, as Python values: (id, time of day text, session, verb, time, duration,
    question, correct, score). Made ``STATEMENT_BATCH`` rows at a time: for the whole year
    these objects would take a few hundred bytes per statement. The ids are the same stream
    of ``id_rng`` however it is cut (whole 32-bit words per batch)."""
    columns = ("session", "verb", "time", "duration", "question", "correct", "score")
    n = int(rows["verb"].size)
    for first in range(0, n, STATEMENT_BATCH):
        batch = [rows[name][first : first + STATEMENT_BATCH].tolist() for name in columns]
        time_of_day = rows["time"][first : first + STATEMENT_BATCH] % 86400
        clock = [
            f"T{h:02d}:{m:02d}:{s:02d}+08:00"
            for h, m, s in zip(
                (time_of_day // 3600).tolist(),
                (time_of_day % 3600 // 60).tolist(),
                (time_of_day % 60).tolist(),
                strict=True,
            )
        ]
        ids = _uuid4_strings(id_rng, len(clock))
        yield from zip(ids, clock, *batch, strict=True)


def _question_object(catalogue: Catalogue, item: int, question: int) -> dict[str, object]:
    return {
        "objectType": "Activity",
        "id": f"{CONTENT_IRI}{catalogue.content_id[item]}/questions/{question}",
        "definition": {
            "type": f"{ACTIVITY_IRI}question",
            "name": {"zh-CN": f"{catalogue.title[item]} 第{question}题"},
            "interactionType": "choice",
        },
    }


def _question_context(
    catalogue: Catalogue, item: int, question: int, item_context: dict
) -> dict[str, object]:
    kps = [k for k in catalogue.kps[item] if k >= 0]
    kp = int(kps[(question - 1) % len(kps)])
    return {
        "platform": item_context["platform"],
        "language": "zh-CN",
        "contextActivities": {
            "parent": [
                {"objectType": "Activity", "id": f"{CONTENT_IRI}{catalogue.content_id[item]}"}
            ]
        },
        "extensions": {
            KNOWLEDGE_POINTS_EXTENSION: [f"KP{kp + 1:02d}"],
            ITEM_DIFFICULTY_EXTENSION: float(catalogue.question_difficulty[item, question - 1]),
        },
    }


def truth_members_csv(
    members: pd.DataFrame,
    traits: dict[str, np.ndarray],
    sessions: Sessions,
    rows: dict[str, np.ndarray],
    learners: LatentLearners,
    cal: Calendar,
) -> str:
    n = len(members)
    row_member = sessions.member[rows["session"]]
    answered = rows["verb"] == ANSWERED
    n_sessions = np.bincount(sessions.member, minlength=n)
    n_statements = np.bincount(row_member, minlength=n)
    n_answered = np.bincount(row_member[answered], minlength=n)
    n_right = np.bincount(row_member[answered], weights=rows["correct"][answered], minlength=n)
    logged = np.bincount(sessions.member, weights=sessions.logged, minlength=n)
    start = sigmoid(traits["baseline"]).mean(axis=1)
    end = learners.mastery_probability().mean(axis=1)
    frame = pd.DataFrame(
        {
            "employee_no": members["employee_no"],
            "check_in_only": np.where(traits["check_in_only"], "true", "false"),
            "ability": np.round(traits["ability"], 4),
            "absorb": np.round(traits["absorb"], 4),
            "activity_rate": np.round(traits["activity"], 5),
            "role": members["role"],
            "party_member": np.where(members["party_member"], "true", "false"),
            "shift_pattern": members["shift_pattern"],
            "crew": members["crew"],
            "joined_on": [d.isoformat() for d in members["joined_on"]],
            "cold_start": np.where(members["cold_start"], "true", "false"),
            "sessions": n_sessions,
            "statements": n_statements,
            "answered": n_answered,
            "accuracy": np.round(
                np.divide(n_right, n_answered, out=np.zeros(n), where=n_answered > 0), 4
            ),
            "logged_minutes": np.round(logged / 60, 1),
            "mastery_start": np.round(start, 4),
            "mastery_end": np.round(end, 4),
            "mastery_gain": np.round(end - start, 4),
        }
    )
    return frame.to_csv(index=False, lineterminator="\n")


def mastery_csv(
    members: pd.DataFrame, monthly: np.ndarray, cal: Calendar, n_kps: int
) -> Iterator[str]:
    """Month-end mastery probabilities from each member's joining month on, as CSV text in
    one part per member (so memory stays flat at any scale)."""
    table = [f"{v / 10000:.4f}\n" for v in range(10001)]
    kp_ids = [f"KP{k + 1:02d}," for k in range(n_kps)]
    months = [f"{cal.start.year}-{m:02d}," for m in range(1, 13)]
    month_last = [cal.start + timedelta(days=int(cal.month_last[m])) for m in range(1, 13)]
    values = np.rint(monthly * 10000).astype(np.int64)  # (12, n, k)
    pairs: dict[tuple[int, ...], list[str]] = {}  # active months -> "KPxx,YYYY-MM," by (k, m)
    yield "employee_no,kp_id,month,mastery\n"
    for i, (employee_no, joined) in enumerate(
        zip(members["employee_no"], members["joined_on"], strict=True)
    ):
        active = tuple(m for m in range(12) if month_last[m] >= joined)
        if not active:
            continue
        keys = pairs.get(active)
        if keys is None:
            keys = pairs[active] = [kp + months[m] for kp in kp_ids for m in active]
        flat = values[active, i, :].T.ravel().tolist()  # (k, months), row-major
        head = f"{employee_no},"
        yield "".join([head + key + table[v] for key, v in zip(keys, flat, strict=True)])


def learning_rates_json(
    config: WorldConfig, rates: LearningRates, traits: dict[str, np.ndarray], factor: float
) -> str:
    document = {
        "check_in_only_rate": CHECK_IN_ONLY_RATE,
        "check_in_only_members": int(traits["check_in_only"].sum()),
        "check_in_absorb_uniform": list(CHECK_IN_ABSORB),
        "check_in_logged_over_needed_uniform": list(CHECK_IN_DURATION_FACTOR),
        "cold_start_rate": COLD_START_RATE,
        "absorb_lognormal_sigma": 0.35,
        "ability_sd_logits": 0.8,
        "learner_model": rates.as_dict(),
        "difficulty_logit": "4 * (difficulty - 0.5)",
        "p_correct": "sigmoid(mastery - difficulty_logit); check-in only: guess_accuracy",
        "mastery_probability": "sigmoid(mastery): P(correct) on a question of difficulty 0.5",
        "mandatory_share": MANDATORY_SHARE,
        "mandatory_participation": MANDATORY_PARTICIPATION,
        "new_content_share": NEW_CONTENT_SHARE,
        "onboarding": {"days": ONBOARDING_DAYS, "activity_boost": ONBOARDING_BOOST},
        "pass_mark": PASS_MARK,
        "questions": (
            "quiz: clip(round(0.8 * minutes), 3, 12); case: 2; question q tests the item's "
            "KP number (q - 1) mod n_kps"
        ),
        "voluntary_rate_factor": round(factor, 6),
        "target_statements": config.target_statements,
        "mastery_monthly_rows": "member x KP x month, from the member's joining month on",
    }
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
