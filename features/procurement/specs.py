"""Every procurement-risk model feature: its name, meaning in English and Chinese, unit, and the
sentence a reason code is built from.

The features themselves are computed in ``features.procurement.build`` (one function per
family, each next to the names it fills); this module is the catalogue the model, the API and
the reports read. Each ``FeatureSpec`` carries ``sentence_en`` and ``sentence_zh``: templates
with one ``{value:<format>}`` placeholder (Python format specification, e.g. ``{value:.1f}``,
``{value:.0%}``), filled with the feature's value by ``FeatureSpec.sentence``. A SHAP
contribution of ``unit_price_to_category_median_180d`` = 2.3 becomes "unit price is 2.3× the
median of its material category over the 180 days before" / "单价为同类材料前180天中位数的
2.3倍".

``direction_hint`` says how a value relates to risk a priori (the model learns the actual
shape): ``higher_is_riskier``, ``lower_is_riskier``, ``flag`` (1 = the rule fired, riskier),
``either`` (unusual either way) or ``context`` (not a risk signal by itself: it conditions
others).

``IDENTITY_COLUMNS`` are carried with every feature row (to join labels, filter alerts and
split by time) but are never model inputs. ``CATEGORICAL_FEATURES`` are model inputs whose
values are text codes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Direction = Literal["higher_is_riskier", "lower_is_riskier", "flag", "either", "context"]
Language = Literal["en", "zh"]

IDENTITY_COLUMNS: list[str] = ["ocid", "decision_date", "buyer_id", "supplier_ids", "category"]
"""Carried with every row, never model inputs: the process, the date its features are as of
(see ``features.procurement.build``), its buyer, the suppliers of its active awards (sorted
list) and its main material category (classification id)."""

_UNKNOWN = {"en": "unknown", "zh": "未知"}


@dataclass(frozen=True)
class FeatureSpec:
    """One model feature. ``unit`` is a short unit label (``ratio``, ``CNY``, ``days``,
    ``count``, ``0/1``, ``share``, ``log10 CNY``, ``category``)."""

    name: str
    description_en: str
    description_zh: str
    unit: str
    direction_hint: Direction
    sentence_en: str
    sentence_zh: str
    categorical: bool = False

    def sentence(self, value: float | str | None, language: Language = "en") -> str:
        """The reason sentence for ``value`` (missing values read "unknown" / "未知")."""
        template = self.sentence_en if language == "en" else self.sentence_zh
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        if missing:
            description = self.description_en if language == "en" else self.description_zh
            return f"{description}: {_UNKNOWN[language]}"
        return template.format(value=value)


def _spec(
    name: str,
    unit: str,
    direction: Direction,
    description: tuple[str, str],
    sentence: tuple[str, str],
    *,
    categorical: bool = False,
) -> FeatureSpec:
    return FeatureSpec(
        name, description[0], description[1], unit, direction, sentence[0], sentence[1], categorical
    )


_SPECS: tuple[FeatureSpec, ...] = (
    # ----------------------------------------------------------------------- the process itself
    _spec(
        "procurement_method", "category", "context",
        ("OCDS procurement method: open, selective, limited or direct",
         "OCDS 采购方式：公开、邀请、有限竞争或直接（单一来源）"),
        ("procurement method is {value}", "采购方式为 {value}"),
        categorical=True,
    ),
    _spec(
        "material_category", "category", "context",
        ("material category code of the main item (classification id)",
         "主要采购物资的品类编码（分类编号）"),
        ("material category {value}", "物资品类 {value}"),
        categorical=True,
    ),
    _spec(
        "estimate_log10_cny", "log10 CNY", "context",
        ("pre-tender estimate (tender value), log10 of CNY",
         "招标控制价（预算金额）的常用对数（元）"),
        ("pre-tender estimate of 10^{value:.1f} CNY", "招标控制价约为 10^{value:.1f} 元"),
    ),
    _spec(
        "award_to_estimate_ratio", "ratio", "either",
        ("total awarded value divided by the pre-tender estimate",
         "中标（成交）总金额与招标控制价之比"),
        ("awarded value is {value:.2f}× the pre-tender estimate",
         "成交金额为招标控制价的 {value:.2f} 倍"),
    ),
    _spec(
        "tender_period_days", "days", "lower_is_riskier",
        ("days from the tender's start to the bid deadline", "从发布招标文件到投标截止的天数"),
        ("tender period of {value:.0f} days", "招标期为 {value:.0f} 天"),
    ),
    _spec(
        "tender_period_below_legal_minimum", "0/1", "flag",
        ("a tender of 2 million CNY or more with fewer than the 20 days the law requires",
         "200万元及以上的依法招标项目，招标期少于法定的20天"),
        ("tender of 2 million CNY or more open for less than 20 days: {value:.0f} (1 = yes)",
         "200万元以上项目招标期不足20天：{value:.0f}（1为是）"),
    ),
    _spec(
        "is_single_source", "0/1", "context",
        ("the process is a direct (single-source) award", "该项目为单一来源（直接）采购"),
        ("single-source award: {value:.0f} (1 = yes)", "单一来源采购：{value:.0f}（1为是）"),
    ),
    _spec(
        "single_source_above_approval_threshold", "0/1", "flag",
        ("a single-source award at or above the lowest internal approval threshold (50,000 CNY)",
         "单一来源采购金额达到或超过最低内部审批限额（5万元）"),
        ("single-source award above the approval threshold: {value:.0f} (1 = yes)",
         "单一来源采购金额超过审批限额：{value:.0f}（1为是）"),
    ),
    _spec(
        "single_source_above_legal_threshold", "0/1", "flag",
        ("a single-source award at or above the 2 million CNY line where tendering is required",
         "单一来源采购金额达到或超过200万元的依法必须招标限额"),
        ("single-source award above the legal tender line: {value:.0f} (1 = yes)",
         "单一来源采购金额超过依法招标限额：{value:.0f}（1为是）"),
    ),
    _spec(
        "disqualified_bid_share", "share", "higher_is_riskier",
        ("share of the submitted bids that were disqualified", "被否决投标占全部投标的比例"),
        ("{value:.0%} of the bids were disqualified", "{value:.0%} 的投标被否决"),
    ),
    _spec(
        "supplier_known", "0/1", "lower_is_riskier",
        ("every supplier of the process is in the supplier register (0: some supplier is "
         "unknown, and the supplier-history features are missing)",
         "项目的全部供应商均在供应商名录中（0：有未登记供应商，其历史类特征缺失）"),
        ("all suppliers registered: {value:.0f} (0 = an unregistered supplier)",
         "供应商均已登记：{value:.0f}（0为存在未登记供应商）"),
    ),
    # ----------------------------------------------------------------------- Cardinal red flags
    _spec(
        "flag_r003_short_submission_period", "0/1", "flag",
        ("Cardinal R003: submission period shorter than 15 days", "Cardinal R003：投标期短于15天"),
        ("red flag R003, short submission period: {value:.0f} (1 = fired)",
         "红旗 R003 投标期过短：{value:.0f}（1为触发）"),
    ),
    _spec(
        "flag_r018_single_bid", "0/1", "flag",
        ("Cardinal R018: only one tenderer in an open or selective procedure",
         "Cardinal R018：公开或邀请招标仅有一家投标"),
        ("red flag R018, single bid received: {value:.0f} (1 = fired)",
         "红旗 R018 仅收到一份投标：{value:.0f}（1为触发）"),
    ),
    _spec(
        "flag_r024_price_close_to_winning_bid", "0/1", "flag",
        ("Cardinal R024: gap between the winning and the second-lowest valid bid is a low outlier"
         " (fence from processes decided before this day)",
         "Cardinal R024：中标价与次低有效报价的差距异常偏小（离群界限取自当日之前的项目）"),
        ("red flag R024, second bid suspiciously close to the winner: {value:.0f} (1 = fired)",
         "红旗 R024 次低报价与中标价过于接近：{value:.0f}（1为触发）"),
    ),
    _spec(
        "flag_r028_identical_bid_prices", "0/1", "flag",
        ("Cardinal R028: different tenderers bid the same price",
         "Cardinal R028：不同投标人报价完全相同"),
        ("red flag R028, identical bid prices: {value:.0f} (1 = fired)",
         "红旗 R028 投标报价相同：{value:.0f}（1为触发）"),
    ),
    _spec(
        "flag_r030_late_bid_won", "0/1", "flag",
        ("Cardinal R030: the winning bid was received after the deadline",
         "Cardinal R030：中标投标在截止时间之后收到"),
        ("red flag R030, late bid won: {value:.0f} (1 = fired)",
         "红旗 R030 逾期投标中标：{value:.0f}（1为触发）"),
    ),
    _spec(
        "flag_r035_all_except_winner_disqualified", "0/1", "flag",
        ("Cardinal R035: every bid but the winner's was disqualified",
         "Cardinal R035：除中标人外其他投标均被否决"),
        ("red flag R035, all bids but the winner's disqualified: {value:.0f} (1 = fired)",
         "红旗 R035 除中标人外投标均被否决：{value:.0f}（1为触发）"),
    ),
    _spec(
        "flag_r036_lowest_bid_disqualified", "0/1", "flag",
        ("Cardinal R036: the lowest bid was disqualified", "Cardinal R036：报价最低的投标被否决"),
        ("red flag R036, lowest bid disqualified: {value:.0f} (1 = fired)",
         "红旗 R036 最低价投标被否决：{value:.0f}（1为触发）"),
    ),
    _spec(
        "flag_r058_heavily_discounted_bid", "0/1", "flag",
        ("Cardinal R058: gap between the winning and the second-lowest valid bid is a high "
         "outlier (fence from processes decided before this day)",
         "Cardinal R058：中标价与次低有效报价的差距异常偏大（离群界限取自当日之前的项目）"),
        ("red flag R058, heavily discounted winning bid: {value:.0f} (1 = fired)",
         "红旗 R058 中标价大幅低于其他报价：{value:.0f}（1为触发）"),
    ),
    _spec(
        "red_flag_count", "count", "higher_is_riskier",
        ("number of Cardinal red flags fired for the process", "项目触发的 Cardinal 红旗数量"),
        ("{value:.0f} red flag(s) fired", "触发红旗 {value:.0f} 项"),
    ),
    _spec(
        "winner_second_lowest_bid_gap", "ratio", "either",
        ("(second-lowest valid bid − winning bid) / winning bid, as in Cardinal R024/R058",
         "（次低有效报价−中标价）/中标价，与 Cardinal R024/R058 的定义相同"),
        ("the next valid bid is {value:.1%} above the winning bid",
         "次低有效报价比中标价高 {value:.1%}"),
    ),
    # ----------------------------------------------------------------------- bid screens
    _spec(
        "bid_count", "count", "lower_is_riskier",
        ("number of submitted bids (all lots)", "提交的投标数量（所有标段）"),
        ("{value:.0f} bid(s) submitted", "共提交 {value:.0f} 份投标"),
    ),
    _spec(
        "bid_cv", "ratio", "lower_is_riskier",
        ("coefficient of variation of the bids (sample std / mean)",
         "投标价变异系数（样本标准差/均值）"),
        ("bids vary by only {value:.1%} (coefficient of variation)",
         "投标价变异系数仅为 {value:.1%}"),
    ),
    _spec(
        "bid_spread", "ratio", "lower_is_riskier",
        ("(highest − lowest bid) / lowest bid", "（最高报价−最低报价）/最低报价"),
        ("highest bid is {value:.1%} above the lowest", "最高报价比最低报价高 {value:.1%}"),
    ),
    _spec(
        "two_lowest_pct_diff", "ratio", "either",
        ("(second-lowest − lowest bid) / lowest bid", "（次低报价−最低报价）/最低报价"),
        ("the two lowest bids differ by {value:.1%}", "最低两家报价相差 {value:.1%}"),
    ),
    _spec(
        "bid_skewness", "ratio", "either",
        ("skewness of the bids (adjusted Fisher–Pearson G1)",
         "报价偏度（调整后的 Fisher–Pearson G1）"),
        ("bid skewness {value:.2f}", "报价偏度为 {value:.2f}"),
    ),
    _spec(
        "bid_kurtosis", "ratio", "either",
        ("excess kurtosis of the bids (adjusted G2)", "报价超额峰度（调整后的 G2）"),
        ("bid kurtosis {value:.2f}", "报价峰度为 {value:.2f}"),
    ),
    _spec(
        "relative_distance", "ratio", "higher_is_riskier",
        ("gap between the two lowest bids / sample std of the losing bids (RD)",
         "最低两家报价差/未中标报价的样本标准差（RD）"),
        ("gap below the cover bids is {value:.2f} standard deviations (RD)",
         "最低价与陪标报价的差距为 {value:.2f} 个标准差（RD）"),
    ),
    _spec(
        "normalised_distance", "ratio", "higher_is_riskier",
        ("gap between the two lowest bids / mean gap between adjacent bids (RDNOR)",
         "最低两家报价差/相邻报价平均间距（RDNOR）"),
        ("normalised gap of the two lowest bids {value:.2f} (RDNOR)",
         "最低两家报价的标准化差距为 {value:.2f}（RDNOR）"),
    ),
    _spec(
        "alternative_distance", "ratio", "higher_is_riskier",
        ("gap between the two lowest bids / mean gap between adjacent losing bids (RDALT)",
         "最低两家报价差/未中标报价相邻平均间距（RDALT）"),
        ("alternative gap of the two lowest bids {value:.2f} (RDALT)",
         "最低两家报价的替代差距为 {value:.2f}（RDALT）"),
    ),
    _spec(
        "ks_uniform_distance", "ratio", "either",
        ("Kolmogorov–Smirnov distance of the bids from uniform between lowest and highest",
         "报价与最低至最高价区间均匀分布的 Kolmogorov–Smirnov 距离"),
        ("bids are {value:.2f} (KS distance) from evenly spaced",
         "报价偏离均匀分布的 KS 距离为 {value:.2f}"),
    ),
    _spec(
        "winner_to_estimate_ratio", "ratio", "higher_is_riskier",
        ("lowest bid / pre-tender estimate", "最低报价与招标控制价之比"),
        ("lowest bid is {value:.1%} of the pre-tender estimate",
         "最低报价为招标控制价的 {value:.1%}"),
    ),
    _spec(
        "mean_bid_to_estimate_ratio", "ratio", "higher_is_riskier",
        ("mean bid / pre-tender estimate", "平均报价与招标控制价之比"),
        ("mean bid is {value:.1%} of the pre-tender estimate",
         "平均报价为招标控制价的 {value:.1%}"),
    ),
    # ----------------------------------------------------------------------- bid rigging
    _spec(
        "collusion_score", "share", "higher_is_riskier",
        ("score of the registered bid-rigging detector (trained on markets with proven cartels,"
         " chosen for how well it finds them in markets it never saw), its bid screens ranked"
         " against the group's tenders with as many bids awarded in the 365 days before",
         "已登记的围标识别模型的评分（在已查实围标的市场上训练，按其在未见过的市场上的识别效果选出），"
         "各项报价筛查指标与前365天本集团投标数相近的已定标项目比较后得出"),
        ("bid pattern resembles proven cartels: the bid-rigging detector trained on markets"
         " with proven cartels scores its bids {value:.0%}",
         "投标报价模式与已查实的围标相似："
         "基于已查实围标市场训练的围标识别模型对其报价评分为 {value:.0%}"),
    ),
    _spec(
        "law40_regular_price_pattern", "0/1", "flag",
        ("the sorted bids step up by the same amount or the same ratio (prices differing in a"
         " regular pattern, Implementing Regulations of the Bidding Law, art. 40 (4))",
         "排序后的报价等差或等比递增（投标报价呈规律性差异，《招标投标法实施条例》第四十条第四项）"),
        ("bid prices differ in a regular pattern (art. 40): {value:.0f} (1 = yes)",
         "投标报价呈规律性差异（第四十条）：{value:.0f}（1为是）"),
    ),
    _spec(
        "law44_fewer_than_three_bidders", "0/1", "flag",
        ("a competitive procedure with a lot of fewer than three priced bids: the bids may not"
         " be opened and the tender must be run again (art. 44)",
         "竞争性采购中有标段报价投标少于3家：不得开标，招标人应当依法重新招标（第四十四条）"),
        ("fewer than three bidders (art. 44): {value:.0f} (1 = yes)",
         "投标人少于3个（第四十四条）：{value:.0f}（1为是）"),
    ),
    # ----------------------------------------------------------------------- price
    _spec(
        "unit_price_to_category_median_180d", "ratio", "higher_is_riskier",
        ("unit price of the main item / median unit price of its material category in awards of"
         " the 180 days before",
         "主要物资单价 / 前180天同品类已成交单价的中位数"),
        ("unit price is {value:.1f}× the median of its material category over the 180 days "
         "before", "单价为同类材料前180天成交单价中位数的{value:.1f}倍"),
    ),
    _spec(
        "unit_price_to_spec_median_180d", "ratio", "higher_is_riskier",
        ("unit price of the main item / median unit price of the same specification in awards "
         "of the 180 days before",
         "主要物资单价 / 前180天相同规格型号已成交单价的中位数"),
        ("unit price is {value:.2f}× the median for the same specification over the 180 days "
         "before", "单价为相同规格型号前180天成交单价中位数的{value:.2f}倍"),
    ),
    _spec(
        "category_price_observations_180d", "count", "context",
        ("number of earlier unit prices of the category in the 180-day window",
         "前180天同品类可比单价的数量"),
        ("{value:.0f} earlier prices of the category to compare with",
         "前180天有 {value:.0f} 个同品类单价可比"),
    ),
    # ----------------------------------------------------------------------- split purchases
    _spec(
        "order_value_to_approval_threshold", "ratio", "higher_is_riskier",
        ("awarded value / the internal approval threshold just above it (missing above the "
         "highest threshold)",
         "成交金额 / 其上方最近的内部审批限额（超过最高限额时缺失）"),
        ("order is {value:.1%} of the approval threshold just above it",
         "订单金额为其上方审批限额的 {value:.1%}"),
    ),
    _spec(
        "split_purchase_count_30d", "count", "higher_is_riskier",
        ("orders from this buyer to this supplier in this category in the 30 days up to and "
         "including this one, each in the same approval band (under the same threshold)",
         "30天内（含本单）同一采购单位向同一供应商采购同一品类、且处于同一审批限额以下的订单数"),
        ("{value:.0f} orders to the same supplier for the same category within 30 days, each "
         "under the same approval threshold",
         "30天内向同一供应商采购同类物资 {value:.0f} 单，每单均低于同一审批限额"),
    ),
    _spec(
        "split_purchase_sum_to_threshold_30d", "ratio", "higher_is_riskier",
        ("total of those orders / the approval threshold they each stay under",
         "上述订单合计金额 / 各单均未超过的审批限额"),
        ("those orders add up to {value:.1f}× the approval threshold",
         "上述订单合计为审批限额的 {value:.1f} 倍"),
    ),
    _spec(
        "split_purchase_over_threshold_30d", "0/1", "flag",
        ("two or more such orders within 30 days whose total reaches the threshold",
         "30天内两单及以上、每单低于审批限额但合计达到限额"),
        ("orders split under the approval threshold within 30 days: {value:.0f} (1 = yes)",
         "30天内拆分订单规避审批限额：{value:.0f}（1为是）"),
    ),
    # ----------------------------------------------------------------------- concentration
    _spec(
        "buyer_spend_hhi_365d", "share", "higher_is_riskier",
        ("Herfindahl–Hirschman index of the buyer's awarded spend by supplier over the 365 days "
         "before (0..1)",
         "采购单位前365天成交金额按供应商计算的赫芬达尔指数（0至1）"),
        ("buyer's spend concentration (HHI) over the past year is {value:.2f}",
         "采购单位近一年支出集中度（HHI）为 {value:.2f}"),
    ),
    _spec(
        "winner_share_of_buyer_spend_365d", "share", "higher_is_riskier",
        ("the winner's share of the buyer's awarded spend over the 365 days before",
         "中标供应商在采购单位前365天成交金额中的占比"),
        ("the winner took {value:.0%} of this buyer's spend over the past year",
         "中标供应商占该采购单位近一年支出的 {value:.0%}"),
    ),
    _spec(
        "buyer_supplier_award_count_365d", "count", "higher_is_riskier",
        ("earlier awards from this buyer to the winner in the 365 days before",
         "前365天该采购单位授予该中标供应商的合同数"),
        ("{value:.0f} earlier awards from this buyer to this supplier in the past year",
         "近一年该采购单位已向该供应商授标 {value:.0f} 次"),
    ),
    _spec(
        "buyer_supplier_direct_award_count_365d", "count", "higher_is_riskier",
        ("earlier single-source awards from this buyer to the winner in the 365 days before",
         "前365天该采购单位向该中标供应商的单一来源采购次数"),
        ("{value:.0f} earlier single-source awards from this buyer to this supplier in the "
         "past year", "近一年该采购单位已向该供应商单一来源采购 {value:.0f} 次"),
    ),
    _spec(
        "buyer_supplier_relationship_days", "days", "either",
        ("days since this buyer's first earlier award to the winner (missing: first award)",
         "距该采购单位首次授标给该中标供应商的天数（缺失表示首次合作）"),
        ("this buyer has awarded this supplier for {value:.0f} days",
         "该采购单位与该供应商已合作 {value:.0f} 天"),
    ),
    _spec(
        "supplier_days_since_first_award", "days", "lower_is_riskier",
        ("days since the winner's first earlier award from any buyer (missing: none before)",
         "距中标供应商首次获得授标的天数（缺失表示此前从未中标）"),
        ("the winner's first award was {value:.0f} days before",
         "中标供应商首次中标在 {value:.0f} 天前"),
    ),
    _spec(
        "supplier_first_award", "0/1", "flag",
        ("this is the winner's first award in the history",
         "这是该中标供应商在历史记录中的首次中标"),
        ("first award ever for this supplier: {value:.0f} (1 = yes)",
         "该供应商首次中标：{value:.0f}（1为是）"),
    ),
    _spec(
        "supplier_win_ratio_365d", "share", "either",
        ("the winner's share of its awarded tenders won over the 365 days before",
         "中标供应商前365天参与的已定标项目中的中标比例"),
        ("the winner won {value:.0%} of the tenders it bid in over the past year",
         "该供应商近一年投标项目的中标率为 {value:.0%}"),
    ),
    _spec(
        "supplier_bid_count_365d", "count", "context",
        ("tenders the winner bid in over the 365 days before (awarded ones)",
         "中标供应商前365天参与投标的已定标项目数"),
        ("the winner bid in {value:.0f} tenders over the past year",
         "该供应商近一年参与投标 {value:.0f} 次"),
    ),
    # ----------------------------------------------------------------------- rotation
    _spec(
        "bidder_group_shared_tenders_365d", "count", "higher_is_riskier",
        ("earlier tenders (365 days) in which at least two of this tender's bidders bid together",
         "前365天本次投标人中至少两家共同参与投标的项目数"),
        ("these bidders met in {value:.0f} earlier tenders over the past year",
         "这些投标人近一年在 {value:.0f} 个项目中共同投标"),
    ),
    _spec(
        "bidder_group_win_share_365d", "share", "higher_is_riskier",
        ("share of those shared tenders won by one of this tender's bidders",
         "上述共同投标项目中由本次投标人之一中标的比例"),
        ("one of these bidders won {value:.0%} of the tenders they shared",
         "这些投标人共同参与的项目中 {value:.0%} 由其中一家中标"),
    ),
    _spec(
        "bidder_group_rotation_index_365d", "share", "higher_is_riskier",
        ("distinct winners among this tender's bidders in their shared tenders / number of "
         "bidders (1: every bidder has had its turn)",
         "共同投标项目中由本次投标人轮流中标的家数/投标人数（1表示每家都轮到过）"),
        ("winner rotation among these bidders is {value:.2f} (1 = each has won in turn)",
         "投标人轮流中标指数为 {value:.2f}（1为每家轮流中标）"),
    ),
    _spec(
        "max_bidder_pair_cobids_365d", "count", "higher_is_riskier",
        ("most earlier tenders (365 days) any two of this tender's bidders bid in together",
         "本次投标人中任意两家在前365天共同投标的最多次数"),
        ("two of these bidders bid together {value:.0f} times over the past year",
         "其中两家投标人近一年共同投标 {value:.0f} 次"),
    ),
    # ----------------------------------------------------------------------- related bidders
    _spec(
        "related_bidder_pairs_phone", "count", "higher_is_riskier",
        ("pairs of bidders sharing a telephone (register or contact point)",
         "共用电话号码（名录或联系人）的投标人对数"),
        ("{value:.0f} pair(s) of bidders share a telephone number",
         "{value:.0f} 对投标人使用同一电话号码"),
    ),
    _spec(
        "related_bidder_pairs_address", "count", "higher_is_riskier",
        ("pairs of bidders sharing a registered address", "共用注册地址的投标人对数"),
        ("{value:.0f} pair(s) of bidders share a registered address",
         "{value:.0f} 对投标人注册地址相同"),
    ),
    _spec(
        "related_bidder_pairs_legal_representative", "count", "higher_is_riskier",
        ("pairs of bidders with the same legal representative", "法定代表人相同的投标人对数"),
        ("{value:.0f} pair(s) of bidders share a legal representative",
         "{value:.0f} 对投标人法定代表人相同"),
    ),
    _spec(
        "related_bidder_pairs_bank_account", "count", "higher_is_riskier",
        ("pairs of bidders sharing a bank account", "共用银行账户的投标人对数"),
        ("{value:.0f} pair(s) of bidders share a bank account",
         "{value:.0f} 对投标人使用同一银行账户"),
    ),
    _spec(
        "any_related_bidders", "0/1", "flag",
        ("at least two bidders share a telephone, address, legal representative or bank account",
         "至少两家投标人共用电话、地址、法定代表人或银行账户"),
        ("related bidders in this tender: {value:.0f} (1 = yes)",
         "存在关联投标人：{value:.0f}（1为是）"),
    ),
    # ----------------------------------------------------------------------- contract
    _spec(
        "contract_value_growth", "ratio", "higher_is_riskier",
        ("current contract value (after amendments up to the decision date) / awarded value",
         "合同现值（截至决策日的变更后）与中标金额之比"),
        ("contract value is {value:.2f}× the awarded value", "合同金额为中标金额的 {value:.2f} 倍"),
    ),
    _spec(
        "contract_amendment_count", "count", "higher_is_riskier",
        ("contract amendments up to the decision date", "截至决策日的合同变更次数"),
        ("{value:.0f} contract amendment(s)", "合同变更 {value:.0f} 次"),
    ),
    # ----------------------------------------------------------------------- delivery
    _spec(
        "supplier_deliveries_365d", "count", "context",
        ("the winner's deliveries due and settled in the 365 days before",
         "中标供应商前365天已到期的交货次数"),
        ("{value:.0f} earlier deliveries by the winner in the past year",
         "该供应商近一年交货 {value:.0f} 次"),
    ),
    _spec(
        "supplier_late_delivery_share_365d", "share", "higher_is_riskier",
        ("share of those deliveries that were late", "上述交货中逾期的比例"),
        ("{value:.0%} of the winner's deliveries over the past year were late",
         "该供应商近一年 {value:.0%} 的交货逾期"),
    ),
    _spec(
        "supplier_mean_delivery_delay_days_365d", "days", "higher_is_riskier",
        ("mean days delivered after the due date (negative: early), past 365 days",
         "前365天平均交货延迟天数（负数为提前）"),
        ("the winner delivered {value:.1f} days late on average over the past year",
         "该供应商近一年平均延迟交货 {value:.1f} 天"),
    ),
    _spec(
        "supplier_quality_rejections_365d", "count", "higher_is_riskier",
        ("the winner's deliveries rejected at quality acceptance in the 365 days before",
         "中标供应商前365天到货验收不合格次数"),
        ("{value:.0f} deliveries by the winner failed quality acceptance in the past year",
         "该供应商近一年到货验收不合格 {value:.0f} 次"),
    ),
    # ----------------------------------------------------------------------- members' reports
    # (``features.procurement.feedback``: each report weighted 0.5 ** (age / 180 days), only
    # those submitted before the decision date)
    _spec(
        "feedback_supplier_delivery_delay_decayed", "count", "higher_is_riskier",
        ("members' delivery-delay reports about the suppliers, time-decayed",
         "成员对该供应商的交货延迟反馈数（按时间衰减）"),
        ("{value:.1f} recent delivery-delay reports from members about the supplier "
         "(time-decayed)", "成员反馈中，该供应商近期有 {value:.1f} 件交货延迟反馈（按时间衰减）"),
    ),
    _spec(
        "feedback_supplier_price_decayed", "count", "higher_is_riskier",
        ("members' price reports about the suppliers, time-decayed",
         "成员对该供应商的价格问题反馈数（按时间衰减）"),
        ("{value:.1f} recent price reports from members about the supplier (time-decayed)",
         "成员反馈中，该供应商近期有 {value:.1f} 件价格反馈（按时间衰减）"),
    ),
    _spec(
        "feedback_supplier_quality_decayed", "count", "higher_is_riskier",
        ("members' quality reports about the suppliers, time-decayed",
         "成员对该供应商的质量问题反馈数（按时间衰减）"),
        ("{value:.1f} recent quality reports from members about the supplier (time-decayed)",
         "成员反馈中，该供应商近期有 {value:.1f} 件质量反馈（按时间衰减）"),
    ),
    _spec(
        "feedback_supplier_process_blockage_decayed", "count", "higher_is_riskier",
        ("members' process-blockage reports about the suppliers, time-decayed",
         "成员对该供应商的流程堵点反馈数（按时间衰减）"),
        ("{value:.1f} recent process-blockage reports from members about the supplier "
         "(time-decayed)", "成员反馈中，该供应商近期有 {value:.1f} 件流程堵点反馈（按时间衰减）"),
    ),
    _spec(
        "feedback_supplier_integrity_concern_decayed", "count", "higher_is_riskier",
        ("members' integrity-concern reports about the suppliers, time-decayed",
         "成员对该供应商的廉洁问题反馈数（按时间衰减）"),
        ("{value:.1f} recent integrity-concern reports from members about the supplier "
         "(time-decayed)", "成员反馈中，该供应商近期有 {value:.1f} 件廉洁问题反馈（按时间衰减）"),
    ),
    _spec(
        "feedback_process_reports_decayed", "count", "higher_is_riskier",
        ("members' reports about this process before the decision date, time-decayed",
         "决策日前成员对本采购项目的问题反馈数（按时间衰减）"),
        ("{value:.1f} member reports about this process (time-decayed)",
         "本采购项目收到 {value:.1f} 件成员问题反馈（按时间衰减）"),
    ),
)  # fmt: skip

FEATURES: dict[str, FeatureSpec] = {spec.name: spec for spec in _SPECS}
"""Every model feature, in model column order."""

FEATURE_NAMES: list[str] = list(FEATURES)
CATEGORICAL_FEATURES: list[str] = [spec.name for spec in _SPECS if spec.categorical]
NUMERIC_FEATURES: list[str] = [spec.name for spec in _SPECS if not spec.categorical]
