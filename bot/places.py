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
The same holds for what CLDR does not list and is written here: nationality
adjectives (DEMONYMS), capitals (CAPITALS) and the main international
organisations (ORGANISATIONS).
"""

from __future__ import annotations

import re
from functools import lru_cache

from .cite import fold

LANGUAGES = ("en", "fr")


def flat(text: str) -> str:
    """Lower case, no accents, words separated by one space: "Corée du Nord" -> "coree du nord"."""
    return " ".join(re.findall(r"\w+", fold(text)))


def _key(name: str) -> str:
    """``name`` as the tables hold it: folded, without a leading "the" ("the Netherlands" -> "netherlands")."""
    words = flat(name).split()
    if words[:1] == ["the"]:
        words = words[1:]
    return " ".join(words)


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
    return _table().get(_key(name), frozenset())


# Nationality adjectives, which CLDR does not list: English words, French
# stems (the masculine singular; feminine and plural endings are added when
# matching), and the acronyms written for a country. "coréen" alone is
# either Korea, so only its "nord-"/"sud-" forms count.
DEMONYMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "RU": (("russian",), ("russe",)),
    "UA": (("ukrainian",), ("ukrainien",)),
    "KP": (("north korean",), ("nord coreen",)),
    "KR": (("south korean",), ("sud coreen",)),
    "US": (("american", "us", "u s", "usa"), ("americain",)),
    "GB": (("british", "uk"), ("britannique",)),
    "CN": (("chinese",), ("chinois",)),
    "JP": (("japanese",), ("japonais",)),
    "FR": (("french",), ("francais",)),
    "DE": (("german",), ("allemand",)),
    "PL": (("polish",), ("polonais",)),
    "BY": (("belarusian",), ("bielorusse",)),
    "IR": (("iranian",), ("iranien",)),
    "IL": (("israeli",), ("israelien",)),
    "NL": (("dutch",), ("neerlandais",)),
    "BE": (("belgian",), ("belge",)),
    "TR": (("turkish",), ("turc",)),
    "IN": (("indian",), ("indien",)),
    "SY": (("syrian",), ("syrien",)),
    "IT": (("italian",), ("italien",)),
    "ES": (("spanish",), ("espagnol",)),
    "CA": (("canadian",), ("canadien",)),
    "GE": (("georgian",), ("georgien",)),
    "MD": (("moldovan",), ("moldave",)),
    "HU": (("hungarian",), ("hongrois",)),
    "RO": (("romanian",), ("roumain",)),
    "FI": (("finnish",), ("finlandais",)),
    "SE": (("swedish",), ("suedois",)),
    "NO": (("norwegian",), ("norvegien",)),
    "GR": (("greek",), ("grec",)),
}
# Capitals, for their country's government as news write it ("a appelé Moscou et
# Pyongyang à cesser" for « la Russie et la Corée du Nord »). Left out where the
# capital stands for something else as often: Brussels (the EU), The Hague
# (courts), Jerusalem, Rome and Minsk (treaties and agreements).
CAPITALS: dict[str, tuple[str, ...]] = {
    "RU": ("moscow", "moscou"),
    "KP": ("pyongyang",),
    "KR": ("seoul",),
    "UA": ("kyiv", "kiev"),
    "US": ("washington",),
    "GB": ("london", "londres"),
    "CN": ("beijing", "pekin"),
    "JP": ("tokyo",),
    "FR": ("paris",),
    "DE": ("berlin",),
    "PL": ("warsaw", "varsovie"),
    "IR": ("tehran", "teheran"),
    "TR": ("ankara",),
    "IN": ("new delhi", "delhi"),
    "SY": ("damascus", "damas"),
    "ES": ("madrid",),
    "CA": ("ottawa",),
    "GE": ("tbilisi", "tbilissi"),
    "MD": ("chisinau",),
    "HU": ("budapest",),
    "RO": ("bucharest", "bucarest"),
    "FI": ("helsinki",),
    "SE": ("stockholm",),
    "NO": ("oslo",),
    "GR": ("athens", "athenes"),
}
_CAPITAL_OF = {c: code for code, names in CAPITALS.items() for c in names}
# International organisations in both languages, folded: as with countries, that
# "European Union" is not « Nations Unies » is a fact, where the embedder's
# cosine is a guess (OSCE ~ OTAN 0.844, UN ~ OTAN 0.881; holdout2 k06 let
# "the envoy to the European Union" through for « auprès des Nations Unies »).
ORGANISATIONS: dict[str, tuple[str, ...]] = {
    "NATO": ("nato", "otan", "alliance atlantique", "atlantic alliance", "north atlantic alliance",
             "north atlantic treaty organization", "organisation du traite de l atlantique nord"),
    "UN": ("un", "onu", "united nations", "nations unies", "organisation des nations unies"),
    "EU": ("eu", "ue", "european union", "union europeenne"),
    "OSCE": ("osce", "organization for security and co operation in europe",
             "organisation pour la securite et la cooperation en europe"),
    "ICC": ("icc", "cpi", "international criminal court", "cour penale internationale"),
    "IMF": ("imf", "fmi", "international monetary fund", "fonds monetaire international"),
    "IAEA": ("iaea", "aiea", "international atomic energy agency", "agence internationale de l energie atomique"),
    "EC": ("european commission", "commission europeenne"),
}  # fmt: skip
_ORGANISATION_OF = {form: code for code, forms in ORGANISATIONS.items() for form in forms}
_FRENCH_ENDINGS = ("", "e", "s", "es", "ne", "nes", "que", "ques")  # ukrainien(ne)(s), grec/grecque
# "des Pays-Bas", "of the Netherlands": a country named as what a thing belongs to, which an
# adjective can stand for ("le Premier ministre néerlandais"); "pour l'Ukraine" cannot.
_OF = r"(?:of(?: the)?|de(?: la)?|des|du|d)"


def _forms(code: str) -> list[str]:
    english, french = DEMONYMS.get(code, ((), ()))
    return [*english, *(stem + end for stem in french for end in _FRENCH_ENDINGS)]


@lru_cache(maxsize=1)
def _codes() -> dict[str, str]:
    """Folded country names (CLDR, both languages), demonyms and acronyms -> the country's code."""
    out: dict[str, str] = {}
    try:
        from babel import Locale

        for lang in LANGUAGES:
            for code, name in Locale(lang).territories.items():
                if code.isalpha():
                    out.setdefault(flat(name), code)
    except ImportError:
        pass
    for code in DEMONYMS:
        for form in _forms(code):
            out[form] = code
    return out


def country(name: str) -> str | None:
    """The code of the country a name, nationality adjective or acronym stands for ("Dutch" -> "NL")."""
    return _codes().get(_key(name))


def capital_of(name: str) -> str | None:
    """The code of the country whose capital ``name`` is ("Moscou" -> "RU")."""
    return _CAPITAL_OF.get(flat(name))


def known_forms(name: str) -> tuple[str, ...]:
    """Every way of writing an organisation or a capital ``name`` is one of, in English and French
    (folded: "NATO" -> otan, alliance atlantique…; "Kyiv" -> kiev); () for any other name."""
    key = _key(name)
    if key in _ORGANISATION_OF:
        return ORGANISATIONS[_ORGANISATION_OF[key]]
    if key in _CAPITAL_OF:
        return CAPITALS[_CAPITAL_OF[key]]
    return ()


def written_in(name: str, text: str) -> str | None:
    """The form of organisation or capital ``name`` that ``text`` has ("NATO" in « l'OTAN » -> "otan")."""
    padded = f" {flat(text)} "
    return next((f for f in known_forms(name) if f" {f} " in padded), None)


def named_in(name: str, text: str, capitals: bool = False) -> str | None:
    """How ``text`` names the country that ``name`` (a country, a nationality, an acronym,
    with ``capitals`` a capital) stands for, in either language: its name anywhere for a name
    or a capital ("Netherlands" -> "pays bas", "Moscou" -> "russie"), and for an adjective its
    adjectives anywhere or its name after "de"/"of" ("Dutch" -> "des pays bas", "US" ->
    "americaines")."""
    code = country(name)
    if code is None and capitals:
        code = capital_of(name)
    if code is None:
        return None
    padded = f" {flat(text)} "
    adjective = flat(name) in _forms(code)
    names = sorted(n for n, c in _codes().items() if c == code and n not in _forms(code))
    for other in sorted(_forms(code)):
        if f" {other} " in padded:
            return other
    for other in names:
        if not adjective and f" {other} " in padded and other != flat(name):
            return other
        found = re.search(rf" {_OF} {re.escape(other)} ", padded)
        if adjective and found:
            return found.group(0).strip()
    return None


__all__ = ["capital_of", "country", "known_forms", "named_in", "other_names", "written_in"]
