"""The extractive engine: quote the best sentence(s) verbatim, cite them, or abstain.

    >>> chosen = choose("Combien de soldats ?", hits)
    >>> answer_extractive("Combien de soldats ?", hits, lang="fr", confidence=0.83)
    Answer(answer="D'après l'article : « … environ 10 000 soldats … » [5]", ...)

It only ever cites sentences that retrieval returned. Whether to answer is
not its own call: the calibration (bot/confidence.py: the probability that the
article answers, and a floor on the confidence) decides for both engines, and
when it says no, this engine says the article does not hold the answer.
"""

from __future__ import annotations

import re

from .answer_types import asks_quantity, has_count
from .prompts import ABSTAIN
from .types import Answer, Citation, Hit

# A second sentence is quoted too when its dense score is this close to the
# first's: an answer spread over two sentences scores within a hair of each
# other (docs/calibration.md measures what it costs and brings).
SECOND_MARGIN = 0.025

UNSUPPORTED_LANG = "I can only answer in English or French. / Je ne peux répondre qu'en français ou en anglais."
FRAME = {
    "fr": ("D'après l'article : ", "Et : "),
    "en": ("According to the article: ", "Also: "),
}
QUOTES = {"fr": ("« ", " »"), "en": ("\u201c", "\u201d")}
# A bracketed number inside a quoted sentence ("publié en [[1987])", wiki markup
# in a PIAF paragraph) would read as a citation to a sentence that does not
# exist: it is quoted with full-width brackets, which look the same to a reader
# and are not citations to the parser (bot/cite.py) or the UI.
_BRACKETED = re.compile(r"\[(\s*\d[\d\s,;]*)\]")


def _quotable(text: str) -> str:
    return _BRACKETED.sub(lambda m: f"［{m.group(1)}］", text)


def choose(question: str, hits: list[Hit]) -> list[Hit]:
    """The sentence(s) the engine would quote, in reading order: the best one,
    the next one too when it scores within SECOND_MARGIN, and for a quantity
    question only sentences that hold a count (if one of the best two does)."""
    if not hits:
        return []
    chosen = [hits[0]]
    if len(hits) > 1 and round(hits[0].score - hits[1].score, 4) <= SECOND_MARGIN:
        chosen.append(hits[1])
    if asks_quantity(question):
        counted = [h for h in chosen if has_count(h.sentence.text)] or [
            h for h in hits[:2] if has_count(h.sentence.text)
        ][:1]
        chosen = counted or chosen
    return sorted(chosen, key=lambda h: (h.sentence.article_id, h.sentence.n))


def answer_extractive(
    question: str, hits: list[Hit], lang: str, confidence: float | None = None, abstain: bool = False
) -> Answer:
    """Quote ``choose``'s sentences in ``lang``'s framing, or abstain when the
    calibrated decision says so (``abstain``) or nothing was retrieved."""
    if lang not in FRAME:
        return Answer(question, UNSUPPORTED_LANG, "extractive", True, lang, hits=tuple(hits), confidence=confidence)
    chosen = choose(question, hits)
    if not chosen or abstain:
        return Answer(question, ABSTAIN[lang], "extractive", True, lang, hits=tuple(hits), confidence=confidence)
    opening, joiner = FRAME[lang]
    left, right = QUOTES[lang]
    parts = [f"{left}{_quotable(h.sentence.text)}{right} [{h.sentence.n}]" for h in chosen]
    text = opening + parts[0] + "".join(f" {joiner}{p}" for p in parts[1:])
    citations = tuple(
        Citation(
            h.sentence.n,
            h.sentence.id,
            h.sentence.article_id,
            h.sentence.text,
            h.sentence.start,
            h.sentence.end,
            round(h.score, 4),
        )
        for h in chosen
    )
    return Answer(question, text, "extractive", False, lang, citations, tuple(hits), confidence=confidence)
