"""Train, evaluate and register the report-kind classifier.

Data: the labelled reports (``kind`` is the handler's confirmed kind) as the platform pushes
them (``feedback/reports.csv``, the demo world's by default). Split on ``submitted_at``:
reports before ``--test-from`` train, later ones test; the keyword baseline is scored on the
same test rows. Figures per kind: precision, recall, F1, support; overall accuracy and
macro F1. Gate: the model becomes ``champion`` only when its test macro F1 beats the
baseline's and the current champion's on the same rows (``training.tracking`` conventions).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from core.settings import Settings
from models.feedback.classifier import build_feedback_classifier
from models.feedback.keywords import KeywordClassifier
from models.feedback.pyfunc import (
    ARTIFACT,
    TEXT,
    FeedbackClassifierPyfunc,
    kind_probabilities,
    save_classifier,
)
from store.schema import FEEDBACK_KINDS
from training.tracking import (
    CHALLENGER,
    CHAMPION,
    experiment_id,
    pinned_requirements,
    start_tracking,
)

EXPERIMENT = "feedback-kind"
REGISTERED_MODEL = "feedback-kind"
PIP_PACKAGES = ("scikit-learn", "pandas", "numpy", "mlflow", "joblib")
DEFAULT_TEST_FROM = date(2025, 9, 1)


def per_kind(truth: pd.Series, predicted: Any) -> dict[str, Any]:
    """Precision, recall, F1 and support per kind, accuracy and macro F1 (kinds with no test
    report are left out of the macro average)."""
    kinds = [k for k in FEEDBACK_KINDS if (truth == k).any()]
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=kinds, zero_division=0
    )
    return {
        "accuracy": round(float(accuracy_score(truth, predicted)), 3),
        "macro_f1": round(
            float(f1_score(truth, predicted, labels=kinds, average="macro", zero_division=0)), 3
        ),
        "per_kind": {
            kind: {
                "precision": round(float(precision[i]), 3),
                "recall": round(float(recall[i]), 3),
                "f1": round(float(f1[i]), 3),
                "support": int(support[i]),
            }
            for i, kind in enumerate(kinds)
        },
    }


def read_reports(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = frame[frame["kind"].isin(FEEDBACK_KINDS) & (frame["text"] != "")].copy()
    frame["submitted_at"] = pd.to_datetime(frame["submitted_at"])
    return frame


def evaluate(reports: pd.DataFrame, test_from: date) -> tuple[Any, dict[str, Any], pd.DataFrame]:
    """(fitted classifier, figures, test rows)."""
    cut = pd.Timestamp(test_from)
    train, test = reports[reports["submitted_at"] < cut], reports[reports["submitted_at"] >= cut]
    if train["kind"].nunique() < 2 or test.empty:
        raise SystemExit(
            f"too few labelled reports around {test_from}: {len(train)} train, {len(test)} test"
        )
    classifier = build_feedback_classifier().fit(train["text"].tolist(), train["kind"])
    baseline = KeywordClassifier().fit(train["text"], train["kind"])
    predicted = kind_probabilities(classifier, test["text"].tolist())["kind"].to_numpy()
    figures = {
        "train_reports": len(train),
        "test_reports": len(test),
        "test_from": test_from.isoformat(),
        "model": per_kind(test["kind"], predicted),
        "keyword_baseline": per_kind(test["kind"], baseline.predict(test["text"].tolist())),
    }
    return classifier, figures, test


def _champion_macro_f1(uri: str, test: pd.DataFrame) -> float | None:
    """The current champion's macro F1 on today's test rows; ``None`` when there is none."""
    import mlflow

    try:
        champion = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}@{CHAMPION}")
    except Exception:
        return None
    predicted = champion.predict(pd.DataFrame({TEXT: test["text"].tolist()}))["kind"]
    return float(per_kind(test["kind"], predicted.to_numpy())["macro_f1"])


def register(
    classifier: Any,
    figures: dict[str, Any],
    test: pd.DataFrame,
    settings: Settings,
    tracking_uri: str | None,
) -> dict[str, Any]:
    """Log the run and the pyfunc, register a version as ``challenger`` and move ``champion``
    to it when it passes the gate. Returns the gate's figures."""
    import mlflow

    uri, client = start_tracking(settings, tracking_uri)
    mlflow.set_registry_uri(uri)
    model_f1 = figures["model"]["macro_f1"]
    baseline_f1 = figures["keyword_baseline"]["macro_f1"]
    champion_f1 = _champion_macro_f1(uri, test)
    with mlflow.start_run(experiment_id=experiment_id(EXPERIMENT, uri)) as run:
        mlflow.log_params(
            {"test_from": figures["test_from"], "train_reports": figures["train_reports"]}
        )
        mlflow.log_metrics(
            {
                "test_macro_f1": model_f1,
                "test_accuracy": figures["model"]["accuracy"],
                "baseline_macro_f1": baseline_f1,
            }
        )
        mlflow.log_dict(figures, "figures.json")
        with tempfile.TemporaryDirectory() as folder:
            path = save_classifier(classifier, Path(folder))
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=FeedbackClassifierPyfunc(),
                artifacts={ARTIFACT: str(path)},
                pip_requirements=pinned_requirements(PIP_PACKAGES),
                input_example=pd.DataFrame({TEXT: ["锚杆到货晚了十天"]}),
            )
        version = mlflow.register_model(info.model_uri, REGISTERED_MODEL)
        client.set_registered_model_alias(REGISTERED_MODEL, CHALLENGER, version.version)
        passed = model_f1 > baseline_f1 and (champion_f1 is None or model_f1 > champion_f1)
        if passed:
            client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION, version.version)
    return {
        "run_id": run.info.run_id,
        "version": str(version.version),
        "champion_macro_f1_before": champion_f1,
        "promoted": passed,
    }


def _table(figures: dict[str, Any]) -> str:
    lines = ["kind                 model P/R/F1          keywords P/R/F1       support"]
    model, baseline = figures["model"]["per_kind"], figures["keyword_baseline"]["per_kind"]
    for kind, m in model.items():
        b = baseline[kind]
        lines.append(
            f"{kind:<20} {m['precision']:.2f}/{m['recall']:.2f}/{m['f1']:.2f}      "
            f"{b['precision']:.2f}/{b['recall']:.2f}/{b['f1']:.2f}      {m['support']:>7}"
        )
    for name in ("accuracy", "macro_f1"):
        model_value, baseline_value = figures["model"][name], figures["keyword_baseline"][name]
        lines.append(f"{name:<20} {model_value:.3f}{' ' * 15}{baseline_value:.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.feedback", description=__doc__)
    parser.add_argument("--reports", type=Path, required=True, help="feedback/reports.csv")
    parser.add_argument("--test-from", type=date.fromisoformat, default=DEFAULT_TEST_FROM)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--no-register", action="store_true")
    args = parser.parse_args(argv)
    classifier, figures, test = evaluate(read_reports(args.reports), args.test_from)
    if not args.no_register:
        figures["registry"] = register(classifier, figures, test, Settings(), args.tracking_uri)
    counts = (figures["train_reports"], figures["test_reports"], figures["test_from"])
    print("{} train, {} test reports (from {})".format(*counts))
    print(_table(figures))
    if "registry" in figures:
        print(json.dumps(figures["registry"]))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    return 0
