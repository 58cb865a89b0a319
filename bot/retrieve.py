"""Top-k sentences for a question, optionally within one article, aware of the chat.

    >>> r = Retriever(index, embedder)
    >>> r.search("Combien de soldats ?", k=3).hits
    [Hit('000_806bd7fa77100f9f:5', 0.891), ...]

Scoring. A sentence's score blends its own cosine with that of its window
(the sentence with its neighbours): ``0.7 * sentence + 0.3 * window``. News
sentences lean on their neighbours ("M. Rutte a appelé…" never says he leads
NATO); on the seed questions the blend lifts recall@3 from 0.84 to 0.94 while
keeping the cited unit a single sentence (tests/test_quality.py).

Follow-ups. "Où a-t-il tenu sa conférence de presse ?" names nobody, so a
question that looks like a follow-up (a pronoun, "et …"/"and …", or hardly any
content words) is also embedded together with the previous user question, and
each sentence keeps the better of its two scores; the contextual score pays a
small toll. A self-contained question ("Who is the NATO secretary general?"
after a question about troop numbers) is searched on its own: mixing in the
previous question pulled such questions back to the previous topic.

Background. ``Retrieval.background`` is the median score over the searched
sentences: off-topic questions score uniformly, answerable ones stand out
from it, which the extractive engine uses to decide whether to abstain.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .embed import Embedder
from .errors import ArticleError
from .index import SentenceIndex
from .types import Hit

SENTENCE_WEIGHT = 0.7  # the rest goes to the window; calibrated on eval/gold/dev.jsonl
# What the contextual query pays against the question alone (cosine units):
# large enough that an unrelated new question is not pulled back to the
# previous topic, small enough that a pronoun-only follow-up finds its sentence.
HISTORY_TOLL = 0.02
BACKGROUND_SAMPLE = 2048  # rows used to estimate the median score
_ANAPHORA = set(
    """il elle ils elles lui leur leurs eux celui celle ceux celles cela ça ce cet cette ces son sa ses y là
    he she they him her them his their it its this that these those there""".split()
)
_WORDS = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)


def is_follow_up(question: str) -> bool:
    """Does the question lean on the conversation (a pronoun, "et …", almost no content)?"""
    words = [w.lower() for w in _WORDS.findall(question.replace("-", " "))]
    if not words:
        return False
    if words[0] in ("et", "and", "also", "aussi", "puis", "then") or any(w in _ANAPHORA for w in words):
        return True
    return len([w for w in words if len(w) > 3]) <= 2


@dataclass(frozen=True)
class Retrieval:
    hits: list[Hit]
    background: float  # median blended score over the searched sentences
    query: np.ndarray | None = None  # the question's vector, to score other sentences later


class Retriever:
    def __init__(self, index: SentenceIndex, embedder: Embedder) -> None:
        import faiss

        self.index = index
        self.embedder = embedder
        # One query at a time: faiss splitting it over both cores was up to 5x
        # slower when the other core was busy (bench/scale_results.md); index.FLAT_MAX
        # assumes one thread. faiss has its own OpenMP runtime: torch keeps its threads.
        faiss.omp_set_num_threads(1)

    def search(
        self,
        question: str,
        k: int = 5,
        article: str | None = None,
        history: Sequence[Sequence[str]] = (),
    ) -> Retrieval:
        if article is not None and article not in self.index.ranges:
            known = ", ".join(self.index.article_ids) or "none"
            raise ArticleError(f"unknown article {article!r}; indexed articles: {known}")
        lo, hi = self.index.ranges[article] if article else (0, len(self.index.sentences))
        if hi <= lo:
            return Retrieval([], 0.0)
        queries = [question]
        previous = [turn[0] for turn in history if turn and turn[0].strip()]
        if previous and is_follow_up(question):
            queries.append(previous[-1] + " " + question)
        vectors = self.embedder.embed_queries(queries)
        best: dict[int, float] = {}
        for qi, vector in enumerate(vectors):
            toll = HISTORY_TOLL if qi else 0.0
            for row, score in self._blended(vector, max(k, 1) * 4, lo, hi).items():
                if score - toll > best.get(row, -9.0):
                    best[row] = score - toll
        ranked = sorted(best.items(), key=lambda kv: -kv[1])[:k]
        sample = np.unique(np.linspace(lo, hi - 1, num=min(hi - lo, BACKGROUND_SAMPLE)).astype(np.int64))
        background = float(np.median(self._scores(vectors[0], sample)))
        hits = [Hit(self.index.sentences[row], float(score)) for row, score in ranked]
        return Retrieval(hits, background, vectors[0])

    def row(self, article_id: str, n: int) -> int:
        return self.index.ranges[article_id][0] + n - 1

    def score(self, query: np.ndarray, article_id: str, n: int) -> float:
        """The blended score of sentence n of an article for a query vector."""
        return float(self._scores(query, np.array([self.row(article_id, n)], dtype=np.int64))[0])

    def similarity(self, text: str, article_id: str, numbers: Sequence[int]) -> float:
        """Best cosine between ``text`` (embedded as a query) and the given sentences."""
        if not numbers:
            return 0.0
        vector = self.embedder.embed_queries([text])[0]
        rows = np.array([self.row(article_id, n) for n in numbers], dtype=np.int64)
        return float(np.max(self.index.faiss_index.reconstruct_batch(rows) @ vector))

    def _blended(self, vector: np.ndarray, k: int, lo: int, hi: int) -> dict[int, float]:
        """Blended scores of the union of the top-k rows by sentence and by window."""
        k = min(k, hi - lo)
        rows: set[int] = set()
        for ix in (self.index.faiss_index, self.index.window_index):
            if (lo, hi) == (0, ix.ntotal):
                _, found = ix.search(vector.reshape(1, -1).astype(np.float32), k)
                rows.update(int(r) for r in found[0] if r >= 0)
            else:
                # One article: its sentences are contiguous rows, a few hundred at
                # most, so score them all exactly (a filtered HNSW search loses recall).
                scores = ix.reconstruct_n(lo, hi - lo) @ vector
                rows.update(lo + int(i) for i in np.argsort(-scores)[:k])
        ids = np.array(sorted(rows), dtype=np.int64)
        return dict(zip(ids.tolist(), self._scores(vector, ids).tolist(), strict=True))

    def _scores(self, vector: np.ndarray, ids: np.ndarray) -> np.ndarray:
        sentence = self.index.faiss_index.reconstruct_batch(ids) @ vector
        window = self.index.window_index.reconstruct_batch(ids) @ vector
        return np.asarray(SENTENCE_WEIGHT * sentence + (1 - SENTENCE_WEIGHT) * window)
