"""Top-k recommendation metrics, as small pure functions.

Every accuracy metric takes one user's ranked list ``recommended`` (item ids, best first) and
the set ``relevant`` of items that user interacted with in the test period, and returns a
number in 0..1; ``mean_over_users`` averages any of them over the users that have at least
one relevant item (a user with nothing relevant has no defined recall or NDCG and is left
out, as in Microsoft Recommenders). Relevance is binary.

Definitions (k cuts the list; ``hits`` are recommended items in ``relevant``):

* precision@k = hits in the top k / k (a list shorter than k still divides by k);
* recall@k = hits in the top k / |relevant|;
* NDCG@k = DCG / IDCG with DCG = Σ 1 / log2(rank + 1) over hits (rank from 1) and IDCG the
  DCG of min(k, |relevant|) hits at the top;
* MAP@k = Σ precision@rank over the ranks of hits / min(k, |relevant|) (the common MAP@k;
  older Recommenders releases divided by |relevant|, which is lower when |relevant| > k).

Beyond accuracy, on all users' lists together:

* catalogue coverage = distinct recommended items / catalogue size;
* novelty = mean self-information −log2(p(item)) of the recommended items, p(item) the share of
  training users who interacted with it (items never seen in training count as seen by one
  user); higher is less obvious;
* intra-list diversity = mean over lists of the mean pairwise Jaccard distance between the
  items' knowledge-point sets (1 = no two items share a KP).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from itertools import combinations

Ranked = Sequence[str]


def precision_at_k(recommended: Ranked, relevant: Collection[str], k: int) -> float:
    top = list(recommended)[:k]
    return sum(item in relevant for item in top) / k


def recall_at_k(recommended: Ranked, relevant: Collection[str], k: int) -> float:
    if not relevant:
        return math.nan
    top = list(recommended)[:k]
    return sum(item in relevant for item in top) / len(relevant)


def ndcg_at_k(recommended: Ranked, relevant: Collection[str], k: int) -> float:
    if not relevant:
        return math.nan
    top = list(recommended)[:k]
    dcg = sum(1.0 / math.log2(rank + 1) for rank, item in enumerate(top, 1) if item in relevant)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(k, len(relevant)) + 1))
    return dcg / ideal


def map_at_k(recommended: Ranked, relevant: Collection[str], k: int) -> float:
    if not relevant:
        return math.nan
    hits, total = 0, 0.0
    for rank, item in enumerate(list(recommended)[:k], 1):
        if item in relevant:
            hits += 1
            total += hits / rank
    return total / min(k, len(relevant))


def mean_over_users(
    metric: Callable[[Ranked, Collection[str], int], float],
    recommendations: Mapping[str, Ranked],
    relevant: Mapping[str, Collection[str]],
    k: int,
) -> float:
    """Mean of ``metric`` over users with at least one relevant item; a user without a list
    counts with an empty list (a miss). NaN when no user has a relevant item."""
    values = [
        metric(recommendations.get(user, []), items, k) for user, items in relevant.items() if items
    ]
    return float(sum(values) / len(values)) if values else math.nan


def standard_error_over_users(
    metric: Callable[[Ranked, Collection[str], int], float],
    recommendations: Mapping[str, Ranked],
    relevant: Mapping[str, Collection[str]],
    k: int,
) -> float:
    """Standard error of ``mean_over_users`` (sample standard deviation over the same users
    / √users): the uncertainty of the mean when the users are a sample of a population.
    NaN with fewer than two users."""
    values = [
        metric(recommendations.get(user, []), items, k) for user, items in relevant.items() if items
    ]
    if len(values) < 2:
        return math.nan
    mean = sum(values) / len(values)
    variance = sum((value - mean) ** 2 for value in values) / (len(values) - 1)
    return math.sqrt(variance / len(values))


def catalogue_coverage(recommendations: Iterable[Ranked], catalogue_size: int) -> float:
    if catalogue_size <= 0:
        return math.nan
    shown = {item for items in recommendations for item in items}
    return len(shown) / catalogue_size


def novelty(
    recommendations: Iterable[Ranked], item_users: Mapping[str, int], n_users: int
) -> float:
    """Mean −log2(users of the item / ``n_users``) over every recommended item (bits)."""
    values = [
        -math.log2(max(item_users.get(item, 0), 1) / n_users)
        for items in recommendations
        for item in items
    ]
    return float(sum(values) / len(values)) if values else math.nan


def jaccard_distance(a: Collection[str], b: Collection[str]) -> float:
    union = set(a) | set(b)
    if not union:
        return 0.0
    return 1.0 - len(set(a) & set(b)) / len(union)


def intra_list_diversity(
    recommendations: Iterable[Ranked], item_kps: Mapping[str, Collection[str]]
) -> float:
    """Mean over lists with two or more items of the mean pairwise KP Jaccard distance."""
    per_list = []
    for items in recommendations:
        pairs = list(combinations(items, 2))
        if pairs:
            distances = [
                jaccard_distance(item_kps.get(a, ()), item_kps.get(b, ())) for a, b in pairs
            ]
            per_list.append(sum(distances) / len(distances))
    return float(sum(per_list) / len(per_list)) if per_list else math.nan


def ranking_report(
    recommendations: Mapping[str, Ranked],
    relevant: Mapping[str, Collection[str]],
    *,
    k: int,
    catalogue_size: int,
    item_users: Mapping[str, int],
    n_users: int,
    item_kps: Mapping[str, Collection[str]] | None = None,
) -> dict[str, float]:
    """All metrics for one recommender, keys ``ndcg@10`` ...; lists are cut at k first.
    ``ndcg@k_se``: the NDCG's standard error over the users (``standard_error_over_users``)."""
    recommendations = {user: list(items)[:k] for user, items in recommendations.items()}
    report = {
        f"ndcg@{k}": mean_over_users(ndcg_at_k, recommendations, relevant, k),
        f"ndcg@{k}_se": standard_error_over_users(ndcg_at_k, recommendations, relevant, k),
        f"precision@{k}": mean_over_users(precision_at_k, recommendations, relevant, k),
        f"recall@{k}": mean_over_users(recall_at_k, recommendations, relevant, k),
        f"map@{k}": mean_over_users(map_at_k, recommendations, relevant, k),
        "coverage": catalogue_coverage(recommendations.values(), catalogue_size),
        "novelty": novelty(recommendations.values(), item_users, n_users),
        "users": float(sum(1 for items in relevant.values() if items)),
    }
    if item_kps is not None:
        report["kp_diversity"] = intra_list_diversity(recommendations.values(), item_kps)
    return report
