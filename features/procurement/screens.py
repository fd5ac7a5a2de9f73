"""Classic bid-rigging screens: statistics of the distribution of the bids in one tender.

Collusion leaves marks on the bids of a tender: cover bids are placed close together above the
designated winner (low variance, a gap between the winner and the rest), and the cartel price
sits high against the buyer's own estimate. The screens below are those of Imhof, Karagök and
Rutz (2018), Huber and Imhof (2019) and García Rodríguez et al. (2022). Every one is computed
per tender from the prices alone and is invariant to the currency and to scaling every bid
of a tender. ``bid_screens`` computes them for every tender of a bid-level frame at once
(vectorised, no Python loop per tender); ``tender_screens`` for one tender in plain Python (the
feature builder's online path). The two agree to about 1e-9 relative
(``tests/procurement/test_features.py`` checks every tender of the demo world), not to the
last bit, which is why the data-set path is not simply a loop over the one-tender path: that
would move the collusion figures the README quotes.

Notation, for one tender with ``n`` bids sorted ascending ``b_1 ≤ b_2 ≤ … ≤ b_n``: the winning
bid is the lowest, ``b_1`` (lowest-price award, as in the data these screens come from);
the losing bids are ``b_2 … b_n``; ``mean`` and ``s`` are the mean and the *sample* standard
deviation (divisor ``n − 1``) of all bids; ``m_k = Σ (b_i − mean)^k / n`` are the central
moments.

| column | formula | needs |
| --- | --- | --- |
| ``bid_count`` | ``n`` | 1 |
| ``bid_cv`` | ``s / mean`` | 2 |
| ``bid_spread`` | ``(b_n − b_1) / b_1`` | 2 |
| ``two_lowest_pct_diff`` | ``(b_2 − b_1) / b_1`` | 2 |
| ``bid_skewness`` | ``G1 = √(n(n−1)) / (n−2) · m_3 / m_2^{3/2}`` | 3 |
| ``bid_kurtosis`` | ``G2 = (n−1) / ((n−2)(n−3)) · ((n+1) m_4 / m_2² − 3(n−1))`` | 4 |
| ``relative_distance`` | ``(b_2 − b_1) / s_losing``, ``s_losing`` = sample std of ``b_2…b_n`` | 3 |
| ``normalised_distance`` | ``(b_2 − b_1) / ((b_n − b_1) / (n − 1))`` | 3 |
| ``alternative_distance`` | ``(b_2 − b_1) / ((b_n − b_2) / (n − 2))`` | 3 |
| ``ks_uniform_distance`` | ``max_i max(i/n − u_i, u_i − (i−1)/n)``, ``u_i`` as below | 2 |
| ``winner_to_estimate_ratio`` | ``b_1 / estimate`` (only with ``estimate_col``) | 1 |
| ``mean_bid_to_estimate_ratio`` | ``mean / estimate`` (only with ``estimate_col``) | 1 |

where ``u_i = (b_i − b_1) / (b_n − b_1)`` places each bid on ``[0, 1]``.

Estimators and why: ``bid_skewness`` and ``bid_kurtosis`` are the adjusted Fisher–Pearson
estimators G1 and G2 (excess kurtosis; pandas' ``skew``/``kurt``, scipy's ``bias=False``);
they reproduce the stored SKEW and KURT of the Swiss and Brazilian data of García Rodríguez et
al. exactly, where the biased ``m_3 / m_2^{3/2}`` does not. ``bid_cv`` with the sample standard
deviation reproduces the stored CV (the population one does not). ``ks_uniform_distance`` is the
one-sample Kolmogorov–Smirnov statistic of the bids against the uniform distribution on
``[b_1, b_n]`` (``scipy.stats.kstest(bids, "uniform", args=(b_1, b_n − b_1))``), which reproduces
the stored KSTEST. ``relative_distance`` is Imhof et al.'s RD with the sample standard deviation
of the losing bids; ``normalised_distance`` divides the gap by the mean gap between adjacent
bids (Huber and Imhof's RDNOR), ``alternative_distance`` by the mean gap between adjacent
losing bids (their RDALT). Both equal 1 when bids are evenly spaced; a cover-bidding cartel
pushes them up (a gap below a tight cluster of cover bids).

Why the stored RD column of the García Rodríguez et al. files is not used: it cannot be the
RD defined above. In the Swiss file it is negative for 40 % of the tenders (``b_2 − b_1 ≥ 0`` and
``s_losing ≥ 0`` make RD ≥ 0), non-zero for single-bid tenders (which have no second bid), and
it matches RD (sample or population standard deviation of the losing bids) in fewer than 0.1 %
of the Swiss and 1 % of the Brazilian tenders. It was evidently computed from something other
than the sorted bids of its own tender, so the screen is recomputed here.

Tenders with fewer bids than a screen needs (the "needs" column; ``SCREEN_MIN_BIDS``) get NaN
for it, and so does a screen whose denominator is zero: ``bid_skewness``, ``bid_kurtosis`` and
``ks_uniform_distance`` when all bids are equal, ``relative_distance`` when the losing bids are
all equal, ``normalised_distance`` and ``alternative_distance`` when their mean gap is zero, the
estimate ratios when the estimate is missing or not positive. (The stored columns of the
García Rodríguez et al. files hold 0 in those places instead; 0 would claim "perfectly
symmetric" or "no gap" where nothing can be said.) With two bids ``ks_uniform_distance`` is
always 0.5 and carries no information; it is kept for agreement with the literature.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

BID_COUNT = "bid_count"
BID_CV = "bid_cv"
BID_SPREAD = "bid_spread"
TWO_LOWEST_PCT_DIFF = "two_lowest_pct_diff"
BID_SKEWNESS = "bid_skewness"
BID_KURTOSIS = "bid_kurtosis"
RELATIVE_DISTANCE = "relative_distance"
NORMALISED_DISTANCE = "normalised_distance"
ALTERNATIVE_DISTANCE = "alternative_distance"
KS_UNIFORM_DISTANCE = "ks_uniform_distance"
WINNER_TO_ESTIMATE_RATIO = "winner_to_estimate_ratio"
MEAN_BID_TO_ESTIMATE_RATIO = "mean_bid_to_estimate_ratio"

SCREEN_MIN_BIDS: dict[str, int] = {
    BID_COUNT: 1,
    BID_CV: 2,
    BID_SPREAD: 2,
    TWO_LOWEST_PCT_DIFF: 2,
    BID_SKEWNESS: 3,
    BID_KURTOSIS: 4,
    RELATIVE_DISTANCE: 3,
    NORMALISED_DISTANCE: 3,
    ALTERNATIVE_DISTANCE: 3,
    KS_UNIFORM_DISTANCE: 2,
    WINNER_TO_ESTIMATE_RATIO: 1,
    MEAN_BID_TO_ESTIMATE_RATIO: 1,
}
"""The fewest bids a tender needs for each screen to be defined; below it the screen is NaN."""

SCREEN_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    BID_COUNT: ("number of bids in the tender", "本次招标的投标数量"),
    BID_CV: (
        "coefficient of variation of the bids (sample std / mean); low values mean bids are"
        " suspiciously close together",
        "投标价变异系数（样本标准差/均值）；数值偏低说明各家报价异常接近",
    ),
    BID_SPREAD: (
        "spread of the bids: (highest − lowest) / lowest",
        "报价极差率：（最高价−最低价）/最低价",
    ),
    TWO_LOWEST_PCT_DIFF: (
        "gap between the two lowest bids as a share of the lowest: (second − lowest) / lowest",
        "最低两家报价差率：（次低价−最低价）/最低价",
    ),
    BID_SKEWNESS: (
        "skewness of the bids (adjusted Fisher–Pearson G1); asymmetry of the bid distribution",
        "报价偏度（调整后的 Fisher–Pearson G1），反映报价分布的不对称程度",
    ),
    BID_KURTOSIS: (
        "excess kurtosis of the bids (adjusted G2); high values mean bids bunched around the"
        " centre with a few outliers",
        "报价超额峰度（调整后的 G2）；数值偏高说明报价集中且伴有个别离群价",
    ),
    RELATIVE_DISTANCE: (
        "gap between the two lowest bids divided by the sample std of the losing bids (RD);"
        " high values suggest cover bids clustered above the winner",
        "最低两家报价差除以未中标报价的样本标准差（RD）；数值偏高提示陪标报价聚集在中标价之上",
    ),
    NORMALISED_DISTANCE: (
        "gap between the two lowest bids divided by the mean gap between adjacent bids (RDNOR)",
        "最低两家报价差除以相邻报价平均间距（RDNOR）",
    ),
    ALTERNATIVE_DISTANCE: (
        "gap between the two lowest bids divided by the mean gap between adjacent losing bids"
        " (RDALT)",
        "最低两家报价差除以未中标报价相邻平均间距（RDALT）",
    ),
    KS_UNIFORM_DISTANCE: (
        "Kolmogorov–Smirnov distance of the bids from a uniform distribution between the lowest"
        " and highest bid; how far the bids are from evenly spaced",
        "报价与最低价至最高价区间均匀分布之间的 Kolmogorov–Smirnov 距离，"
        "衡量报价偏离均匀分布的程度",
    ),
    WINNER_TO_ESTIMATE_RATIO: (
        "winning (lowest) bid divided by the pre-tender estimate",
        "中标价（最低价）与招标控制价（预算）之比",
    ),
    MEAN_BID_TO_ESTIMATE_RATIO: (
        "mean bid divided by the pre-tender estimate",
        "平均报价与招标控制价（预算）之比",
    ),
}
"""Each screen's meaning, in English and Chinese, for reports and reason codes."""


class BidScreenInputError(ValueError):
    """The bids cannot be screened: a column is missing, a price is unusable, or a tender
    carries two different pre-tender estimates."""


def bid_screens(
    frame: pd.DataFrame,
    *,
    tender_col: str,
    price_col: str,
    estimate_col: str | None = None,
) -> pd.DataFrame:
    """Screens per tender from a bid-level frame (one row per bid).

    Returns one row per tender, indexed by the tender identifier (index name ``tender_col``,
    sorted), with the columns of the module table: the ten price screens always, and the two
    estimate ratios only when ``estimate_col`` is given. Prices must be finite and positive;
    the estimate, when given, must be the same on every bid of a tender (missing values are
    allowed and give NaN ratios).
    """
    _check_input(frame, tender_col=tender_col, price_col=price_col, estimate_col=estimate_col)
    bids = pd.DataFrame(
        {
            "tender": frame[tender_col].to_numpy(),
            "price": frame[price_col].to_numpy(dtype=float),
        }
    ).sort_values(["tender", "price"], kind="stable", ignore_index=True)
    by_tender = bids.groupby("tender", sort=True)["price"]
    count = by_tender.size().astype(float)
    mean = by_tender.mean()
    std = by_tender.std(ddof=1)
    lowest = by_tender.min()
    highest = by_tender.max()
    rank = by_tender.cumcount()  # 0 for the lowest bid of each tender
    second = bids.loc[rank == 1].set_index("tender")["price"].reindex(count.index)
    losing_std = bids.loc[rank >= 1].groupby("tender")["price"].std(ddof=1).reindex(count.index)

    # Central moments m_k = mean((b - mean)^k); relative deviations keep m_4 of bids in the
    # hundreds of millions well inside float range, and the ratios below do not change.
    relative = bids["price"] / bids["tender"].map(mean) - 1.0
    moments = pd.DataFrame(
        {"m2": relative**2, "m3": relative**3, "m4": relative**4, "tender": bids["tender"]}
    ).groupby("tender", sort=True)
    m2, m3, m4 = (moments[k].mean() for k in ("m2", "m3", "m4"))

    gap = second - lowest
    range_ = highest - lowest
    n = count
    with np.errstate(divide="ignore", invalid="ignore"):
        skewness = np.sqrt(n * (n - 1)) / (n - 2) * m3 / m2**1.5
        kurtosis = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * m4 / m2**2 - 3 * (n - 1))

    position = rank.to_numpy(dtype=float) + 1.0
    n_per_bid = bids["tender"].map(count).to_numpy()
    range_per_bid = bids["tender"].map(range_).to_numpy()
    uniform = (bids["price"].to_numpy() - bids["tender"].map(lowest).to_numpy()) / np.where(
        range_per_bid > 0, range_per_bid, np.nan
    )
    ks_terms = np.maximum(position / n_per_bid - uniform, uniform - (position - 1) / n_per_bid)
    ks = pd.Series(ks_terms).groupby(bids["tender"]).max(skipna=False)

    screens = pd.DataFrame(
        {
            BID_COUNT: count.astype(int),
            BID_CV: std / mean,
            BID_SPREAD: range_ / lowest,
            TWO_LOWEST_PCT_DIFF: gap / lowest,
            BID_SKEWNESS: skewness.where(range_ > 0),
            BID_KURTOSIS: kurtosis.where(range_ > 0),
            RELATIVE_DISTANCE: gap / losing_std.where(losing_std > 0),
            NORMALISED_DISTANCE: gap / (range_ / (n - 1)).where(range_ > 0),
            ALTERNATIVE_DISTANCE: gap / ((highest - second) / (n - 2)).where(highest > second),
            KS_UNIFORM_DISTANCE: ks,
        }
    )
    if estimate_col is not None:
        estimate = (
            pd.Series(frame[estimate_col].to_numpy(dtype=float), index=frame[tender_col].to_numpy())
            .groupby(level=0)
            .first()
            .reindex(count.index)
        )
        estimate = estimate.where(estimate > 0)
        screens[WINNER_TO_ESTIMATE_RATIO] = lowest / estimate
        screens[MEAN_BID_TO_ESTIMATE_RATIO] = mean / estimate

    for column, needed in SCREEN_MIN_BIDS.items():
        if column in screens:
            screens.loc[count < needed, column] = np.nan
    screens.index.name = tender_col
    return screens


def tender_screens(prices: Sequence[float], estimate: float = math.nan) -> dict[str, float]:
    """Every screen of one tender (the module table's columns, in ``SCREEN_MIN_BIDS`` order)
    from its bid prices (positive, finite) and its pre-tender estimate (NaN or not positive:
    the estimate ratios are NaN). Plain Python, for the feature builder's one release at a
    time: a ``bid_screens`` call costs milliseconds whatever its size."""
    bids = sorted(prices)
    n = len(bids)
    screens = dict.fromkeys(SCREEN_MIN_BIDS, math.nan)
    screens[BID_COUNT] = float(n)
    if n == 0:
        return screens
    lowest, highest = bids[0], bids[-1]
    mean = math.fsum(bids) / n
    if estimate > 0:
        screens[WINNER_TO_ESTIMATE_RATIO] = lowest / estimate
        screens[MEAN_BID_TO_ESTIMATE_RATIO] = mean / estimate
    if n >= 2:
        spread = highest - lowest
        gap = bids[1] - lowest
        std = math.sqrt(math.fsum((b - mean) ** 2 for b in bids) / (n - 1))
        screens[BID_CV] = std / mean
        screens[BID_SPREAD] = spread / lowest
        screens[TWO_LOWEST_PCT_DIFF] = gap / lowest
        if spread > 0:
            screens[KS_UNIFORM_DISTANCE] = max(
                max((i + 1) / n - (b - lowest) / spread, (b - lowest) / spread - i / n)
                for i, b in enumerate(bids)
            )
            relative = [b / mean - 1.0 for b in bids]
            m2 = math.fsum(r * r for r in relative) / n
            m3 = math.fsum(r**3 for r in relative) / n
            m4 = math.fsum(r**4 for r in relative) / n
            if n >= SCREEN_MIN_BIDS[BID_SKEWNESS]:
                screens[BID_SKEWNESS] = math.sqrt(n * (n - 1)) / (n - 2) * m3 / m2**1.5
                screens[NORMALISED_DISTANCE] = gap / (spread / (n - 1))
            if n >= SCREEN_MIN_BIDS[BID_KURTOSIS]:
                screens[BID_KURTOSIS] = (
                    (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * m4 / m2**2 - 3 * (n - 1))
                )
        if n >= SCREEN_MIN_BIDS[RELATIVE_DISTANCE]:
            losing = bids[1:]
            losing_mean = math.fsum(losing) / len(losing)
            losing_std = math.sqrt(
                math.fsum((b - losing_mean) ** 2 for b in losing) / (len(losing) - 1)
            )
            if losing_std > 0:
                screens[RELATIVE_DISTANCE] = gap / losing_std
            if highest > bids[1]:
                screens[ALTERNATIVE_DISTANCE] = gap / ((highest - bids[1]) / (n - 2))
    return screens


def _check_input(
    frame: pd.DataFrame, *, tender_col: str, price_col: str, estimate_col: str | None
) -> None:
    needed = [tender_col, price_col] + ([estimate_col] if estimate_col is not None else [])
    missing = [column for column in needed if column not in frame.columns]
    if missing:
        raise BidScreenInputError(f"bid frame lacks column(s) {missing}")
    if frame[tender_col].isna().any():
        raise BidScreenInputError(f"{frame[tender_col].isna().sum()} bid(s) have no {tender_col}")
    prices = pd.to_numeric(frame[price_col], errors="coerce")
    unusable = ~np.isfinite(prices) | (prices <= 0)
    if unusable.any():
        raise BidScreenInputError(
            f"{int(unusable.sum())} bid(s) in {price_col!r} are missing, not numeric, or not"
            " positive; drop or repair them before screening"
        )
    if estimate_col is not None:
        estimates = pd.to_numeric(frame[estimate_col], errors="coerce")
        distinct = estimates.groupby(frame[tender_col].to_numpy()).nunique(dropna=True)
        if (distinct > 1).any():
            raise BidScreenInputError(
                f"{int((distinct > 1).sum())} tender(s) carry more than one {estimate_col!r}"
            )
