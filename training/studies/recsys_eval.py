"""Evaluate the baseline recommenders on any interaction file, e.g. MovieLens.

Usage::

    python -m training.studies.recsys_eval --train TRAIN.csv --test TEST.csv [--k 10] [--out DIR]
        [--min-weight W] [--ease-l2 500]
    python -m training.studies.recsys_eval --split-movielens DIR [--test-share 0.2]
        [--relevant-rating 4] [--k 10] [--out DIR]

Input: CSV with columns ``user, item, timestamp`` and optionally ``weight``. Training: every
training row is an implicit interaction (weights ignored). Test: a user's relevant items are
their test rows with ``weight >= --min-weight`` (all rows when there is no weight column);
items already in the user's training rows are excluded from every list and from the test
set. Scorers: popularity, item-to-item co-occurrence (Jaccard) and EASE (λ = ``--ease-l2``).
The LambdaRank recommender is not run here: its features (mastery gaps, KPs, rosters,
mandatory months) exist only in the domain data; ``python -m training.recommender``
evaluates it there.

``--split-movielens DIR`` reads ``ratings.csv`` (or ``*ratings.csv``) of a MovieLens folder
(``userId, movieId, rating, timestamp``), splits per user by time (the last
``--test-share`` of each user's ratings are the test rows; users with fewer than 5 ratings
stay whole in training), writes ``train.csv`` and ``test.csv`` (``weight`` = rating) into
``--out`` and evaluates with relevance ``rating >= --relevant-rating`` (4 by default).

Protocol difference from the published MovieLens-100k figures (Microsoft Recommenders:
popularity NDCG@10 about 0.25, SAR 0.388, BPR 0.442, EASE about 0.48): those use ML-100k
(943 users, 1,682 films), a random stratified 75/25 split per user, and count every test
rating as relevant; here ml-latest-small (671 users, 9,066 films, sparser), a per-user
*time* split (the future is predicted from the past, which is harder) and only ratings of
4 or more are relevant. Numbers are comparable in kind, not in value.

Writes ``metrics.json`` and ``summary.md`` into ``--out`` when given.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from features.learning.baselines import (
    CooccurrenceRecommender,
    EASERecommender,
    PopularityRecommender,
)
from training.metrics.recsys import ranking_report

USER, ITEM, TIMESTAMP, WEIGHT = "user", "item", "timestamp", "weight"
MIN_RATINGS_TO_SPLIT = 5


class InteractionFileError(ValueError):
    """A file lacks the columns this command needs."""


def read_interactions(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype={USER: str, ITEM: str})
    missing = {USER, ITEM, TIMESTAMP} - set(frame.columns)
    if missing:
        raise InteractionFileError(f"{path} lacks column(s) {sorted(missing)}")
    return frame


def split_by_time(
    ratings: pd.DataFrame, *, test_share: float = 0.2
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per user, the last ``test_share`` of their rows by time (at least one) are test rows;
    users with fewer than ``MIN_RATINGS_TO_SPLIT`` rows stay whole in training."""
    ordered = ratings.sort_values([USER, TIMESTAMP, ITEM], kind="stable").reset_index(drop=True)
    position = ordered.groupby(USER).cumcount()
    size = ordered.groupby(USER)[ITEM].transform("size")
    n_test = (size * test_share).round().clip(lower=1).astype(int)
    is_test = (size >= MIN_RATINGS_TO_SPLIT) & (position >= size - n_test)
    return ordered[~is_test].reset_index(drop=True), ordered[is_test].reset_index(drop=True)


def read_movielens(folder: Path) -> pd.DataFrame:
    candidates = [folder / "ratings.csv", *sorted(folder.glob("*ratings.csv"))]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise InteractionFileError(f"no ratings.csv in {folder}")
    raw = pd.read_csv(path)
    return pd.DataFrame(
        {
            USER: raw["userId"].astype(str),
            ITEM: raw["movieId"].astype(str),
            TIMESTAMP: raw["timestamp"],
            WEIGHT: raw["rating"].astype(float),
        }
    )


def evaluate_files(
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    k: int = 10,
    min_weight: float | None = None,
    ease_l2: float = 500.0,
) -> dict[str, dict[str, float]]:
    """Metrics per scorer (see the module docstring)."""
    if min_weight is not None and WEIGHT in test.columns:
        test = test[test[WEIGHT] >= min_weight]
    seen = train.groupby(USER)[ITEM].agg(set).to_dict()
    relevant: dict[str, set[str]] = {}
    for user, item in zip(test[USER], test[ITEM], strict=True):
        if item not in seen.get(user, set()):
            relevant.setdefault(user, set()).add(item)
    users = sorted(relevant)
    item_users = {str(k): int(v) for k, v in train.groupby(ITEM)[USER].nunique().items()}
    n_users = int(train[USER].nunique())
    catalogue = int(train[ITEM].nunique())
    results: dict[str, dict[str, float]] = {}
    models: dict[str, Any] = {
        "popularity": PopularityRecommender(),
        "cooccurrence": CooccurrenceRecommender(similarity="jaccard"),
        "ease": EASERecommender(l2=ease_l2),
    }
    for name, model in models.items():
        started = time.perf_counter()
        model.fit(train)
        lists = model.recommend(users, k, exclude_seen=True)
        report = ranking_report(
            lists, relevant, k=k, catalogue_size=catalogue, item_users=item_users, n_users=n_users
        )
        report["seconds"] = time.perf_counter() - started
        results[name] = report
    return results


PUBLISHED_ML100K = {"popularity": 0.25, "sar": 0.388, "bpr": 0.442, "ease": 0.48}


def summary(results: dict[str, dict[str, float]], k: int) -> str:
    columns = [f"ndcg@{k}", f"precision@{k}", f"recall@{k}", f"map@{k}", "coverage", "novelty"]
    lines = [
        "| scorer | " + " | ".join(columns) + f" | published ML-100k NDCG@{k} |",
        "| --- |" + " ---: |" * (len(columns) + 1),
    ]
    for name, report in results.items():
        cells = [f"{report[c]:.4f}" if math.isfinite(report[c]) else "–" for c in columns]
        published = PUBLISHED_ML100K.get(name)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {published if published else '–'} |")
    users = int(next(iter(results.values()))["users"]) if results else 0
    lines.append(f"\n{users} test users with at least one relevant item")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.studies.recsys_eval", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--train", type=Path)
    parser.add_argument("--test", type=Path)
    parser.add_argument("--split-movielens", type=Path, metavar="DIR")
    parser.add_argument("--test-share", type=float, default=0.2)
    parser.add_argument("--relevant-rating", type=float, default=4.0)
    parser.add_argument("--min-weight", type=float)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--ease-l2", type=float, default=500.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.split_movielens:
            train, test = split_by_time(
                read_movielens(args.split_movielens), test_share=args.test_share
            )
            min_weight = args.relevant_rating
            if args.out:
                args.out.mkdir(parents=True, exist_ok=True)
                train.to_csv(args.out / "train.csv", index=False)
                test.to_csv(args.out / "test.csv", index=False)
        elif args.train and args.test:
            train, test = read_interactions(args.train), read_interactions(args.test)
            min_weight = args.min_weight
        else:
            parser.error("give --train and --test, or --split-movielens DIR")
    except (InteractionFileError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    results = evaluate_files(train, test, k=args.k, min_weight=min_weight, ease_l2=args.ease_l2)
    text = summary(results, args.k)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "metrics.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
        (args.out / "summary.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    from core.settings import owner_only_files

    with owner_only_files():
        raise SystemExit(main())
