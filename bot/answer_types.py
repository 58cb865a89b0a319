"""Answer types: what kind of answer a question asks for, and whether a text has one.

    >>> asks_quantity("Combien de soldats ?"), has_count("le 28 octobre")
    (True, False)

Used by both engines and by the confidence model (a sentence without the
asked-for kind of answer is evidence of a neighbouring fact, not of the answer).
"""

from __future__ import annotations

import re

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
