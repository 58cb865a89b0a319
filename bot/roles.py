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
    ("minister", "foreign", r"secretary of state|foreign secretar(?:y|ies)"),
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
    ("defence", r"defen[cs]e|armees|war|guerre"),
    ("interior", r"interieur|interior|home"),
    ("justice", r"justice"),
    ("finance", r"finances?|economie|economy|treasury|budget"),
    ("health", r"sante|health"),
    ("education", r"education"),
    ("energy", r"energie|energy"),
)
_PORTFOLIO_AFTER = [
    (p, re.compile(rf"^(?:\w+ )?(?:de|des|du|de la|of|of the|for|for the) (?:{rx})(?= |$)")) for p, rx in _PORTFOLIOS
]
_PORTFOLIO_BEFORE = [(p, re.compile(rf"(?:^| )(?:{rx})$")) for p, rx in _PORTFOLIOS]

_FORMER = set("ancien ancienne anciens anciennes former formerly previously ex onetime one-time auparavant".split())
_CURRENT = {"actuel", "actuelle", "actuels", "actuelles", "current", "sitting", "incumbent"}
_DEPUTY_BEFORE = {"deputy", "vice", "sous"}
_DEPUTY_AFTER = re.compile(r"adjointe?s?$")
# Leaders: what "chef", "head of", "patron", "leader" may stand for.
LEADERS = frozenset(
    {"head", "secretary general", "prime minister", "general staff"}
    | set("president minister commander director chancellor monarch mayor governor general".split())
)
DIPLOMATS = frozenset({"diplomat", "ambassador", "representative"})
# A word before "général" that makes it a noun (un général, le général), not "secrétaire général" or "en général".
_FR_NOUN_BEFORE = {"un", "une", "le", "la", "les", "des", "du", "ce", "cette", "ces", "au", "aux", "son", "sa", "ses"}
_EN_NOUN_AFTER = set(
    "who that of in at and is was has had said says commands commanded commanding leads led from with to whose".split()
)


def _words(text: str) -> list[tuple[str, str, int, int]]:
    """(folded bare word, word as written, start, end) for each word: elisions dropped ("l'OTAN" -> "otan")."""
    out = []
    for w, start, end in claims.tokens(text):
        if w in '«»"“”':
            continue
        prefix, bare = claims.split_elision(w)
        out.append((fold(bare).rstrip("."), bare, start + len(prefix), end))
    return out


def find(text: str) -> list[Role]:
    """Every role ``text`` names, in order, with what it says of it (portfolio, former, deputy)."""
    words = _words(text)
    low = [w for w, _, _, _ in words]
    found: list[tuple[str, str | None, int, int]] = []  # kind, portfolio, first word, last word + 1
    i = 0
    while i < len(low):
        rest = " ".join(low[i : i + 6])
        hit = next(((k, p, m) for k, p, rx in _PHRASE if (m := rx.match(rest))), None)
        if hit:
            kind, port, m = hit
            n = len(m.group(0).split())
            found.append((kind, port, i, i + n))
            i += n
            continue
        word = low[i]
        for prefix in ("vice-", "ex-", "sous-"):
            if word.startswith(prefix):
                word = word[len(prefix) :]
        kind_hit = next((k for k, rx in _WORD if rx.match(word)), None)
        if kind_hit == "general" and not _general_is_a_noun(words, i):
            kind_hit = None
        if kind_hit == "head" and low[i] in ("head", "heads"):
            kind_hit = None  # only "head of" (a phrase above): "head" is also a verb and a body part
        if kind_hit:
            found.append((kind_hit, None, i, i + 1))
        i += 1
    roles = []
    for kind, port, a, b in found:
        end = b
        if kind == "minister" and port is None:
            port, end = _portfolio(low, a, b)
        former: bool | None = None
        deputy = low[a].startswith(("vice-", "sous-"))
        if low[a].startswith("ex-"):
            former = True
        # a modifier belongs to the role right after it: not past the previous role
        previous_end = max((f[3] for f in found if f[3] <= a), default=0)
        for j in range(max(0, a - 3, previous_end), a):
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


def _general_is_a_noun(words: list[tuple[str, str, int, int]], i: int) -> bool:
    """ "un général", "le général Gerassimov", "the North Korean general who": a person; not
    "secrétaire général" (a phrase above), "l'Assemblée générale", "en général", "the general public"."""
    low = words[i][0]
    before = words[i - 1][0] if i > 0 else ""
    after = words[i + 1] if i + 1 < len(words) else None
    if low.startswith("gener") and low != "general" and low not in ("generals",):
        return before in _FR_NOUN_BEFORE or (after is not None and after[1][:1].isupper())
    # "general" is French after a determiner too ("le général" folds to "le general")
    if before in _FR_NOUN_BEFORE:
        return True
    if after is None or after[1][:1].isupper() or after[0] in _EN_NOUN_AFTER:
        return before not in ("in", "en", "attorney", "director", "inspector", "surgeon", "secretary")
    return False


def _portfolio(low: list[str], a: int, b: int) -> tuple[str | None, int]:
    after = " ".join(low[b : b + 5])
    for port, rx in _PORTFOLIO_AFTER:
        m = rx.match(after)
        if m:
            return port, b + len(m.group(0).split())
    before = " ".join(low[max(0, a - 2) : a])
    for port, rx in _PORTFOLIO_BEFORE:
        if rx.search(before):
            return port, b
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
    if claimed.deputy != evidence.deputy:
        return False
    if claimed.former is True and evidence.former is not True:
        return False
    return not (claimed.former is False and evidence.former is True)


def holders(text: str, names: Sequence[claims.Mention], reach: int = 5) -> list[tuple[Role, claims.Mention]]:
    """Each role of ``text`` with each name written within ``reach`` words of it: "la porte-parole du
    Pentagone, Sabrina Singh" gives (spokesperson, Pentagone) and (spokesperson, Sabrina Singh)."""
    words = _words(text)
    starts = [s for _, _, s, _ in words]
    out = []
    for role in find(text):
        for name in names:
            at = next((j for j, s in enumerate(starts) if s >= name.start), len(starts))
            last = next((j for j, s in enumerate(starts) if s >= name.end), len(starts)) - 1
            gap = max(role.start - last, at - role.end + 1)
            if gap <= reach:
                out.append((role, name))
    return out


def complements(text: str, names: Sequence[claims.Mention], after: int = 3) -> list[tuple[Role, claims.Mention]]:
    """The names that belong to a role's title: inside it or within ``after`` words past it ("porte-parole
    du Pentagone", "ministre russe des Affaires étrangères"), not the ones before it ("les accusations
    de l'OTAN, le ministre russe …")."""
    starts = [s for _, _, s, _ in _words(text)]
    out = []
    for role in find(text):
        for name in names:
            at = next((j for j, s in enumerate(starts) if s >= name.start), len(starts))
            if role.start <= at < role.end + after:
                out.append((role, name))
    return out
