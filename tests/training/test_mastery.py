"""training.mastery on the small world into a temporary SQLite MLflow: registered, champion."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from core.security import PersonalData
from core.settings import Settings
from features.learning.kt_features import EVENT_COLUMNS
from store.database import Store
from training.check_in import CHECK_IN_TABLE, MIN_MEMBERS_FOR_QUANTILES, check_in_summary
from training.mastery import REGISTERED_MODEL, TrainingOptions, events_digest, train
from training.tracking import CHAMPION, frame_digest


def test_train_registers_a_champion_and_a_second_run_is_gated(
    small_installation: dict[str, str], tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=Path(small_installation["LODESTAR_DATA_DIR"]),
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
    )
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    options = TrainingOptions(n_estimators=40)
    first = train(settings, options, tracking_uri=uri, quiet=True)
    assert first.gate.promoted
    assert first.check_in_written is None  # nothing per member leaves memory without the flag
    for split in ("time", "learner"):
        assert first.metrics[f"{split}.model.auc"] > 0.6
        assert not math.isnan(first.metrics[f"{split}.baseline.auc"])
    assert "check_in.precision" in first.metrics
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION)
    assert str(champion.version) == first.model_version
    second = train(settings, options, tracking_uri=uri, quiet=True)
    assert not second.gate.promoted  # the same data and seed: a tie keeps the champion
    assert math.isclose(second.gate.champion_metric, second.gate.challenger_metric, rel_tol=1e-9)
    loaded = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}@{CHAMPION}")
    assert loaded.unwrap_python_model().mastery_model is not None


def _files_holding(folder: Path, needles: set[str]) -> dict[str, list[str]]:
    """Per file under ``folder`` (relative path): the needles found in its bytes."""
    found: dict[str, list[str]] = {}
    encoded = [(needle, needle.encode()) for needle in sorted(needles)]
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        blob = path.read_bytes()
        hits = [needle for needle, raw in encoded if raw in blob]
        if hits:
            found[str(path.relative_to(folder))] = hits[:3]
    return found


def test_mlflow_gets_aggregates_only_and_the_store_gets_the_judgements(
    small_installation: dict[str, str], tmp_path: Path
) -> None:
    data_dir = Path(small_installation["LODESTAR_DATA_DIR"])
    (tmp_path / "store").mkdir()
    shutil.copy(data_dir / "lodestar.duckdb", tmp_path / "store" / "lodestar.duckdb")
    settings = Settings(
        data_dir=data_dir,
        store_path=tmp_path / "store" / "lodestar.duckdb",
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
    )
    tracking = tmp_path / "mlflow"
    tracking.mkdir()
    result = train(
        settings,
        TrainingOptions(n_estimators=20, store_write=True),
        tracking_uri=f"sqlite:///{tracking / 'mlflow.db'}",
        quiet=True,
    )

    employee_numbers = pd.read_csv(data_dir / "world" / "learning" / "members.csv", dtype=str)
    personal = PersonalData(settings.keyring())
    with Store.open(settings, settings.keyring(), read_only=True) as store:
        stored_keys = store.query(
            "SELECT member_key FROM members UNION SELECT member_key FROM statements"
        )["member_key"]
        judged = store.query(f"SELECT * FROM {CHECK_IN_TABLE}")
    identifiers = {
        *stored_keys,
        *employee_numbers["employee_no"],
        *map(personal.member_key, employee_numbers["employee_no"]),
    }
    assert len(identifiers) > 100
    # every MLflow file: the tracking database (params, metrics, tags) and every artefact
    # (tables, the model, its input example and signature)
    assert (tracking / "mlartifacts").is_dir()
    assert _files_holding(tracking, identifiers) == {}

    assert result.check_in_written == len(judged) == len(result.check_in) > 0
    assert set(judged["member_key"]) == set(result.check_in["member_key"])
    assert (judged["run_id"] == result.run_id).all()
    assert (judged["model_version"] == result.model_version).all()
    assert int(judged["flagged"].sum()) == result.metrics["check_in.flagged"]
    assert result.metrics["check_in.members"] == len(judged)
    run = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tracking / 'mlflow.db'}").get_run(
        result.run_id
    )
    assert run.data.metrics["check_in.flagged_rate"] == judged["flagged"].mean()
    assert "check_in.check_in_score.p50" in run.data.metrics


def test_check_in_summary_gives_no_quantile_of_a_handful_of_members() -> None:
    def detected(members: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "member_key": [f"m{i}" for i in range(members)],
                "check_in_score": [i / members for i in range(members)],
                "flagged": [i == 0 for i in range(members)],
                "logged_minutes": [60.0 + i for i in range(members)],
                "mastery_gain": [0.01 * i for i in range(members)],
            }
        )

    few = check_in_summary(detected(MIN_MEMBERS_FOR_QUANTILES - 1))
    assert few == {
        "check_in.members": MIN_MEMBERS_FOR_QUANTILES - 1,
        "check_in.flagged": 1.0,
        "check_in.flagged_rate": 1 / (MIN_MEMBERS_FOR_QUANTILES - 1),
    }
    many = check_in_summary(detected(11))
    assert many["check_in.logged_minutes.p50"] == 65.0
    assert many["check_in.check_in_score.p10"] == pytest.approx(1 / 11)  # 2nd of 11, linear


def test_events_digest_in_parts_is_the_frame_digest() -> None:
    """The data version hashed a few rows at a time equals the hash of the whole frame's
    text, also where a part alone would print its timestamps as dates only."""
    stamps = pd.to_datetime(
        ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-03 10:00:00.5", "2025-01-04"],
        format="ISO8601",
    )
    events = pd.DataFrame(
        {
            "member_key": pd.Categorical(["b", "a", "b", "a", "c"]),
            "timestamp": stamps,
            "order": [0, 1, 2, 3, 4],
            "kind": pd.Categorical(["response", "study", "response", "response", "study"]),
            "item_id": ["i1", "i2", "i1", "i3", "i2"],
            "kp_id": ["k1", "k2", "k1", "k1", "k2"],
            "correct": [1.0, np.nan, 0.0, 1.0, np.nan],
            "minutes": [0.0, 3.5, 0.0, 0.0, 1.25],
            "stated_difficulty": [0.3, 0.5, 0.3, np.nan, 0.5],
            "kp_attempts": [0.0, np.nan, 1.0, 0.0, np.nan],  # a history column: not hashed
        }
    )
    whole = frame_digest(events[list(EVENT_COLUMNS)])
    assert events_digest(events, rows=2) == whole
    assert events_digest(events, rows=100) == whole
    assert events_digest(events.iloc[:2], rows=1) == frame_digest(
        events.iloc[:2][list(EVENT_COLUMNS)]
    )
