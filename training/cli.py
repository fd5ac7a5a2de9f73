"""What every training command line shares: the installation it works on, one option per field
of the job's options dataclass, the run that trains, registers and gates, and the report files.

A job's ``train`` sub-command is its options dataclass on the command line: each field becomes
``--kebab-case-name`` with the field's type and default (``int``, ``float``, ``str``, ``date``
and ``datetime`` as ISO text, any of them ``| None``, a ``Literal`` as choices, a ``bool``
defaulting to ``False`` as a flag). A field's
``metadata`` may carry the option's help text (``HELP``) or keep the field off the command
line (``COMMAND_LINE: False``, for values only code sets, such as thread counts or cut lists).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
import types
from collections.abc import Callable, Sequence
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import (
    Any,
    ClassVar,
    Literal,
    Protocol,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
    get_type_hints,
)

from core.settings import MissingSecretError, Settings
from store.database import StoreError
from store.snapshot import SnapshotError
from training.tracking import CHALLENGER, CHAMPION, TRACKING_URI_ENV, GateDecision

HELP = "help"
"""Field metadata key: the option's help text."""
COMMAND_LINE = "command_line"
"""Field metadata key: ``False`` keeps the field off the command line (it keeps its default)."""

SCHEDULER_ENV = "LODESTAR_DASK_SCHEDULER"
"""The setting that names the Dask scheduler when ``--scheduler`` is not given."""

INSTALLATION_ERRORS: tuple[type[Exception], ...] = (StoreError, MissingSecretError, SnapshotError)
"""What a run on a broken installation raises: reported as ``error: ...`` with exit code 1."""


class DataclassInstance(Protocol):
    """Any dataclass (what ``dataclasses.fields`` accepts)."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]


OptionsT = TypeVar("OptionsT", bound=DataclassInstance)
OptionsT_contra = TypeVar("OptionsT_contra", bound=DataclassInstance, contravariant=True)
RunT = TypeVar("RunT", bound="TrainedRun")
RunT_co = TypeVar("RunT_co", bound="TrainedRun", covariant=True)


class TrainedRun(Protocol):
    """What every job's ``train`` returns: the MLflow run, the registered version, the gate."""

    @property
    def run_id(self) -> str: ...

    @property
    def model_version(self) -> str: ...

    @property
    def gate(self) -> GateDecision: ...


class TrainJob(Protocol[OptionsT_contra, RunT_co]):
    """A job's ``train(settings, options, *, tracking_uri=None, quiet=False, snapshot=None)``;
    ``snapshot`` is the folder of the store snapshot to train on (None: the newest)."""

    def __call__(
        self,
        settings: Settings,
        options: OptionsT_contra,
        /,
        *,
        tracking_uri: str | None = ...,
        quiet: bool = ...,
        snapshot: Path | None = ...,
    ) -> RunT_co: ...


class ScheduledTrainJob(Protocol[OptionsT_contra, RunT_co]):
    """A ``TrainJob`` that also takes ``scheduler``: a Dask scheduler address, or None to run
    in this process (``training.distributed``)."""

    def __call__(
        self,
        settings: Settings,
        options: OptionsT_contra,
        /,
        *,
        tracking_uri: str | None = ...,
        quiet: bool = ...,
        snapshot: Path | None = ...,
        scheduler: str | None = ...,
    ) -> RunT_co: ...


def installation_arguments() -> argparse.ArgumentParser:
    """A parent parser: ``--data-dir``, ``--key-file``, ``--tracking-uri``, ``--quiet``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, help="data folder ($LODESTAR_DATA_DIR)")
    common.add_argument("--key-file", type=Path, help="key file ($LODESTAR_KEY_FILE)")
    common.add_argument(
        "--tracking-uri", help=f"MLflow tracking URI (${TRACKING_URI_ENV}, else SQLite in data)"
    )
    common.add_argument("--quiet", action="store_true", help="no progress bars")
    return common


def snapshot_arguments() -> argparse.ArgumentParser:
    """A parent parser: ``--snapshot PATH``, the store snapshot a training job reads."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--snapshot",
        type=Path,
        help="snapshot folder to train on (default: the newest under <data-dir>/snapshots; "
        "if there is none, one is written from the store first)",
    )
    return parent


def scheduler_arguments() -> argparse.ArgumentParser:
    """A parent parser: ``--scheduler ADDRESS``, the Dask scheduler to run on
    (``training.distributed``); without it (and without the setting) the job runs here."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help=f"Dask scheduler, e.g. tcp://host:8786 (${SCHEDULER_ENV}); default: this machine",
    )
    return parent


def scheduler_address(given: str | None) -> str | None:
    """``given`` (``--scheduler``), else ``$LODESTAR_DASK_SCHEDULER``, else None (this machine)."""
    return given or os.environ.get(SCHEDULER_ENV) or None


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the environment, with ``--data-dir`` and ``--key-file`` on top."""
    overrides: dict[str, Any] = {}
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    if args.key_file:
        overrides["key_file"] = args.key_file
    return Settings(**overrides)


# --------------------------------------------------------------------------------------------
# Options dataclass <-> command line


def iso_date(text: str) -> date:
    return date.fromisoformat(text)


def iso_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text)


_PARSERS: dict[Any, Callable[[str], Any]] = {
    int: int,
    float: float,
    str: str,
    date: iso_date,
    datetime: iso_datetime,
}


def option_fields(options_class: type[DataclassInstance]) -> list[dataclasses.Field[Any]]:
    """The fields of ``options_class`` that are command-line options, in declaration order."""
    return [
        field
        for field in dataclasses.fields(options_class)
        if field.metadata.get(COMMAND_LINE, True)
    ]


def option_name(field: dataclasses.Field[Any]) -> str:
    return "--" + field.name.replace("_", "-")


def _argument_type(annotation: Any, name: str) -> dict[str, Any]:
    """``type`` (and ``choices`` for a ``Literal``) for ``add_argument``; ``X | None`` is X."""
    if get_origin(annotation) in (Union, types.UnionType):
        present = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(present) == 1:
            annotation = present[0]
    if get_origin(annotation) is Literal:
        choices = get_args(annotation)
        return {"type": type(choices[0]), "choices": choices}
    if annotation in _PARSERS:
        return {"type": _PARSERS[annotation]}
    raise TypeError(
        f"option {name}: no command-line form for {annotation!r}; "
        f"give the field metadata {{{COMMAND_LINE!r}: False}}"
    )


def add_option_arguments(
    parser: argparse.ArgumentParser, options_class: type[DataclassInstance]
) -> None:
    """One ``--kebab-case`` option per command-line field of ``options_class``, with the
    field's type and default (a field without a default would be a required option)."""
    hints = get_type_hints(options_class)  # ``field.type`` is text under postponed annotations
    for field in option_fields(options_class):
        if hints[field.name] is bool and field.default is False:
            parser.add_argument(
                option_name(field), action="store_true", help=field.metadata.get(HELP)
            )
            continue
        arguments = _argument_type(hints[field.name], field.name)
        if field.default is not dataclasses.MISSING:
            arguments["default"] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            arguments["default"] = field.default_factory()
        else:
            arguments["required"] = True
        parser.add_argument(option_name(field), help=field.metadata.get(HELP), **arguments)


def options_from(args: argparse.Namespace, options_class: type[OptionsT]) -> OptionsT:
    """The options the command line gave (``add_option_arguments`` defined them)."""
    return options_class(**{f.name: getattr(args, f.name) for f in option_fields(options_class)})


# --------------------------------------------------------------------------------------------
# The train sub-command


def training_main(
    argv: Sequence[str] | None,
    options_class: type[OptionsT],
    train: TrainJob[OptionsT, RunT],
    *,
    prog: str,
    description: str | None = None,
    train_help: str = "train, evaluate, register, gate",
    model_name: str,
    errors: tuple[type[Exception], ...],
    report: Callable[[RunT, OptionsT], None],
    scheduled: bool = False,
) -> int:
    """The whole command line of a job whose only sub-command is ``train``: the installation
    arguments and one option per options field, then ``run_training``. ``scheduled``: the
    job's ``train`` is a ``ScheduledTrainJob``, and the command takes ``--scheduler``
    (``scheduler_arguments``; else ``$LODESTAR_DASK_SCHEDULER``)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    commands = parser.add_subparsers(dest="command", required=True)
    parents = [installation_arguments(), snapshot_arguments()]
    if scheduled:
        parents.append(scheduler_arguments())
    fit = commands.add_parser("train", parents=parents, help=train_help)
    add_option_arguments(fit, options_class)
    args = parser.parse_args(argv)
    if scheduled:  # the caller says its ``train`` is a ``ScheduledTrainJob``
        scheduled_train = cast(ScheduledTrainJob[OptionsT, RunT], train)
        train = partial(scheduled_train, scheduler=scheduler_address(args.scheduler))
    return run_training(
        args,
        options_class,
        train,
        model_name=model_name,
        errors=errors,
        report=report,
    )


def run_training(
    args: argparse.Namespace,
    options_class: type[OptionsT],
    train: TrainJob[OptionsT, RunT],
    *,
    model_name: str,
    errors: tuple[type[Exception], ...],
    report: Callable[[RunT, OptionsT], None],
) -> int:
    """Train with the options on the command line; 1 after ``error: ...`` on stderr when
    ``train`` raises one of ``errors`` or ``INSTALLATION_ERRORS``, else 0 after ``report``
    (the job's own lines) and the run's last line: run id, registered version, the gate's
    reason and verdict, wall time."""
    settings = settings_from(args)
    options = options_from(args, options_class)
    started = time.perf_counter()
    try:
        result = train(
            settings,
            options,
            tracking_uri=args.tracking_uri,
            quiet=args.quiet,
            snapshot=getattr(args, "snapshot", None),
        )
    except errors + INSTALLATION_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    report(result, options)
    gate = result.gate
    verdict = f"promoted to {CHAMPION}" if gate.promoted else f"stays {CHALLENGER}"
    print(
        f"\nrun {result.run_id}: {model_name} v{result.model_version} {gate.reason}; "
        f"{verdict} ({time.perf_counter() - started:.1f} s)"
    )
    return 0


def say(text: str, *, quiet: bool) -> None:
    """A progress line on stderr (stdout keeps the results), unless ``quiet``."""
    if not quiet:
        print(text, file=sys.stderr)


# --------------------------------------------------------------------------------------------
# Reports of the evaluation jobs (``training.studies.armenia``, ``training.collusion``)


def write_report(out: Path, stem: str, markdown: str, report: dict[str, Any]) -> tuple[Path, Path]:
    """``<out>/<stem>.md`` and ``<out>/<stem>.json`` (NaN as null: strict JSON), ``out``
    created if missing; returns the two paths."""
    out.mkdir(parents=True, exist_ok=True)
    markdown_path, json_path = out / f"{stem}.md", out / f"{stem}.json"
    markdown_path.write_text(markdown, encoding="utf-8")
    json_path.write_text(
        json.dumps(_without_nan(report), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return markdown_path, json_path


def _without_nan(value: Any) -> Any:
    """NaN (an undefined metric) becomes None, in nested dicts and lists too."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _without_nan(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nan(item) for item in value]
    return value
