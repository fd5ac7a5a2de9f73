"""Study recommender: train, evaluate against three baselines and in simulation, track, gate.

Usage::

    python -m training.recommender train [--data-dir DIR] [--key-file FILE]
        [--tracking-uri URI] [--cut YYYY-MM-DD] [--train-months 3] [--baseline-days 90]
        [--learning-weight 0.5] [--n-estimators 300] [--sim-weeks 4] [--sim-members N]
        [--min-improvement 0] [--seed 0] [--quiet]

Time split: the evaluation cut (``--cut``, default the first day of the last month with
statements; December on the 2025 demo world) separates the past from the test month. The
ranker trains on the ``--train-months`` months before it (features as of each month's first
day, labels = items launched in the following 30 days; the last horizon ends at the cut).
The baselines fit on the launches of the ``--baseline-days`` before the cut (a whole year
would make last January's mandatory items the "most popular"). Test: for each member, the
items they launched in the test month that they had not launched before the cut; every
scorer recommends 10 items the member has not launched, from content published before the
cut (content published during the test month exists for nobody). Metrics
(``training.metrics.recsys``): NDCG@10, precision@10, recall@10, MAP@10, catalogue coverage,
novelty and KP diversity, for the model, popularity, co-occurrence and EASE; the same with
this month's mandatory items removed from lists and test sets (``voluntary.*``: what is left
when the calendar does not help). The test ranks at most ``--eval-members``
(``EVALUATION_MEMBERS``) members, a seeded sample of the roster when there are more, so
that its cost does not grow with the roster; every scorer and the champion rank the same
members, and each NDCG carries its standard error over them (``ndcg@10_se``).

Mastery: ``StudyRecommender.fit`` fits a ``models.learning.mastery.MasteryModel`` on the
events before the last training cut + horizon (so never on the test month) and saves it
inside the recommender's artefact; every snapshot (training cuts, evaluation, simulation)
reads P(correct) from it and the check-in flag from ``detect_check_in``. ``--learning-weight``
(default 0.5) adds the learning-value term to the ranker's score
(``models.learning.recommender.learning_value``).

What is read: when the training, evaluation and simulation samples are all drawn (a roster
larger than every budget), the statements of those members only (``Samples.held``); the
population figures (popularity, members per item, co-occurrence and EASE counts, format
shares, engagement, the check-in threshold) and the baselines' launches of everyone else are
aggregates over the store snapshot, which stays open through the run
(``features.learning.data.OutsideMembers``): the figures are those of a read of every
statement, and the memory held grows with the samples, not the store. The mastery model
is then fitted on those members' events. Otherwise every statement is read.

Learning gain (when the truth folder exists; evaluation only): four simulated weeks from the
cut, members follow the top three of the recommender and of popularity
(``world.simulate``); mean gain per policy and the paired difference.

Drift reference (``models.drift``, saved in the model's ``metadata_`` under
``DRIFT_REFERENCE``): the ranker's ``FEATURES`` and raw score (before re-ranking, which
depends on the member's other candidates) of every candidate of at most
``REFERENCE_MEMBERS`` members of the evaluation cut's snapshot (what the service would
score just after training). The members are ``models.drift.reference_sample``'s: a fixed
seed over the sorted member keys, so a rerun on the same data bins the same rows. Bins hold
quantiles and shares over those rows, no row.

MLflow: experiment ``study-recommender``; parameters, metrics, the summary, the model as a
pyfunc (``StudyRecommenderPyfunc``) registered as ``study-recommender`` with alias
``challenger``; the champion gate (``training.tracking.compare_with_champion``) scores the
champion on the same test month and members and promotes on NDCG@10.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.security import PersonalData
from core.settings import Settings
from features.learning.baselines import (
    CooccurrenceRecommender,
    EASERecommender,
    PopularityRecommender,
)
from features.learning.data import MEMBER_KEY, LearningData
from features.learning.snapshot import EASE_L2, Snapshot, item_kp_lists
from models.drift import DRIFT_REFERENCE, DriftReference, reference_sample
from models.learning.recommender import (
    ARTIFACT_KEY,
    FEATURES,
    TRAINING_MEMBER_BUDGET,
    StudyRecommender,
    StudyRecommenderPyfunc,
    candidate_frame,
    default_cuts,
    kp_names_from_store,
    training_members,
)
from store.queries import learning as queries
from training.cli import HELP, say, training_main
from training.data_source import open_training_snapshot
from training.metrics.recsys import ranking_report
from training.tracking import (
    ChampionCannotScoreError,
    GateDecision,
    compare_with_champion,
    experiment_id,
    finite_metrics,
    record_gate,
    register_challenger,
    start_tracking,
)
from world.simulate import (
    latent_from_truth,
    popularity_policy,
    recommender_policy,
    simulate_learning_gain,
)

EXPERIMENT = "study-recommender"
REGISTERED_MODEL = "study-recommender"
K = 10
SCORERS = ("model", "popularity", "cooccurrence", "ease")
PIP_PACKAGES = ("lodestar", "lightgbm", "pandas", "numpy", "mlflow")
REFERENCE_MEMBERS = 300  # members whose candidates the drift reference bins, at most
EVALUATION_MEMBERS = 4_000
"""Members the evaluation cut ranks and scores, at most (``--eval-members``): a seeded sample
of the roster (``training_members``' draw with the next seed) when there are more (the demo
world's 2,000 are all ranked). The cut's snapshot profiles their mastery only (the
population, popularity and co-occurrence still read every member), every scorer and the
champion rank the same members, and the metrics carry the NDCG's standard error over them
(``*.ndcg@10_se``) and their number (``evaluation.members``). A sampled member's list is the
one a ranking of everyone gives them but for the learning-value term's scale (a standard
deviation over the ranked members' candidates, as in ``SampledPolicy``)."""
SIMULATION_MEMBERS = 2_000
"""Members the learning-gain simulation follows, at most (``--sim-members``): a seeded sample
of the members the truth knows when there are more (the demo world's 2,000 are all
followed); each simulated week's snapshot profiles and ranks those members only."""


class TrainingError(RuntimeError):
    """Training cannot run on this data."""


@dataclass(frozen=True)
class RecommenderOptions:
    cut: datetime | None = field(default=None, metadata={HELP: "first test day"})
    train_months: int = 3
    baseline_days: int = 90
    learning_weight: float = field(
        default=0.5,
        metadata={HELP: "weight of the learning-value term (models.learning.recommender)"},
    )
    n_estimators: int = 300
    sim_weeks: int = 4
    sim_members: int | None = field(
        default=SIMULATION_MEMBERS,
        metadata={HELP: "members the simulation follows, at most (a seeded sample)"},
    )
    max_training_members: int | None = field(
        default=TRAINING_MEMBER_BUDGET,
        metadata={HELP: "members per training cut the ranker trains on, at most (seeded sample)"},
    )
    eval_members: int | None = field(
        default=EVALUATION_MEMBERS,
        metadata={HELP: "members the evaluation cut ranks and scores, at most (seeded sample)"},
    )
    min_improvement: float = 0.0
    seed: int = 0


def default_cut(statements: pd.DataFrame) -> datetime:
    return month_start(pd.Timestamp(statements["timestamp"].max()))


def month_start(moment: pd.Timestamp) -> datetime:
    """The first day of ``moment``'s month (the default evaluation cut of the newest
    statement's time)."""
    return pd.Timestamp(moment).to_period("M").to_timestamp().to_pydatetime()


def relevant_items(
    data: LearningData, snapshot: Snapshot, end: datetime, members: Sequence[str] | None = None
) -> dict[str, set[str]]:
    """Per member (of ``members``, default all): items launched in ``[cut, end)`` and never
    launched before the cut."""
    s = data.statements
    test = s[
        (s["verb"] == "launched") & (s["timestamp"] >= snapshot.as_of) & (s["timestamp"] < end)
    ]
    if members is not None:
        test = test[test["member_key"].astype(str).isin(set(members))]
    item_column = {item: j for j, item in enumerate(snapshot.items)}
    index = snapshot.member_index
    out: dict[str, set[str]] = {}
    for member, item in zip(
        test["member_key"].astype(str), test["content_id"].astype(str), strict=True
    ):
        row, column = index.get(member), item_column.get(item)
        if row is not None and column is not None and snapshot.ever_launched[row, column]:
            continue
        out.setdefault(member, set()).add(item)
    return out


def baseline_lists(
    data: LearningData,
    snapshot: Snapshot,
    *,
    days: int,
    k: int,
    members: Sequence[str] | None = None,
) -> dict[str, dict[str, list[str]]]:
    """Top-k of each baseline for ``members`` (default all), fit on every member's launches
    in the ``days`` before the cut, excluding every item the member launched before the cut
    and content not yet published."""
    keys = list(snapshot.member_keys if members is None else members)
    s = data.statements
    start = pd.Timestamp(snapshot.as_of) - pd.Timedelta(days=days)
    window = s[
        (s["verb"] == "launched") & (s["timestamp"] >= start) & (s["timestamp"] < snapshot.as_of)
    ]
    interactions = pd.DataFrame({"user": window["member_key"], "item": window["content_id"]})
    if data.outside is not None:  # the members whose statements are not held: their pairs
        others = data.outside.launched_between(start, snapshot.as_of)
        interactions = pd.concat(
            [
                interactions.astype(str),
                pd.DataFrame({"user": others["member_key"], "item": others["content_id"]}).astype(
                    str
                ),
            ],
            ignore_index=True,
        )
    published = set(snapshot.items)
    interactions = interactions[interactions["item"].isin(published)]
    seen = {
        key: {
            snapshot.items[j]
            for j in np.flatnonzero(snapshot.ever_launched[snapshot.member_index[key]])
        }
        for key in keys
    }
    out: dict[str, dict[str, list[str]]] = {}
    models: dict[str, Any] = {
        "popularity": PopularityRecommender(),
        "cooccurrence": CooccurrenceRecommender(similarity="jaccard"),
        "ease": EASERecommender(l2=EASE_L2),
    }
    for name, model in models.items():
        model.fit(interactions)
        lists = model.recommend(keys, k + 60, exclude_seen=True)
        out[name] = {
            key: [i for i in items if i not in seen[key]][:k] for key, items in lists.items()
        }
    return out


def model_lists(
    recommender: StudyRecommender,
    snapshot: Snapshot,
    *,
    k: int,
    drop: set[str] | None = None,
    members: Sequence[str] | None = None,
) -> dict[str, list[str]]:
    """The top ``k`` of ``members`` (default all) by ``recommender``, ``drop`` left out."""
    depth = k + (len(drop) if drop else 0)
    rows = None if members is None else [snapshot.member_index[key] for key in members]
    ranked = recommender.rank_snapshot(snapshot, k=depth, rows=rows)
    return {
        snapshot.member_keys[row]: [
            snapshot.items[item]
            for item, _ in chosen
            if not drop or snapshot.items[item] not in drop
        ][:k]
        for row, chosen in ranked.items()
    }


def evaluate(
    recommender: StudyRecommender,
    data: LearningData,
    snapshot: Snapshot,
    *,
    end: datetime,
    baseline_days: int,
    members: Sequence[str] | None = None,
) -> dict[str, float]:
    """Every scorer's ``ranking_report`` (all and ``voluntary.``) on ``members`` (default
    all) of ``snapshot``."""
    relevant = relevant_items(data, snapshot, end, members)
    item_users = {item: int(n) for item, n in zip(snapshot.items, snapshot.item_users, strict=True)}
    kps = item_kp_lists(snapshot)
    mandatory = {
        item for item, flag in zip(snapshot.items, snapshot.mandatory_now, strict=True) if flag
    }
    deep = model_lists(recommender, snapshot, k=K + len(mandatory), members=members)
    lists = {"model": {m: items[:K] for m, items in deep.items()}}
    voluntary_lists = {
        "model": {m: [i for i in items if i not in mandatory][:K] for m, items in deep.items()}
    }
    voluntary_relevant = {m: items - mandatory for m, items in relevant.items()}
    for name, per_member in baseline_lists(
        data, snapshot, days=baseline_days, k=K + len(mandatory), members=members
    ).items():
        lists[name] = {m: items[:K] for m, items in per_member.items()}
        voluntary_lists[name] = {
            m: [i for i in items if i not in mandatory][:K] for m, items in per_member.items()
        }
    metrics: dict[str, float] = {}
    common: dict[str, Any] = {
        "k": K,
        "catalogue_size": len(snapshot.items),
        "item_users": item_users,
        "n_users": len(snapshot.member_keys),
        "item_kps": kps,
    }
    for name in SCORERS:
        for metric, value in ranking_report(lists[name], relevant, **common).items():
            metrics[f"{name}.{metric}"] = value
        for metric, value in ranking_report(
            voluntary_lists[name], voluntary_relevant, **common
        ).items():
            metrics[f"voluntary.{name}.{metric}"] = value
    metrics["evaluation.members"] = float(
        len(snapshot.member_keys) if members is None else len(members)
    )
    metrics["test.mandatory_share_of_relevant"] = float(
        sum(len(items & mandatory) for items in relevant.values())
        / max(sum(len(items) for items in relevant.values()), 1)
    )
    return metrics


def drift_reference(
    recommender: StudyRecommender,
    snapshot: Snapshot,
    *,
    members: int = REFERENCE_MEMBERS,
    among: Sequence[str] | None = None,
) -> DriftReference:
    """The binned ``FEATURES`` and raw ranker score of the candidates of at most ``members``
    members of ``snapshot`` (a seeded sample, see the module docstring) among ``among``
    (default all: the members whose mastery the snapshot profiled)."""
    sample = reference_sample(list(snapshot.member_keys if among is None else among), limit=members)
    rows = [snapshot.member_index[key] for key in sample]
    frame = candidate_frame(snapshot, rows=rows, per_source=recommender.per_source)
    return DriftReference.from_frame(
        frame.features,
        recommender.score_frame(frame),
        features=FEATURES,
        part=f"candidates at the evaluation cut, {len(sample)} members",
    )


def summary_table(metrics: dict[str, float], prefix: str = "") -> str:
    columns = [
        f"ndcg@{K}",
        f"precision@{K}",
        f"recall@{K}",
        f"map@{K}",
        "coverage",
        "novelty",
        "kp_diversity",
    ]
    lines = ["| scorer | " + " | ".join(columns) + " |", "| --- |" + " ---: |" * len(columns)]
    for name in SCORERS:
        cells = [_cell(metrics.get(f"{prefix}{name}.{c}")) for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _same_mastery(a: StudyRecommender, b: StudyRecommender) -> bool:
    if a.mastery_ is None or b.mastery_ is None:
        return a.mastery_ is None and b.mastery_ is None
    return bool(a.mastery_.booster_.model_to_string() == b.mastery_.booster_.model_to_string())


def _cell(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _mlflow_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """The finite metrics, ``@`` spelt ``_at_`` (MLflow refuses ``@`` in a metric name)."""
    return {k.replace("@", "_at_"): v for k, v in finite_metrics(metrics).items()}


class SampledPolicy:
    """The recommender's simulation policy (``world.simulate.recommender_policy``) for a
    sample of ``members``: each week's snapshot profiles their mastery only (the population
    still reads everyone) and only their rows are ranked. Their suggestions are those of the
    full policy but for the learning-value term's scale, a standard deviation over the
    ranked members' candidates."""

    def __init__(self, recommender: StudyRecommender, members: Sequence[str]) -> None:
        self.recommender = recommender
        self.members = list(members)

    def snapshot(self, data: LearningData, as_of: datetime) -> Snapshot:
        return Snapshot.build(data, as_of, mastery=self.recommender.mastery_, profiled=self.members)

    def __call__(self, snapshot: Snapshot, n: int) -> dict[str, list[str]]:
        rows = sorted(snapshot.member_index[k] for k in self.members if k in snapshot.member_index)
        ranked = self.recommender.rank_snapshot(snapshot, rows=rows, k=n)
        return {
            snapshot.member_keys[row]: [snapshot.items[item] for item, _ in chosen]
            for row, chosen in ranked.items()
        }


class SampledPopularity:
    """``world.simulate.popularity_policy`` whose weekly snapshots compute the stand-in
    mastery of ``members`` only (the policy reads launches and popularity, never mastery)."""

    def __init__(self, members: Sequence[str]) -> None:
        self.members = list(members)

    def snapshot(self, data: LearningData, as_of: datetime) -> Snapshot:
        return Snapshot.build(data, as_of, profiled=self.members)

    def __call__(self, snapshot: Snapshot, n: int) -> dict[str, list[str]]:
        return popularity_policy(snapshot, n, self.members)


def evaluate_and_gate(
    recommender: StudyRecommender,
    data: LearningData,
    cut: datetime,
    *,
    end: datetime,
    options: RecommenderOptions,
    client: Any,
    quiet: bool = False,
) -> tuple[dict[str, float], GateDecision]:
    """The test month's metrics of every scorer on the evaluation's members
    (``EVALUATION_MEMBERS``, a seeded sample when there are more), the drift reference (into
    ``recommender.metadata_``) and the champion gate on the same members and month. The
    cut's snapshot lives only in here."""
    keys = data.members[MEMBER_KEY].astype(str).tolist()
    sample = training_members(keys, options.eval_members, seed=options.seed + 1)
    cut_state = recommender.snapshot_at(data, cut, profiled=sample)
    members = list(cut_state.member_keys) if sample is None else sample
    say(
        f"evaluate {len(members):,} of {len(keys):,} members "
        f"(mastery: {recommender.metadata_.get('mastery')})",
        quiet=quiet,
    )
    metrics = evaluate(
        recommender,
        data,
        cut_state,
        end=end,
        baseline_days=options.baseline_days,
        members=None if sample is None else members,
    )
    reference = drift_reference(recommender, cut_state, among=members)
    recommender.metadata_[DRIFT_REFERENCE] = reference.to_dict()
    relevant = relevant_items(data, cut_state, end, None if sample is None else members)

    def champion_ndcg(loaded: Any) -> float:
        """The champion's NDCG@K on the evaluation's members and test month: with the cut's
        snapshot when it traces mastery with the same model, else with its own."""
        champion: StudyRecommender = loaded.unwrap_python_model().recommender
        try:
            own = (
                cut_state
                if _same_mastery(champion, recommender)
                else champion.snapshot_at(data, cut, profiled=sample)
            )
            lists = model_lists(champion, own, k=K, members=members)
        except (ValueError, KeyError) as error:
            raise ChampionCannotScoreError(str(error)) from error
        report = ranking_report(
            lists, relevant, k=K, catalogue_size=len(own.items), item_users={}, n_users=1
        )
        return report[f"ndcg@{K}"]

    # the gate scores the champion before the simulation: the cut's state is dropped then
    gate = compare_with_champion(
        client,
        REGISTERED_MODEL,
        metrics[f"model.ndcg@{K}"],
        champion_ndcg,
        min_improvement=options.min_improvement,
        metric_name=f"NDCG@{K}",
    )
    return metrics, gate


@dataclass
class TrainResult:
    run_id: str
    model_version: str
    gate: GateDecision
    metrics: dict[str, float]
    summary: str


def load_data(
    settings: Settings, snapshot: Path | None = None, *, quiet: bool = False
) -> tuple[LearningData, dict[str, tuple[str, str]]]:
    """Statements, catalogue and members, and knowledge-point names, from the store snapshot
    ``snapshot`` (None: the newest, written first if there is none)."""
    with open_training_snapshot(settings, snapshot, quiet=quiet) as data:
        return LearningData.from_store(data), kp_names_from_store(data)


@dataclass(frozen=True)
class Samples:
    """The members a run works on: ``training`` (every cut's, ``training_members``),
    ``evaluation`` (``EVALUATION_MEMBERS``), ``simulation`` (``SIMULATION_MEMBERS``, of the
    members the truth knows); None where everyone is. ``held``: the members whose statements
    are read (None: every member's), the three samples' union when all three are drawn; the
    population figures of everyone else are then aggregates over the store
    (``features.learning.data.OutsideMembers``)."""

    training: list[str] | None
    evaluation: list[str] | None
    simulation: list[str] | None

    @property
    def held(self) -> list[str] | None:
        if self.training is None or self.evaluation is None or self.simulation is None:
            return None
        return sorted({*self.training, *self.evaluation, *self.simulation})


def draw_samples(
    keys: Sequence[str], options: RecommenderOptions, simulated: Sequence[str] | None
) -> Samples:
    """The training, evaluation and simulation samples of the roster ``keys`` (each as the
    training would draw it); ``simulated``: the members the truth knows (None: no
    simulation, which then reads nothing)."""
    simulation: list[str] | None = []
    if simulated is not None:
        simulation = None
        if options.sim_members is not None and len(simulated) > options.sim_members:
            rng = np.random.default_rng(options.seed)
            simulation = [str(k) for k in rng.permutation(list(simulated))[: options.sim_members]]
    return Samples(
        training=training_members(keys, options.max_training_members, seed=options.seed),
        evaluation=training_members(keys, options.eval_members, seed=options.seed + 1),
        simulation=simulation,
    )


def train(
    settings: Settings,
    options: RecommenderOptions,
    *,
    tracking_uri: str | None = None,
    quiet: bool = False,
    snapshot: Path | None = None,
    scheduler: str | None = None,
) -> TrainResult:
    """Fit, evaluate, simulate, log, register and gate on the store snapshot ``snapshot``
    (None: the newest); with a ``scheduler`` address the ranker and its mastery model are
    fitted on that Dask cluster (``training.distributed_learning.fit_recommender``). The
    snapshot stays open through the run: with samples of members, only their statements are
    read and everyone else's population figures are aggregates over it (``Samples``); when
    every statement is read, it is closed once they are."""
    with ExitStack() as opened:
        store = opened.enter_context(open_training_snapshot(settings, snapshot, quiet=quiet))
        return _train(
            settings,
            options,
            store,
            release=opened.close,
            tracking_uri=tracking_uri,
            quiet=quiet,
            snapshot=snapshot,
            scheduler=scheduler,
        )


def _train(
    settings: Settings,
    options: RecommenderOptions,
    store: Any,
    *,
    release: Callable[[], None],
    tracking_uri: str | None,
    quiet: bool,
    snapshot: Path | None,
    scheduler: str | None,
) -> TrainResult:
    import mlflow

    uri, client = start_tracking(settings, tracking_uri)
    newest = queries.newest_statement_time(store)
    if newest is None:
        raise TrainingError("the store holds no statements")
    cut = options.cut or month_start(newest)
    end = (pd.Timestamp(cut).to_period("M") + 1).to_timestamp().to_pydatetime()
    cuts = default_cuts(cut, months=options.train_months)
    if not cuts:
        raise TrainingError(f"no training month before {cut:%Y-%m-%d}")
    truth_dir = settings.resolved_truth_dir
    latent = None
    if (truth_dir / "mastery_monthly.csv").is_file() and options.sim_weeks > 0:
        month = (pd.Timestamp(cut) - pd.Timedelta(days=1)).strftime("%Y-%m")
        personal = PersonalData(settings.keyring())
        latent = latent_from_truth(truth_dir, personal.member_key, month)
    keys = queries.roster_members(store, (MEMBER_KEY,))[MEMBER_KEY].astype(str).tolist()
    samples = draw_samples(keys, options, None if latent is None else latent.member_keys)
    held = samples.held
    data = LearningData.from_store(store, members=held)
    kp_names = kp_names_from_store(store)
    if held is None:  # every statement read: nothing else reads the store
        release()
    say(
        f"statements of {'every member' if held is None else f'{len(held):,} members'}: "
        f"{len(data.statements):,}",
        quiet=quiet,
    )
    say(f"fit on cuts {[c.date().isoformat() for c in cuts]}, test {cut:%Y-%m}", quiet=quiet)
    recommender = StudyRecommender(
        learning_weight=options.learning_weight,
        n_estimators=options.n_estimators,
        seed=options.seed,
        max_training_members=options.max_training_members,
    )
    try:
        if scheduler:
            from training.distributed_learning import fit_recommender

            fit_recommender(
                recommender, settings, cuts, scheduler=scheduler, snapshot=snapshot, quiet=quiet
            )
        else:
            recommender.fit(data, cuts)
    except ValueError as error:
        raise TrainingError(str(error)) from error
    recommender.kp_names_ = kp_names
    recommender.metadata_["evaluation_cut"] = cut.isoformat()
    metrics, gate = evaluate_and_gate(
        recommender, data, cut, end=end, options=options, client=client, quiet=quiet
    )
    data = data.before(cut)  # the simulation starts at the cut; the test month is not kept

    if latent is not None:
        say("simulate learning gain", quiet=quiet)
        members = latent.member_keys if samples.simulation is None else samples.simulation
        sampled = samples.simulation is not None
        policies: dict[str, Any] = (
            {"model": SampledPolicy(recommender, members), "popularity": SampledPopularity(members)}
            if sampled
            else {"model": recommender_policy(recommender), "popularity": popularity_policy}
        )
        simulation = simulate_learning_gain(
            data,
            latent,
            policies,
            start=cut,
            weeks=options.sim_weeks,
            seed=options.seed,
            members=members,
        )
        metrics.update({f"gain.{k}": v for k, v in simulation.summary.items()})

    summary = (
        summary_table(metrics)
        + "\n\nwithout this month's mandatory items\n\n"
        + summary_table(metrics, "voluntary.")
    )
    with mlflow.start_run(experiment_id=experiment_id(EXPERIMENT, uri)) as run:
        mlflow.log_params(
            {
                **recommender.get_params(),
                "training_cuts": ",".join(c.date().isoformat() for c in cuts),
                "evaluation_cut": cut.date().isoformat(),
                "test_end": end.date().isoformat(),
                "baseline_days": options.baseline_days,
                "ease_l2": EASE_L2,
                "relevance": "launched in the test month, not launched before the cut",
                "sim_weeks": options.sim_weeks,
            }
        )
        if scheduler:
            mlflow.set_tag("executor", "dask")
        mlflow.log_metrics(_mlflow_metrics(metrics))
        mlflow.log_text(summary, "summary.md")
        version = register_challenger(
            client,
            REGISTERED_MODEL,
            recommender,
            StudyRecommenderPyfunc(),
            artifact_key=ARTIFACT_KEY,
            packages=PIP_PACKAGES,
        )
        record_gate(client, REGISTERED_MODEL, version, gate)
    return TrainResult(run.info.run_id, version, gate, metrics, summary)


def _print_summary(result: TrainResult, _: RecommenderOptions) -> None:
    print(result.summary)
    gains = {k: v for k, v in result.metrics.items() if k.startswith("gain.")}
    if gains:
        print("\nlearning gain (mean mastery probability, simulated weeks):")
        for key, value in gains.items():
            print(f"  {key}: {value:.5f}")


def main(argv: Sequence[str] | None = None) -> int:
    return training_main(
        argv,
        RecommenderOptions,
        train,
        prog="python -m training.recommender",
        train_help="train, evaluate, simulate, register, gate",
        model_name=REGISTERED_MODEL,
        errors=(TrainingError,),
        report=_print_summary,
        scheduled=True,
    )


if __name__ == "__main__":
    from core.settings import owner_only_files

    with owner_only_files():
        raise SystemExit(main())
