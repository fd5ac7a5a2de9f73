"""Procurement risk training: labels, split, metrics, and real runs on the small world with a
real SQLite MLflow store (registry, aliases, gate, pyfunc, batch scoring). The trained model's
behaviour is tested in ``tests/model``."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import date
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from core.settings import Settings
from features.procurement.feedback import FEEDBACK_FEATURES
from features.procurement.specs import FEATURES
from models.procurement.alerts import alert_id, red_flag_columns
from models.procurement.model import RiskModel
from store.database import Store
from tests.training.installations import private_installation
from training.metrics.procurement import (
    brier_score,
    pr_auc,
    precision_recall_at_k,
    recall_by_group,
    reliability_table,
    top_k_weights,
)
from training.procurement_risk import (
    REGISTERED_MODEL,
    ScoringError,
    TimeSplit,
    TrainingOptions,
    TrainResult,
    attach_labels,
    build_feature_frame,
    default_split,
    labels_from_outcomes,
    score,
    train,
)
from training.tracking import CHALLENGER, CHAMPION, artifact_location

PRICE_FEATURES = ("unit_price_to_category_median_180d", "unit_price_to_spec_median_180d")

# The small world (scale 0.05) has a dozen confirmed findings, all decided March–August: the
# default split (test = last three months) would test on none, so the tests split earlier.
SMALL_OPTIONS = TrainingOptions(
    train_end=date(2025, 6, 1),
    calibration_end=date(2025, 7, 1),
    n_estimators=60,
    num_leaves=7,
    min_data_in_leaf=5,
    num_threads=1,
)


# --------------------------------------------------------------------------------------------
# Pure parts


def test_labels_take_the_latest_decisive_verdict() -> None:
    outcomes = pd.DataFrame(
        {
            "ocid": ["a", "a", "b", "c", "d", "d", "e", "e"],
            "finding": [
                "needs_information",
                "confirmed",
                "dismissed",
                "needs_information",
                "confirmed",
                "dismissed",
                "dismissed",
                "confirmed",
            ],
            "scheme": ["bid_rigging", "bid_rigging", "", "", "split_purchase", "", "", "x"],
            "confirmed_at": pd.to_datetime(
                [
                    "2025-03-01",
                    "2025-05-01",
                    "2025-04-01",
                    "2025-04-01",
                    "2025-04-01",
                    "2025-06-01",
                    "2025-06-01",
                    "2025-06-01",
                ]
            ),
        }
    )
    labels = labels_from_outcomes(outcomes).set_index("ocid")
    assert labels["label"].to_dict() == {"a": 1, "b": 0, "d": 0, "e": 1}  # c: undecided
    assert labels.loc["a", "labelled_at"] == pd.Timestamp("2025-05-01")
    known = labels_from_outcomes(outcomes, known_by=date(2025, 5, 1)).set_index("ocid")
    assert known["label"].to_dict() == {"b": 0, "d": 1}


def test_default_split_on_a_calendar_year() -> None:
    year = pd.date_range("2025-01-03", "2025-12-30", freq="D")
    tail = pd.to_datetime(["2026-01-05", "2026-01-20", "2026-02-01"])  # open tenders
    dates = pd.Series(year.append(tail))
    split = default_split(dates)
    assert split == TimeSplit(train_end=date(2025, 9, 1), calibration_end=date(2025, 10, 1))
    parts = split.part(dates)
    september, october = pd.Timestamp("2025-09-01"), pd.Timestamp("2025-10-01")
    assert parts[dates < september].eq("train").all()
    assert parts[(dates >= september) & (dates < october)].eq("calibration").all()
    assert parts[dates >= october].eq("test").all()


def _monthly(counts: dict[str, int]) -> pd.Series:
    """Decision dates spread over each month, ``counts`` per month ("YYYY-MM")."""
    parts = [
        pd.Series(pd.date_range(f"{month}-01", f"{month}-28", periods=n))
        for month, n in counts.items()
    ]
    return pd.concat(parts, ignore_index=True)


def test_default_split_ignores_the_sparse_tail_of_the_demo_world() -> None:
    # the scale-1 demo world's processes per month: tenders whose deadline falls after the
    # snapshot give a 2026 tail (379 in January, 2 in February), with no audit outcomes yet
    counts = {f"2025-{m:02d}": n for m, n in enumerate([1155, 1066] + [1700] * 10, start=1)}
    dates = _monthly({**counts, "2026-01": 379, "2026-02": 2})
    split = default_split(dates)
    assert split == TimeSplit(train_end=date(2025, 9, 1), calibration_end=date(2025, 10, 1))
    assert split.part(dates)[dates >= "2026-01-01"].eq("test").all()  # tested, not moving it

    # a trailing month counts once it holds half the median month: then it is a test month
    dates = _monthly({**counts, "2026-01": 900})
    assert default_split(dates).calibration_end == date(2025, 11, 1)


def test_label_cutoff_applies_to_training_not_test() -> None:
    frame = pd.DataFrame(
        {"ocid": ["a", "b"], "decision_date": pd.to_datetime(["2025-02-01", "2025-11-01"])}
    )
    outcomes = pd.DataFrame(
        {
            "ocid": ["a", "b"],
            "finding": ["confirmed", "confirmed"],
            "scheme": ["x", "x"],
            "confirmed_at": pd.to_datetime(["2025-12-01", "2026-03-01"]),
        }
    )
    split = TimeSplit(train_end=date(2025, 9, 1), calibration_end=date(2025, 10, 1))
    strict = attach_labels(frame, outcomes, split, label_cutoff=date(2025, 10, 1))
    assert strict["label"].isna()[0]  # confirmed after the cutoff: unknown to training
    assert strict.loc[1, "label"] == 1  # test labels: everything known
    everything = attach_labels(frame, outcomes, split, label_cutoff=None)
    assert everything["label"].tolist() == [1, 1]


def test_top_k_weights_share_ties() -> None:
    weights = top_k_weights([3, 2, 2, 2, 1], 2)
    assert np.allclose(weights, [1, 1 / 3, 1 / 3, 1 / 3, 0])
    assert top_k_weights([1, 2], 5).sum() == 2
    assert np.allclose(top_k_weights([np.nan, 1.0], 1), [0, 1])


def test_precision_recall_at_k_counts_unaudited_in_the_budget() -> None:
    labels = [1, np.nan, 0, 1, np.nan]
    scores = [0.9, 0.8, 0.7, 0.1, 0.0]
    precision, recall = precision_recall_at_k(labels, scores, 3)
    assert precision == pytest.approx(1 / 2)  # alerted and audited: rows 0 and 2
    assert recall == pytest.approx(1 / 2)  # confirmed: rows 0 and 3


def test_small_metrics_by_hand() -> None:
    assert pr_auc([1, 0, 1, np.nan], [0.9, 0.5, 0.4, 1.0]) == pytest.approx((1 + 2 / 3) / 2)
    assert math.isnan(pr_auc([0, 0], [0.1, 0.2]))
    assert brier_score([1, 0, np.nan], [0.8, 0.4, 0.3]) == pytest.approx((0.04 + 0.16) / 2)
    assert recall_by_group(np.array(["x", "x", None, "y"], dtype=object), [1.0, 0.0, 1.0, 0.5]) == {
        "x": 0.5,
        "y": 0.5,
    }
    table = reliability_table([0, 1, 1, np.nan], [0.05, 0.07, 0.95, 0.5], bins=10)
    assert table["count"].tolist() == [2, 1]
    assert table["observed_rate"].tolist() == [0.5, 1.0]


def test_red_flag_columns_map_to_cardinal_codes() -> None:
    columns = red_flag_columns()
    assert columns["flag_r018_single_bid"] == "R018"
    assert set(columns) <= set(FEATURES)
    assert "red_flag_count" in FEATURES  # the baseline uses the builder's own count


def test_alert_id_is_stable() -> None:
    assert alert_id("m", "1", "ocds-1") == alert_id("m", "1", "ocds-1")
    assert alert_id("m", "1", "ocds-1") != alert_id("m", "2", "ocds-1")


def test_sqlite_artifacts_go_beside_the_database(tmp_path: Path) -> None:
    location = artifact_location(f"sqlite:///{tmp_path}/mlflow.db")
    assert location == (tmp_path / "mlartifacts").as_uri()
    assert artifact_location("http://mlflow.example:5000") is None


# --------------------------------------------------------------------------------------------
# Real runs on the small world


@pytest.fixture(scope="module")
def installation(
    small_installation: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return private_installation(small_installation, tmp_path_factory.mktemp("procurement-risk"))


@pytest.fixture(scope="module")
def runs(installation: Settings) -> list[TrainResult]:
    """Four runs into one registry: the first; an identical one; a weakened one (2 trees of 2
    leaves); an identical one with a gate that accepts any challenger."""
    uri = installation.resolved_mlflow_tracking_uri
    first = train(installation, SMALL_OPTIONS, tracking_uri=uri, quiet=True)
    identical = train(installation, SMALL_OPTIONS, tracking_uri=uri, quiet=True)
    weak = replace(SMALL_OPTIONS, n_estimators=2, num_leaves=2)
    weakened = train(installation, weak, tracking_uri=uri, quiet=True)
    lenient = replace(SMALL_OPTIONS, min_improvement=-1.0)
    accepted = train(installation, lenient, tracking_uri=uri, quiet=True)
    return [first, identical, weakened, accepted]


@pytest.fixture(scope="module")
def feature_frame(installation: Settings) -> pd.DataFrame:
    with Store.open(installation, installation.keyring(), read_only=True) as store:
        return build_feature_frame(store, installation)


def _client(settings: Settings) -> mlflow.MlflowClient:
    uri = settings.resolved_mlflow_tracking_uri
    mlflow.set_tracking_uri(uri)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _alias_version(client: mlflow.MlflowClient, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(REGISTERED_MODEL, alias).version)
    except mlflow.exceptions.MlflowException:
        return None


def test_first_run_is_registered_as_champion(runs: list[TrainResult]) -> None:
    first = runs[0]
    assert first.model_version == "1"
    assert first.gate.promoted
    assert first.gate.reason == "no champion yet"
    assert not math.isnan(first.metrics["model.pr_auc"])
    assert first.metrics["test.confirmed"] > 0


def test_identical_run_stays_challenger(runs: list[TrainResult]) -> None:
    first, identical = runs[0], runs[1]
    assert identical.model_version == "2"
    assert identical.data_version == first.data_version
    assert not identical.gate.promoted
    assert identical.gate.champion_version == "1"
    assert identical.gate.champion_metric == pytest.approx(identical.gate.challenger_metric)


def test_weakened_challenger_is_judged_on_the_same_test(runs: list[TrainResult]) -> None:
    first, weakened = runs[0], runs[2]
    assert weakened.gate.champion_version == "1"
    # the champion was re-scored on this run's test months: the same number as its own run
    assert weakened.gate.champion_metric == pytest.approx(first.metrics["model.pr_auc"])
    assert weakened.gate.promoted == (
        weakened.gate.challenger_metric > weakened.gate.champion_metric
    )


def test_gate_promotes_and_moves_aliases(runs: list[TrainResult], installation: Settings) -> None:
    accepted = runs[3]
    assert accepted.gate.promoted
    client = _client(installation)
    assert _alias_version(client, CHAMPION) == accepted.model_version == "4"
    assert _alias_version(client, CHALLENGER) is None  # no pending challenger
    tags = client.get_model_version(REGISTERED_MODEL, "2").tags
    assert tags["gate.decision"] == "not promoted"


def test_run_logs_metrics_plots_and_model(runs: list[TrainResult], installation: Settings) -> None:
    client = _client(installation)
    run = client.get_run(runs[0].run_id)
    for scorer in ("model", "red_flag_count", "unsupervised"):
        for metric in ("pr_auc", "roc_auc", "precision_at_capacity", "recall_at_capacity"):
            assert f"{scorer}.{metric}" in run.data.metrics
    assert "model.brier" in run.data.metrics
    assert any(key.startswith("model.scheme_recall.") for key in run.data.metrics)
    assert run.data.params["data_version"] == runs[0].data_version
    assert run.data.tags["gate.decision"] == "promoted"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert artifacts == {
        "plots/precision_recall.png",
        "plots/reliability.png",
        "plots/shap_summary.png",
    }
    info = mlflow.models.get_model_info(f"models:/{REGISTERED_MODEL}/1")
    assert info.signature is not None
    assert "probability" in info.signature.outputs.input_names()
    location = Path(mlflow.get_experiment(run.info.experiment_id).artifact_location[7:])
    assert location.parent == Path(installation.resolved_mlflow_tracking_uri[10:]).parent


def test_pyfunc_answers_probabilities(
    runs: list[TrainResult], installation: Settings, feature_frame: pd.DataFrame
) -> None:
    _client(installation)
    loaded = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}@{CHAMPION}")
    sample = feature_frame.head(25)
    answer = loaded.predict(sample[list(FEATURES)])
    assert len(answer) == 25
    assert answer["probability"].between(0, 1).all()
    assert set(answer["warning_level"]) <= {"red", "orange", "yellow", "none"}
    model: RiskModel = loaded.unwrap_python_model().risk_model
    assert np.allclose(answer["probability"], model.predict_proba(sample))
    assert set(FEEDBACK_FEATURES) <= set(model.feature_names)  # the served model takes them


def test_the_training_frame_counts_the_stores_reports(feature_frame: pd.DataFrame) -> None:
    """The small world plants members' reports: some rows see them before their decision
    date, and never a negative or missing value."""
    reports = feature_frame[FEEDBACK_FEATURES]
    assert reports.notna().all().all()
    assert (reports >= 0).all().all()
    assert (reports.sum(axis=1) > 0).any()


def test_score_writes_alerts_once(runs: list[TrainResult], installation: Settings) -> None:
    uri = installation.resolved_mlflow_tracking_uri
    dry = score(installation, tracking_uri=uri, quiet=True)
    assert dry.written is None
    assert len(dry.alerts) > 0
    first = score(installation, tracking_uri=uri, store_write=True, quiet=True)
    assert first.written == len(first.alerts) == len(dry.alerts)
    again = score(installation, tracking_uri=uri, store_write=True, quiet=True)
    assert again.written == 0
    with Store.open(installation, installation.keyring(), read_only=True) as store:
        alerts = store.query("SELECT * FROM alerts")
    assert len(alerts) == len(first.alerts)
    assert set(alerts["warning_level"]) <= {"red", "orange", "yellow"}
    assert (alerts["status"] == "open").all()
    assert (alerts["model_version"] == first.model_version).all()
    reasons = json.loads(alerts["reasons"].iloc[0])
    assert reasons
    assert {"feature", "sentence_en", "sentence_zh", "direction"} <= set(reasons[0])
    assert isinstance(json.loads(alerts["red_flags"].iloc[0]), list)


def test_score_explains_a_busy_store(runs: list[TrainResult], installation: Settings) -> None:
    with (
        Store.open(installation, installation.keyring()),
        pytest.raises(ScoringError, match="stop the service"),
    ):
        score(
            installation,
            tracking_uri=installation.resolved_mlflow_tracking_uri,
            store_write=True,
            quiet=True,
        )
