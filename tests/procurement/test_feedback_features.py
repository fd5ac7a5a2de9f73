"""Members' report features in the procurement-risk rows: the batch row, the row of an
incoming release and the row after reports are pushed to the online layer agree for a process
with reports before its decision date; a report at or after the moment never counts; without
reports the columns are 0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from core.security import PersonalData
from core.settings import Settings
from features.online.procurement import ProcurementSource
from features.procurement.build import (
    build_process_features,
    features_for_release,
    process_features,
)
from features.procurement.feedback import (
    FEEDBACK_FEATURES,
    HALF_LIFE_DAYS,
    PROCESS_REPORTS,
    SUPPLIER_FEATURE,
    feedback_features,
    feedback_reasons,
)
from features.procurement.history import (
    REPORTS_TABLE,
    ProcurementHistory,
    load_procurement_frames,
)
from features.procurement.specs import FEATURES
from models.procurement.model import reason_sentences
from store.database import Store

INTEGRITY = SUPPLIER_FEATURE["integrity_concern"]
PRICE = SUPPLIER_FEATURE["price"]


@pytest.fixture(scope="module")
def settings(small_installation: dict[str, str]) -> Settings:
    return Settings(
        data_dir=Path(small_installation["LODESTAR_DATA_DIR"]),
        key_file=Path(small_installation["LODESTAR_KEY_FILE"]),
    )


@pytest.fixture(scope="module")
def frames(settings: Settings) -> dict[str, pd.DataFrame]:
    """The small world's procurement tables without its reports (each test sets its own)."""
    with Store.open(settings, settings.keyring(), read_only=True) as store:
        loaded = load_procurement_frames(store)
    assert REPORTS_TABLE in loaded
    return {table: frame for table, frame in loaded.items() if table != REPORTS_TABLE}


@pytest.fixture(scope="module")
def personal(settings: Settings) -> PersonalData:
    return PersonalData(settings.keyring())


@pytest.fixture(scope="module")
def plain_history(
    frames: dict[str, pd.DataFrame], settings: Settings, personal: PersonalData
) -> ProcurementHistory:
    return ProcurementHistory.from_frames(frames, settings=settings, personal=personal)


@pytest.fixture(scope="module")
def target(plain_history: ProcurementHistory) -> tuple[str, str, pd.Timestamp]:
    """An awarded process with a registered winner: (ocid, winner, decision date)."""
    assert plain_history.records is not None
    for record in plain_history.records:
        winner = record.main_winner
        if record.decision_date is not None and winner and plain_history.supplier_known(winner):
            return record.ocid, winner, pd.Timestamp(record.decision_date)
    raise AssertionError("the small world has no awarded process")


def _reports(ocid: str, supplier: str, decided: pd.Timestamp) -> pd.DataFrame:
    day = pd.Timedelta(days=1)
    rows = [
        ("r1", decided - 30 * day, "integrity_concern", None, supplier),
        ("r2", decided - 10 * day, "price", ocid, supplier),
        ("r3", decided, "integrity_concern", None, supplier),  # at the moment: not before it
        ("r4", decided + day, "integrity_concern", ocid, supplier),  # after: never counts
        ("r5", decided - 5 * day, "quality", None, "some-other-supplier"),
    ]
    return pd.DataFrame(rows, columns=["report_id", "submitted_at", "kind", "ocid", "supplier_id"])


def _release(settings: Settings, ocid: str) -> dict[str, Any]:
    path = settings.resolved_world_dir / "procurement" / "releases.jsonl"
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip() and f'"{ocid}"' in line:
                release = json.loads(line)
                if release["ocid"] == ocid:
                    return release
    raise AssertionError(f"{ocid} is not in the world's releases")


def test_report_features_are_model_features_whose_reasons_read_as_the_warning_says() -> None:
    """A SHAP reason on a report feature reads as the warning's member-report reason."""
    for name in FEEDBACK_FEATURES:
        en, zh = reason_sentences(name, 2.34)
        assert en == feedback_reasons({name: 2.34}, "en")[0]
        assert zh == feedback_reasons({name: 2.34}, "zh")[0]
        assert "2.3" in en
        assert "2.3" in zh


def test_without_reports_the_columns_are_zero(
    plain_history: ProcurementHistory, target: tuple[str, str, pd.Timestamp]
) -> None:
    row = build_process_features(plain_history, ocids=[target[0]]).iloc[0]
    assert row[FEEDBACK_FEATURES].eq(0.0).all()


def test_batch_release_and_pushed_rows_agree_and_count_only_earlier_reports(
    frames: dict[str, pd.DataFrame],
    settings: Settings,
    personal: PersonalData,
    plain_history: ProcurementHistory,
    target: tuple[str, str, pd.Timestamp],
) -> None:
    ocid, supplier, decided = target
    reports = _reports(ocid, supplier, decided)
    history = ProcurementHistory.from_frames(
        {**frames, REPORTS_TABLE: reports}, settings=settings, personal=personal
    )
    batch = build_process_features(history, ocids=[ocid]).iloc[0]
    assert batch[INTEGRITY] == pytest.approx(0.5 ** (30 / HALF_LIFE_DAYS), rel=1e-12)
    assert batch[PRICE] == pytest.approx(0.5 ** (10 / HALF_LIFE_DAYS), rel=1e-12)
    assert batch[PROCESS_REPORTS] == pytest.approx(0.5 ** (10 / HALF_LIFE_DAYS), rel=1e-12)
    assert batch[SUPPLIER_FEATURE["quality"]] == 0.0

    online = features_for_release(history, _release(settings, ocid)).iloc[0]
    source = ProcurementSource(plain_history)
    source.push({REPORTS_TABLE: reports})
    pushed = process_features(source.view(), source.view().record(ocid))
    for name in FEATURES:
        if isinstance(batch[name], float) and pd.isna(batch[name]):
            assert pd.isna(online[name]), name
            assert pd.isna(pushed[name]), name
        else:
            assert online[name] == batch[name] == pushed[name], name

    earlier_only = ProcurementHistory.from_frames(
        {**frames, REPORTS_TABLE: reports[reports["submitted_at"] < decided]},
        settings=settings,
        personal=personal,
    )
    without_late = build_process_features(earlier_only, ocids=[ocid]).iloc[0]
    assert (without_late[FEEDBACK_FEATURES] == batch[FEEDBACK_FEATURES]).all()

    vectorised = feedback_features(
        pd.DataFrame(
            {"ocid": [ocid], "supplier_ids": [batch["supplier_ids"]], "decision_date": [decided]}
        ),
        reports,
    ).iloc[0]
    for name in FEEDBACK_FEATURES:
        assert batch[name] == pytest.approx(vectorised[name], rel=1e-12, abs=1e-15)


def test_a_later_moment_counts_the_later_report(
    frames: dict[str, pd.DataFrame],
    settings: Settings,
    target: tuple[str, str, pd.Timestamp],
) -> None:
    ocid, supplier, decided = target
    history = ProcurementHistory.from_frames(
        {**frames, REPORTS_TABLE: _reports(ocid, supplier, decided)}, settings=settings
    )
    record = history.record(ocid)
    at_decision = process_features(history, record)
    later = process_features(history, record, decided + pd.Timedelta(days=2))
    assert later[PROCESS_REPORTS] > at_decision[PROCESS_REPORTS]
    assert later[INTEGRITY] > at_decision[INTEGRITY]
