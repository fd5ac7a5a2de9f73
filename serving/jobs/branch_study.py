"""A branch's study by knowledge point and its mandatory completion, for the party officer's
console page (``branch_mastery`` in ``learning_answers`` gives the API's domain aggregates).

Aggregates only, over the branch's members: a branch under ``MIN_GROUP_SIZE`` members is
suppressed whole, as the API does, so no figure can be traced back to one person."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from serving.jobs.learning_answers import MIN_GROUP_SIZE
from serving.jobs.learning_study import Study


@dataclass(frozen=True)
class KpShare:
    kp_id: str
    name_en: str
    name_zh: str
    mean_p_correct: float


@dataclass(frozen=True)
class BranchStudy:
    """``mandatory_items`` are the items whose ``mandatory_month`` is ``as_of``'s month;
    ``mandatory_done_share`` is completed (member, item) pairs over members x items, and
    ``members_all_done`` the members who completed every one (None when there are none)."""

    suppressed: bool
    members: int | None
    knowledge_points: list[KpShare]
    mandatory_items: int | None
    mandatory_done_share: float | None
    members_all_done: int | None


def branch_study(study: Study, member_keys: Iterable[str], as_of: datetime) -> BranchStudy:
    keys = sorted(set(member_keys))
    if len(keys) < MIN_GROUP_SIZE:
        return BranchStudy(True, None, [], None, None, None)
    data = study.data
    learning = data.current()
    events = pd.concat([data.events_of(key) for key in keys], ignore_index=True)
    kps = sorted(data.knowledge_points)
    profiles = study.mastery.mastery_profiles(events, kps, pd.Timestamp(as_of), members=keys)
    means = profiles.groupby("kp_id")["p_correct"].mean()
    shares = [
        KpShare(
            kp_id=str(kp),
            name_en=data.knowledge_points[str(kp)].name_en,
            name_zh=data.knowledge_points[str(kp)].name_zh,
            mean_p_correct=float(np.clip(mean, 0.0, 1.0)),
        )
        for kp, mean in means.sort_values().items()
    ]
    month = as_of.strftime("%Y-%m")
    content = learning.content
    mandatory = set(content.loc[content["mandatory_month"].astype(str) == month, "content_id"])
    if not mandatory:
        return BranchStudy(False, len(keys), shares, 0, None, None)
    statements = learning.statements
    moments = pd.to_datetime(statements["timestamp"])
    if moments.dt.tz is not None:
        moments = moments.dt.tz_convert(None)
    done = statements[
        statements["member_key"].isin(keys)
        & statements["content_id"].isin(mandatory)
        & (statements["verb"] == "completed")
        & (moments <= pd.Timestamp(as_of))
    ]
    pairs = done[["member_key", "content_id"]].drop_duplicates()
    per_member = pairs.groupby("member_key").size()
    return BranchStudy(
        suppressed=False,
        members=len(keys),
        knowledge_points=shares,
        mandatory_items=len(mandatory),
        mandatory_done_share=len(pairs) / (len(keys) * len(mandatory)),
        members_all_done=int((per_member >= len(mandatory)).sum()),
    )
