"""Roles and titles in English and French: what a text says someone is.

    >>> [r.label for r in find("Le secrétaire général de l'OTAN, Mark Rutte, ancien Premier ministre")]
    ['secretary general', 'former prime minister']
    >>> [r.label for r in find("Russia's deputy foreign minister")]
    ['deputy minister (foreign affairs)']

The claim verifier (bot/verify.py) checks names, numbers and who speaks, but a
right name in the wrong role passed it: "The North Korean general who commands
the troops is Mark Rutte [1]" (test t-en-u03), "Sergei Lavrov is Russia's
interior minister [10]". A role is a fact like a name, and like a country's
name it is a word list, not a similarity: the same lexicon reads the answer
and the article in either language, so "porte-parole" is "spokeswoman" and
"chef de la diplomatie" is a foreign minister.

A role is its kind ("minister"), a portfolio for ministers ("foreign"),
whether it is former or current when the text says so, and whether it is a
deputy's. ``covers(evidence, claimed)`` says whether a role the article gives
is the role an answer claims: a head ("chef", "patron", "head of") is any
leader, a diplomat any foreign minister, ambassador or representative; a
former role is not a current one, a deputy is not the principal.

Pure functions on strings, no model. Names are the verifier's (claims.names);
``holders`` ties each role of an article to the names written next to it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from . import claims
from .cite import fold


@dataclass(frozen=True)
class Role:
    """A role as written: "ancien Premier ministre" is Role("prime minister", former=True)."""

    kind: str
    text: str
    start: int  # token positions in the text (claims.tokens)
    end: int
    portfolio: str | None = None
    former: bool | None = None  # True "former", False "current", None when the text does not say
    deputy: bool = False

    @property
    def label(self) -> str:
        head = " ".join(
            p
            for p in (
                "former" if self.former else "current" if self.former is False else "",
                "deputy" if self.deputy else "",
                self.kind,
            )
            if p
        )
        return f"{head} ({self.portfolio})" if self.portfolio else head


# One word, folded, for each kind. Plurals and feminines by the pattern.
_WORDS: tuple[tuple[str, str], ...] = (
    ("secretary general", r"secretary-general|secretaire-generale?"),
    ("president", r"presidente?s?"),
    ("minister", r"ministres?|ministers?"),
    ("spokesperson", r"porte-paroles?|spokes(?:person|woman|man|people|persons|women|men)"),
    ("general", r"generale?s?|generaux|generals?"),
    ("commander", r"commandante?s?|commanders?|commandeurs?|commander-in-chief"),
    ("head", r"chefs?|cheffes?|chiefs?|leaders?|dirigeante?s?|patronn?e?s?|boss(?:es)?"),
    ("ambassador", r"ambassadeurs?|ambassadrices?|ambassadors?"),
    ("representative", r"representante?s?|representatives?|deleguee?s?|delegates?"),
    ("journalist", r"journalistes?|journalists?|correspondante?s?|correspondents?|reporters?"),
    ("analyst", r"analystes?|analysts?"),
    ("diplomat", r"diplomates?|diplomats?|envoys?"),  # an envoy: any of DIPLOMATS
    ("instructor", r"instructeurs?|instructrices?|instructors?|trainers?|entraineurs?|entraineuses?"),
    ("general staff", r"etats?-majors?"),
    ("director", r"directeurs?|directrices?|directors?"),
    ("lawmaker", r"deputee?s?|senateurs?|senatrices?|senators?|lawmakers?|parlementaires?"),
    ("mayor", r"maires?|mayors?"),
    ("governor", r"gouverneurs?|governors?"),
    ("chancellor", r"chanceliere?s?|chancellors?"),
    ("monarch", r"rois?|reines?|kings?|queens?|monarques?|monarchs?"),
)
_WORD = [(kind, re.compile(f"(?:{p})$")) for kind, p in _WORDS]

# Several words, folded and without elisions ("chef d'état-major" is chef, etat-major).
# Longest first; the words they take are not read again ("secrétaire général" is no general).
_PHRASES: tuple[tuple[str, str | None, str], ...] = (
    ("general staff", None, r"chiefs? of (?:the )?(?:general )?staff"),
    ("general staff", None, r"chefs? (?:d )?etats?-majors?"),
    ("general staff", None, r"general staff"),
    ("minister", "foreign", r"chef de la diplomatie|head of (?:\w+ )?diplomacy|(?:top|chief) diplomat"),
    ("minister", "defence", r"secretar(?:y|ies) of state for defen[cs]e|secretaires? (?:\w+ )?(?:a la|de la) defense"),
    ("minister", None, r"secretar(?:y|ies) of state for \w+"),
    ("minister", "foreign", r"secretary of state|foreign secretar(?:y|ies)|secretaires? etat"),
    ("minister", "defence", r"secretar(?:y|ies) of defen[cs]e|defen[cs]e secretar(?:y|ies)"),
    ("minister", "interior", r"home secretar(?:y|ies)"),
    ("spokesperson", None, r"press secretary"),
    ("secretary general", None, r"secretaires? generale?s?|secretar(?:y|ies) generals?"),
    ("prime minister", None, r"(?:premiers?|premieres?) ministres?|prime ministers?"),
    # an army's chief is its commander, not any leader ("chef de l'armée" for "chef de la diplomatie")
    (
        "commander",
        None,
        r"(?:chefs?|chiefs?|heads?|commandants?|commanders?) (?:of|de|des|du) (?:the |la )?"
        r"(?:armed forces|army|armies|armee|armees|forces armees|military|troupes|troops)",
    ),
    ("head", None, r"heads? of"),
    ("commander", None, r"commanders? in chief|commandant en chef"),
)
_PHRASE = [(kind, port, re.compile(rf"^(?:{p})(?= |$)")) for kind, port, p in _PHRASES]

# A minister's portfolio: French after the word ("ministre russe des Affaires
# étrangères"), English before it or after "of"/"for" ("foreign minister",
# "minister of defence", "secretary of defense").
_PORTFOLIOS: tuple[tuple[str, str], ...] = (
    ("foreign", r"affaires etrangeres|foreign(?: affairs)?|exterieur|external affairs"),
    ("defence", r"defen[cs]e|armees"),
    ("interior", r"interieur|interior|home"),
    ("justice", r"justice"),
    ("finance", r"finances?|economie|economy|treasury|budget"),
    ("health", r"sante|health"),
    ("education", r"education"),
    ("energy", r"energie|energy"),
)
_PORTFOLIO_AFTER = [
    (p, re.compile(rf"^(?:de|des|du|de la|a la|of|of the|for|for the) (?:{rx})(?= |$)")) for p, rx in _PORTFOLIOS
]
_PORTFOLIO_BEFORE = [(p, re.compile(rf"(?:^| )(?:{rx})$")) for p, rx in _PORTFOLIOS]

_FORMER = set("ancien ancienne anciens anciennes former formerly previously ex onetime one-time".split())
_CURRENT = {"actuel", "actuelle", "actuels", "actuelles", "current", "sitting", "incumbent"}
_DEPUTY_BEFORE = {"deputy", "vice"}
_DEPUTY_AFTER = re.compile(r"adjointe?s?$")
# Leaders: what "chef", "head of", "patron", "leader" may stand for.
LEADERS = frozenset(
    {"head", "secretary general", "prime minister", "general staff"}
    | set("president minister commander director chancellor monarch mayor governor general".split())
)
DIPLOMATS = frozenset({"diplomat", "ambassador", "representative"})
# A word before "général" that makes it a noun (un général, le général), not "secrétaire général" or "en général".
_FR_NOUN_BEFORE = {"un", "une", "le", "la", "les", "des", "du", "ce", "cette", "ces", "au", "aux", "son", "sa", "ses"}
# "général" after these is part of another title or an adverb; these after "General" make a name.
_GENERAL_AFTER = set("en in attorney director inspector surgeon secretary solicitor auditor postmaster".split())
_GENERAL_BEFORE = set("assembly motors electric staff secretary council conference election elections hospital".split())
_EN_NOUN_AFTER = set(
    "who that of in at and is was has had said says commands commanded commanding leads led from with to whose".split()
)


def _words(text: str) -> list[tuple[str, str, int, int]]:
    """(folded bare word, word as written, start, end) for each word: elisions and possessives dropped
    ("l'OTAN" -> "otan", "minister's" -> "minister")."""
    out = []
    for w, start, end in claims.tokens(text):
        if w in '«»"“”':
            continue
        prefix, bare = claims.split_elision(w)
        low = re.sub(r"['’]s$", "", fold(bare).rstrip("."))
        out.append((low, bare, start + len(prefix), end))
    return out


_PREFIXES = ("vice-", "ex-", "sous-")


def _unprefixed(word: str) -> str:
    for prefix in _PREFIXES:
        if word.startswith(prefix):
            return word[len(prefix) :]
    return word


def find(text: str) -> list[Role]:
    """Every role ``text`` names, in order, with what it says of it (portfolio, former, deputy)."""
    words = _words(text)
    low = [w for w, _, _, _ in words]
    bare = [_unprefixed(w) for w in low]  # "vice-Premier ministre" is a prime minister's deputy
    found: list[tuple[str, str | None, int, int]] = []  # kind, portfolio, first word, last word + 1
    i = 0
    while i < len(low):
        rest = " ".join(bare[i : i + 6])
        hit = next(((k, p, m) for k, p, rx in _PHRASE if (m := rx.match(rest))), None)
        if hit:
            kind, port, m = hit
            n = len(m.group(0).split())
            found.append((kind, port, i, i + n))
            i += n
            continue
        kind_hit = next((k for k, rx in _WORD if rx.match(bare[i])), None)
        if kind_hit and not _is_a_role(words, i, kind_hit):
            kind_hit = None
        if kind_hit:
            found.append((kind_hit, None, i, i + 1))
        i += 1
    roles = []
    for kind, port, a, b in found:
        end = b
        if kind == "minister" and port is None:
            port, end = _portfolio(words, a, b)
        former: bool | None = True if low[a].startswith("ex-") else None
        deputy = low[a].startswith(("vice-", "sous-"))
        # a modifier right before the role, or with a nationality between ("former Dutch prime
        # minister", « ancien ministre »); not further ("a former comedian turned president",
        # « Auparavant, un représentant »), not past the previous role
        previous_end = max((f[3] for f in found if f[3] <= a), default=0)
        for j in (a - 1, a - 2):
            if j < previous_end or j < 0:
                break
            if j == a - 2 and not (
                _nationality(words[a - 1]) or any(rx.search(words[a - 1][0]) for _, rx in _PORTFOLIO_BEFORE)
            ):
                break
            if low[j] in _FORMER:
                former = True
            elif low[j] in _CURRENT:
                former = False
            elif low[j] in _DEPUTY_BEFORE:
                deputy = True
        if end < len(low) and _DEPUTY_AFTER.match(low[end]):
            deputy, end = True, end + 1
        start_char, end_char = words[a][2], words[end - 1][3]
        roles.append(Role(kind, text[start_char:end_char], a, end, port, former, deputy))
    return roles


def _nationality(word: tuple[str, str, int, int]) -> bool:
    """ "Dutch", « néerlandais », "US", "Russian": a word that may stand between a modifier and its role."""
    return claims.is_demonym(word[0]) or claims.is_acronym(word[1])


def _is_a_role(words: list[tuple[str, str, int, int]], i: int, kind: str) -> bool:
    """Whether a role word is used as one: "head" only in "head of" (a phrase), "général" and
    "chief"/"representative" as nouns, "leader" not in "world leader", « représentant » not before a
    share (« représentant 2 % »)."""
    low = words[i][0]
    after = words[i + 1] if i + 1 < len(words) else None
    before = words[i - 1][0] if i > 0 else ""
    if kind == "head" and low in ("head", "heads"):
        return False  # also a verb and a body part: only "head of", a phrase above
    if kind == "head" and low.startswith("leader"):
        market = ("mondial", "mondiale", "du", "of", "in", "sur")
        return before not in ("market", "world", "global", "industry") and (after is None or after[0] not in market)
    if kind == "representative" and low.startswith("representant") and after and re.match(r"\d", after[0]):
        return False
    if kind == "general":
        return _general_is_a_noun(words, i)
    if low in ("chief", "chiefs", "representative", "representatives") and after is not None:
        return after[1][:1].isupper() or after[0] in _EN_NOUN_AFTER  # not "the chief reason"
    return True


def _general_is_a_noun(words: list[tuple[str, str, int, int]], i: int) -> bool:
    """ "un général", "le général Gerassimov", "the North Korean general who": a person; not
    "secrétaire général" (a phrase above), "l'Assemblée générale", "en général", "the general public",
    "the UN General Assembly", "General Motors", "Attorney General"."""
    low, written = words[i][0], words[i][1]
    before = words[i - 1] if i > 0 else None
    after = words[i + 1] if i + 1 < len(words) else None
    # a French article before ("le général"), as written: "UN" is no "un"
    french_noun = before is not None and before[0] in _FR_NOUN_BEFORE and not claims.is_acronym(before[1])
    if low.startswith("gener") and low not in ("general", "generals"):
        return french_noun or (after is not None and after[1][:1].isupper())
    if french_noun:
        return True
    if before is not None and before[0] in _GENERAL_AFTER:
        return False  # "Attorney General", "en général"
    if after is None or after[0] in _EN_NOUN_AFTER:
        return True
    if after[1][:1].isupper():  # "General Gerasimov"; not "General Assembly", "General Motors"
        return after[0] not in _GENERAL_BEFORE and written[:1].isupper() and not _before_is_name(before)
    return False


def _before_is_name(before: tuple[str, str, int, int] | None) -> bool:
    """A capitalised word before a capitalised "General" makes one name of them ("UN General
    Assembly"), unless it is a nationality or an organisation's acronym ("North Korean General Kim")."""
    return before is not None and before[1][:1].isupper() and not _nationality(before) and before[0] != "the"


def _portfolio(words: list[tuple[str, str, int, int]], a: int, b: int) -> tuple[str | None, int]:
    """A minister's portfolio: English before the word ("foreign minister"), French or English after it
    (« ministre russe des Affaires étrangères », "minister of defence"), with only a nationality between
    (not "the foreign minister spoke of the war")."""
    low = [w for w, _, _, _ in words]
    before = " ".join(low[max(0, a - 2) : a])
    for port, rx in _PORTFOLIO_BEFORE:
        if rx.search(before):
            return port, b
    skip = 1 if b < len(words) and _nationality(words[b]) else 0
    after = " ".join(low[b + skip : b + skip + 4])
    for port, rx in _PORTFOLIO_AFTER:
        m = rx.match(after)
        if m:
            return port, b + skip + len(m.group(0).split())
    return None, b


def covers(evidence: Role, claimed: Role) -> bool:
    """Whether the role the article gives (``evidence``) is the role an answer claims."""
    if claimed.kind == "head":
        kind_ok = evidence.kind in LEADERS
    elif claimed.kind == "diplomat":
        kind_ok = evidence.kind in DIPLOMATS or (evidence.kind == "minister" and evidence.portfolio == "foreign")
    elif claimed.kind == "commander":
        kind_ok = evidence.kind in ("commander", "general")
    else:
        kind_ok = evidence.kind == claimed.kind
    if not kind_ok:
        return False
    if claimed.portfolio and claimed.portfolio != evidence.portfolio:
        return False
    # a deputy is not the principal, nor the other way round; but a deputy minister is a diplomat
    if claimed.deputy != evidence.deputy and not (claimed.kind == "diplomat" and not claimed.deputy):
        return False
    if claimed.former is True and evidence.former is not True:
        return False
    return not (claimed.former is False and evidence.former is True)


def holders(
    text: str, names: Sequence[claims.Mention], reach: int = 5, found: Sequence[Role] | None = None
) -> list[tuple[Role, claims.Mention]]:
    """Each role of ``text`` with the name written nearest it, within ``reach`` words: "la porte-parole
    du Pentagone, Sabrina Singh" gives (spokesperson, Sabrina Singh); in "Mark Rutte a rencontré le
    président ukrainien Volodymyr Zelensky" the president is Zelensky, not Rutte. Names at the same
    distance both hold it. ``found``: ``find(text)``, when the caller has it."""
    spans = _spans(text, names)
    out = []
    for role in find(text) if found is None else found:
        gaps = [
            (max(role.start - last, first - role.end + 1), name)
            for name, (first, last) in zip(names, spans, strict=True)
        ]
        near = [g for g, _ in gaps if g <= reach]
        out += [(role, name) for g, name in gaps if near and g == min(near)]
    return out


def complements(
    text: str, names: Sequence[claims.Mention], after: int = 3, found: Sequence[Role] | None = None
) -> list[tuple[Role, claims.Mention]]:
    """The names that belong to a role's title: inside it, within ``after`` words past it ("porte-parole
    du Pentagone", "ministre russe des Affaires étrangères") or right before it ("the Pentagon's
    spokeswoman", "NATO Secretary General"); not further before ("les accusations de l'OTAN, le
    ministre russe …"). ``found``: ``find(text)``, when the caller has it."""
    spans = _spans(text, names)
    return [
        (role, name)
        for role in (find(text) if found is None else found)
        for name, (first, last) in zip(names, spans, strict=True)
        if role.start <= first < role.end + after or last == role.start - 1
    ]


def _spans(text: str, names: Sequence[claims.Mention]) -> list[tuple[int, int]]:
    """Each name's first and last word, as positions in ``_words(text)``."""
    starts = [s for _, _, s, _ in _words(text)]
    return [(bisect.bisect_left(starts, m.start), bisect.bisect_left(starts, m.end) - 1) for m in names]
