"""Personalised study in the service: loading the mastery and recommender champions and
pairing them with the study data.

Loading (``load_learning``, called by the lifespan) follows ``serving.jobs.esg``: the tracking
URI is ``Settings.resolved_mlflow_tracking_uri``; ``models:/mastery@champion`` and
``models:/study-recommender@champion`` are each resolved to a version and loaded (a moved
alias is swapped in by ``serving.live.swap``, over the same study source). Both are needed:
without either, ``/readyz`` names the missing one and the study read routes answer 503
``model_unavailable`` (``POST /v1/xapi/statements`` still stores statements: the models read
them once loaded).

The study data is the online layer's (``features.online.study.StudyData``), built from the
store at startup and kept current by pushes: by ingestion (``LearningState.push``, the hook
in ``app.state.online_push``) and by ``POST /v1/xapi/statements``. The recommender's
snapshots over it are kept by ``serving.jobs.learning_study.Study``; the routes' answers are
in ``serving.jobs.learning_answers`` and the statement endpoint's storing in
``serving.jobs.learning_statements``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.online.study import (
    KnowledgePoint,
    StudyData,
    StudyPushOutcome,
    StudySource,
    read_knowledge_points,
)
from serving.api.schemas.common import ModelReadiness
from serving.jobs.learning_study import (
    MASTERY_MODEL,
    RECOMMENDER_MODEL,
    ReplayBudget,
    Study,
)
from serving.live.registry import (
    CHAMPION,
    ModelUnavailableError,
    load_python_model,
    model_readiness,
)
from serving.runtime import Runtime
from serving.settings import ServiceSettings

if TYPE_CHECKING:
    from models.learning.mastery import MasteryModel
    from models.learning.recommender import StudyRecommender

logger = logging.getLogger(__name__)


def load_champion(tracking_uri: str, name: str) -> tuple[Any, str]:
    """The python model behind ``models:/<name>@champion``, and its version."""
    return load_python_model(tracking_uri, name)


def load_mastery(tracking_uri: str) -> tuple[MasteryModel, str]:
    from models.learning.mastery import MasteryModel

    python_model, version = load_champion(tracking_uri, MASTERY_MODEL)
    model = getattr(python_model, "mastery_model", None)
    if not isinstance(model, MasteryModel):
        raise ModelUnavailableError(f"model {MASTERY_MODEL} version {version} is not a mastery")
    return model, version


def load_recommender(tracking_uri: str) -> tuple[StudyRecommender, str]:
    from models.learning.recommender import StudyRecommender

    python_model, version = load_champion(tracking_uri, RECOMMENDER_MODEL)
    model = getattr(python_model, "recommender", None)
    if not isinstance(model, StudyRecommender):
        raise ModelUnavailableError(
            f"model {RECOMMENDER_MODEL} version {version} is not a study recommender"
        )
    return model, version


@dataclass(frozen=True)
class LearningState:
    """The loaded models and data, or why there are none.

    ``online`` (the study source) and ``knowledge_points`` are kept without models too (the
    store is open, the registry has no champions yet): pushes keep the source current and
    ``with_models`` builds the study over it when champions come."""

    study: Study | None = None
    unavailable_reason: str | None = None
    versions: Mapping[str, str] = field(default_factory=dict)
    reasons: Mapping[str, str] = field(default_factory=dict)
    online: StudySource | None = None
    knowledge_points: Sequence[KnowledgePoint] = ()

    def push(self, frames: Mapping[str, pd.DataFrame]) -> StudyPushOutcome | None:
        """Apply stored rows (table name → rows with the store's columns; ``statements`` is
        taken, the rest ignored); None when no study data is loaded."""
        if self.study is not None:
            return self.study.data.push(frames)
        if self.online is not None:
            return self.online.push(frames)
        return None

    def with_models(
        self,
        mastery: tuple[MasteryModel, str],
        recommender: tuple[StudyRecommender, str],
        *,
        as_of_max_age: timedelta | None = None,
        replay_budget: ReplayBudget | None = None,
    ) -> LearningState:
        """A state with these champions (model, version) over the same study source: new
        check-in flags and a new live snapshot are built (seconds: call it off the request
        path), the statements are not read again. Settings not given are the current
        study's."""
        if self.online is None:
            raise RuntimeError("no study data to pair the models with")
        old = self.study
        data = StudyData(self.online, self.knowledge_points, mastery[0])
        recommender[0].attach(data.learning, kp_names=data.kp_names)
        study = Study(
            mastery=mastery[0],
            mastery_version=mastery[1],
            recommender=recommender[0],
            recommender_version=recommender[1],
            data=data,
            as_of_max_age=as_of_max_age or (old.as_of_max_age if old else timedelta(days=1830)),
            replay_budget=replay_budget or (old.replay_budget if old else None),
        )
        try:
            study.start()  # the live snapshot: the first suggestion request must not build it
        except Exception:
            logger.exception("building the study snapshot failed; the first request will")
        versions = {MASTERY_MODEL: mastery[1], RECOMMENDER_MODEL: recommender[1]}
        return LearningState(
            study=study,
            versions=versions,
            online=self.online,
            knowledge_points=self.knowledge_points,
        )

    def readiness(self) -> list[ModelReadiness]:
        return [
            model_readiness(
                name,
                self.versions.get(name) if self.study is not None else None,
                self.reasons.get(name) or self.unavailable_reason,
            )
            for name in (MASTERY_MODEL, RECOMMENDER_MODEL)
        ]


def load_learning(settings: ServiceSettings, runtime: Runtime) -> LearningState:
    """Both champions and the study data; never raises (the service starts)."""
    if runtime.store is None:
        return LearningState(unavailable_reason=runtime.not_ready_reason or "store not open")
    uri = settings.resolved_mlflow_tracking_uri
    versions: dict[str, str] = {}
    reasons: dict[str, str] = {}
    loaded: dict[str, Any] = {}
    for name, loader in ((MASTERY_MODEL, load_mastery), (RECOMMENDER_MODEL, load_recommender)):
        try:
            loaded[name], versions[name] = loader(uri)
        except ModelUnavailableError as error:
            logger.warning("study model unavailable: %s", error)
            reasons[name] = str(error)
        except Exception:
            logger.exception("loading %s@%s failed", name, CHAMPION)
            reasons[name] = f"model {name}@{CHAMPION} could not be loaded"
    with runtime.store.use() as store:
        online = StudySource.from_store(store)
        knowledge_points = read_knowledge_points(store)
    if reasons:
        return LearningState(
            unavailable_reason="; ".join(reasons.values()),
            versions=versions,
            reasons=reasons,
            online=online,
            knowledge_points=knowledge_points,
        )
    logger.info(
        "study: %s v%s and %s v%s loaded",
        MASTERY_MODEL,
        versions[MASTERY_MODEL],
        RECOMMENDER_MODEL,
        versions[RECOMMENDER_MODEL],
    )
    state = LearningState(online=online, knowledge_points=knowledge_points)
    return state.with_models(
        (loaded[MASTERY_MODEL], versions[MASTERY_MODEL]),
        (loaded[RECOMMENDER_MODEL], versions[RECOMMENDER_MODEL]),
        as_of_max_age=timedelta(days=settings.study_as_of_max_age_days),
        replay_budget=ReplayBudget(settings.study_replay_builds),
    )
