"""Top-k sentences for a question, optionally within one article, aware of the chat.

    >>> r = Retriever(index, embedder)
    >>> r.search("Combien de soldats ?", k=3)
    [Hit('000_806bd7fa77100f9f:4', 0.871), ...]

A follow-up ("Où a-t-il tenu sa conférence de presse ?") names nobody, so the
question is also embedded together with the previous user question, and each
sentence keeps the better of its two scores; the contextual score pays a small
toll so that a self-contained new question still wins on its own words.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .embed import Embedder
from .errors import ArticleError
from .index import SentenceIndex
from .types import Hit

# What the contextual query pays against the question alone (cosine units).
# Calibrated on the follow-up tests: large enough that an unrelated new
# question is not pulled back to the previous topic, small enough that a
# pronoun-only follow-up still finds its sentence.
HISTORY_TOLL = 0.02


class Retriever:
    def __init__(self, index: SentenceIndex, embedder: Embedder) -> None:
        self.index = index
        self.embedder = embedder

    def search(
        self,
        question: str,
        k: int = 5,
        article: str | None = None,
        history: Sequence[Sequence[str]] = (),
    ) -> list[Hit]:
        if article is not None and article not in self.index.ranges:
            known = ", ".join(self.index.article_ids) or "none"
            raise ArticleError(f"unknown article {article!r}; indexed articles: {known}")
        lo, hi = self.index.ranges.get(article, (0, len(self.index.sentences))) if article else (0, len(self.index.sentences))
        if hi <= lo:
            return []
        queries = [question]
        previous = [turn[0] for turn in history if turn and turn[0].strip()]
        if previous:
            queries.append(previous[-1] + " " + question)
        vectors = self.embedder.embed_queries(queries)
        best: dict[int, float] = {}
        for qi, vector in enumerate(vectors):
            toll = HISTORY_TOLL if qi else 0.0
            for row, score in self._search_rows(vector, min(hi - lo, max(k, 1) * 2), lo, hi):
                s = score - toll
                if s > best.get(row, -9.0):
                    best[row] = s
        ranked = sorted(best.items(), key=lambda kv: -kv[1])[:k]
        return [Hit(self.index.sentences[row], float(score)) for row, score in ranked]

    def _search_rows(self, vector: np.ndarray, k: int, lo: int, hi: int) -> list[tuple[int, float]]:
        import faiss

        params = None
        if (lo, hi) != (0, self.index.faiss_index.ntotal):
            # An article's sentences are contiguous rows, so a range selector restricts the search.
            params = faiss.SearchParameters(sel=faiss.IDSelectorRange(lo, hi))
        scores, rows = self.index.faiss_index.search(vector.reshape(1, -1), k, params=params)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]
