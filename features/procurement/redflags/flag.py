"""What a red flag says: the codes, their titles and descriptions, and ``RedFlag``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CODES: tuple[str, ...] = (
    "R003",
    "R018",
    "R024",
    "R025",
    "R028",
    "R030",
    "R035",
    "R036",
    "R038",
    "R048",
    "R058",
)

#: Short titles, from Cardinal's ``docs/cli/indicators/index.md``, with a Chinese rendering.
TITLES: Mapping[str, Mapping[str, str]] = {
    "R003": {"en": "Short submission period", "zh": "投标期过短"},
    "R018": {"en": "Single bid received", "zh": "仅收到一份投标"},
    "R024": {"en": "Price close to winning bid", "zh": "报价与中标价过于接近"},
    "R025": {"en": "Excessive unsuccessful bids", "zh": "未中标投标过多"},
    "R028": {"en": "Identical bid prices", "zh": "投标报价相同"},
    "R030": {"en": "Late bid won", "zh": "逾期投标中标"},
    "R035": {"en": "All except winning bid disqualified", "zh": "除中标人外投标均被否决"},
    "R036": {"en": "Lowest bid disqualified", "zh": "最低价投标被否决"},
    "R038": {"en": "Excessive disqualified bids", "zh": "被否决投标过多"},
    "R048": {"en": "Heterogeneous supplier", "zh": "供应商经营品类异常庞杂"},
    "R058": {"en": "Heavily discounted bid", "zh": "中标价大幅低于其他报价"},
}

#: One-sentence descriptions, from Cardinal's ``docs/cli/indicators/index.md``, in English and
#: Chinese. The API shows these next to each flag.
DESCRIPTIONS: Mapping[str, Mapping[str, str]] = {
    "R003": {
        "en": "The submission period is too short.",
        "zh": "投标（提交）期过短。",
    },
    "R018": {
        "en": "Only one tenderer submitted a bid in a competitive procedure.",
        "zh": "竞争性采购程序中只有一家投标人提交了投标。",
    },
    "R024": {
        "en": (
            "The percentage difference between the winning bid and the second-lowest valid "
            "bid is a low outlier."
        ),
        "zh": "中标价与次低有效报价之间的差价百分比异常偏低（低端离群值）。",
    },
    "R025": {
        "en": "The ratio of winning bids to submitted bids for a top tenderer is a low outlier.",
        "zh": "投标次数居前的投标人，其中标次数与有效投标次数之比异常偏低（低端离群值）。",
    },
    "R028": {
        "en": "Different tenderers submitted bids with the same price.",
        "zh": "不同投标人提交了价格完全相同的投标。",
    },
    "R030": {
        "en": "The winning bid was received after the submission deadline.",
        "zh": "中标投标是在投标截止时间之后收到的。",
    },
    "R035": {
        "en": "Bids are disqualified if not submitted by the single tenderer of the winning bid.",
        "zh": "除唯一中标投标人之外，其他投标人的投标均被否决。",
    },
    "R036": {
        "en": "The lowest submitted bid is disqualified, while the award criterion is price only.",
        "zh": "在仅以价格为评标标准时，报价最低的投标被否决。",
    },
    "R038": {
        "en": (
            "The ratio of disqualified bids to submitted bids is a high outlier per buyer, "
            "procuring entity or tenderer."
        ),
        "zh": (
            "按采购人、采购实施机构或投标人统计，"
            "被否决投标占已提交投标的比例异常偏高（高端离群值）。"
        ),
    },
    "R048": {
        "en": "The variety of items supplied by a tenderer is a high outlier.",
        "zh": "某投标人供应的物品品类数量异常偏多（高端离群值）。",
    },
    "R058": {
        "en": (
            "The percentage difference between the winning bid and the second-lowest valid "
            "bid is a high outlier."
        ),
        "zh": "中标价与次低有效报价之间的差价百分比异常偏高（高端离群值），中标价大幅偏低。",
    },
}

GROUPS: tuple[str, ...] = ("OCID", "Buyer", "ProcuringEntity", "Tenderer")

# Indicators whose results are about organisations across the whole dataset.
ORGANISATION_CODES = frozenset({"R025", "R038", "R048"})


@dataclass(frozen=True)
class RedFlag:
    """One red flag raised for a contracting process or for an organisation in it.

    ``group`` and ``subject`` say what is flagged (Cardinal's group and identifier: the
    ``ocid``, or a buyer, procuring entity or tenderer id); ``value`` is Cardinal's output
    for it; ``values`` holds the figures behind it (for example the price difference, the
    bids compared and the fence).
    """

    code: str
    group: str
    subject: str
    value: float
    values: Mapping[str, Any] = field(default_factory=dict)

    @property
    def title_en(self) -> str:
        return TITLES[self.code]["en"]

    @property
    def title_zh(self) -> str:
        return TITLES[self.code]["zh"]

    @property
    def description_en(self) -> str:
        return DESCRIPTIONS[self.code]["en"]

    @property
    def description_zh(self) -> str:
        return DESCRIPTIONS[self.code]["zh"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "group": self.group,
            "subject": self.subject,
            "value": self.value,
            "title_en": self.title_en,
            "title_zh": self.title_zh,
            "description_en": self.description_en,
            "description_zh": self.description_zh,
            "values": dict(self.values),
        }
