"""The collusion command end to end on the published bid files (Brazil, Switzerland)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from training.collusion import CollusionDataError, load_data_set, main

COLLUSION = "procurement/collusion"
BRAZIL = f"{COLLUSION}/DB_Collusion_Brazil_processed.csv"
SWISS = f"{COLLUSION}/DB_Collusion_Switzerland_GR_and_See-Gaster_processed.csv"


def read_report(out: Path) -> dict:
    assert (out / "collusion.md").read_text(encoding="utf-8").startswith("# Bid-rigging")
    return json.loads((out / "collusion.json").read_text(encoding="utf-8"))


def test_brazil(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    assert main(["--data", str(shared_data / BRAZIL), "--out", str(out)]) == 0
    (brazil,) = read_report(out)["data_sets"]
    assert brazil["tenders_used"] == 100  # one of the 101 tenders has two bids
    assert "winner_to_estimate_ratio" in brazil["features"]
    assert brazil["models"]["lightgbm"]["pooled"]["roc_auc"] > 0.75
    assert len(brazil["models"]["lightgbm"]["per_fold"]) == 5
    table = (out / "collusion.md").read_text(encoding="utf-8")
    assert "| LightGBM on the screens |" in table
    assert "lower CV = more suspicious" in table


def test_switzerland(shared_data: Path, tmp_path: Path) -> None:
    """Swiss ROC-AUC from the screens alone is about 0.70 (0.707 with 5 folds), not the 0.75
    first asked for: the label marks every tender a cartel took part in, incomplete cartels
    included, and the stored screens do no better (0.70 without their unreproducible RD).
    The bar here guards against regressions, well above the CV rule (about 0.53)."""
    out = tmp_path / "reports"
    assert main(["--data", str(shared_data / SWISS), "--folds", "3", "--out", str(out)]) == 0
    (swiss,) = read_report(out)["data_sets"]
    models = swiss["models"]
    assert swiss["tenders_used"] == 3812
    assert models["lightgbm"]["pooled"]["roc_auc"] > 0.67
    assert models["lightgbm"]["pooled"]["roc_auc"] > models["cv_rule"]["pooled"]["roc_auc"] + 0.1
    assert "winner_to_estimate_ratio" not in swiss["features"]  # no estimate in the file


def test_mlflow_run_is_logged(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("LODESTAR_MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # the local artifact store lands here, not in the repository
    args = ["--data", str(shared_data / BRAZIL), "--folds", "3", "--out", "reports", "--mlflow"]
    assert main(args) == 0
    mlflow.set_tracking_uri(uri)
    (run,) = mlflow.search_runs(experiment_names=["collusion-screens"], output_format="list")
    assert len(run.data.params["brazil.sha256"]) == 64
    assert 0.5 < run.data.metrics["brazil.lightgbm.roc_auc"] <= 1.0


def test_tender_label_is_the_majority_of_its_bids(tmp_path: Path) -> None:
    bids = pd.DataFrame(
        {
            "Tender": [1, 1, 1, 2, 2, 2, 3, 3, 3, 3],
            "Bid_value": [100.0, 105, 111, 200, 220, 250, 50, 52, 57, 60],
            "Collusive_competitor": [1, 1, 0, 1, 0, 0, 1, 1, 0, 0],
        }
    )
    path = tmp_path / "bids.csv"
    bids.to_csv(path, index=False)
    data = load_data_set(path, min_bids=3)
    assert data.collusive.to_dict() == {1: 1, 2: 0, 3: 0}  # 2 of 4 is not a majority
    bids.drop(columns="Collusive_competitor").to_csv(path, index=False)
    with pytest.raises(CollusionDataError, match="missing column"):
        load_data_set(path, min_bids=3)


def test_bad_arguments_are_refused(shared_data: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--data", str(shared_data / BRAZIL), "--min-bids", "1"])
    with pytest.raises(SystemExit):
        main(["--data", "no-such-file.csv"])


# --------------------------------------------------------------------------------------------
# Transfer across markets: lomo, transfer, train (registration and gate)


def swiss_sample(shared_data: Path, tmp_path: Path, tenders: int = 400) -> Path:
    """The first ``tenders`` Swiss tenders: a second market small enough for a quick test."""
    bids = pd.read_csv(shared_data / SWISS)
    kept = bids[bids["Tender"].isin(bids["Tender"].drop_duplicates().head(tenders))]
    path = tmp_path / "DB_Collusion_SwissSample_processed.csv"
    kept.to_csv(path, index=False)
    return path


def test_lomo_table_holds_every_market_and_model(shared_data: Path, tmp_path: Path) -> None:
    swiss = swiss_sample(shared_data, tmp_path)
    out = tmp_path / "reports"
    args = ["lomo", "--market", str(swiss), "--market", str(shared_data / BRAZIL), "--folds", "2"]
    args += ["--rounds", "20", "--out", str(out)]
    for model in ("lightgbm_baseline", "consistent_logistic", "cv_rule"):
        args += ["--model", model]
    assert main(args) == 0
    report = json.loads((out / "collusion_lomo.json").read_text(encoding="utf-8"))
    lomo = report["leave_one_market_out"]
    assert set(lomo) == {"SwissSample", "Brazil"}
    for results in lomo.values():
        assert {"lightgbm_baseline", "consistent_logistic", "cv_rule"} <= set(results)
        for metric in ("roc_auc", "pr_auc", "accuracy", "balanced_accuracy"):
            assert 0.0 <= results["lightgbm_baseline"][metric] <= 1.0
    # the CV rule fits nothing: on Brazil it is the same held out as within the market
    brazil = report["within_market_cv"]["Brazil"]["cv_rule"]["roc_auc"]
    assert lomo["Brazil"]["cv_rule"]["roc_auc"] == pytest.approx(brazil)
    assert "| Brazil | LightGBM on today's screens (baseline) |" in (
        out / "collusion_lomo.md"
    ).read_text(encoding="utf-8")


def test_transfer_scores_another_file(shared_data: Path, tmp_path: Path) -> None:
    swiss = swiss_sample(shared_data, tmp_path)
    out = tmp_path / "transfer"
    args = ["transfer", "--train", str(swiss), "--score", str(shared_data / BRAZIL)]
    assert main([*args, "--out", str(out)]) == 0
    result = json.loads((out / "collusion_transfer.json").read_text(encoding="utf-8"))
    assert result["scored"] == "Brazil"
    assert result["tenders"] == 100
    # 400 Swiss tenders alone, scored on Brazil: above chance (0.58), far from the CV rule's 0.90
    assert result["metrics"]["roc_auc"] > 0.5
    scores = pd.read_csv(out / "collusion_transfer_scores.csv")
    assert scores["probability"].between(0, 1).all()
    assert len(scores) == 100


def test_transfer_scores_unlabelled_ocds(tmp_path: Path, shared_data: Path) -> None:
    releases = tmp_path / "releases.jsonl"
    lines = [
        {"ocid": "ocds-x-1", "bids": {"details": [{"value": {"amount": a}} for a in prices]}}
        for prices in ([100, 101, 102, 103], [100, 130, 170])
    ]
    lines[1]["ocid"] = "ocds-x-2"
    releases.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    out = tmp_path / "transfer"
    args = ["transfer", "--train", str(swiss_sample(shared_data, tmp_path))]
    args += ["--train", str(shared_data / BRAZIL), "--score", str(releases), "--out", str(out)]
    assert main(args) == 0
    result = json.loads((out / "collusion_transfer.json").read_text(encoding="utf-8"))
    assert result["tenders"] == 2
    assert "metrics" not in result


def test_train_registers_and_gates_on_lomo(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)
    swiss = swiss_sample(shared_data, tmp_path)
    args = ["train", "--market", str(swiss), "--market", str(shared_data / BRAZIL)]
    args += ["--tracking-uri", uri]
    assert main(args) == 0
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version_by_alias("collusion", "champion")
    assert champion.tags["gate.decision"] == "promoted"
    mlflow.set_tracking_uri(uri)
    loaded = mlflow.pyfunc.load_model("models:/collusion@champion")
    bids = pd.DataFrame(
        {"tender": ["a"] * 4 + ["b"] * 4, "price": [100, 101, 101.5, 102, 100, 120, 135, 160]}
    )
    answer = loaded.predict(bids)
    assert list(answer["tender"]) == ["a", "b"]
    assert answer["probability"].between(0, 1).all()
    # the same configuration again ties the champion's LOMO figure: it stays challenger
    assert main(args) == 0
    second = client.get_model_version_by_alias("collusion", "challenger")
    assert second.tags["gate.decision"] == "not promoted"
