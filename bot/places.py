"""Country and region names across English and French, from the Unicode CLDR
(through Babel): "Netherlands" is "Pays-Bas", "North Korea" is "Corée du Nord".

    >>> other_names("Netherlands")
    frozenset({'pays bas'})

The claim verifier (bot/verify.py) matches a name across languages through
the embedder, at a threshold that has to sit between different names (Poland ~
Ukraine 0.881) and the same one; the names of countries are where that fails
(Netherlands ~ Pays-Bas 0.881, eval/reports/verify-calibration.md). For them
the translation is a fact, not a similarity, and CLDR has it for every
territory. Names are folded (case, accents, hyphens) like the verifier's text.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .cite import fold

LANGUAGES = ("en", "fr")


def flat(text: str) -> str:
    """Lower case, no accents, words separated by one space: "Corée du Nord" -> "coree du nord"."""
    return " ".join(re.findall(r"\w+", fold(text)))


@lru_cache(maxsize=1)
def _table() -> dict[str, frozenset[str]]:
    try:
        from babel import Locale
    except ImportError:  # the verifier falls back on the embedder alone
        return {}
    names: dict[str, set[str]] = {}
    for lang in LANGUAGES:
        for code, name in Locale(lang).territories.items():
            if code.isalpha():  # countries; the numeric codes are regions ("world", "Europe")
                names.setdefault(code, set()).add(flat(name))
    table: dict[str, set[str]] = {}
    for variants in names.values():
        for v in variants:
            table.setdefault(v, set()).update(variants - {v})
    return {k: frozenset(v) for k, v in table.items() if v}


def other_names(name: str) -> frozenset[str]:
    """The country's name in the other languages (folded), or nothing when ``name`` is not a country's."""
    words = flat(name).split()
    if words[:1] == ["the"]:  # "the Netherlands"
        words = words[1:]
    return _table().get(" ".join(words), frozenset())


def named_in(name: str, text: str) -> str | None:
    """The other-language name of the country ``name`` as it appears in ``text``, if it does."""
    padded = f" {flat(text)} "
    for other in sorted(other_names(name)):
        if f" {other} " in padded:
            return other
    return None


__all__ = ["named_in", "other_names"]
