"""Typed value objects handed from stage to stage.

``dataclasses.asdict`` on any of them gives the CLI's ``--json`` shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .verify import Verification


def _cut(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass(frozen=True)
class Sentence:
    """One sentence of an article: ``article.text[start:end] == text``."""

    id: str  # "ARTICLE:N"
    article_id: str
    n: int  # 1-based position in reading order; the number cited as [n]
    text: str
    start: int
    end: int

    def __repr__(self) -> str:
        return f"Sentence({self.id!r}, {_cut(self.text)!r})"


@dataclass(frozen=True)
class Article:
    """A cleaned article and its sentences."""

    id: str  # file stem
    text: str  # cleaned text the sentence offsets point into
    sentences: tuple[Sentence, ...]
    source_url: str | None
    sha256: str  # of the raw file bytes: what the index manifest checks
    lang: str  # "fr", "en", ... detected on the cleaned text

    @property
    def title(self) -> str:
        return self.sentences[0].text if self.sentences else self.id

    def __repr__(self) -> str:
        return f"Article({self.id!r}, {len(self.sentences)} sentences, lang={self.lang!r})"


@dataclass(frozen=True)
class Hit:
    """A retrieved sentence with its cosine similarity to the query."""

    sentence: Sentence
    score: float

    def __repr__(self) -> str:
        return f"Hit({self.sentence.id!r}, {self.score:.3f})"


@dataclass(frozen=True)
class Citation:
    """A citation ``[n]`` in an answer, resolved to its sentence."""

    n: int
    sentence_id: str
    article_id: str
    text: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Answer:
    """What the bot says, with the evidence behind it."""

    question: str
    answer: str
    engine: str  # "extractive" or "llm"
    abstained: bool
    lang: str
    citations: tuple[Citation, ...] = ()
    hits: tuple[Hit, ...] = field(default=(), repr=False)  # what retrieval returned
    timings_ms: dict[str, float] = field(default_factory=dict)
    notice: str | None = None  # e.g. "index rebuilt", "LLM unavailable"
    # Calibrated probability that the sentences the extractive engine quotes (or
    # would quote, for an abstention) hold the answer (bot/confidence.py); an LLM
    # answer gets the same number, not one for its own citations. None when not assessed.
    confidence: float | None = None
    # Calibrated probability that the article answers the question at all: what
    # the decision to answer or say "not found" reads; None when not assessed.
    answerable: float | None = None
    # the claim check of the LLM's answer (bot/verify.py): of the answer shown,
    # or of the one replaced by the extractive answer
    verification: Verification | None = field(default=None, repr=False)

    def to_json(self, id: str | None = None) -> dict[str, object]:
        """The stable ``--json`` shape documented in the README."""
        out: dict[str, object] = {}
        if id is not None:
            out["id"] = id
        out.update(
            question=self.question,
            answer=self.answer,
            engine=self.engine,
            abstained=self.abstained,
            lang=self.lang,
            confidence=self.confidence,
            answerable=self.answerable,
            citations=[c.__dict__.copy() for c in self.citations],
            timings_ms={k: round(v, 2) for k, v in self.timings_ms.items()},
        )
        if self.notice:
            out["notice"] = self.notice
        if self.verification is not None:
            out["verification"] = self.verification.to_json()
        return out
