"""Anger scoring with VADER (vaderSentiment ships its lexicon inside the package: nothing is
downloaded at run time). Loading the lexicon reads a file, so scoring runs in activities."""

from __future__ import annotations

from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def anger_score(text: str) -> float:
    """VADER's compound score, -1 (most negative) … 1 (most positive); empty text is 0."""
    if not text or not text.strip():
        return 0.0
    return float(_analyzer().polarity_scores(text)["compound"])
