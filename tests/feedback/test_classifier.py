"""The report-kind classifier and its baseline on a handful of hand-written reports."""

from __future__ import annotations

import numpy as np

from models.feedback.classifier import build_feedback_classifier
from models.feedback.keywords import KeywordClassifier, keyword_kind
from models.feedback.pyfunc import KIND, kind_probabilities
from store.schema import FEEDBACK_KINDS

TEXTS = {
    "delivery_delay": [
        "锚杆到货晚了十天",
        "钢丝绳迟迟不发货",
        "配件交货延迟一周",
        "说好月初送到还没到",
    ],
    "price": ["单价比去年高", "价格明显高于市场价", "报价偏高", "比隔壁矿贵三成"],
    "quality": ["有破损检验不合格", "用了一个月就坏了", "以次充好", "好几根有裂纹"],
    "process_blockage": ["审批卡住了", "没人签字", "系统总是退回", "手续走了十天"],
    "integrity_concern": ["收了好处费", "打招呼定了关系户", "怀疑围标", "要给回扣"],
}


def _data() -> tuple[list[str], list[str]]:
    texts = [text for kind in TEXTS for text in TEXTS[kind]]
    kinds = [kind for kind in TEXTS for _ in TEXTS[kind]]
    return texts, kinds


def test_probabilities_cover_every_kind_and_sum_to_one() -> None:
    texts, kinds = _data()
    classifier = build_feedback_classifier(min_df=1).fit(texts, kinds)
    frame = kind_probabilities(classifier, ["这批锚杆到货晚了", "听说有回扣"])
    assert list(frame.columns) == [*FEEDBACK_KINDS, KIND]
    np.testing.assert_allclose(frame[list(FEEDBACK_KINDS)].sum(axis=1), 1.0)
    assert frame[KIND].tolist() == ["delivery_delay", "integrity_concern"]


def test_keyword_baseline_falls_back_to_the_majority() -> None:
    baseline = KeywordClassifier().fit(["a", "b", "c"], ["price", "price", "quality"])
    assert baseline.predict(["收了回扣", "今天天气不错"]).tolist() == ["integrity_concern", "price"]
    assert keyword_kind("今天天气不错") is None
