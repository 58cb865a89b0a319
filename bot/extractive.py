"""The extractive engine: quote the best sentence(s) verbatim, cite them, or abstain.

    >>> answer_extractive("Combien de soldats ?", hits, lang="fr")
    Answer(answer="D'après l'article : « … environ 10 000 soldats … » [4]", ...)

It only ever cites sentences that retrieval returned. It abstains when
retrieval is not confident; how the thresholds were calibrated is written next
to each of them (and in docs/extractive.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .prompts import ABSTAIN
from .types import Answer, Citation, Hit

# Abstention, calibrated on eval/gold/dev.jsonl with multilingual-e5-small
# (docs/extractive.md has the table). Top-1 score alone does not separate
# answerable from unanswerable questions: answerable ones score 0.79-0.90,
# off-topic ones 0.71-0.79, and an on-topic question the article does not
# answer (a death toll) scores 0.87. What off-topic questions also share is a
# flat profile: their best sentence barely stands out from the article's
# median (< 0.023), while answerable ones mostly stand out by 0.03 or more.
# So: abstain below FLOOR; above it, the lower the best score, the more it must
# stand out: (score below, lift needed). The second tier catches markup and
# keyboard noise (a <script> question scores 0.814 with a lift of 0.018) and
# costs no dev question (the lowest lift above 0.80 is 0.022).
FLOOR = 0.78
LIFT_TIERS = ((0.80, 0.03), (0.82, 0.02))
# A second sentence is quoted too when it scores this close to the first:
# answers spread over two sentences score within a hair of each other.
SECOND_MARGIN = 0.012

UNSUPPORTED_LANG = "I can only answer in English or French. / Je ne peux répondre qu'en français ou en anglais."
FRAME = {
    "fr": ("D'après l'article : ", "Et : "),
    "en": ("According to the article: ", "Also: "),
}
QUOTES = {"fr": ("« ", " »"), "en": ("\u201c", "\u201d")}

# Answer types. A question that asks for a quantity needs a count in the
# sentence that answers it, and one that asks *when* needs a time expression:
# an on-topic sentence without one answers a neighbouring question ("how many
# were killed?" retrieves "10 000 were sent"; "when was the pact signed?"
# retrieves the sentence about the pact). These are the one kind of on-topic
# unanswerable question that can be told from the text alone (docs/extractive.md).
_HOW_MANY = re.compile(r"\b(combien|how many|how much|nombre de|number of)\b", re.IGNORECASE)
_WHEN = re.compile(
    r"\b(quand|when|since when|what date|which date|what day|what year|which year|"
    r"quelle date|quel jour|quelle ann[ée]e|en quelle ann[ée]e)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    # "un"/"une"/"one" are left out: in French they are mostly articles.
    r"\d|\b(deux|trois|quatre|cinq|six|sept|huit|neuf|dix|cent|mille|million|two|three|four|five|ten|hundred|thousand)",
    re.IGNORECASE,
)
_MONTHS = (
    "janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre|"
    "january|february|march|april|may|june|july|august|september|october|november|december"
)
# A number that is part of a date is not a count: "le 28 octobre", "October 28", "en 2024".
_DATE_NUMBER = re.compile(
    rf"\b\d{{1,2}}(?:er)?\s+(?:{_MONTHS})\b|\b(?:{_MONTHS})\s+\d{{1,2}}\b|\b(?:19|20)\d\d\b", re.IGNORECASE
)
_TIME = re.compile(
    rf"\b(?:{_MONTHS}|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday|hier|aujourd'hui|demain|yesterday|today|tomorrow|jours?|days?|semaines?|weeks?|"
    r"mois|months?|ans|années?|years?|heures?|hours?|depuis|since|auparavant|previously|avant|après|before|after|"
    r"ago|veille|lendemain|longtemps|déjà|already|bientôt|soon)\b|\b(?:19|20)\d\d\b",
    re.IGNORECASE,
)


def asks_quantity(question: str) -> bool:
    return bool(_HOW_MANY.search(question))


def asks_time(question: str) -> bool:
    return bool(_WHEN.search(question))


def has_number(text: str) -> bool:
    return bool(_NUMBER.search(text))


def has_count(text: str) -> bool:
    """A number that is not part of a date."""
    return has_number(_DATE_NUMBER.sub(" ", text))


def has_time(text: str) -> bool:
    return bool(_TIME.search(text))


@dataclass(frozen=True)
class Decision:
    abstain: bool
    reason: str


def decide(question: str, hits: list[Hit], background: float) -> Decision:
    """Is retrieval confident enough to quote? (Pure: unit-tested on crafted hits.)"""
    if not hits:
        return Decision(True, "no sentence retrieved")
    top = hits[0]
    if top.score < FLOOR:
        return Decision(True, f"best score {top.score:.3f} < {FLOOR}")
    for below, lift in LIFT_TIERS:
        if top.score < below and top.score - background < lift:
            return Decision(True, f"best score {top.score:.3f} hardly above the median {background:.3f}")
    best = [h.sentence.text for h in hits[:2] if top.score - h.score <= SECOND_MARGIN * 2]
    if asks_quantity(question) and not any(has_count(t) for t in best):
        return Decision(True, "asks for a quantity; no count in the best sentences")
    if asks_time(question) and not any(has_time(t) for t in best):
        return Decision(True, "asks when; no time expression in the best sentences")
    return Decision(False, "confident")


def answer_extractive(question: str, hits: list[Hit], lang: str, background: float = 0.0) -> Answer:
    """Quote the best sentence(s) of ``hits`` in ``lang``'s framing, or abstain."""
    if lang not in FRAME:
        return Answer(question, UNSUPPORTED_LANG, "extractive", True, lang, hits=tuple(hits))
    decision = decide(question, hits, background)
    if decision.abstain:
        return Answer(question, ABSTAIN[lang], "extractive", True, lang, hits=tuple(hits))
    chosen = [hits[0]]
    if len(hits) > 1 and hits[0].score - hits[1].score <= SECOND_MARGIN:
        chosen.append(hits[1])
    if asks_quantity(question):  # quote only sentences that hold a count
        chosen = [h for h in chosen if has_count(h.sentence.text)] or [
            h for h in hits[:2] if has_count(h.sentence.text)
        ][:1]
    chosen.sort(key=lambda h: (h.sentence.article_id, h.sentence.n))
    opening, joiner = FRAME[lang]
    left, right = QUOTES[lang]
    parts = [f"{left}{h.sentence.text}{right} [{h.sentence.n}]" for h in chosen]
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
    return Answer(question, text, "extractive", False, lang, citations, tuple(hits))
