"""pyKT's CSV format → xAPI 1.0.3 statements, or straight to the event frame.

pyKT (the knowledge-tracing toolkit) keeps one row per learner sequence: ``fold, uid,
concepts, responses`` and, when the data set has them, ``questions`` and ``timestamps``; each
is a comma-separated sequence in time order. A multi-concept response lists its concepts
joined by ``_`` (``"12_40"``); ``-1`` pads a sequence (pyKT's padding value) and is dropped.
Other columns (``selectmasks``, ``cidxs``, ...) are ignored.

Each response becomes one ``answered`` statement:

* ``actor``: an Agent with ``account`` ``{homePage: PYKT_HOME, name: "pykt-<uid>"}``;
* ``object.id``: ``<PYKT_HOME>/questions/<question>`` when the row has questions, else
  ``<PYKT_HOME>/concepts/<concept>`` (ASSISTments 2015 has no question ids: the concept is
  the item, as in pyKT);
* ``result``: ``success`` (response 1) and ``score.scaled`` 1.0 or 0.0;
* ``context.extensions[KNOWLEDGE_POINTS_EXTENSION]``: the concept ids, as ``"c<id>"``;
* ``timestamp``: from ``timestamps`` (pyKT stores milliseconds since the epoch) when
  present; else **synthesised**: ``SYNTHETIC_EPOCH`` + ``SYNTHETIC_STEP`` × the response's
  position in the learner's sequence. The synthetic clock keeps each learner's order (all the
  knowledge-tracing features need) but says nothing about real time or about the order
  between learners: "days since last practice" then counts responses, and nothing may compare
  times across learners (the evaluation splits by learner, not by time);
* ``id``: a UUID5 of (uid, position), so converting the same file twice gives the same ids.

``statements_from_pykt`` is the xAPI route; ``features.learning.pykt_events`` skips JSON and
builds the event frame directly from ``read_pykt`` (the fast path for large files).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from ingest.readers.xapi import KNOWLEDGE_POINTS_EXTENSION

PYKT_HOME = "https://pykt.invalid"
ANSWERED_VERB = {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"en-US": "answered"}}
SYNTHETIC_EPOCH = pd.Timestamp("2000-01-01T00:00:00")
SYNTHETIC_STEP = pd.Timedelta(minutes=1)
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, f"{PYKT_HOME}/statements")
PADDING = "-1"


class PyktFormatError(ValueError):
    """A pyKT CSV row is missing a column or its sequences have different lengths."""


def read_pykt(path: Path) -> pd.DataFrame:
    """One row per response: ``uid, fold, position, question, concepts, response, time``.

    ``concepts`` is the raw text (``"12"`` or ``"12_40"``); ``question`` is None without a
    ``questions`` column; ``time`` is a timestamp (given or synthesised, see the module).
    """
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for required in ("uid", "concepts", "responses"):
        if required not in table.columns:
            raise PyktFormatError(f"{path}: no column {required!r}")
    split = {
        name: table[name].str.split(",")
        for name in ("concepts", "responses", "questions", "timestamps")
        if name in table.columns
    }
    lengths = split["responses"].map(len).to_numpy()
    for name, sequences in split.items():
        mismatch = np.flatnonzero(sequences.map(len).to_numpy() != lengths)
        if mismatch.size:
            row = int(mismatch[0]) + 2
            raise PyktFormatError(f"{path}: line {row}: {name} and responses differ in length")
    flat = {name: np.concatenate(sequences.to_numpy()) for name, sequences in split.items()}
    position = np.concatenate([np.arange(n) for n in lengths])
    keep = (flat["responses"] != PADDING) & (flat["concepts"] != PADDING)
    if "questions" in flat:
        keep &= flat["questions"] != PADDING
    responses = flat["responses"][keep]
    if not np.isin(responses, ("0", "1")).all():
        raise PyktFormatError(f"{path}: responses must be 0 or 1")
    if "timestamps" in flat:
        time = pd.to_datetime(flat["timestamps"][keep].astype(np.int64), unit="ms")
    else:
        time = SYNTHETIC_EPOCH + SYNTHETIC_STEP * position[keep]
    return pd.DataFrame(
        {
            "uid": np.repeat(table["uid"].to_numpy(), lengths)[keep],
            "fold": np.repeat(table.get("fold", pd.Series("", index=table.index)), lengths)[keep],
            "position": position[keep],
            "question": flat["questions"][keep] if "questions" in flat else None,
            "concepts": flat["concepts"][keep],
            "response": responses == "1",
            "time": np.asarray(time),
        }
    )


def item_ids(responses: pd.DataFrame) -> np.ndarray:
    """The activity id of each ``read_pykt`` response: its question, else its first concept."""
    if responses["question"].notna().all():
        return np.asarray(PYKT_HOME + "/questions/" + responses["question"].astype(str))
    first_concept = responses["concepts"].str.split("_").str[0]
    return np.asarray(PYKT_HOME + "/concepts/" + first_concept)


def member_name(uid: object) -> str:
    """The xAPI account name of a pyKT learner."""
    return f"pykt-{uid}"


def statements_from_pykt(path: Path) -> Iterator[dict[str, object]]:
    """xAPI 1.0.3 ``answered`` statements, one per response, in file order."""
    responses = read_pykt(path)
    items = item_ids(responses)
    for uid, position, concepts, right, when, item in zip(
        responses["uid"].tolist(),
        responses["position"].tolist(),
        responses["concepts"].tolist(),
        responses["response"].tolist(),
        pd.to_datetime(responses["time"]).tolist(),
        items.tolist(),
        strict=True,
    ):
        yield {
            "id": str(uuid.uuid5(ID_NAMESPACE, f"{uid}/{position}")),
            "version": "1.0.3",
            "actor": {
                "objectType": "Agent",
                "account": {"homePage": PYKT_HOME, "name": member_name(uid)},
            },
            "verb": ANSWERED_VERB,
            "object": {
                "objectType": "Activity",
                "id": item,
                "definition": {"type": "http://adlnet.gov/expapi/activities/question"},
            },
            "result": {"success": bool(right), "score": {"scaled": 1.0 if right else 0.0}},
            "context": {
                "extensions": {KNOWLEDGE_POINTS_EXTENSION: [f"c{c}" for c in concepts.split("_")]}
            },
            "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        }


def write_xapi_jsonl(path: Path, out: Path) -> int:
    """Convert a pyKT CSV to xAPI JSON Lines at ``out``; returns the number of statements."""
    count = 0
    with out.open("wb") as handle:
        for statement in statements_from_pykt(path):
            handle.write(orjson.dumps(statement) + b"\n")
            count += 1
    return count
