"""The procurement-risk model's PR-AUC with and without the members' report features.

Same rows, same split (``training.procurement_risk.default_split``: the last three full
months test), same learner and parameters (``TrainingOptions``); the only difference is the
``features.procurement.feedback`` columns, each as of the process's decision date. The world
folder is ingested into a fresh unencrypted store under ``--work`` with throwaway keys (a
measurement, not an installation). PR-AUC is over the audited test processes, with several
seeds of the booster averaged (its bagging is seeded).

    python -m training.feedback.risk_ablation --world data/world --out bench/feedback_risk.json

The report features are not in the registered risk model (``training.procurement_risk``)
yet: this measures what they would add before anyone changes the champion's inputs.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.security import PersonalData
from core.settings import Keyring, Settings
from features.procurement.feedback import FEEDBACK_FEATURES, PROCESS_REPORTS, feedback_features
from features.procurement.specs import CATEGORICAL_FEATURES, FEATURES
from ingest.run import ingest_world
from models.procurement.alerts import DECISION_DATE
from models.procurement.encoding import FeatureEncoder
from store.database import Store
from store.queries.feedback import linked_reports
from training.metrics.procurement import pr_auc
from training.procurement_risk import (
    LABEL,
    TrainingOptions,
    attach_labels,
    build_feature_frame,
    default_split,
    read_audit_outcomes,
    training_categories,
)
from training.procurement_risk.fit import local_booster

SEEDS = (0, 1, 2, 3, 4)


def _throwaway_keyring() -> Keyring:
    return Keyring(
        pseudonym_key=os.urandom(32),
        field_keys={"k1": os.urandom(32)},
        active_field_key_id="k1",
        store_key=base64.b64encode(os.urandom(32)).decode(),
        token_signing_key=os.urandom(32),
    )


def labelled_frame(world: Path, work: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The risk model's feature frame of ``world`` with labels and parts, and the reports
    linked to a process or supplier."""
    with Store(work / "ablation.duckdb", encryption_key=None) as store:
        store.ensure_schema()
        ingest_world(store, PersonalData(_throwaway_keyring()), world)
        frame = build_feature_frame(store, Settings(environment="test"))
        outcomes = read_audit_outcomes(store)
        reports = linked_reports(store.connection)
    labelled = attach_labels(
        frame, outcomes, default_split(frame[DECISION_DATE]), label_cutoff=None
    )
    return labelled, reports


def test_pr_auc(labelled: pd.DataFrame, feature_names: list[str], seed: int) -> float:
    train = labelled[(labelled["part"] == "train") & labelled[LABEL].notna()]
    test = labelled[(labelled["part"] == "test") & labelled[LABEL].notna()]
    options = TrainingOptions(seed=seed)
    encoder = FeatureEncoder(feature_names=feature_names, categories=training_categories(train))
    params = {**options.lightgbm_params(feature_names), "seed": seed, "bagging_seed": seed}
    booster = local_booster(
        encoder.matrix(train),
        train[LABEL].to_numpy(dtype=float),
        feature_names=feature_names,
        categorical_index=[feature_names.index(c) for c in CATEGORICAL_FEATURES],
        params=params,
        rounds=options.n_estimators,
    )
    return pr_auc(test[LABEL].to_numpy(dtype=int), booster.predict(encoder.matrix(test)))


def ablation(labelled: pd.DataFrame, reports: pd.DataFrame, *, review_days: int) -> dict[str, Any]:
    """PR-AUC without the report features; with them as of the decision date (the model's
    moment: a process's own reports mostly come later, its suppliers' earlier ones count);
    and with them as of ``review_days`` after it (the warning looked at again when its
    reports have come in; every other feature stays as of the decision date)."""
    at_decision = labelled.join(feedback_features(labelled, reports))
    review = labelled.assign(review_at=labelled[DECISION_DATE] + pd.Timedelta(days=review_days))
    at_review = labelled.join(feedback_features(review, reports, as_of="review_at"))
    test = at_decision[(at_decision["part"] == "test") & at_decision[LABEL].notna()]
    test_review = at_review.loc[test.index]
    figures: dict[str, Any] = {
        "test_months": sorted(test[DECISION_DATE].dt.to_period("M").astype(str).unique().tolist()),
        "test_audited": len(test),
        "test_positives": int(test[LABEL].sum()),
        "test_rows_with_supplier_reports": int((test[FEEDBACK_FEATURES].sum(axis=1) > 0).sum()),
        "test_rows_with_own_reports_at_review": int((test_review[PROCESS_REPORTS] > 0).sum()),
        "review_days": review_days,
    }
    variants = (
        ("without_reports", labelled, list(FEATURES)),
        ("with_reports_at_decision", at_decision, [*FEATURES, *FEEDBACK_FEATURES]),
        ("with_reports_at_review", at_review, [*FEATURES, *FEEDBACK_FEATURES]),
    )
    for name, frame, names in variants:
        scores = [test_pr_auc(frame, names, seed) for seed in SEEDS]
        figures[name] = {
            "pr_auc_mean": round(float(np.mean(scores)), 4),
            "pr_auc_by_seed": [round(score, 4) for score in scores],
        }
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.feedback.risk_ablation", description=__doc__
    )
    parser.add_argument(
        "--world", type=Path, required=True, help="a world folder (standard layout)"
    )
    parser.add_argument(
        "--work", type=Path, default=None, help="where the store goes (a temp folder)"
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--review-days", type=int, default=90)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        labelled, reports = labelled_frame(args.world, work)
        figures = ablation(labelled, reports, review_days=args.review_days)
    print(json.dumps(figures, indent=2))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
