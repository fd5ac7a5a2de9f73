"""The shared training command line: options dataclasses through argparse and back, and each
job's ``main`` (parsing, exit codes, the final gate line) around a stand-in ``train``."""

from __future__ import annotations

import argparse
import dataclasses
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pandas as pd
import pytest

from store.database import StoreError
from training import mastery, procurement_risk, recommender, supplier_esg
from training.cli import (
    COMMAND_LINE,
    HELP,
    DataclassInstance,
    add_option_arguments,
    option_fields,
    options_from,
)
from training.procurement_risk import TimeSplit
from training.procurement_risk import cli as procurement_risk_cli
from training.tracking import GateDecision

# Per options class: the fields kept off the command line, and options that differ from the
# defaults in every command-line field.
OPTIONS_CASES: dict[str, tuple[type[Any], set[str], Any]] = {
    "procurement_risk": (
        procurement_risk.TrainingOptions,
        {"num_threads"},
        procurement_risk.TrainingOptions(
            review_capacity=0.05,
            n_estimators=50,
            num_leaves=15,
            learning_rate=0.2,
            min_data_in_leaf=5,
            calibration="isotonic",
            train_end=date(2025, 6, 1),
            calibration_end=date(2025, 7, 1),
            label_cutoff=date(2025, 9, 30),
            min_improvement=0.01,
            seed=3,
        ),
    ),
    "supplier_esg": (
        supplier_esg.TrainingOptions,
        {"train_cuts", "calibration_cut", "test_cut", "num_threads"},
        supplier_esg.TrainingOptions(
            n_estimators=40,
            num_leaves=5,
            learning_rate=0.1,
            min_data_in_leaf=4,
            min_improvement=0.01,
            seed=2,
        ),
    ),
    "mastery": (
        mastery.TrainingOptions,
        set(),
        mastery.TrainingOptions(
            test_months=2,
            n_estimators=40,
            num_leaves=7,
            learning_rate=0.1,
            min_improvement=0.005,
            seed=1,
            max_training_rows=50_000,
            max_study_answers=30_000,
            store_write=True,
        ),
    ),
    "recommender": (
        recommender.RecommenderOptions,
        set(),
        recommender.RecommenderOptions(
            cut=datetime(2025, 12, 1),
            train_months=2,
            baseline_days=60,
            learning_weight=0.25,
            n_estimators=20,
            sim_weeks=0,
            sim_members=30,
            max_training_members=100,
            eval_members=50,
            min_improvement=0.01,
            seed=4,
        ),
    ),
}


def _command_line(options: Any, hidden: set[str]) -> list[str]:
    """``--name=value`` for every command-line field, as a user would type it (a true flag
    as ``--name`` alone)."""
    argv = []
    for f in dataclasses.fields(options):
        if f.name not in hidden:
            value = getattr(options, f.name)
            name = f"--{f.name.replace('_', '-')}"
            if isinstance(value, bool):
                argv += [name] if value else []
                continue
            text = value.isoformat() if isinstance(value, date) else str(value)
            argv.append(f"{name}={text}")
    return argv


def _parser(options_class: type[DataclassInstance]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_option_arguments(parser, options_class)
    return parser


def _refuses(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(argv)
    assert exit_info.value.code == 2


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    return {s for action in parser._actions for s in action.option_strings} - {"-h", "--help"}


@pytest.mark.parametrize("job", list(OPTIONS_CASES))
def test_every_field_is_an_option_with_the_dataclass_default(job: str) -> None:
    options_class, hidden, _ = OPTIONS_CASES[job]
    parser = _parser(options_class)
    names = {f.name for f in dataclasses.fields(options_class)}
    assert {f.name for f in option_fields(options_class)} == names - hidden
    assert _option_strings(parser) == {"--" + n.replace("_", "-") for n in names - hidden}
    assert options_from(parser.parse_args([]), options_class) == options_class()


@pytest.mark.parametrize("job", list(OPTIONS_CASES))
def test_values_on_the_command_line_arrive_typed(job: str) -> None:
    options_class, hidden, expected = OPTIONS_CASES[job]
    argv = _command_line(expected, hidden)
    built = options_from(_parser(options_class).parse_args(argv), options_class)
    assert built == expected
    defaults = options_class()
    for f in option_fields(options_class):
        value = getattr(built, f.name)
        assert value != getattr(defaults, f.name), f"{job}: the case leaves {f.name} at default"
        assert type(value) is type(getattr(expected, f.name)), f.name


def test_dates_are_iso_text() -> None:
    parser = _parser(recommender.RecommenderOptions)
    built = options_from(parser.parse_args(["--cut", "2025-11-01"]), recommender.RecommenderOptions)
    assert built.cut == datetime(2025, 11, 1)
    built = options_from(parser.parse_args([]), recommender.RecommenderOptions)
    assert built.cut is None


def test_hidden_fields_keep_their_defaults_and_are_not_options() -> None:
    parser = _parser(supplier_esg.TrainingOptions)
    built = options_from(parser.parse_args([]), supplier_esg.TrainingOptions)
    assert built.train_cuts == supplier_esg.TRAIN_CUTS
    assert built.num_threads == 1
    _refuses(parser, ["--num-threads=4"])


def test_literal_fields_are_choices_and_bad_values_are_refused() -> None:
    parser = _parser(procurement_risk.TrainingOptions)
    for argv in (["--calibration=beta"], ["--train-end=June"], ["--n-estimators=1.5"]):
        _refuses(parser, argv)


@dataclass(frozen=True)
class _Example:
    size: int
    label: str | None = field(default=None, metadata={HELP: "what the run is called"})
    weights: list[float] = field(default_factory=lambda: [0.5], metadata={COMMAND_LINE: False})
    mode: Literal["fast", "slow"] = "fast"


def test_help_required_fields_and_unsupported_types() -> None:
    parser = _parser(_Example)
    helps = {a.option_strings[0]: a.help for a in parser._actions if a.option_strings}
    assert helps["--label"] == "what the run is called"
    _refuses(parser, [])  # --size has no default: required
    built = options_from(parser.parse_args(["--size=3", "--mode=slow"]), _Example)
    assert built == _Example(size=3, label=None, weights=[0.5], mode="slow")

    @dataclass
    class Unsupported:
        weights: list[float] = field(default_factory=list)

    with pytest.raises(TypeError, match="weights"):
        add_option_arguments(argparse.ArgumentParser(), Unsupported)


# --------------------------------------------------------------------------------------------
# Each job's main


MAINS: dict[str, ModuleType] = {
    "procurement_risk": procurement_risk,
    "supplier_esg": supplier_esg,
    "mastery": mastery,
    "recommender": recommender,
}
TRAIN_LOOKUP: dict[str, ModuleType] = {"procurement_risk": procurement_risk_cli}
"""Where a job's ``main`` finds its ``train``, when that is not the job's own module."""


@pytest.mark.parametrize("job", list(MAINS))
def test_main_rejects_an_unknown_option(job: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        MAINS[job].main(["train", "--no-such-option", "1"])
    assert exit_info.value.code == 2
    assert "--no-such-option" in capsys.readouterr().err


@pytest.mark.parametrize("job", list(MAINS))
def test_main_needs_a_sub_command(job: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        MAINS[job].main([])
    assert exit_info.value.code == 2


def test_procurement_score_keeps_its_own_options() -> None:
    with pytest.raises(SystemExit) as exit_info:
        procurement_risk.main(["score", "--n-estimators", "5"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        procurement_risk.main(["train", "--train-end", "2025-06-01"])
    assert exit_info.value.code == 2  # --calibration-end goes with it


def test_procurement_takes_a_scheduler_from_the_option_or_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[Any] = []

    def refused_score(settings: Any, **given: Any) -> Any:
        seen.append(given["scheduler"])
        raise procurement_risk.ScoringError("only the scheduler is looked at")

    monkeypatch.setattr("training.procurement_risk.cli.score", refused_score)
    monkeypatch.setenv("LODESTAR_DASK_SCHEDULER", "tcp://from-setting:8786")
    assert procurement_risk.main(["score", "--scheduler", "tcp://given:8786"]) == 1
    assert procurement_risk.main(["score"]) == 1
    monkeypatch.delenv("LODESTAR_DASK_SCHEDULER")
    assert procurement_risk.main(["score"]) == 1
    assert seen == ["tcp://given:8786", "tcp://from-setting:8786", None]


@pytest.mark.parametrize("job", ["supplier_esg", "mastery", "recommender"])
def test_train_takes_a_scheduler_from_the_option_or_the_setting(
    job: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = MAINS[job]
    seen: list[Any] = []

    def refused_train(settings: Any, options: Any, **given: Any) -> Any:
        seen.append(given["scheduler"])
        raise module.TrainingError("only the scheduler is looked at")

    monkeypatch.setattr(module, "train", refused_train)
    monkeypatch.setenv("LODESTAR_DASK_SCHEDULER", "tcp://from-setting:8786")
    installation = ["--data-dir", str(tmp_path)]
    assert module.main(["train", *installation, "--scheduler", "tcp://given:8786"]) == 1
    assert module.main(["train", *installation]) == 1
    monkeypatch.delenv("LODESTAR_DASK_SCHEDULER")
    assert module.main(["train", *installation]) == 1
    assert seen == ["tcp://given:8786", "tcp://from-setting:8786", None]


SCHEDULED_JOBS = frozenset({"procurement_risk", "supplier_esg", "mastery", "recommender"})
"""The jobs whose ``train`` takes ``scheduler`` (``training.distributed``,
``training.distributed_learning``): every key of ``MAINS``."""

GATE = GateDecision(True, "no champion yet", 0.8)


def _result(job: str) -> Any:
    """A ``TrainResult`` of the job, as its ``train`` would return it."""
    if job == "procurement_risk":
        metrics = {
            "model.brier": 0.1,
            "model.brier_uncalibrated": 0.2,
            "model.alert_share_orange_or_above": 0.03,
        }
        split = TimeSplit(date(2025, 9, 1), date(2025, 10, 1))
        return procurement_risk.TrainResult("r1", "3", GATE, metrics, "summary", split, "f" * 64)
    if job == "supplier_esg":
        return supplier_esg.TrainResult("r1", "3", GATE, {}, "summary", "f" * 64)
    if job == "mastery":
        return mastery.TrainResult(
            "r1", "3", GATE, {"time.model.auc": 0.75}, pd.Timestamp(2025, 10, 1), pd.DataFrame()
        )
    return recommender.TrainResult("r1", "3", GATE, {"gain.model.mean_gain": 0.01}, "summary")


@pytest.mark.parametrize("job", list(MAINS))
def test_main_trains_with_the_options_and_ends_with_the_gate(
    job: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = MAINS[job]
    options_class, hidden, expected = OPTIONS_CASES[job]
    argv = _command_line(expected, hidden)
    calls: list[dict[str, Any]] = []

    def fake_train(
        settings: Any,
        options: Any,
        *,
        tracking_uri: Any,
        quiet: bool,
        snapshot: Any,
        **cluster: Any,
    ) -> Any:
        calls.append(
            {
                "data_dir": settings.data_dir,
                "options": options,
                "uri": tracking_uri,
                "quiet": quiet,
                "snapshot": snapshot,
                **cluster,
            }
        )
        return _result(job)

    monkeypatch.setattr(TRAIN_LOOKUP.get(job, module), "train", fake_train)
    monkeypatch.delenv("LODESTAR_DASK_SCHEDULER", raising=False)
    installation = ["--data-dir", str(tmp_path), "--tracking-uri", "sqlite:///x.db", "--quiet"]
    snapshot = ["--snapshot", str(tmp_path / "snapshots" / "one")]
    assert module.main(["train", *installation, *snapshot, *argv]) == 0
    on_one_machine = {"scheduler": None} if job in SCHEDULED_JOBS else {}
    assert calls == [
        {
            "data_dir": tmp_path,
            "options": expected,
            "uri": "sqlite:///x.db",
            "quiet": True,
            "snapshot": tmp_path / "snapshots" / "one",
            **on_one_machine,
        }
    ]
    assert isinstance(calls[0]["options"], options_class)
    out = capsys.readouterr().out
    last = out.rstrip("\n").splitlines()[-1]
    name = module.REGISTERED_MODEL
    assert re.fullmatch(
        rf"run r1: {name} v3 no champion yet; promoted to champion \(\d+\.\d s\)", last
    )
    if job == "procurement_risk":
        assert out.startswith("split: train < 2025-09-01, calibrate < 2025-10-01, ")
    if job == "mastery":
        assert "time.model.auc                   0.7500" in out
    if job == "recommender":
        assert "  gain.model.mean_gain: 0.01000" in out


@pytest.mark.parametrize("job", list(MAINS))
def test_main_reports_a_failed_run_with_exit_code_1(
    job: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = MAINS[job]
    for error in (module.TrainingError("too few labels"), StoreError("store busy")):

        def failing_train(*_: Any, error: Exception = error, **__: Any) -> Any:
            raise error

        monkeypatch.setattr(TRAIN_LOOKUP.get(job, module), "train", failing_train)
        assert module.main(["train", "--data-dir", str(tmp_path), "--quiet"]) == 1
        captured = capsys.readouterr()
        assert captured.err.strip() == f"error: {error}"
        assert captured.out == ""


def test_stays_challenger_when_not_promoted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gate = GateDecision(False, "challenger AUC 0.7000 does not beat champion v2 0.7100", 0.7)
    result = dataclasses.replace(_result("mastery"), gate=gate)
    monkeypatch.setattr(mastery, "train", lambda *_, **__: result)
    assert mastery.main(["train", "--data-dir", str(tmp_path)]) == 0
    last = capsys.readouterr().out.rstrip("\n").splitlines()[-1]
    assert last.startswith(f"run r1: mastery v3 {gate.reason}; stays challenger (")
