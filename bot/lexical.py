"""BM25 over one article's sentences and windows: the lexical half of retrieval.

    >>> lex = LexicalIndex(sentences, lang="fr")
    >>> lex.scores("Combien de soldats nord-coréens ?")   # one row per sentence
    array([0.  , 1.93, ...])

Words are lower-cased, stop words dropped, stemmed with Snowball in the
article's language (PyStemmer), then stripped of accents, so that "soldats"
meets "soldat" and "Pentagone" meets "pentagone". Scoring is bm25s's Lucene
BM25 (k1 = 1.5, b = 0.75), computed per article: a question is asked of one
article, so the article's own term rarities are the ones that matter.

Built in memory on first use, not stored with the index: a 200-sentence
article takes a few milliseconds, adding or removing an article needs nothing
more, and the index files stay exactly what their manifest describes.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from .types import Sentence

# Snowball stemmers by ISO 639-1 code; other languages are only lower-cased.
STEMMERS = {
    "fr": "french",
    "en": "english",
    "de": "german",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
}
STOPWORDS = set(
    """
    le la les l un une des du de d au aux et ou mais donc or ni car que qu qui quoi dont où ce c cet cette ces
    son sa ses leur leurs il elle ils elles on nous vous je j tu se s en y a à dans par pour sur avec sans
    sous est sont était été être avait avaient ont ne n pas plus selon aussi comme lors entre très tout tous
    quel quelle quels quelles combien quand comment pourquoi lequel laquelle
    the a an of to in on at by for with from and or but not is are was were be been has have had that
    this these those it its they their he she his her as about into than then so if which who whom what
    when where why how do does did
    """.split()
)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def fold(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


@lru_cache(maxsize=8)
def _stemmer(lang: str) -> Any:
    import Stemmer

    return Stemmer.Stemmer(STEMMERS[lang]) if lang in STEMMERS else None


def terms(text: str, lang: str) -> list[str]:
    """The words BM25 compares: no stop words, stemmed in ``lang``, accents folded."""
    words = [w for w in _WORD.findall(text.lower().replace("’", "'")) if w not in STOPWORDS]
    stemmer = _stemmer(lang)
    if stemmer is not None:
        words = stemmer.stemWords(words)
    return [fold(w) for w in words if w]


class LexicalIndex:
    """BM25 scores of each sentence of one article, and of its window
    (previous + sentence + next), for a question."""

    def __init__(self, sentences: Sequence[Sentence], lang: str) -> None:
        self.lang = lang
        self.size = len(sentences)
        self.texts = tuple(s.text for s in sentences)
        tokens = [terms(t, lang) for t in self.texts]
        windows = [[t for row in tokens[max(0, i - 1) : i + 2] for t in row] for i in range(len(tokens))]
        self._sentences = _bm25(tokens)
        self._windows = _bm25(windows)
        # what the confidence features compare a question with, computed once per article
        self.sentence_terms = tuple(frozenset(t) for t in tokens)
        self.article_terms = frozenset(t for row in tokens for t in row)
        self.prefixes = frozenset(w[:4] for w in re.findall(r"\w+", fold(" ".join(self.texts).lower())))

    def window_terms(self, i: int) -> frozenset[str]:
        """The terms of sentence i with its neighbours."""
        return frozenset().union(*self.sentence_terms[max(0, i - 1) : i + 2])

    def scores(self, question: str) -> tuple[np.ndarray, np.ndarray]:
        """(sentence scores, window scores), one row per sentence, in article order."""
        q = terms(question, self.lang)
        return _score(self._sentences, q, self.size), _score(self._windows, q, self.size)


def _bm25(corpus: list[list[str]]) -> Any:
    import bm25s

    if not any(corpus):
        return None
    model = bm25s.BM25(k1=1.5, b=0.75)
    model.index(corpus, show_progress=False)
    return model


def _score(model: Any, query: list[str], size: int) -> np.ndarray:
    known = [t for t in query if model is not None and t in model.vocab_dict]
    if not known:
        return np.zeros(size, dtype=np.float32)
    return np.asarray(model.get_scores(known), dtype=np.float32)


class LexicalCache:
    """One LexicalIndex per article, built on first use (thread-safe)."""

    def __init__(self) -> None:
        self._by_article: dict[str, LexicalIndex] = {}
        self._lock = threading.Lock()

    def get(self, article_id: str, sentences: Sequence[Sentence], lang: str) -> LexicalIndex:
        with self._lock:
            lex = self._by_article.get(article_id)
            if lex is None:
                lex = self._by_article[article_id] = LexicalIndex(sentences, lang)
            return lex
