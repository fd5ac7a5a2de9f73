"""Mastery (knowledge tracing): train on the store, evaluate on two leak-free splits, detect
check-in without absorption, track in MLflow, register, gate.

Usage::

    python -m training.mastery train [--data-dir DIR] [--key-file FILE] [--tracking-uri URI]
        [--test-months 3] [--n-estimators 300] [--num-leaves 15] [--learning-rate 0.05]
        [--min-improvement 0] [--seed 0] [--store-write] [--quiet]

Events: ``features.learning.kt_features.build_events`` on a snapshot of the store: every
``answered`` statement with a success is a response to predict; ``experienced``,
``passed``, ``failed`` durations are study time. Only the events of ``study_learners`` are
read (the store filters them as it scans): every learner while their answers total at most
``--max-study-answers`` (``STUDY_ANSWER_BUDGET``), else a seeded sample of whole learners
within it, so that what the job holds and computes does not grow with the store. The time
cut and the check-in window come from aggregates over every learner
(``store.queries.learning``); the metrics are those of the sample, with the ROC-AUC's
standard error beside each (``*.auc_se``) and how much was read (``study.*``).

Two splits, both reported in the same run, neither lets a learner's future into training:

* **time**: train on every event before ``time_cut`` (the first day of the month
  ``test_months`` before the last event's month, 1 October on the 2025 demo world), test on
  the responses on or after it. Test rows' features use the learner's whole earlier history
  (events before the cut included: that is what the service knows when it predicts), item
  difficulty comes from the training months only.
* **learner**: train on 80 % of the learners (all their events), test on the responses of the
  other 20 % (``learner_folds`` fold 0), whom the model has never seen; their difficulty
  features come from the training learners only.

Each split reports ROC-AUC, log loss and accuracy at 0.5 of the model and of the PFA logistic
baseline (``PfaLogistic``) on the same rows. The time-split model is the one registered (its
test months are the gate's common ground): MLflow experiment ``mastery``, registered model
``mastery`` (pyfunc ``models.learning.pyfunc.MasteryPyfunc``), alias ``challenger``, and
``champion`` only when its time-split AUC beats the champion's on the same rows by more than
``--min-improvement`` (``training.tracking.compare_with_champion``).

Drift reference (``models.drift``, saved in the model's ``metadata_`` under
``DRIFT_REFERENCE``): the service scores mastery profiles, one probe per learner and
knowledge point, so the reference bins what it would see just after training: the
``MODEL_FEATURES`` and ``p_correct`` of the registered (time-split) model's profiles as of
the time cut, from the events before it, for every knowledge point of the catalogue and at
most ``REFERENCE_LEARNERS`` training learners with an answer
(``models.drift.reference_sample``: a fixed seed over the sorted learner keys, so a rerun
on the same data bins the same rows). Bins
hold quantiles and shares over those rows, no row.

Check-in: ``features.learning.checkin.detect_check_in`` over the whole year with the
registered model, on the learners read (with ``--store-write`` on every learner, a member
bucket at a time: ``judge_every_member``); when ``<truth_dir>/members.csv`` exists (the demo
world's planted "check-in only" members, joined through the pseudonym key), its precision
and recall are logged. The truth is read for evaluation only, never for features.

What leaves the store: MLflow gets parameters, metrics and aggregates only (how many members
were judged and flagged, the flagged rate, and with at least ``MIN_MEMBERS_FOR_QUANTILES``
members the 10/50/90 % quantiles of score, logged minutes and mastery gain); the model's input
example is synthetic (``example_events``). The per-member judgements (score, flag, minutes,
gain, reasons, keyed by the member pseudonym) go to the store's ``check_in_judgements`` table
(``training.check_in``), and only with ``--store-write``: without it they stay in memory
(``TrainResult.check_in``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

from core.security import PersonalData
from core.settings import Settings, owner_only_files
from features.learning.checkin import check_in_evidence, detect_check_in, rank_evidence
from features.learning.kt_features import (
    CORRECT,
    EVENT_COLUMNS,
    ITEM,
    KIND,
    KP,
    MEMBER,
    MINUTES,
    ORDER,
    RESPONSE,
    STATED_DIFFICULTY,
    TIMESTAMP,
    build_events,
    sort_events,
    with_history,
)
from models.drift import DRIFT_REFERENCE, DriftReference, reference_sample
from models.learning.mastery import (
    MODEL_FEATURES,
    TRAINING_ROW_BUDGET,
    MasteryModel,
    PfaLogistic,
    learner_folds,
    seeded_order,
)
from models.learning.pyfunc import ARTIFACT_KEY, MasteryPyfunc, predictions_frame
from store.queries import learning as queries
from training.check_in import (
    CHECK_IN_TABLE,
    check_in_metrics,
    check_in_rows,
    check_in_summary,
    read_check_in_truth,
    write_check_in,
)
from training.cli import HELP, say, training_main
from training.data_source import open_training_snapshot
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

EXPERIMENT = "mastery"
REGISTERED_MODEL = "mastery"
PIP_PACKAGES = ("lodestar", "lightgbm", "scikit-learn", "pandas", "numpy", "mlflow")
LEARNER_TEST_FOLDS = 5  # fold 0 of 5: a fifth of the learners is held out
EXAMPLE_ROWS = 20
REFERENCE_LEARNERS = 500  # learners whose profiles the drift reference bins, at most
STUDY_ANSWER_BUDGET = 400_000
"""Answered statements of the learners the job reads, at most (``--max-study-answers``):
whole learners in a seeded hash order of their keys (``study_learners``), so that the events
held, both splits' fits and test rows, the check-in judgements logged and the drift
reference cost the same at any number of learners. The demo world's (about 120,000 answers)
is read whole; at ten times its size about a tenth of the learners. The test metrics are
then those of a uniform sample of learners: their standard errors are logged beside them
(``*.auc_se``)."""
CHECK_IN_BUCKET_ANSWERS = 200_000
"""Answered statements per member bucket when ``--store-write`` judges every member
(``judge_every_member``): one bucket's events are held at a time."""


class TrainingError(RuntimeError):
    """The store holds too little to train or evaluate the mastery model."""


@dataclass
class TrainingOptions:
    test_months: int = 3
    n_estimators: int = 300
    num_leaves: int = 15
    learning_rate: float = 0.05
    min_improvement: float = 0.0
    seed: int = 0
    max_training_rows: int | None = field(
        default=TRAINING_ROW_BUDGET,
        metadata={HELP: "response rows the booster trains on, at most (whole learners sampled)"},
    )
    max_study_answers: int | None = field(
        default=STUDY_ANSWER_BUDGET,
        metadata={
            HELP: "answered statements of the learners read, fitted and evaluated on, at most "
            "(whole learners, a seeded sample)"
        },
    )
    store_write: bool = field(
        default=False,
        metadata={
            HELP: f"write the per-member check-in judgements to the store ({CHECK_IN_TABLE})"
        },
    )

    def model(self) -> MasteryModel:
        return MasteryModel(
            n_estimators=self.n_estimators,
            num_leaves=self.num_leaves,
            learning_rate=self.learning_rate,
            seed=self.seed,
            max_training_rows=self.max_training_rows,
        )


@dataclass
class TrainResult:
    run_id: str
    model_version: str
    gate: GateDecision
    metrics: dict[str, float]
    time_cut: pd.Timestamp
    check_in: pd.DataFrame = field(repr=False)
    check_in_written: int | None = None  # new rows in check_in_judgements; None without it


def study_learners(counts: pd.DataFrame, budget: int | None, *, seed: int = 0) -> list[str] | None:
    """The learners the job reads, from ``queries.answer_counts`` (one row per learner with
    an answer: ``member_key``, ``answers``): None (everyone) when their answers total at
    most ``budget``, else whole learners in the order of a seeded hash of their key
    (``seeded_order``: drawn without looking at any statement, the same learners on a rerun)
    for as long as their answers fit the budget (at least one), sorted."""
    if budget is None or int(counts["answers"].sum()) <= budget:
        return None
    keys = counts["member_key"].astype(str).to_numpy(dtype=object)
    order = seeded_order(keys, seed)
    taken = np.cumsum(counts["answers"].to_numpy()[order]) <= budget
    taken[0] = True
    return sorted(str(key) for key in keys[order][taken])


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley and McNeil's (1982) standard error of a ROC-AUC over ``positives`` and
    ``negatives`` rows (NaN without both)."""
    if positives < 1 or negatives < 1 or not math.isfinite(auc):
        return math.nan
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    return math.sqrt(max(variance, 0.0))


def binary_metrics(labels: np.ndarray, scores: np.ndarray, prefix: str) -> dict[str, float]:
    """ROC-AUC (and its standard error, ``auc_standard_error``), log loss and accuracy at
    0.5; NaN when the rows hold one class only."""
    if labels.size == 0 or np.unique(labels).size < 2:
        return {f"{prefix}.auc": math.nan, f"{prefix}.log_loss": math.nan}
    auc = float(roc_auc_score(labels, scores))
    positives = int((labels == 1).sum())
    return {
        f"{prefix}.auc": auc,
        f"{prefix}.auc_se": auc_standard_error(auc, positives, int(labels.size) - positives),
        f"{prefix}.log_loss": float(log_loss(labels, np.clip(scores, 1e-6, 1 - 1e-6))),
        f"{prefix}.accuracy": float(((scores >= 0.5) == (labels == 1)).mean()),
    }


def time_cut(events: pd.DataFrame, test_months: int) -> pd.Timestamp:
    """First day of the month ``test_months`` before the last event's month."""
    last = pd.Timestamp(events[TIMESTAMP].max())
    return (last.to_period("M") - (test_months - 1)).to_timestamp()


def evaluate_time_split(
    events: pd.DataFrame, cut: pd.Timestamp, options: TrainingOptions
) -> tuple[MasteryModel, pd.DataFrame, dict[str, float]]:
    """Fit on events before ``cut``; score the responses from ``cut`` on. Returns the model,
    the scored test rows (``correct``, ``model``, ``baseline``) and the metrics."""
    train = events[events[TIMESTAMP] < cut]
    if (train[KIND] == RESPONSE).sum() == 0 or (events[TIMESTAMP] >= cut).sum() == 0:
        raise TrainingError(f"no responses on one side of the time cut {cut:%Y-%m-%d}")
    model = options.model().fit(train)
    baseline = PfaLogistic().fit(train)
    scored = _score(events, model, baseline)
    test = scored[scored[TIMESTAMP] >= cut]
    return model, test, _metrics(test, "time")


def evaluate_learner_split(
    events: pd.DataFrame, options: TrainingOptions
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Fit on four fifths of the learners; score every response of the other fifth."""
    held_out = learner_folds(events[MEMBER], LEARNER_TEST_FOLDS) == 0
    train, test_events = events[~held_out], events[held_out]
    if (train[KIND] == RESPONSE).sum() == 0 or (test_events[KIND] == RESPONSE).sum() == 0:
        raise TrainingError("too few learners for a learner split")
    model = options.model().fit(train)
    baseline = PfaLogistic().fit(train)
    scored = _score(test_events, model, baseline)
    return scored, _metrics(scored, "learner")


def _score(events: pd.DataFrame, model: MasteryModel, baseline: PfaLogistic) -> pd.DataFrame:
    ordered = sort_events(events)
    predicted = model.predict_next(ordered)
    rows = ordered.loc[predicted.index]
    return rows.assign(
        model=predicted.to_numpy(),
        baseline=baseline.predict_next(ordered).reindex(predicted.index).to_numpy(),
    )


def _metrics(scored: pd.DataFrame, split: str) -> dict[str, float]:
    labels = scored[CORRECT].to_numpy(dtype=float)
    return {
        f"{split}.test_responses": float(len(scored)),
        **binary_metrics(labels, scored["model"].to_numpy(), f"{split}.model"),
        **binary_metrics(labels, scored["baseline"].to_numpy(), f"{split}.baseline"),
    }


def drift_reference(
    model: MasteryModel,
    events: pd.DataFrame,
    cut: pd.Timestamp,
    kps: Sequence[str],
    *,
    learners: int = REFERENCE_LEARNERS,
) -> DriftReference:
    """The binned ``MODEL_FEATURES`` and ``p_correct`` of the mastery profiles (one row per
    learner and KP in ``kps``) as of ``cut``, from the events before it, of at most
    ``learners`` learners who answered before it (a seeded sample, see the module
    docstring)."""
    past = events[events[TIMESTAMP] < cut]
    answered = past.loc[past[KIND] == RESPONSE, MEMBER].astype(str)
    sample = reference_sample(answered.tolist(), limit=learners)
    profiles = model.mastery_profiles(past, kps, cut, members=sample, with_features=True)
    return DriftReference.from_frame(
        profiles,
        profiles["p_correct"].to_numpy(dtype=float),
        features=MODEL_FEATURES,
        part=f"profiles at the time cut, {len(sample)} learners",
    )


def study_sample_metrics(counts: pd.DataFrame, learners: Sequence[str] | None) -> dict[str, float]:
    """How much of the store the job read: learners and answered statements, read and in
    all (``study_learners``' sample, or everyone)."""
    total = float(counts["answers"].sum())
    if learners is None:
        read, answers = float(len(counts)), total
    else:
        chosen = counts["member_key"].astype(str).isin(set(learners))
        read, answers = float(chosen.sum()), float(counts.loc[chosen, "answers"].sum())
    return {
        "study.learners": read,
        "study.learners_total": float(len(counts)),
        "study.answers": answers,
        "study.answers_total": total,
    }


def judged_truth(truth: pd.Series, learners: Sequence[str] | None) -> pd.Series:
    """The planted flags of the members the detector judged: everyone's, or those of the
    sampled ``learners`` (the recall of a sample is against the planted members in it)."""
    return truth if learners is None else truth[truth.index.isin(set(learners))]


def judge_every_member(
    settings: Settings,
    snapshot: Path,
    counts: pd.DataFrame,
    model: MasteryModel,
    window: tuple[pd.Timestamp, pd.Timestamp],
    *,
    quiet: bool = False,
) -> pd.DataFrame:
    """``detect_check_in`` over every learner of the store snapshot ``snapshot`` with
    ``model``, read a member bucket at a time (``CHECK_IN_BUCKET_ANSWERS`` answers a
    bucket): the evidence is per member (``check_in_evidence``), so the buckets' evidence,
    joined and ranked (``rank_evidence``: the time threshold is over all of them), is the
    detection over one frame of everyone. What ``--store-write`` writes."""
    buckets = max(1, math.ceil(float(counts["answers"].sum()) / CHECK_IN_BUCKET_ANSWERS))
    parts = []
    with open_training_snapshot(settings, snapshot, quiet=True) as data:
        for bucket in range(buckets):
            events = sort_events(build_events(data, bucket=(bucket, buckets)))
            parts.append(check_in_evidence(events, model=model, start=window[0], end=window[1]))
    say(f"check-in judged over every learner, {buckets} member buckets", quiet=quiet)
    # by member key, as the evidence of one frame of everyone is (its ties rank alike)
    evidence = pd.concat(parts) if parts else pd.DataFrame()
    evidence.index = evidence.index.astype(str)
    return rank_evidence(evidence.sort_index())


DIGEST_ROWS = 200_000


def events_digest(events: pd.DataFrame, rows: int = DIGEST_ROWS) -> str:
    """``training.tracking.frame_digest`` of the ``EVENT_COLUMNS`` of ``events``, the same
    hex digest, computed ``rows`` rows at a time (the text of one part at once, not of every
    event). The timestamps' text is made once for the whole column: pandas formats a
    datetime column by what all its values need (dates only, fractions of a second)."""
    frame = events[list(EVENT_COLUMNS)]
    stamps = frame[TIMESTAMP].astype(str)
    position = list(EVENT_COLUMNS).index(TIMESTAMP)
    hashes = []
    for start in range(0, len(frame), rows):
        text = frame.iloc[start : start + rows].drop(columns=TIMESTAMP).astype(str)
        text.insert(position, TIMESTAMP, stamps.iloc[start : start + rows])
        hashes.append(pd.util.hash_pandas_object(text, index=False).to_numpy())
    joined = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint64)
    return hashlib.sha256(joined.tobytes()).hexdigest()


def catalogue_kps(data: Any, events: pd.DataFrame) -> list[str]:
    """Every knowledge point of the store's catalogue (what the service profiles), else
    those the events name."""
    kps = data.query("SELECT kp_id FROM knowledge_points")["kp_id"].dropna().astype(str)
    return sorted(set(kps)) if len(kps) else sorted(events[KP].dropna().astype(str).unique())


def example_events(events: pd.DataFrame, rows: int = EXAMPLE_ROWS) -> pd.DataFrame:
    """A made-up input example for the model's signature: two invented learners answer
    catalogue items (ids, KPs and stated difficulty describe items, not people; the first
    ``rows`` by item id, not by learner) at invented hours with invented outcomes, so no
    member key, time or outcome of a real learner reaches MLflow."""
    items = (
        events.loc[events[KIND] == RESPONSE, [ITEM, KP, STATED_DIFFICULTY]]
        .drop_duplicates([ITEM, KP])
        .sort_values([ITEM, KP])
        .head(rows)
        .reset_index(drop=True)
        .astype({ITEM: str, KP: str})  # text, as the service sends it (not codes)
    )
    position = np.arange(len(items))
    example = items.assign(
        **{
            MEMBER: [f"example-learner-{1 + i % 2}" for i in position],
            TIMESTAMP: [
                str(pd.Timestamp("2025-01-06 08:00") + pd.Timedelta(hours=int(i))) for i in position
            ],
            ORDER: position.astype("int64"),
            KIND: RESPONSE,
            CORRECT: (position % 3 != 0).astype(float),
            MINUTES: 0.0,
        }
    )
    return example[list(EVENT_COLUMNS)]


def champion_gate(
    client: Any, test: pd.DataFrame, events: pd.DataFrame, auc: float, *, min_improvement: float
) -> GateDecision:
    """Compare with the current champion on the same time-split test responses (ROC-AUC)."""

    def champion_auc(loaded: Any) -> float:
        champion: MasteryModel = loaded.unwrap_python_model().mastery_model
        try:
            predicted = champion.predict_next(events)
        except (KeyError, ValueError) as error:
            raise ChampionCannotScoreError(str(error)) from error
        scores = predicted.reindex(test.index).to_numpy()
        return float(roc_auc_score(test[CORRECT].to_numpy(dtype=float), scores))

    return compare_with_champion(
        client,
        REGISTERED_MODEL,
        auc,
        champion_auc,
        min_improvement=min_improvement,
        metric_name="AUC",
    )


def train(
    settings: Settings,
    options: TrainingOptions,
    *,
    tracking_uri: str | None = None,
    quiet: bool = False,
    snapshot: Path | None = None,
    scheduler: str | None = None,
) -> TrainResult:
    """Build events, evaluate both splits, detect check-in, log, register and gate, on the
    store snapshot ``snapshot`` (None: the newest, written first if there is none); with a
    ``scheduler`` address, on that Dask cluster (``training.distributed_learning``)."""
    import mlflow
    from mlflow.models import infer_signature

    if scheduler:
        from training.distributed_learning import train_mastery

        result: TrainResult = train_mastery(
            settings,
            options,
            scheduler=scheduler,
            tracking_uri=tracking_uri,
            quiet=quiet,
            snapshot=snapshot,
        )
        return result
    uri, client = start_tracking(settings, tracking_uri)
    keyring = settings.keyring()
    with open_training_snapshot(settings, snapshot, quiet=quiet) as data:
        snapshot = data.path
        counts = queries.answer_counts(data)
        span = queries.event_time_range(data)
        learners = study_learners(counts, options.max_study_answers, seed=options.seed)
        events = sort_events(build_events(data, members=learners))
        kps = catalogue_kps(data, events)
    # every response's history features, once: each split, fit, score and baseline reads
    # them from these columns (whole learner prefixes of this frame), only profiles recompute
    events = with_history(events)
    if span is None or (events[KIND] == RESPONSE).sum() == 0:
        raise TrainingError("the store holds no answered statements")
    sample = study_sample_metrics(counts, learners)
    cut = time_cut(pd.DataFrame({TIMESTAMP: [span[1]]}), options.test_months)
    say(
        f"{len(events):,} events of {sample['study.learners']:,.0f} of "
        f"{sample['study.learners_total']:,.0f} learners; time cut {cut:%Y-%m-%d}",
        quiet=quiet,
    )
    model, time_test, metrics = evaluate_time_split(events, cut, options)
    metrics.update(sample)
    say(f"time split: model AUC {metrics['time.model.auc']:.4f}", quiet=quiet)
    _, learner_metrics = evaluate_learner_split(events, options)
    metrics.update(learner_metrics)
    say(f"learner split: model AUC {metrics['learner.model.auc']:.4f}", quiet=quiet)
    window = (span[0], span[1] + pd.Timedelta(seconds=1))
    everyone = options.store_write and learners is not None
    detected = (
        judge_every_member(settings, snapshot, counts, model, window, quiet=quiet)
        if everyone
        else detect_check_in(events, model=model, start=window[0], end=window[1])
    )
    metrics.update(check_in_summary(detected))
    truth = read_check_in_truth(settings, PersonalData(keyring))
    if truth is not None:
        judged = None if everyone else learners
        metrics.update(check_in_metrics(detected, judged_truth(truth, judged)))
    version_hash = events_digest(events)
    reference = drift_reference(model, events, cut, kps).with_data_version(version_hash)
    model.metadata_.update(
        {
            "data_version": version_hash,
            "time_cut": cut.isoformat(),
            DRIFT_REFERENCE: reference.to_dict(),
        }
    )

    with mlflow.start_run(experiment_id=experiment_id(EXPERIMENT, uri)) as run:
        mlflow.log_params(
            {
                "n_estimators": options.n_estimators,
                "num_leaves": options.num_leaves,
                "learning_rate": options.learning_rate,
                "test_months": options.test_months,
                "time_cut": cut.date().isoformat(),
                "learner_split": f"fold 0 of {LEARNER_TEST_FOLDS} by learner hash held out",
                "baseline": "PFA logistic regression (per-KP intercept and count slopes)",
                "registered_split": "time",
                "seed": options.seed,
                "max_training_rows": options.max_training_rows,
                "booster_rows": model.metadata_.get("booster_rows"),
                "truth_available": truth is not None,
            }
        )
        mlflow.set_tag("data_version", version_hash)
        mlflow.log_metrics(finite_metrics(metrics))
        example = example_events(events)
        version = register_challenger(
            client,
            REGISTERED_MODEL,
            model,
            MasteryPyfunc(),
            artifact_key=ARTIFACT_KEY,
            packages=PIP_PACKAGES,
            signature=infer_signature(example, predictions_frame(model, example)),
            input_example=example,
        )
        gate = champion_gate(
            client,
            time_test,
            events,
            metrics["time.model.auc"],
            min_improvement=options.min_improvement,
        )
        record_gate(client, REGISTERED_MODEL, version, gate, metric_key="auc")
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
    return TrainResult(run.info.run_id, version, gate, metrics, cut, detected, written)


def _print_metrics(result: TrainResult, _: TrainingOptions) -> None:
    for name, value in sorted(result.metrics.items()):
        print(f"{name:32} {value:.4f}")
    if result.check_in_written is not None:
        print(f"{result.check_in_written:,} check-in judgements written to {CHECK_IN_TABLE}")


def main(argv: Sequence[str] | None = None) -> int:
    return training_main(
        argv,
        TrainingOptions,
        train,
        prog="python -m training.mastery",
        description="Train, evaluate (time and learner splits) and register the mastery model.",
        model_name=REGISTERED_MODEL,
        errors=(TrainingError,),
        report=_print_metrics,
        scheduled=True,
    )


if __name__ == "__main__":
    with owner_only_files():
        raise SystemExit(main())
