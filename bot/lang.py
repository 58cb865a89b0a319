"""Language of a question or an article, with lingua (a maintained detector).

Short questions are the hard case: "Qui est Mark Rutte ?" reads as English to
any n-gram model because the names outweigh the two French words. So names
(capitalised words after the first) and numbers are dropped before detection,
and the answer falls back on a hint (the previous turn's language) when the
detector cannot tell French from English.

    >>> detect("Combien de soldats nord-coréens ?")
    'fr'
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

# Languages we can tell apart; fr and en are the ones we answer in, the others
# are recognised so that a German question is not mistaken for French.
_OTHERS = ("GERMAN", "SPANISH", "ITALIAN", "PORTUGUESE", "DUTCH")
# Languages with their own script: lingua tells them apart by the script, so
# even a two-word Arabic or a space-less Chinese question is recognised.
# (Persian left out: short Arabic questions scored as Persian.)
_SCRIPTS = ("ARABIC", "HEBREW", "RUSSIAN", "UKRAINIAN", "GREEK", "CHINESE", "JAPANESE", "KOREAN")
_WORD = re.compile(r"\w[\w'’-]*", re.UNICODE)


@lru_cache(maxsize=1)
def _detectors() -> tuple[Any, Any]:
    from lingua import Language, LanguageDetectorBuilder

    # Low accuracy mode (trigrams only) loads in 0.05 s instead of 2.5 s and is
    # plenty to tell a German question from a French one.
    wide = (
        LanguageDetectorBuilder.from_languages(
            Language.FRENCH, Language.ENGLISH, *(getattr(Language, n) for n in _OTHERS + _SCRIPTS)
        )
        .with_low_accuracy_mode()
        .build()
    )
    pair = LanguageDetectorBuilder.from_languages(Language.FRENCH, Language.ENGLISH).build()
    return wide, pair


def _core(text: str) -> str:
    words = _WORD.findall(text)
    latin = [w for w in words if non_latin_share(w) < 0.5]
    if len(latin) >= 2:
        # Other-script words among Latin ones are names: "Qui est 金正恩 ?"
        words = latin
    kept = [w for i, w in enumerate(words) if not w[0].isdigit() and (i == 0 or not w[0].isupper())]
    return " ".join(kept)


def non_latin_share(text: str) -> float:
    """Share of the letters of ``text`` that are not Latin (Arabic, Cyrillic, Han…)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(not unicodedata.name(c, "LATIN").startswith("LATIN") for c in letters) / len(letters)


# A question opening on a French interrogative, or on "que"/"qui" with French
# spacing before its question mark, is not Italian or Spanish, whatever the
# trigrams say: names and loanwords ("scudetti", "capocannoniere", "Moskva")
# pulled 7 of 2,522 PIAF questions to it or es at 0.95 and more. "Quel" and
# "quelle" are Italian words too ("quel giorno", "that day"): after them the
# question must also show something French (a word Italian does not have, a
# letter it does not use, or the space before "?"), or nothing Italian
# ("Quel accident grave a subi Doris Day?" has no Italian word).
# the start of a question, with a preposition before its interrogative ("À quel", "Avec combien")
_LEAD = r"^\W*(?:(?:à|a|avec|de|en|dans|par|pour|sur|depuis|jusqu['’]?à)\s+)?"
_FRENCH_OPENING = re.compile(
    _LEAD + r"(?:quels|quelles|quand|combien|pourquoi|comment|lequel|laquelle|lesquels|lesquelles|où)\b"
    r"|^\W*(?:que|qui|qu['’])\b.*\s\?\s*$",
    re.IGNORECASE,
)
_AMBIGUOUS_OPENING = re.compile(_LEAD + r"(?:quel|quelle)\b", re.IGNORECASE)
_FRENCH_MARK = re.compile(
    r"\s\?\s*$|[çêâîôûœ]|\b(?:est|sont|était|été|ont|du|des|les|une|aux|au|cette|ces|dans|avec|pour|qu['’]|leurs?)\b",
    re.IGNORECASE,
)
_ITALIAN_MARK = re.compile(
    r"\b(?:è|ha|hanno|di|del|della|dello|dei|delle|degli|lo|gli|chi|che|sono|era|per|nel|nella|negli|con|questo|questa)\b",
    re.IGNORECASE,
)


def _opens_in_french(text: str) -> bool:
    if _FRENCH_OPENING.search(text):
        return True
    return bool(_AMBIGUOUS_OPENING.search(text) and (_FRENCH_MARK.search(text) or not _ITALIAN_MARK.search(text)))


def detect(text: str, hint: str | None = None) -> str:
    """ISO 639-1 code of ``text``: "fr", "en", another code, or ``hint``/"en" when unsure."""
    core = _core(text)
    if not core.strip():
        return hint or "en"
    wide, pair = _detectors()
    ranked = wide.compute_language_confidence_values(core)
    top = ranked[0]
    code = top.language.iso_code_639_1.name.lower()
    # Another language only when the detector is sure and fr/en are far behind:
    # the trigram model calls "What is the capital of" German at 0.5 and
    # "est la porte-parole du" Spanish at 0.83; real German or Spanish
    # questions score 0.99 and more.
    fr_en_share = sum(c.value for c in ranked if c.language.iso_code_639_1.name in ("FR", "EN"))
    if code not in ("fr", "en") and fr_en_share < 0.05 and not _opens_in_french(text):
        # Another script is neither French nor English, even when the detector
        # hesitates between Russian and Ukrainian.
        if non_latin_share(core) >= 0.5 or (top.value >= 0.95 and len(core.split()) >= 3):
            return str(code)
    # A space before ? ! : ; is French typography, and a strong signal on short text.
    if re.search(r"\s[?!:;]\s*$", text) and len(core.split()) <= 3:
        return "fr"
    fr_en = pair.compute_language_confidence_values(core)
    best = fr_en[0]
    if best.value < 0.6 and hint in ("fr", "en"):
        return hint
    return str(best.language.iso_code_639_1.name.lower())
