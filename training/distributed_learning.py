"""Mastery and the study recommender on an existing Dask cluster (``--scheduler``).

The rest of the cluster path (the client, the snapshot as the workers open it, the booster
fit) is ``training.distributed``'s; this module holds what the two study jobs add.

**Member partitions.** The learners are cut into ``buckets`` by a hash of their pseudonymous
key, computed by DuckDB on each worker (``hash(member_key) % buckets``): the client sends a
bucket number, never a key. Every knowledge-tracing history feature of a response reads its
own learner's strictly earlier events only (``features.learning.kt_features``), and a
learner's events all fall in one bucket, so a learner whose events straddle two partitions
cannot exist: each partition's features are the single-machine features of its learners, at
every partition edge, by construction (the only "edge" is between learners).

**Mastery** (``train_mastery``). Each worker builds its bucket's event frame with history
(``build_events``, ``with_history``) from the snapshot and keeps it. What crosses learners
comes back to the client as aggregates, never rows: the last event time (the time cut), the
item and KP answer counts per learner fold (from which the client builds the difficulty
tables exactly as ``DifficultyTable.fit`` does: sums of 0/1 answers are exact whatever the
order), the counts of distinct PFA inputs (the baseline is fitted on them with weights).
The workers then build the training matrices with out-of-fold difficulty (as
``MasteryModel.fit``) and ``lightgbm.dask.DaskLGBMClassifier`` trains on them where they lie.
What the client gathers: the held-out test predictions (correct, model, baseline: what the
metrics and the gate need), one check-in evidence row per member, the drift reference's
profiles of at most ``REFERENCE_LEARNERS`` learners, and catalogue items for the signature's
made-up example. The MLflow run, registration and the champion gate (``compare_with_champion``
on the same test responses, the champion scored on the workers) run on the client. The
cluster reads every learner: ``--max-study-answers`` (``training.mastery.study_learners``)
bounds what one machine reads, and is not applied here.

**Study recommender** (``train_recommender``). The ranker's candidate rows are built on the
workers per member bucket: a task reads the snapshot, builds the cut's state
(``features.learning.snapshot.Snapshot``: popularity, co-occurrence and EASE are over every
member, so each task builds them from the whole snapshot) and the candidate rows and labels
of its bucket's members only; ``lightgbm.dask.DaskLGBMRanker`` trains on those rows where
they lie (groups are members, never split). Its mastery model is fitted as above (the events
before the last cut + horizon). The evaluation (baselines, test lists, simulation) and the
MLflow run run on the client as on one machine, on the snapshot it reads (the evaluation
on the same seeded sample of members, ``training.recommender.EVALUATION_MEMBERS``).

The models are the single-machine classes with a plain ``lightgbm.Booster``: they save, log
and serve as one trained on one machine. The runs are tagged ``executor: dask``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.learning.kt_features import (
    CORRECT,
    ITEM,
    KIND,
    KP,
    MEMBER,
    RESPONSE,
    STATED_DIFFICULTY,
    TIMESTAMP,
    build_events,
    sort_events,
    with_history,
)
from models.learning.mastery import (
    MODEL_FEATURES,
    DifficultyTable,
    MasteryModel,
    MasteryModelError,
    PfaLogistic,
    learner_folds,
)
from store.snapshot import Snapshot
from training.distributed import SnapshotSource, dask_fit

if TYPE_CHECKING:
    import lightgbm as lgb
    from distributed import Client, Future

LABEL = "label"
"""Column of a training-row partition: the response's outcome (0/1)."""
PARTITION_SCHEMA = "lodestar_partition"
"""The schema of a task's filtered ``statements`` view (first on the search path)."""
TIME, LEARNER = "time", "learner"
"""The two evaluation splits of ``training.mastery``."""


# --------------------------------------------------------------------------------------------
# Member buckets


@contextmanager
def member_bucket(snapshot: Snapshot, bucket: int, buckets: int) -> Iterator[Snapshot]:
    """``snapshot`` whose ``statements`` are those of the learners in ``bucket`` of
    ``buckets`` (``hash(member_key) % buckets``), through a view first on the search path;
    the other tables are unchanged."""
    if not 0 <= bucket < buckets:
        raise ValueError(f"bucket {bucket} outside 0..{buckets - 1}")
    connection = snapshot.connection
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {PARTITION_SCHEMA}")
    connection.execute(
        f"CREATE OR REPLACE VIEW {PARTITION_SCHEMA}.statements AS SELECT * FROM main.statements "
        f"WHERE hash(member_key) % {int(buckets)} = {int(bucket)}"
    )
    connection.execute(f"SET search_path = '{PARTITION_SCHEMA},main'")
    try:
        yield snapshot
    finally:
        connection.execute("SET search_path = 'main'")


def learner_events(bucket: int, buckets: int, *, source: SnapshotSource) -> pd.DataFrame:
    """A task: the event frame of the learners in ``bucket`` (``build_events``, sorted) with
    every response's history features (``with_history``): their rows of the single-machine
    frame, feature for feature (the ``order`` column counts within the bucket)."""
    with source.open() as snapshot, member_bucket(snapshot, bucket, buckets) as part:
        events = build_events(part)
    return with_history(sort_events(events))


def event_partitions(client: Client, source: SnapshotSource, buckets: int) -> list[Future]:
    """``learner_events`` of every bucket, computed and kept on the workers."""
    return [
        client.submit(learner_events, bucket, buckets, source=source, pure=False)
        for bucket in range(buckets)
    ]


# --------------------------------------------------------------------------------------------
# Aggregates the client needs


def event_summary(events: pd.DataFrame) -> dict[str, Any]:
    """A task: the partition's event and response counts and first and last event time."""
    return {
        "events": len(events),
        "responses": int((events[KIND] == RESPONSE).sum()),
        "first": events[TIMESTAMP].min() if len(events) else pd.NaT,
        "last": events[TIMESTAMP].max() if len(events) else pd.NaT,
    }


def training_rows_mask(events: pd.DataFrame, split: str, cut: pd.Timestamp) -> np.ndarray:
    """The rows of ``events`` a split trains on: before ``cut`` (time), or the learners
    outside fold 0 of ``training.mastery.LEARNER_TEST_FOLDS`` (learner)."""
    from training.mastery import LEARNER_TEST_FOLDS

    if split == TIME:
        return np.asarray((events[TIMESTAMP] < cut).to_numpy(), dtype=bool)
    return np.asarray(learner_folds(events[MEMBER], LEARNER_TEST_FOLDS) != 0, dtype=bool)


def test_rows_mask(events: pd.DataFrame, split: str, cut: pd.Timestamp) -> np.ndarray:
    """The rows a split scores: from ``cut`` on (time), the held-out learners' (learner);
    the responses among them are its test rows."""
    return ~training_rows_mask(events, split, cut)


def answer_counts(
    events: pd.DataFrame, split: str, cut: pd.Timestamp, folds: int
) -> dict[str, Any]:
    """A task: per learner fold (``learner_folds(member, folds)``), item and KP of the
    split's training responses, the right answers (``sum``) and answers (``count``); with the
    stated difficulty's sum and count and the learners who answered (a count)."""
    train = events[training_rows_mask(events, split, cut)]
    responses = train[train[KIND] == RESPONSE]
    frame = pd.DataFrame(
        {
            "fold": learner_folds(responses[MEMBER], folds),
            ITEM: responses[ITEM].astype(str).to_numpy(),
            KP: responses[KP].astype(str).to_numpy(),
            CORRECT: responses[CORRECT].astype(float).to_numpy(),
        }
    )
    counts = (
        frame.groupby(["fold", ITEM, KP])[CORRECT].agg(["sum", "count"]).reset_index()
        if len(frame)
        else pd.DataFrame(columns=["fold", ITEM, KP, "sum", "count"])
    )
    stated = responses[STATED_DIFFICULTY].astype(float)
    return {
        "counts": counts,
        "stated_sum": float(stated.sum()),
        "stated_count": int(stated.notna().sum()),
        "learners": int(responses[MEMBER].nunique()),
        "test_rows": int(test_rows_mask(events, split, cut).sum()),
        "test_responses": int(
            (test_rows_mask(events, split, cut) & (events[KIND] == RESPONSE).to_numpy()).sum()
        ),
    }


def difficulty_from_counts(counts: pd.DataFrame, table: DifficultyTable) -> DifficultyTable:
    """``table`` (unfitted) fitted from answer counts (columns ``item_id``, ``kp_id``,
    ``sum``, ``count``, several rows per item and KP allowed) exactly as
    ``DifficultyTable.fit`` fits it on the responses they count: the same formulas on the
    same sums (integers, so their order does not matter), item and KP in sorted order."""
    if counts.empty or float(counts["count"].sum()) == 0:
        raise MasteryModelError("no responses to learn difficulty from")
    by_item = counts.groupby([ITEM, KP], sort=True)[["sum", "count"]].sum()
    by_item["sum"] = by_item["sum"].astype(float)
    by_kp = by_item.groupby(level=1, sort=True)[["sum", "count"]].sum()
    total = float(by_kp["sum"].sum())
    answers = int(by_kp["count"].sum())
    overall = total / answers
    kp_pseudo, item_pseudo = table.kp_pseudo_count, table.item_pseudo_count
    kp_share = (by_kp["sum"] + kp_pseudo * overall) / (by_kp["count"] + kp_pseudo)
    item_kp_share = kp_share.reindex(by_item.index.get_level_values(1)).to_numpy()
    item_share = (by_item["sum"].to_numpy() + item_pseudo * item_kp_share) / (
        by_item["count"].to_numpy() + item_pseudo
    )
    table.global_ = float(-_logit(np.array([overall]))[0])
    table.kps_ = dict(
        zip(kp_share.index.astype(str), (-_logit(kp_share.to_numpy())).tolist(), strict=True)
    )
    item_logits = pd.Series(-_logit(item_share), index=by_item.index.get_level_values(0))
    table.items_ = item_logits.groupby(level=0).mean().to_dict()
    return table


def _logit(p: np.ndarray) -> np.ndarray:
    """``models.learning.mastery``'s logit (clipped to 1e-4 .. 1 - 1e-4)."""
    clipped = np.clip(p, 1e-4, 1 - 1e-4)
    return np.asarray(np.log(clipped / (1 - clipped)), dtype=float)


@dataclass
class SplitCounts:
    """A split's answer counts over every partition (``answer_counts`` joined)."""

    counts: pd.DataFrame
    stated_sum: float
    stated_count: int
    learners: int
    test_rows: int
    test_responses: int

    @classmethod
    def join(cls, parts: Sequence[dict[str, Any]]) -> SplitCounts:
        frames = [part["counts"] for part in parts if len(part["counts"])]
        return cls(
            pd.concat(frames, ignore_index=True) if frames else parts[0]["counts"],
            float(sum(part["stated_sum"] for part in parts)),
            sum(part["stated_count"] for part in parts),
            sum(part["learners"] for part in parts),
            sum(part["test_rows"] for part in parts),
            sum(part["test_responses"] for part in parts),
        )

    @property
    def responses(self) -> int:
        return int(self.counts["count"].sum()) if len(self.counts) else 0

    @property
    def right(self) -> float:
        return float(self.counts["sum"].sum()) if len(self.counts) else 0.0

    def table(self, without_fold: int | None = None) -> DifficultyTable:
        """The difficulty table of every fold's answers, or of all but ``without_fold``."""
        counts = (
            self.counts
            if without_fold is None
            else self.counts[self.counts["fold"] != without_fold]
        )
        return difficulty_from_counts(counts, DifficultyTable())


# --------------------------------------------------------------------------------------------
# Training rows and the booster


def mastery_training_rows(
    events: pd.DataFrame,
    split: str,
    cut: pd.Timestamp,
    tables: dict[int, DifficultyTable],
    folds: int,
) -> pd.DataFrame:
    """A task: the ``MODEL_FEATURES`` and ``label`` of the split's training responses of the
    partition, each row's difficulty out of fold (``tables[fold]``: the training answers of
    the learners of the other folds), as ``MasteryModel.fit`` builds them."""
    train = sort_events(events[training_rows_mask(events, split, cut)])
    fold_of = learner_folds(train[MEMBER], folds)
    parts = []
    for fold, table in tables.items():
        learners = train[fold_of == fold]
        if (learners[KIND] == RESPONSE).sum() == 0:
            continue
        ordered = sort_events(learners)
        matrix = _with_table(table).matrix(ordered)
        labels = ordered.loc[matrix.index, CORRECT].to_numpy(dtype=float)
        parts.append(matrix.assign(**{LABEL: labels}).reset_index(drop=True))
    if not parts:
        return pd.DataFrame(columns=[*MODEL_FEATURES, LABEL], dtype=float)
    return pd.concat(parts, ignore_index=True).astype(float)


def _with_table(table: DifficultyTable) -> MasteryModel:
    """A ``MasteryModel`` that only builds matrices: difficulty from ``table``, no booster."""
    model = MasteryModel()
    model.difficulty_ = table
    model.booster_ = None  # type: ignore[assignment]  # matrices only: never predicts
    return model


def row_partition_lengths(client: Client, rows: Sequence[Future]) -> list[int]:
    return list(client.gather(client.map(len, rows)))


def booster_on_rows(
    client: Client,
    rows: Sequence[Future],
    *,
    features: Sequence[str],
    params: dict[str, Any],
    rounds: int,
    groups: Sequence[Future] | None = None,
) -> lgb.Booster:
    """The booster ``dask_fit`` trains on the row partitions ``rows`` (futures of frames of
    ``features`` and ``LABEL``; empty ones left out) where they lie; ``groups``: per
    partition, the ranking group sizes (a ranker)."""
    import dask.array as da
    import dask.dataframe as dd

    lengths = row_partition_lengths(client, rows)
    kept = [i for i, n in enumerate(lengths) if n > 0]
    if not kept:
        raise MasteryModelError("no training rows on any partition")
    meta = pd.DataFrame({name: pd.Series(dtype=float) for name in [*features, LABEL]})
    frame = dd.from_delayed([rows[i] for i in kept], meta=meta, verify_meta=False)
    group = None
    if groups is not None:
        sizes = client.gather([client.submit(len, groups[i]) for i in kept])
        group = da.concatenate(
            [
                da.from_delayed(groups[i], shape=(n,), dtype=np.int64)
                for i, n in zip(kept, sizes, strict=True)
            ]
        )
    return dask_fit(
        client,
        frame[list(features)],
        frame[LABEL],
        feature_names=list(features),
        params=params,
        rounds=rounds,
        group=group,
    )


def mastery_booster(
    client: Client,
    partitions: Sequence[Future],
    split: str,
    cut: pd.Timestamp,
    counts: SplitCounts,
    template: MasteryModel,
) -> MasteryModel:
    """``template`` (unfitted ``MasteryModel``) fitted on the split's training responses of
    every partition, as ``MasteryModel.fit`` on them all: difficulty from ``counts``, rows
    built and boosted on the workers."""
    if counts.responses == 0 or counts.right in (0.0, float(counts.responses)):
        raise MasteryModelError("training responses need both right and wrong answers")
    folds = template.difficulty_folds
    present = sorted(int(f) for f in counts.counts["fold"].unique())
    full = counts.table()
    tables = {
        fold: counts.table(fold) if (counts.counts["fold"] != fold).any() else full
        for fold in range(folds)
        if fold in present
    }
    rows = [
        client.submit(mastery_training_rows, part, split, cut, tables, folds, pure=False)
        for part in partitions
    ]
    template.booster_ = booster_on_rows(
        client,
        rows,
        features=MODEL_FEATURES,
        params=template.lightgbm_params(),
        rounds=template.n_estimators,
    )
    client.cancel(rows)
    template.difficulty_ = full
    template.reference_difficulty_ = (
        counts.stated_sum / counts.stated_count if counts.stated_count else math.nan
    )
    template.metadata_ = {
        "training_responses": counts.responses,
        "training_learners": counts.learners,
    }
    return template


# --------------------------------------------------------------------------------------------
# The PFA baseline, from counts of its inputs


def pfa_counts(events: pd.DataFrame, split: str, cut: pd.Timestamp) -> pd.DataFrame:
    """A task: how many of the split's training responses share each PFA input (KP, earlier
    successes and failures on it, outcome): ``kp_id``, ``kp_successes``, ``kp_failures``,
    ``correct``, ``weight``."""
    train = events[training_rows_mask(events, split, cut)]
    responses = train[train[KIND] == RESPONSE]
    frame = pd.DataFrame(
        {
            KP: responses[KP].astype(str).to_numpy(),
            "kp_successes": responses["kp_successes"].to_numpy(dtype=float),
            "kp_failures": responses["kp_failures"].to_numpy(dtype=float),
            CORRECT: responses[CORRECT].to_numpy(dtype=float),
        }
    )
    columns = [KP, "kp_successes", "kp_failures", CORRECT]
    return frame.groupby(columns).size().rename("weight").reset_index()


def pfa_from_counts(counts: pd.DataFrame) -> PfaLogistic:
    """``PfaLogistic`` fitted on ``pfa_counts`` (joined over partitions) with the counts as
    sample weights: the loss of every response, so the same optimum as ``PfaLogistic.fit``
    on the rows (the solver's stopping point may differ in the last digits)."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    counts = (
        counts.groupby([KP, "kp_successes", "kp_failures", CORRECT], sort=True)["weight"]
        .sum()
        .reset_index()
    )
    baseline = PfaLogistic()
    baseline.kps_ = sorted(counts[KP].unique())
    baseline.index_ = {kp: i for i, kp in enumerate(baseline.kps_)}
    k = len(baseline.kps_)
    rows = np.arange(len(counts))
    columns = counts[KP].map(baseline.index_).to_numpy(dtype=int)
    data = np.concatenate(
        [
            np.ones(len(counts)),
            np.log1p(counts["kp_successes"].to_numpy()),
            np.log1p(counts["kp_failures"].to_numpy()),
        ]
    )
    design = sparse.csr_matrix(
        (data, (np.tile(rows, 3), np.concatenate([columns, columns + k, columns + 2 * k]))),
        shape=(len(counts), 3 * k),
    )
    fitted = LogisticRegression(C=baseline.c, max_iter=500).fit(
        design, counts[CORRECT].to_numpy(dtype=int), sample_weight=counts["weight"].to_numpy()
    )
    baseline.coef_ = fitted.coef_[0].copy()
    baseline.intercept_ = float(fitted.intercept_[0])
    return baseline


# --------------------------------------------------------------------------------------------
# Held-out predictions


SCORED_COLUMNS = (MEMBER, TIMESTAMP, ITEM, KP, CORRECT, "model", "baseline")


def scored_test_rows(
    events: pd.DataFrame,
    split: str,
    cut: pd.Timestamp,
    model: MasteryModel,
    baseline: PfaLogistic,
) -> pd.DataFrame:
    """A task: the split's test responses of the partition with the model's and the
    baseline's P(right) (``SCORED_COLUMNS``; keys as text), scored as
    ``training.mastery._score`` scores them: from each learner's whole earlier history."""
    scored_rows = events if split == TIME else events[test_rows_mask(events, split, cut)]
    ordered = sort_events(scored_rows)
    if not (ordered[KIND] == RESPONSE).any():  # no held-out learner in this bucket
        empty = ordered.iloc[:0].assign(model=np.zeros(0), baseline=np.zeros(0))
        return _keys_as_text(empty[list(SCORED_COLUMNS)])
    predicted = model.predict_next(ordered)
    rows = ordered.loc[predicted.index]
    test = rows.assign(
        model=predicted.to_numpy(),
        baseline=baseline.predict_next(ordered).reindex(predicted.index).to_numpy(),
    )
    test = test[test_rows_mask(test, split, cut) & (test[KIND] == RESPONSE).to_numpy()]
    return _keys_as_text(test[list(SCORED_COLUMNS)])


def champion_test_scores(
    events: pd.DataFrame, cut: pd.Timestamp, champion: MasteryModel
) -> np.ndarray:
    """A task: the champion's P(right) for the partition's time-split test responses, in
    the order of ``scored_test_rows``' (``KeyError``/``ValueError`` when it cannot score)."""
    ordered = sort_events(events)
    if not (ordered[KIND] == RESPONSE).any():
        return np.zeros(0)
    predicted = champion.predict_next(ordered)
    rows = ordered.loc[predicted.index]
    test = (rows[TIMESTAMP] >= cut).to_numpy() & (rows[KIND] == RESPONSE).to_numpy()
    return np.asarray(predicted.to_numpy()[test], dtype=float)


def _keys_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.reset_index(drop=True).copy()
    for name in (MEMBER, ITEM, KP):
        if name in out.columns:
            out[name] = out[name].astype(str).astype(object)
    return out


def split_metrics(scored: pd.DataFrame, split: str) -> dict[str, float]:
    """``training.mastery``'s metrics of a split, on the gathered test rows."""
    from training.mastery import binary_metrics

    labels = scored[CORRECT].to_numpy(dtype=float)
    return {
        f"{split}.test_responses": float(len(scored)),
        **binary_metrics(labels, scored["model"].to_numpy(dtype=float), f"{split}.model"),
        **binary_metrics(labels, scored["baseline"].to_numpy(dtype=float), f"{split}.baseline"),
    }


# --------------------------------------------------------------------------------------------
# Check-in, drift reference, example, digest


def check_in_evidence_part(
    events: pd.DataFrame, model: MasteryModel, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """A task: ``check_in_evidence`` of the partition's members (one row per member, from
    that member's events only), keyed by text."""
    from features.learning.checkin import check_in_evidence

    evidence = check_in_evidence(events, model=model, start=start, end=end)
    evidence.index = evidence.index.astype(str)
    return evidence


def rank_check_in(evidence: pd.DataFrame) -> pd.DataFrame:
    """``detect_check_in``'s answer from every member's evidence (``check_in_evidence``
    joined over partitions): the ranks and the time threshold are over all members, as
    there; members in key order first, as one frame of everyone would hold them."""
    from features.learning.checkin import rank_evidence

    return rank_evidence(evidence.sort_index(kind="stable"))


def answered_before(events: pd.DataFrame, cut: pd.Timestamp) -> list[str]:
    """A task: the partition's learners with an answer before ``cut`` (pseudonymous keys:
    the drift reference's sample is drawn from all of them on the client)."""
    past = events[(events[TIMESTAMP] < cut) & (events[KIND] == RESPONSE).to_numpy()]
    return sorted(past[MEMBER].astype(str).unique().tolist())


def reference_profiles(
    events: pd.DataFrame,
    model: MasteryModel,
    cut: pd.Timestamp,
    kps: Sequence[str],
    members: Sequence[str],
) -> pd.DataFrame:
    """A task: ``mastery_profiles`` with features, as of ``cut`` from the events before it,
    of the partition's ``members`` (keys as text)."""
    past = events[events[TIMESTAMP] < cut]
    present = set(past[MEMBER].astype(str).unique())
    wanted = [key for key in members if key in present]
    if not wanted:
        return pd.DataFrame()
    past = past.assign(**{MEMBER: past[MEMBER].astype(str).astype(object)})
    return model.mastery_profiles(past, kps, cut, members=wanted, with_features=True)


def catalogue_answers(events: pd.DataFrame, rows: int) -> pd.DataFrame:
    """A task: the first ``rows`` distinct answered (item, KP) of the partition by item and
    KP, with the item's stated difficulty (catalogue facts, no learner)."""
    answers = events.loc[events[KIND] == RESPONSE, [ITEM, KP, STATED_DIFFICULTY]]
    answers = answers.astype({ITEM: str, KP: str})
    return answers.drop_duplicates([ITEM, KP]).sort_values([ITEM, KP]).head(rows)


def partition_digest(events: pd.DataFrame) -> str:
    """A task: ``training.mastery.events_digest`` of the partition."""
    from training.mastery import events_digest

    return events_digest(events)


def cluster_digest(digests: Sequence[str], buckets: int) -> str:
    """The data version of a cluster run: the partitions' digests in bucket order, hashed.
    The same snapshot and bucket count give the same version; it is not the one-machine
    digest (that one hashes every row in one order)."""
    joined = f"buckets={buckets};" + ";".join(digests)
    return hashlib.sha256(joined.encode("ascii")).hexdigest()


def gather_map(
    client: Client, function: Callable[..., Any], parts: Sequence[Future], *args: Any, **kwargs: Any
) -> list[Any]:
    """``function(part, *args, **kwargs)`` on the worker of each partition, gathered in
    partition order (arguments sent once each)."""
    futures = [client.submit(function, part, *args, pure=False, **kwargs) for part in parts]
    results: list[Any] = client.gather(futures)
    return results


# --------------------------------------------------------------------------------------------
# The mastery job


def train_mastery(
    settings: Any,
    options: Any,
    *,
    scheduler: str,
    tracking_uri: str | None = None,
    quiet: bool = False,
    snapshot: Any = None,
    buckets: int | None = None,
) -> Any:
    """``training.mastery.train`` on the Dask cluster at ``scheduler`` (see the module
    docstring): the same metrics, check-in, drift reference, MLflow run, registration and
    champion gate; ``buckets`` of learners default to two per worker."""
    import mlflow
    from mlflow.models import infer_signature

    from core.security import PersonalData
    from models.drift import DRIFT_REFERENCE, DriftReference, reference_sample
    from models.learning.pyfunc import ARTIFACT_KEY, MasteryPyfunc, predictions_frame
    from training import mastery as job
    from training.check_in import (
        check_in_metrics,
        check_in_rows,
        check_in_summary,
        read_check_in_truth,
        write_check_in,
    )
    from training.cli import say
    from training.data_source import open_training_snapshot
    from training.distributed import cluster_client, worker_count
    from training.tracking import (
        ChampionCannotScoreError,
        compare_with_champion,
        experiment_id,
        finite_metrics,
        record_gate,
        register_challenger,
        start_tracking,
    )

    uri, tracking = start_tracking(settings, tracking_uri)
    keyring = settings.keyring()
    with (
        open_training_snapshot(settings, snapshot, quiet=quiet) as data,
        cluster_client(scheduler) as client,
    ):
        source = SnapshotSource.of(data, settings)
        count = buckets or 2 * worker_count(client)
        parts = event_partitions(client, source, count)
        summaries = client.gather([client.submit(event_summary, p, pure=False) for p in parts])
        if sum(s["responses"] for s in summaries) == 0:
            raise job.TrainingError("the store holds no answered statements")
        first = min(s["first"] for s in summaries if s["events"])
        last = max(s["last"] for s in summaries if s["events"])
        cut = job.time_cut(pd.DataFrame({TIMESTAMP: [last]}), options.test_months)
        say(
            f"{sum(s['events'] for s in summaries):,} events in {count} learner partitions on "
            f"the cluster; time cut {cut:%Y-%m-%d}",
            quiet=quiet,
        )
        models: dict[str, MasteryModel] = {}
        scored: dict[str, pd.DataFrame] = {}
        metrics: dict[str, float] = {}
        for split in (TIME, LEARNER):
            counts = SplitCounts.join(
                gather_map(
                    client, answer_counts, parts, split, cut, options.model().difficulty_folds
                )
            )
            if counts.responses == 0 or counts.test_responses == 0:
                raise job.TrainingError(
                    f"no responses on one side of the time cut {cut:%Y-%m-%d}"
                    if split == TIME
                    else "too few learners for a learner split"
                )
            models[split] = mastery_booster(client, parts, split, cut, counts, options.model())
            baseline = pfa_from_counts(
                pd.concat(gather_map(client, pfa_counts, parts, split, cut), ignore_index=True)
            )
            scored[split] = pd.concat(
                gather_map(client, scored_test_rows, parts, split, cut, models[split], baseline),
                ignore_index=True,
            )
            metrics.update(split_metrics(scored[split], split))
            say(f"{split} split: model AUC {metrics[f'{split}.model.auc']:.4f}", quiet=quiet)
        model = models[TIME]
        window = (first, last + pd.Timedelta(seconds=1))
        evidence = gather_map(client, check_in_evidence_part, parts, model, *window)
        detected = rank_check_in(pd.concat(evidence))
        metrics.update(check_in_summary(detected))
        truth = read_check_in_truth(settings, PersonalData(keyring))
        if truth is not None:
            metrics.update(check_in_metrics(detected, truth))
        answered = [key for keys in gather_map(client, answered_before, parts, cut) for key in keys]
        sample = reference_sample(answered, limit=job.REFERENCE_LEARNERS)
        kps = job.catalogue_kps(data, pd.DataFrame({KP: pd.Series(dtype=object)}))
        profiles = [
            frame
            for frame in gather_map(client, reference_profiles, parts, model, cut, kps, sample)
            if len(frame)
        ]
        joined = pd.concat(profiles, ignore_index=True).sort_values(MEMBER, kind="stable")
        version_hash = cluster_digest(gather_map(client, partition_digest, parts), count)
        reference = DriftReference.from_frame(
            joined,
            joined["p_correct"].to_numpy(dtype=float),
            features=MODEL_FEATURES,
            part=f"profiles at the time cut, {len(sample)} learners",
        ).with_data_version(version_hash)
        answers = pd.concat(
            gather_map(client, catalogue_answers, parts, job.EXAMPLE_ROWS), ignore_index=True
        )
        example = job.example_events(answers.assign(**{KIND: RESPONSE}))
        model.metadata_.update(
            {
                "data_version": version_hash,
                "time_cut": cut.isoformat(),
                DRIFT_REFERENCE: reference.to_dict(),
            }
        )
        test = scored[TIME]

        def champion_auc(loaded: Any) -> float:
            champion: MasteryModel = loaded.unwrap_python_model().mastery_model
            try:
                scores = np.concatenate(
                    gather_map(client, champion_test_scores, parts, cut, champion)
                )
            except (KeyError, ValueError) as error:
                raise ChampionCannotScoreError(str(error)) from error
            from sklearn.metrics import roc_auc_score

            return float(roc_auc_score(test[CORRECT].to_numpy(dtype=float), scores))

        with mlflow.start_run(experiment_id=experiment_id(job.EXPERIMENT, uri)) as run:
            mlflow.log_params(
                {
                    "n_estimators": options.n_estimators,
                    "num_leaves": options.num_leaves,
                    "learning_rate": options.learning_rate,
                    "test_months": options.test_months,
                    "time_cut": cut.date().isoformat(),
                    "learner_split": f"fold 0 of {job.LEARNER_TEST_FOLDS} by learner hash held out",
                    "baseline": "PFA logistic regression (per-KP intercept and count slopes)",
                    "registered_split": "time",
                    "seed": options.seed,
                    "truth_available": truth is not None,
                    "learner_partitions": count,
                }
            )
            mlflow.set_tags({"data_version": version_hash, "executor": "dask"})
            mlflow.log_metrics(finite_metrics(metrics))
            version = register_challenger(
                tracking,
                job.REGISTERED_MODEL,
                model,
                MasteryPyfunc(),
                artifact_key=ARTIFACT_KEY,
                packages=job.PIP_PACKAGES,
                signature=infer_signature(example, predictions_frame(model, example)),
                input_example=example,
            )
            gate = compare_with_champion(
                tracking,
                job.REGISTERED_MODEL,
                metrics["time.model.auc"],
                champion_auc,
                min_improvement=options.min_improvement,
                metric_name="AUC",
            )
            record_gate(tracking, job.REGISTERED_MODEL, version, gate, metric_key="auc")
        client.cancel(parts)
    written = None
    if options.store_write:
        rows = check_in_rows(
            detected,
            run_id=run.info.run_id,
            model_version=version,
            window=window,
            judged_at=pd.Timestamp.now("UTC").tz_localize(None),
        )
        written = write_check_in(settings, keyring, rows)
        say(f"{written:,} check-in judgements written to the store", quiet=quiet)
    return job.TrainResult(run.info.run_id, version, gate, metrics, cut, detected, written)


# --------------------------------------------------------------------------------------------
# The study recommender


def key_buckets(snapshot: Snapshot, keys: Sequence[str], buckets: int) -> np.ndarray:
    """The bucket of each member key, by the hash ``member_bucket`` filters on (DuckDB's)."""
    if not len(keys):
        return np.zeros(0, dtype=np.int64)
    frame = snapshot.connection.execute(
        f"SELECT hash(k) % {int(buckets)} AS bucket FROM UNNEST(?::VARCHAR[]) WITH ORDINALITY "
        "AS t(k, position) ORDER BY position",
        [list(keys)],
    ).df()
    return frame["bucket"].to_numpy(dtype=np.int64)


def ranker_rows(
    cut: Any,
    bucket: int,
    buckets: int,
    *,
    source: SnapshotSource,
    recommender: Any,
    mastery: MasteryModel | None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """A task: the ranker's training rows (``FEATURES`` and ``label``) and group sizes of the
    members of ``bucket`` on the training cut ``cut``, as ``StudyRecommender.training_chunks``
    builds them for those members: the same sample of members (``training_members``, at most
    ``max_training_members``), the cut's state (item popularity, co-occurrence and EASE over
    every member) from the whole snapshot with only this bucket's sampled members profiled,
    their rows by ``StudyRecommender.partition_rows`` (members without a launch in the horizon
    left out)."""
    from features.learning.data import MEMBER_KEY, LearningData
    from features.learning.snapshot import Snapshot as CutState
    from models.learning.recommender import (
        FEATURES,
        future_launches,
        member_partitions,
        training_members,
    )

    with source.open() as opened:
        data = LearningData.from_store(opened)
        keys = data.members[MEMBER_KEY].astype(str).tolist()
        sample = training_members(keys, recommender.max_training_members, seed=recommender.seed)
        chosen = keys if sample is None else sample
        in_bucket = key_buckets(opened, chosen, buckets) == bucket
    mine = [key for key, here in zip(chosen, in_bucket, strict=True) if here]
    state = CutState.build(data, cut, mastery=mastery, profiled=mine)
    launches = future_launches(data, state, horizon_days=recommender.horizon_days)
    rows = np.sort([state.member_index[key] for key in mine]).astype(np.intp)
    features: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    groups: list[int] = []
    for part in member_partitions(state, rows) if len(rows) else []:
        chunk = recommender.partition_rows(data, state, part, launches=launches)
        if chunk is not None:
            features.append(chunk[0])
            labels.append(chunk[1])
            groups.extend(chunk[2])
    frame = pd.DataFrame(
        np.concatenate(features) if features else np.zeros((0, len(FEATURES))),
        columns=list(FEATURES),
    ).assign(**{LABEL: np.concatenate(labels) if labels else np.zeros(0)})
    return frame, np.asarray(groups, dtype=np.int64)


def _first(pair: tuple[pd.DataFrame, np.ndarray]) -> pd.DataFrame:
    return pair[0]


def _second(pair: tuple[pd.DataFrame, np.ndarray]) -> np.ndarray:
    return pair[1]


def _label_totals(rows: pd.DataFrame) -> tuple[float, int]:
    return float(rows[LABEL].sum()), len(rows)


def fit_recommender(
    recommender: Any,
    settings: Any,
    cuts: Sequence[Any],
    *,
    scheduler: str,
    snapshot: Any = None,
    quiet: bool = False,
) -> Any:
    """``recommender.fit(data, cuts)`` on the Dask cluster at ``scheduler``: its mastery
    model fitted on the learner partitions (the events before the last cut + horizon, as
    ``StudyRecommender.fit_mastery``), the ranker's rows built per training cut and member
    bucket on the workers (``ranker_rows``; as many buckets as workers, since each task
    builds the cut's whole state) and boosted there by ``DaskLGBMRanker``. Sets
    ``mastery_``, ``booster_`` and ``metadata_`` as ``fit`` does; raises ``ValueError``
    when no member launched a candidate in any horizon."""
    from datetime import UTC, datetime

    from models.learning.recommender import FEATURES
    from training.cli import say
    from training.data_source import open_training_snapshot
    from training.distributed import cluster_client, worker_count

    if not cuts:
        raise ValueError("no training cut")
    training_end = max(pd.Timestamp(c) for c in cuts) + pd.Timedelta(days=recommender.horizon_days)
    with (
        open_training_snapshot(settings, snapshot, quiet=True) as opened,
        cluster_client(scheduler) as client,
    ):
        source = SnapshotSource.of(opened, settings)
        workers = worker_count(client)
        mastery = _cluster_mastery(client, source, 2 * workers, training_end, recommender.seed)
        say(f"mastery for the recommender: {'fitted' if mastery else 'none'}", quiet=quiet)
        pairs = [
            client.submit(
                ranker_rows,
                cut,
                bucket,
                workers,
                source=source,
                recommender=recommender,
                mastery=mastery,
                pure=False,
            )
            for cut in cuts
            for bucket in range(workers)
        ]
        rows = client.map(_first, pairs)
        groups = client.map(_second, pairs)
        totals = client.gather(client.map(_label_totals, rows))
        if not sum(n for _, n in totals):
            raise ValueError("no member launched a candidate item in any training horizon")
        group_counts = client.gather(client.map(len, groups))
        recommender.booster_ = booster_on_rows(
            client,
            rows,
            features=FEATURES,
            params=recommender.lightgbm_params(),
            rounds=recommender.n_estimators,
            groups=groups,
        )
        client.cancel([*pairs, *rows, *groups])
    positives = sum(total for total, _ in totals)
    count = sum(n for _, n in totals)
    recommender.mastery_ = mastery
    recommender.metadata_ = {
        "cuts": [pd.Timestamp(c).isoformat() for c in cuts],
        "training_rows": count,
        "training_groups": int(sum(group_counts)),
        "positive_rate": positives / count,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training_end": training_end.isoformat(),
        "mastery": "fitted" if mastery is not None else "stand-in (no answers)",
    }
    return recommender


def _cluster_mastery(
    client: Client, source: SnapshotSource, buckets: int, before: pd.Timestamp, seed: int
) -> MasteryModel | None:
    """``StudyRecommender.fit_mastery`` on the learner partitions: a ``MasteryModel`` on the
    events strictly before ``before``, None when they hold no right and wrong answers."""
    parts = event_partitions(client, source, buckets)
    try:
        template = MasteryModel(seed=seed)
        counts = SplitCounts.join(
            gather_map(client, answer_counts, parts, TIME, before, template.difficulty_folds)
        )
        if counts.responses == 0 or counts.right in (0.0, float(counts.responses)):
            return None
        try:
            model = mastery_booster(client, parts, TIME, before, counts, template)
        except MasteryModelError:
            return None
    finally:
        client.cancel(parts)
    model.metadata_["trained_before"] = before.isoformat()
    return model
