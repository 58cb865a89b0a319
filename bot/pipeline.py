"""The public entry: a ``Bot`` that keeps the index current and answers questions.

    >>> bot = Bot(Settings.load())           # cheap: nothing loaded yet
    >>> answer = bot.ask("Combien de soldats nord-coréens ont été envoyés en Russie ?")
    >>> answer.answer, answer.citations[0].sentence_id

The first question loads the embedding model and the index, rebuilding the
index (and saying so in ``Answer.notice``) when the articles or the model
changed since it was built.
"""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from collections.abc import Sequence

from .config import Settings
from .embed import Embedder, SentenceTransformerEmbedder
from .errors import ConfigError, QuestionError
from .extractive import answer_extractive
from .index import SentenceIndex, Status, build_index, index_status, load_index, sha256_file
from .ingest import load_articles
from .retrieve import Retriever
from .types import Answer, Hit

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
History = Sequence[Sequence[str]]


def clean_question(question: str, max_chars: int) -> str:
    """NFC, control characters out, whitespace folded; refuse empty or huge input."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    text = " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", question)).split())
    if not text:
        raise QuestionError("the question is empty: type a question about the article")
    if len(text) > max_chars:
        raise QuestionError(
            f"the question is {len(text):,} characters long; the limit is {max_chars:,}: ask a shorter question"
        )
    return text


class Bot:
    """Answers questions about the articles in ``settings.seeds``, with citations."""

    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None) -> None:
        self.settings = settings or Settings.load()
        self.embedder: Embedder = embedder or SentenceTransformerEmbedder(self.settings)
        self._index: SentenceIndex | None = None
        self._retriever: Retriever | None = None
        self._seen: tuple[tuple[str, int, int], ...] | None = None
        self._lock = threading.RLock()
        self.warnings: list[str] = []  # skipped articles at the last build

    # -- index -----------------------------------------------------------
    def status(self) -> Status:
        return index_status(self.settings.index, self.settings.seeds, self.embedder.model_id)

    def build(self, progress: bool = False) -> SentenceIndex:
        """(Re)build the index from the articles folder."""
        with self._lock:
            articles, problems = load_articles(self.settings.seeds)
            self.warnings = problems
            indexed = {a.id for a in articles}
            skipped = {
                p.stem: sha256_file(p) for p in sorted(self.settings.seeds.glob("*.txt")) if p.stem not in indexed
            }
            self._index = build_index(articles, self.embedder, self.settings.index, skipped, progress)
            self._retriever = Retriever(self._index, self.embedder)
            self._seen = self._signature()
            return self._index

    def ensure_index(self) -> tuple[SentenceIndex, str | None]:
        """The current index, rebuilt first if stale; the notice says why it was."""
        with self._lock:
            signature = self._signature()
            if self._index is not None and signature == self._seen:
                return self._index, None
            status = self.status()
            if status.current:
                self._index = load_index(self.settings.index, self.embedder.model_id)
                self._retriever = Retriever(self._index, self.embedder)
                self._seen = signature
                return self._index, None
            index = self.build()
            if not status.exists:
                return index, f"built the index in {self.settings.index} (there was none)"
            return index, "rebuilt the stale index: " + "; ".join(status.reasons)

    def _signature(self) -> tuple[tuple[str, int, int], ...]:
        # Cheap change detection (name, size, mtime) so a warm ask does not re-hash files.
        paths = [*sorted(self.settings.seeds.glob("*.txt")), *sorted(self.settings.index.glob("*.*"))]
        out = []
        for p in paths:
            try:
                st = p.stat()
            except OSError:
                continue
            out.append((str(p), st.st_size, st.st_mtime_ns))
        return tuple(out)

    @property
    def index(self) -> SentenceIndex:
        return self.ensure_index()[0]

    # -- questions -------------------------------------------------------
    def retrieve(
        self, question: str, article: str | None = None, top_k: int | None = None, history: History = ()
    ) -> list[Hit]:
        self.ensure_index()
        assert self._retriever is not None
        q = clean_question(question, self.settings.max_question_chars)
        return self._retriever.search(q, top_k or self.settings.top_k, article, history).hits

    def ask(
        self,
        question: str,
        history: History = (),
        article: str | None = None,
        engine: str | None = None,
        top_k: int | None = None,
    ) -> Answer:
        if engine not in (None, "extractive"):
            raise ConfigError(f"engine {engine!r} is not available; use extractive")
        t0 = time.perf_counter()
        q = clean_question(question, self.settings.max_question_chars)
        _, notice = self.ensure_index()
        t1 = time.perf_counter()
        assert self._retriever is not None
        found = self._retriever.search(q, top_k or self.settings.top_k, article, history)
        t2 = time.perf_counter()
        from .lang import detect

        lang = detect(q, hint=_history_lang(history))
        answer = answer_extractive(q, found.hits, lang, found.background)
        t3 = time.perf_counter()
        timings = {
            "index_ms": (t1 - t0) * 1000,
            "retrieval_ms": (t2 - t1) * 1000,
            "answer_ms": (t3 - t2) * 1000,
            "total_ms": (t3 - t0) * 1000,
        }
        from dataclasses import replace

        return replace(answer, timings_ms=timings, notice=notice)


def _history_lang(history: History) -> str | None:
    from .lang import detect

    for turn in reversed(list(history)):
        if turn and turn[0].strip():
            return detect(turn[0])
    return None


__all__ = ["Bot", "clean_question"]
