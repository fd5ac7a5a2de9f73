"""The keyword baseline: the kind whose list of words the text hits most.

This is what a handler's inbox rule would do, and what the learned classifier must beat
(``training.feedback``). Ties go to the earlier kind in ``KEYWORDS``; a text with no hit gets
the training set's most frequent kind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from store.schema import FEEDBACK_KINDS

KEYWORDS: dict[str, tuple[str, ...]] = {
    "integrity_concern": ("回扣", "好处费", "围标", "串标", "关系户", "打招呼", "吃拿卡要", "举报"),
    "price": ("价格", "单价", "报价", "偏高", "贵", "市场价"),
    "delivery_delay": ("延迟", "迟迟", "未到货", "到货晚", "延期", "交货"),
    "quality": ("质量", "不合格", "破损", "以次充好", "检验"),
    "process_blockage": ("审批", "流程", "卡住", "签字", "系统", "退回"),
}


class KeywordClassifier(BaseEstimator):
    """Keyword-count classifier with a fallback: ``fit`` only learns the majority kind."""

    def __init__(self, *, keywords: dict[str, tuple[str, ...]] | None = None) -> None:
        self.keywords = keywords

    def fit(self, texts: Iterable[str], kinds: Iterable[str]) -> KeywordClassifier:
        self.fallback_ = Counter(kinds).most_common(1)[0][0]
        return self

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        check_is_fitted(self, "fallback_")
        keywords = self.keywords or KEYWORDS
        order = [kind for kind in keywords if kind in FEEDBACK_KINDS]
        out = []
        for text in texts:
            hits = [sum(word in text for word in keywords[kind]) for kind in order]
            best = int(np.argmax(hits))
            out.append(order[best] if hits[best] > 0 else self.fallback_)
        return np.asarray(out, dtype=object)


def keyword_kind(text: str) -> str | None:
    """The baseline's kind of one text, ``None`` without a hit (the service's fallback when no
    model is registered)."""
    hits = [sum(word in text for word in KEYWORDS[kind]) for kind in KEYWORDS]
    best = int(np.argmax(hits))
    return list(KEYWORDS)[best] if hits[best] > 0 else None
