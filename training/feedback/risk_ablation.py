"""The procurement-risk model's PR-AUC with and without the members' report features.

Same rows, same split (``training.procurement_risk.default_split``: the last three full
months test), same learner and parameters (``TrainingOptions``); the only difference is the
``features.procurement.feedback`` columns, each as of the process's decision date. The world
folder is ingested into a fresh unencrypted store under ``--work`` with throwaway keys (a
measurement, not an installation). PR-AUC is over the audited test processes, with several
seeds of the booster averaged (its bagging is seeded).

    python -m training.feedback.risk_ablation --world data/world --out bench/feedback_risk.json

Beside the audited labels, four figures say how much any feature could add on these months
(evaluation only: they read the planted truth, ``--truth``, default the world's sibling
``truth``): each variant's PR-AUC against the planted schemes over every test process and
over the audited ones; its mean PR-AUC over the audits drawn again (``redrawn_pr_auc``); and
the ``audit_ceiling``, the PR-AUC on the audited labels of a scorer that knows the planted
truth (the audit confirms only part of the schemes it looks at, at random, so no model can
pass it by more than chance).

The report features are in the registered risk model (``training.procurement_risk`` builds
them into every row); ``without_reports`` drops them from the same frame, so the figures
say what they add.
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
from features.procurement.feedback import (
    FEEDBACK_FEATURES,
    PROCESS_REPORTS,
    SUPPLIER_FEATURE,
    feedback_features,
)
from features.procurement.specs import CATEGORICAL_FEATURES, FEATURES
from ingest.run import ingest_world
from models.procurement.alerts import DECISION_DATE
from models.procurement.encoding import FeatureEncoder
from store.database import Store
from store.queries.feedback import linked_reports
from training.boosting import local_booster
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
from world.layout import TRUTH_PROCESS_SCHEMES

SEEDS = (0, 1, 2, 3, 4)
BASE_FEATURES: list[str] = [name for name in FEATURES if name not in FEEDBACK_FEATURES]
"""The risk model's features without the report features."""
REDRAWS = 200  # audits drawn again per fitted model (``redrawn_pr_auc``)


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


def planted(truth: Path, ocids: pd.Series) -> np.ndarray:
    """1 where the truth folder planted a scheme on the process, else 0 (evaluation only)."""
    schemes = pd.read_csv(truth / TRUTH_PROCESS_SCHEMES, dtype=str)
    return ocids.isin(set(schemes["ocid"])).to_numpy(dtype=int)


def held_out_pr_auc(
    labelled: pd.DataFrame, feature_names: list[str], seed: int, schemed: str | None = None
) -> dict[str, float]:
    """``audited``: PR-AUC on the audited test processes' labels; with ``schemed`` (a column
    of the planted truth), also against it over every test process (``planted_all``) and
    over the audited ones (``planted_audited``: how well the model tells schemes from clean
    processes where the labels are, apart from which schemes the audit happened to confirm)."""
    train = labelled[(labelled["part"] == "train") & labelled[LABEL].notna()]
    every = labelled[labelled["part"] == "test"]
    test = every[every[LABEL].notna()]
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
    on_audited = np.asarray(booster.predict(encoder.matrix(test)))
    scores = {"audited": pr_auc(test[LABEL].to_numpy(dtype=int), on_audited)}
    if schemed is not None:
        on_every = booster.predict(encoder.matrix(every))
        scores["planted_all"] = pr_auc(every[schemed].to_numpy(dtype=int), on_every)
        scores["planted_audited"] = pr_auc(test[schemed].to_numpy(dtype=int), on_audited)
        scores["audited_redrawn"] = redrawn_pr_auc(
            test[schemed].to_numpy(dtype=int), test[LABEL].to_numpy(dtype=int), on_audited
        )
    return scores


def redrawn_pr_auc(
    schemed: np.ndarray, labels: np.ndarray, scores: np.ndarray, *, draws: int = REDRAWS
) -> float:
    """Mean PR-AUC of ``scores`` over audits drawn again: each audited scheme confirmed with
    the share the real labels confirmed, clean processes never (as the world draws them).
    This takes out the luck of which schemes this one draw confirmed; the draws are the same
    for every variant (a fixed seed), so variants are compared on the same labels."""
    confirm_share = float(labels[schemed == 1].mean()) if schemed.any() else 0.0
    rng = np.random.default_rng(0)
    values = []
    for _ in range(draws):
        drawn = (schemed == 1) & (rng.random(len(schemed)) < confirm_share)
        if drawn.any():
            values.append(pr_auc(drawn.astype(int), scores))
    return float(np.mean(values)) if values else float("nan")


SCHEMED = "planted_scheme"


def ablation(
    labelled: pd.DataFrame,
    reports: pd.DataFrame,
    *,
    review_days: int,
    schemed: np.ndarray | None = None,
) -> dict[str, Any]:
    """PR-AUC without the report features; with them as of the decision date (the model's
    moment: a process's own reports mostly come later, its suppliers' earlier ones count);
    and with them as of ``review_days`` after it (the warning looked at again when its
    reports have come in; every other feature stays as of the decision date). ``schemed``
    (the planted truth, one per row of ``labelled``) adds the truth figures."""
    labelled = labelled.drop(columns=[c for c in FEEDBACK_FEATURES if c in labelled.columns])
    if schemed is not None:
        labelled = labelled.assign(**{SCHEMED: schemed})
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
        "test_rows_with_own_reports_at_decision": int((test[PROCESS_REPORTS] > 0).sum()),
        "test_rows_with_own_reports_at_review": int((test_review[PROCESS_REPORTS] > 0).sum()),
        "review_days": review_days,
    }
    if schemed is not None:
        figures["audit_ceiling"] = round(audit_ceiling(test[LABEL], test[SCHEMED]), 4)
        every = at_decision[at_decision["part"] == "test"]
        integrity = every[SUPPLIER_FEATURE["integrity_concern"]] > 0
        for group, rows in (("schemed", every[SCHEMED] == 1), ("clean", every[SCHEMED] == 0)):
            share = float(integrity[rows].mean())
            figures[f"test_{group}_with_supplier_integrity_reports_share"] = round(share, 4)
    variants = (
        ("without_reports", labelled, BASE_FEATURES),
        ("with_reports_at_decision", at_decision, [*BASE_FEATURES, *FEEDBACK_FEATURES]),
        ("with_reports_at_review", at_review, [*BASE_FEATURES, *FEEDBACK_FEATURES]),
    )
    for name, frame, names in variants:
        scores = [
            held_out_pr_auc(frame, names, seed, SCHEMED if schemed is not None else None)
            for seed in SEEDS
        ]
        audited = [score["audited"] for score in scores]
        figures[name] = {
            "pr_auc_mean": round(float(np.mean(audited)), 4),
            "pr_auc_by_seed": [round(score, 4) for score in audited],
        }
        if schemed is not None:
            for truth_figure in ("planted_all", "planted_audited", "audited_redrawn"):
                mean = float(np.mean([score[truth_figure] for score in scores]))
                figures[name][f"pr_auc_{truth_figure}_mean"] = round(mean, 4)
    return figures


def audit_ceiling(labels: pd.Series, schemed: pd.Series) -> float:
    """PR-AUC on the audited labels of a scorer that is 1 on every planted scheme and 0
    elsewhere (ties broken by a fixed random draw, which ``pr_auc`` needs no more than that)."""
    jitter = np.random.default_rng(0).random(len(labels)) * 1e-3
    return pr_auc(labels.to_numpy(dtype=int), schemed.to_numpy(dtype=float) + jitter)


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
    parser.add_argument(
        "--truth",
        type=Path,
        default=None,
        help="the planted truth (default: the world's sibling 'truth'; skipped when absent)",
    )
    args = parser.parse_args(argv)
    truth = args.truth or args.world.parent / "truth"
    with tempfile.TemporaryDirectory() as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        labelled, reports = labelled_frame(args.world, work)
        schemed = (
            planted(truth, labelled["ocid"]) if (truth / TRUTH_PROCESS_SCHEMES).is_file() else None
        )
        figures = ablation(labelled, reports, review_days=args.review_days, schemed=schemed)
    print(json.dumps(figures, indent=2))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
