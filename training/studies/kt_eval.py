"""Knowledge tracing on any two files: train on one, predict every response of the other.

Usage::

    python -m training.studies.kt_eval --train FILE --test FILE [--format xapi|pykt] [--out DIR]
        [--n-estimators 300] [--num-leaves 15] [--learning-rate 0.05] [--seed 0]

``--format xapi`` (default): xAPI 1.0.3 statements as JSON Lines (``.gz`` too), read with
``ingest.readers.xapi.read_xapi_statements`` (quarantined lines are counted and reported,
not used); learners are pseudonymised with a throwaway key that lives only for the run.
``--format pykt``: pyKT CSV (``fold, uid, concepts, responses[, questions, timestamps]``),
converted by ``ingest.readers.pykt`` (the direct path to the event frame: the same events
as converting to xAPI and reading them back, tested, without the JSON).

The model (``MasteryModel``) and the PFA logistic baseline (``PfaLogistic``) are fitted on
every response of ``--train`` and predict every response of ``--test`` from that learner's
earlier responses in ``--test`` (the test learners are not in the training file; item and KP
difficulty come from the training file only). ``--out`` receives ``predictions.csv``
(``member_key, timestamp, item_id, kp_id, correct, model, baseline``) and ``metrics.json``
(AUC, log loss, accuracy for both, overall and without each learner's first response).

On pyKT's ASSISTments 2015 split (train on all of ``train_valid.csv``, test on ``test.csv``)
the comparison with pyKT's published numbers holds with these differences: pyKT cuts test
sequences into windows of 200 responses and a new window starts without history, here each
response keeps its whole history (the longest test sequence is 497); pyKT's models predict
from the second response of a sequence on, here the first is predicted too (its AUC is also
reported without first responses, ``*.auc_after_first``); ASSISTments 2015 has one concept
per response, so the concept expansion changes nothing there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from core.security import PersonalData
from core.settings import Keyring
from features.learning.kt_features import (
    CORRECT,
    ITEM,
    KP,
    MEMBER,
    ORDER,
    TIMESTAMP,
    build_events,
    sort_events,
)
from features.learning.pykt_events import events_from_pykt
from ingest.readers.xapi import read_xapi_statements
from models.learning.mastery import MasteryModel, PfaLogistic
from store.schema import STATEMENTS
from training.mastery import binary_metrics


def _throwaway_personal() -> PersonalData:
    return PersonalData(
        Keyring(
            pseudonym_key=os.urandom(32),
            field_keys={"k1": os.urandom(32)},
            active_field_key_id="k1",
            store_key="",
            token_signing_key=os.urandom(32),
        )
    )


def read_events(path: Path, file_format: str, personal: PersonalData) -> tuple[pd.DataFrame, int]:
    """The event frame of one file and the number of quarantined statements."""
    if file_format == "pykt":
        return events_from_pykt(path), 0
    frames, quarantined = [], 0
    for chunk in read_xapi_statements(path, personal):
        chunk.check()
        quarantined += len(chunk.quarantined)
        table = chunk.tables.get(STATEMENTS.name)
        if table is not None and not table.empty:
            frames.append(table)
    if not frames:
        raise ValueError(f"{path}: no usable statements ({quarantined} quarantined)")
    return build_events(pd.concat(frames, ignore_index=True)), quarantined


def evaluate(
    train: pd.DataFrame, test: pd.DataFrame, model: MasteryModel
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Fit the model and the baseline on ``train``, predict ``test``: rows and metrics."""
    model.fit(train)
    baseline = PfaLogistic().fit(train)
    ordered = sort_events(test)
    predicted = model.predict_next(ordered)
    rows = ordered.loc[predicted.index, [MEMBER, TIMESTAMP, ORDER, ITEM, KP, CORRECT]]
    rows = rows.assign(
        model=predicted.to_numpy(),
        baseline=baseline.predict_next(ordered).reindex(predicted.index).to_numpy(),
    )
    labels = rows[CORRECT].to_numpy(dtype=float)
    later = (rows.groupby(MEMBER, sort=False).cumcount() > 0).to_numpy()
    metrics = {"test_responses": float(len(rows)), "test_learners": float(rows[MEMBER].nunique())}
    for name in ("model", "baseline"):
        scores = rows[name].to_numpy()
        metrics.update(binary_metrics(labels, scores, name))
        after = binary_metrics(labels[later], scores[later], name)
        metrics[f"{name}.auc_after_first"] = after[f"{name}.auc"]
    return rows.drop(columns=[ORDER]), metrics


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.studies.kt_eval",
        description="Train knowledge tracing on one file and report AUC on another.",
    )
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--format", choices=["xapi", "pykt"], default="xapi")
    parser.add_argument("--out", type=Path, help="folder for predictions.csv and metrics.json")
    parser.add_argument("--n-estimators", type=int, default=300)
    parser.add_argument("--num-leaves", type=int, default=15)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    personal = _throwaway_personal()
    try:
        train, train_quarantined = read_events(args.train, args.format, personal)
        test, test_quarantined = read_events(args.test, args.format, personal)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    model = MasteryModel(
        n_estimators=args.n_estimators,
        num_leaves=args.num_leaves,
        learning_rate=args.learning_rate,
        seed=args.seed,
    )
    rows, metrics = evaluate(train, test, model)
    metrics.update(
        {
            "train_responses": float((train["kind"] == "response").sum()),
            "train_quarantined": float(train_quarantined),
            "test_quarantined": float(test_quarantined),
            "seconds": time.perf_counter() - started,
        }
    )
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        rows.to_csv(args.out / "predictions.csv", index=False)
        clean = {k: (None if np.isnan(v) else v) for k, v in metrics.items()}
        (args.out / "metrics.json").write_text(json.dumps(clean, indent=2) + "\n")
    for name, value in metrics.items():
        print(f"{name:28} {value:.4f}")
    return 0


if __name__ == "__main__":
    from core.settings import owner_only_files

    with owner_only_files():
        raise SystemExit(main())
