"""The report-kind classifier: character n-grams and a linear model.

Chinese has no spaces and a segmenter would be one more model to maintain; character 1-3
grams (``char_wb`` over the raw text) carry the words (回扣, 延迟, 单价) and their variants
without one. Logistic regression gives probabilities per kind (the pyfunc serves them) and
``class_weight="balanced"`` keeps the rare kind (integrity concerns) from being drowned.
Input: a sequence of texts; output: ``predict_proba`` columns in ``classes_`` order.
"""

from __future__ import annotations

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline


def build_feedback_classifier(
    *, c: float = 4.0, min_df: int = 2, max_features: int = 50_000
) -> Pipeline:
    return Pipeline(
        [
            (
                "ngrams",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(1, 3),
                    sublinear_tf=True,
                    min_df=min_df,
                    max_features=max_features,
                ),
            ),
            (
                "linear",
                LogisticRegression(C=c, class_weight="balanced", max_iter=2_000),
            ),
        ]
    )
