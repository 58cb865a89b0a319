"""What an answer sentence claims, read off its text: names, numbers, dates,
quotes, negations, who says or does what, and what kind of question it answers.

Pure functions on strings, no model: ``bot/verify.py`` matches what they find
against the cited sentences.

    >>> [m.text for m in names("According to NATO, Mark Rutte met the OSCE.")]
    ['NATO', 'Mark Rutte', 'OSCE']
    >>> numbers("environ 10 000 soldats, dix mille, ten thousand, 10,000")
    {'10000'}
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from .cite import CITATION_LIKE as _CITATION
from .cite import STOPWORDS as _CITE_STOPWORDS
from .cite import fold

# -- words ------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*\.?|[«»\"“”]", re.UNICODE)

# Function words and the usual sentence openers: a capitalised one at the start
# of a sentence is not a name.
FUNCTION_WORDS = _CITE_STOPWORDS | set(
    """
    selon d'après apres après parce puisque lorsque pour ainsi alors enfin cependant toutefois pourtant néanmoins
    oui non si c'est
    c'était ce cela ceci celui celle ceux celles lui eux leur elle il ils elles on nous vous moi toi mais
    dans depuis auparavant environ quelque quelques certains certaines plusieurs chaque aucun aucune
    lors le la les un une des du de d' l' au aux cet cette ces son sa ses mon ma mes notre nos votre vos
    according yes no not also however then so thus therefore meanwhile some about around nearly almost
    he she they we you i it its his her their our your my there here both each every any all none one
    in on at for with from by after before since during while although though because as if when where
    who what which why how whose whom this that these those the a an of to and or but
    le-la l’ d’ qu qu' qu’ quant
    """.split()
)
TITLES = {"m.", "mme", "mme.", "mlle", "mr", "mr.", "mrs", "mrs.", "ms", "ms.", "dr", "dr.", "m", "president"}
# Lower-case words that join the parts of one name: "Conseil de sécurité de l'ONU",
# "Prime Minister of the Netherlands", "Corée du Nord".
CONNECTORS = {"de", "du", "des", "d'", "l'", "la", "le", "of", "the", "for", "d’", "l’"}
# Nationality adjectives, written in lower case in French: a name all the same
# ("une école militaire ukrainienne" is not "nord-coréenne").
DEMONYMS = re.compile(
    r"^(?:nord-|sud-)?(?:russe|ukrainien|coreen|americain|chinois|japonais|francais|britannique|allemand|polonais|"
    r"bielorusse|iranien|israelien|europeen|occidental|occidentaux|neerlandais|belge|turc|indien|syrien|"
    r"italien|espagnol|canadien|georgien|moldave|hongrois|roumain|finlandais|suedois|norvegien|balte|"
    r"lituanien|letton|estonien|tcheque|slovaque|serbe|croate|grec|arabe|africain|asiatique|sovietique)"
    r"(?:ne|nes|s|e|es)?$"
)
# The same adjectives in English, folded: capitalised there, so read as names without this list
DEMONYMS_EN = frozenset(
    """russian ukrainian korean american chinese japanese french british german polish belarusian iranian
    israeli european western dutch belgian turkish indian syrian italian spanish canadian soviet""".split()
)


def is_demonym(folded: str) -> bool:
    """ "russe", « nord-coréennes », "dutch": a nationality adjective (``folded``: one word, folded)."""
    return bool(DEMONYMS.match(folded)) or folded in DEMONYMS_EN


def strip_citations(text: str) -> str:
    return " ".join(_CITATION.sub(" ", text).split()).replace(" .", ".")


def tokens(text: str) -> list[tuple[str, int, int]]:
    """Words (hyphens and apostrophes inside words kept) with their offsets; citations dropped."""
    text = _CITATION.sub(lambda m: " " * len(m.group(0)), text)
    out = []
    for m in _TOKEN.finditer(text):
        word = m.group(0)
        end = m.end()
        if word.endswith(".") and word.lower() not in TITLES:
            word, end = word[:-1], end - 1
        out.append((word, m.start(), end))
    return out


def split_elision(word: str) -> tuple[str, str]:
    """("l'OTAN") -> ("l'", "OTAN"); ("NATO's") -> ("", "NATO")."""
    m = re.match(r"^([dlcjmnst]|qu|jusqu|lorsqu|puisqu)['’](.+)$", word, re.IGNORECASE)
    if m:
        return m.group(1) + "'", m.group(2)
    m = re.match(r"^(.+?)['’]s?$", word)
    if m and m.group(1)[:1].isupper():
        return "", m.group(1)
    return "", word


def is_capitalised(word: str) -> bool:
    return bool(word) and word[0].isupper()


def is_acronym(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


@dataclass(frozen=True)
class Mention:
    """A name, acronym or title as written: "Mark Rutte", "OTAN", "Conseil de sécurité de l'ONU"."""

    text: str
    words: tuple[str, ...]  # its name words, titles and connectors left out
    start: int
    end: int


def names(text: str, common: set[str] | frozenset[str] = frozenset()) -> list[Mention]:
    """Runs of capitalised words (with connectors inside: "Corée du Nord"), acronyms.

    A capitalised word that opens a sentence is a name only when it is not a
    function word and not seen in lower case in ``common`` (folded words of the
    texts around, so "Environ" or "Cela" at the start is not a name).
    """
    toks = tokens(text)
    out: list[Mention] = []
    run: list[tuple[str, int, int]] = []
    pending: list[tuple[str, int, int]] = []  # connectors seen after a name word

    def close() -> None:
        words = tuple(w for w, _, _ in run if w.lower() not in TITLES and w.lower() not in CONNECTORS)
        if len(words) == 1 and fold(words[0]) in MONTHS and _is_date(text, run[0][1], run[-1][2]):
            words = ()  # "on October 28": a date, which the number and month checks read
        if words:
            out.append(Mention(text[run[0][1] : run[-1][2]], words, run[0][1], run[-1][2]))
        run.clear()
        pending.clear()

    sentence_start = True
    previous_end = 0
    for raw, start, end in toks:
        gap = text[previous_end:start]
        previous_end = end
        if re.search(r"[,;:()\[\]/–—]", gap):
            close()
        if raw in '«»"“”':
            close()
            continue
        prefix, word = split_elision(raw)
        offset = start + len(prefix)
        end = offset + len(word)
        low = fold(word)
        opener = sentence_start
        sentence_start = False
        if raw.lower() in TITLES or word.lower() in TITLES:
            # "M. Rutte": the title starts a run but is not a name word itself
            run.extend(pending)
            pending.clear()
            if not run:
                run.append((word, offset, end))
            continue
        capital = is_capitalised(word)
        if (
            capital
            and opener
            and not is_acronym(word)
            and (low in FUNCTION_WORDS or low in common or low.endswith(("ant", "ing")))
        ):
            capital = False
        if capital:
            if prefix and run and prefix.lower() in CONNECTORS:
                run.extend(pending)
                pending.clear()
            elif prefix and run:
                close()
            run.extend(pending)
            pending.clear()
            run.append((word, offset, end))
        elif run and raw.lower() in CONNECTORS:
            pending.append((raw, start, end))
        elif DEMONYMS.match(low):
            close()
            out.append(Mention(word, (word,), offset, end))
        else:
            close()
        if text[end : end + 2].strip()[:1] in (".", "!", "?") and raw.lower() not in TITLES:
            close()
            sentence_start = True
    close()
    return out


def _is_date(text: str, start: int, end: int) -> bool:
    """A month name with its day beside it ("October 28", "le 28 octobre"): not "Theresa May"."""
    return bool(re.match(r"\s*\d", text[end:]) or re.search(r"\d\s*$", text[:start]))


def content_words(text: str) -> list[str]:
    """Folded words of three letters or more that are not function words, in order."""
    out = []
    for raw, _, _ in tokens(text):
        _, word = split_elision(raw)
        low = fold(word)
        if len(low) > 2 and low not in FUNCTION_WORDS and not low.isdigit():
            out.append(low)
    return out


def same_stem(a: str, b: str) -> bool:
    """Folded words that share a stem: confirmé/confirmed, restriction/restrictions, viole/violates."""
    if a == b:
        return True
    n = min(len(a), len(b))
    k = 0
    while k < n and a[k] == b[k]:
        k += 1
    return k >= 4 and k >= min(len(a), len(b)) - 3


# -- numbers and dates ------------------------------------------------------------------------

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "sept": 7, "huit": 8, "neuf": 9, "dix": 10,
    "onze": 11, "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15, "seize": 16, "vingt": 20, "vingts": 20,
    "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60,
}  # fmt: skip
_SCALES = {"hundred": 100, "cent": 100, "cents": 100, "thousand": 1000, "mille": 1000, "million": 10**6,
           "millions": 10**6, "billion": 10**9, "milliard": 10**9, "milliards": 10**9}  # fmt: skip
# "un"/"une" are articles in French far more often than numbers: only counted
# in the cited sentences (where "l'une des parties" may back up "one").
_ARTICLE_ONES = {"un", "une", "a"}
_DIGITS = re.compile(r"\b\d{1,3}(?:(?:[ \u00a0\u202f.]|, ?)\d{3})+\b|\d+(?:[.,]\d+)?")
MONTHS = {
    m: i + 1
    for i, group in enumerate(
        [("janvier", "january"), ("fevrier", "february"), ("mars", "march"), ("avril", "april"), ("mai", "may"),
         ("juin", "june"), ("juillet", "july"), ("aout", "august"), ("septembre", "september"),
         ("octobre", "october"), ("novembre", "november"), ("decembre", "december")]
    )
    for m in group
}  # fmt: skip


def numbers(text: str, articles_count: bool = False) -> set[str]:
    """Numbers as digit strings, from digits ("10 000", "10,000") and words ("dix mille", "ten thousand")."""
    text = _CITATION.sub(" ", text)
    out = set()
    for m in _DIGITS.finditer(text):
        raw = m.group(0)
        if re.fullmatch(r"\d+[.,]\d{1,2}", raw):  # a decimal: 2,5 = 2.5
            out.add(raw.replace(",", "."))
            continue
        out.add(re.sub(r"[ .,\u00a0\u202f]", "", raw).lstrip("0") or "0")
    words = [fold(w) for w in re.findall(r"[^\W\d_]+|[|,;:.()]", _DIGITS.sub(" | ", text))]
    value, current, seen = 0, 0, False
    article = False  # the 1 so far is an article's ("un", "a"): not added to a number word after it
    prev = ""
    for w in [*words, ""]:  # "" ends the text; "|" stands for digits
        if w in ("un", "une") and prev == "et" and seen:  # « vingt et un »
            current += 1
        elif w in _UNITS:
            if article:  # « à sept reprises », « il y a deux ans »: fold("à") is "a", not one
                current = 0
            if w in ("vingt", "vingts") and 1 < current < 10:  # « quatre-vingts »: 4 × 20, not 4 + 20
                current *= 20
            else:
                current += _UNITS[w]
            seen, article = True, False
        elif articles_count and w in _ARTICLE_ONES and not seen:
            current += 1
            seen = article = True
        elif w in _SCALES and (seen or w in ("cent", "mille", "hundred", "thousand")):
            article = False
            scale = _SCALES[w]
            if scale == 100:
                current = max(current, 1) * 100
            else:
                value += max(current, 1) * scale
                current = 0
            seen = True
        elif w in ("et", "and") and seen:
            pass
        else:
            # « à 10 000 soldats »: "a" before digits is not a one either
            if seen and (value or current) and not (article and w == "|"):
                out.add(str(value + current))
            value, current, seen, article = 0, 0, False, False
        prev = w
    return out


def months(text: str) -> set[int]:
    return {MONTHS[w] for w in (fold(x) for x in re.findall(r"[^\W\d_]+", text)) if w in MONTHS and w != "may"} | (
        {5} if re.search(r"\b(?:May \d|\d{1,2} May|\bmai\b)", text) else set()
    )


# -- quotes -----------------------------------------------------------------------------------

_QUOTE = re.compile(r"«\s*([^«»]{2,400}?)\s*»|“([^“”]{2,400}?)”|\"([^\"]{2,400}?)\"")


def quotes(text: str) -> list[str]:
    return [next(g for g in m.groups() if g is not None).strip() for m in _QUOTE.finditer(text)]


# -- negation ---------------------------------------------------------------------------------

_AUX = set(
    """a ai as avons avez ont avait avaient aura auront aurait auraient est sont etait etaient sera seront serait
    seraient ete etre avoir fait peut peuvent pourrait pourraient doit doivent devrait faut il elle ils elles
    se s' y en l' le la les lui leur plus pas jamais
    is are was were be been being am has have had do does did will would could should can may might must shall
    any ever there it they he she that this to
    """.split()
)
_FR_CLOSERS = {"pas", "plus", "jamais", "rien", "aucun", "aucune", "guere", "point", "personne", "nullement"}
_EN_NEG = {"not", "never", "no", "none", "nobody", "nothing", "neither", "nor", "cannot"}


@dataclass(frozen=True)
class Negation:
    """A negated predicate: its marker and the (folded) words it bears on."""

    marker: str
    words: tuple[str, ...]


_ZERO_ANSWER = re.compile(r"^\W*(?:none|aucune?|zero|zéro)\s*[:,;.–—-]", re.IGNORECASE)


def negations(text: str) -> list[Negation]:
    """Negated predicates: "n'a pas confirmé" -> confirme; "no new restrictions" -> new, restrictions.

    "ne … que" and "rien d'autre que" mean *only*: not negations.
    """
    words = [fold(w) for w, _, _ in tokens(text) if w not in '«»"“”']
    out: list[Negation] = []
    # "None: Kyiv would face no new restrictions": the answer to a how-many question, not a negation
    i = 1 if _ZERO_ANSWER.match(text) else 0
    while i < len(words):
        w = words[i]
        if w in ("ne", "n'") or (w.startswith("n'") and len(w) > 2):
            inner = [w[2:]] if w.startswith("n'") and len(w) > 2 else []
            j = i + 1
            while j < len(words) and j - i <= 6 and words[j] not in _FR_CLOSERS and words[j] not in ("que", "qu'"):
                if not words[j].startswith("qu'"):
                    inner.append(words[j])
                j += 1
            if j < len(words) and words[j] in _FR_CLOSERS:
                closer = words[j]
                after = words[j + 1 : j + 4]
                if closer == "rien" and after[:1] and after[0].startswith("d'autre"):
                    i = j + 1  # "ne servent à rien d'autre qu'à": only
                    continue
                scope = [x for x in inner if x not in _AUX] + [x for x in after if x not in _AUX and x not in STOP][:2]
                out.append(Negation(closer, tuple(_bare(x) for x in scope[:3])))
                i = j + 1
                continue
        elif w in ("aucun", "aucune"):
            after = [x for x in words[i + 1 : i + 4] if x not in _AUX and x not in STOP]
            out.append(Negation(w, tuple(_bare(x) for x in after[:2])))
        elif (w in ("no", "non") and i == 0) or (w == "no" and i + 1 < len(words) and words[i + 1] in ("", ":")):
            pass  # "No, …": the answer to a yes/no question, not a negated predicate
        elif w in ("no", "non") and (
            words[max(0, i - 2) : i] in (["yes", "or"], ["oui", "ou"])
            or words[i + 1 : i + 3] in (["or", "yes"], ["ou", "oui"])
        ):
            pass  # "either yes or no", « oui ou non »: the two answers named, not a negation
        elif w in _EN_NEG or w.endswith("n't"):
            after = [x for x in words[i + 1 : i + 5] if x not in _AUX and x not in STOP]
            out.append(Negation(w, tuple(_bare(x) for x in after[:2])))
        i += 1
    return out


STOP = FUNCTION_WORDS | {"que", "qu'", "directement", "immediatement", "vraiment", "only", "directly"}


def _bare(word: str) -> str:
    _, w = split_elision(word)
    return w


def negated_words(text: str) -> set[str]:
    return {w for n in negations(text) for w in n.words}


# -- who says what ----------------------------------------------------------------------------

# Verbs of saying and acting whose subject an answer names: the stems, folded.
SAY_VERBS = re.compile(
    r"\b(?:(?:a|ont|avait|avaient|aurait|est|sont|s'est|se sont)\s+)?(?:"
    r"(?:declar|affirm|confirm|appel|exig|demand|avert|soulign|estim|annonc|indiqu|expliqu|ajout|refus|comment|"
    r"exprim|qualifi|accus|assur|insist|precis|rappel|jug|evoqu|parl|dement|lanc|reag|repond)"
    r"(?:e|ee|es|ees|ent|ait|aient|i|ie|it|u|le|lle|lles)?|dit|disent|tenu|nie|"
    r"said|says|say|stated|states|told|tell|tells|urged|urges|called|calls|demanded|warned|warns|stressed|"
    r"added|announced|denied|denies|refused|declined|expressed|expresses|accused|accuses|described|"
    r"characteri[sz]ed|claimed|claims|insisted|noted|argued|asserted|spoke|speaks|reacted|responded|"
    r"commented|mentioned|held|gave|confirmed|confirms|asked|asks"
    r")\b"
)
# A verb of saying in the passive ("a été annoncée par …", "est démenti", "was told") has
# no speaker for a subject: « La construction du temple de Rome a été annoncée par
# Thomas S. Monson » does not have Rome announcing (a right PIAF answer refused for it).
_PASSIVE_BEFORE = re.compile(r"\b(?:ete|was|were|be|been|being|is|are)\s+$")


def _passive(folded: str, verb: re.Match[str]) -> bool:
    said = verb.group(0)
    if re.match(r"(?:est|sont)\s", said):  # "est annoncée": être + participle; "s'est exprimé" is not
        return True
    return bool(_PASSIVE_BEFORE.search(folded[max(0, verb.start() - 12) : verb.start()]))


# "Selon X, …", "According to X", "For X, …" at the start; "…, selon X", "cité par X" anywhere.
_SOURCE_START = re.compile(r"^\W*(?:selon|d'apres|according to|pour|for)\s+")
_SOURCE = re.compile(
    r"\b(?:selon|d'apres|according to|citee?s? par|quoted by|reported by|rapportee?s? par|relayee?s? par)\s+"
)
# A cited sentence that opens on one of these refers back to the one before it.
_ANAPHOR = re.compile(
    r"^\W*(?:il|elle|ils|elles|he|she|they|cela|ce|le responsable|la responsable|le chef|la cheffe|le ministre|"
    r"le president|la porte-parole|le porte-parole|the official|m\.|mme|mr\.?|mrs\.?|ms\.?)\b",
    re.IGNORECASE,
)


def refers_back(sentence: str) -> bool:
    """Does the sentence open on "Il", "Le responsable", "Le chef de la diplomatie"… with no name
    before its verb ("Le président russe Vladimir Poutine a déclaré" names who speaks)?"""
    if not _ANAPHOR.match(fold(sentence)):
        return False
    verb = SAY_VERBS.search(fold(sentence))
    head = sentence[: verb.start()] if verb else sentence[:40]
    return not any(not DEMONYMS.match(fold(m.text)) and m.words[0].lower() not in TITLES for m in names(head))


# Prepositions of place, in lower case with their accents ("à", never the English article "a"):
# a name right after one is where something happens, not who acts ("à Moscou", "in Moscow").
PLACE_PREPOSITIONS = (
    "à", "au", "aux", "en", "dans", "vers", "près de", "sur", "depuis",
    "in", "at", "near", "into", "from", "to", "on", "over", "against", "outside", "around", "toward", "towards",
)  # fmt: skip


def place_prepositions(among: Sequence[str] = PLACE_PREPOSITIONS, folded: bool = False) -> str:
    r"""A regex for one of ``among`` (some of PLACE_PREPOSITIONS), each at a word start:
    ``(?:\bà|\bau|…)``; ``folded`` for folded text, where "à" is "a" (as is the English article)."""
    unknown = set(among) - set(PLACE_PREPOSITIONS)
    if unknown:
        raise ValueError(f"not prepositions of place: {sorted(unknown)}; add them to PLACE_PREPOSITIONS")
    return "(?:" + "|".join(rf"\b{re.escape(fold(w) if folded else w)}" for w in among) + ")"


# A name in the subject right after one of these (folded) is a place, not who acts.
_SUBJECT_PLACE = re.compile(place_prepositions(("à", "en", "dans", "in", "at", "to"), folded=True) + r"\s*$")


@dataclass(frozen=True)
class Attribution:
    """Someone the text says says or does something: the name as written, and how it was found."""

    name: Mention
    how: str  # "subject" (before the verb), "speaker" (after it), "source" ("selon X")


def attributions(text: str, common: set[str] | frozenset[str] = frozenset()) -> list[Attribution]:
    """Who the text has saying or doing something.

    - a source: "Selon X, …", "According to X", ", citée par X";
    - a subject: the names in the noun phrase right before the first verb of
      saying or acting, with an apposition beside it ("Le secrétaire général
      de l'OTAN, Mark Rutte, a confirmé" -> OTAN, Mark Rutte; "M. Rutte, ancien
      Premier ministre des Pays-Bas, a appelé" -> Rutte, Pays-Bas), never a
      participle clause before it ("Commentant les accusations de l'OTAN, le
      ministre … Lavrov a déclaré" -> Lavrov);
    - a speaker after the verb: "…, a déclaré M. Lavrov".
    """
    folded = fold(text)
    found: list[Attribution] = []
    mentions = names(text, common)

    def add(n: Mention, how: str) -> None:
        if not any(a.name == n for a in found):
            found.append(Attribution(n, how))

    starts = [m.end() for m in _SOURCE.finditer(folded)]
    m0 = _SOURCE_START.match(folded)
    if m0:
        starts.append(m0.end())
    for at in starts:
        nearest = [n for n in mentions if at <= n.start <= at + 12]
        if nearest:
            add(nearest[0], "source")
    verb = next(
        (v for v in SAY_VERBS.finditer(folded) if not v.group(0).rstrip().endswith("ant") and not _passive(folded, v)),
        None,
    )
    if verb is None:
        return found
    after = text[verb.end() : verb.end() + 40]
    before = folded[: verb.start()].rstrip()
    if re.match(r"\s*(?:(?:M\.|Mme|Mr\.?|Ms\.?)\s*)?[A-ZÀ-Ý]", after) and (not before or before[-1] in ',»"”'):
        # inverted: "…, a déclaré M. Lavrov"
        speaker = [n for n in mentions if verb.end() <= n.start <= verb.end() + 12]
        if speaker:
            add(speaker[0], "speaker")
            return found
    head = folded[: verb.start()]
    # the clause the verb belongs to: after the last "que"/"that" or sentence stop
    cut = max([0] + [m.end() for m in re.finditer(r"\b(?:que|qu'|that|mais|but)\b|;", head)])
    segments = []
    pos = cut
    for seg in re.split(r"([,:(])", head[cut:]):
        if seg in (",", ":", "("):
            pos += len(seg)
            continue
        segments.append((pos, pos + len(seg), seg))
        pos += len(seg)
    segments = [x for x in segments if x[2].strip()]
    if not segments:
        return found

    def name_only(seg: tuple[int, int, str]) -> bool:
        inside = [n for n in mentions if seg[0] <= n.start < seg[1]]
        rest = seg[2]
        for n in inside:
            rest = rest.replace(fold(n.text), " ")
        return bool(inside) and not re.sub(r"\b(?:m|mme|mr|ms|dr)\b\.?", " ", rest).strip(" .")

    chosen = [segments[-1]]
    if len(segments) > 1 and (name_only(segments[-1]) or name_only(segments[-2])):
        chosen.append(segments[-2])
    for lo, hi, _ in chosen:
        for n in mentions:
            if lo <= n.start < hi:
                # a name after a preposition of place is not who acts ("à Moscou")
                if _SUBJECT_PLACE.search(folded[max(0, n.start - 5) : n.start]):
                    continue
                add(n, "subject")
    return found


# -- the question's shape ---------------------------------------------------------------------

_WH_FR = re.compile(
    r"\b(?:qui|que|quoi|quel|quelle|quels|quelles|ou|quand|comment|pourquoi|combien|lequel|laquelle|"
    r"lesquels|lesquelles)\b|\bqu'"
)
_INVERTED = re.compile(r"\b\w+-(?:t-)?(?:il|elle|ils|elles|on)\b")
_WH_EN = re.compile(r"\b(?:who|whom|whose|what|which|where|when|why|how)\b")
_EN_AUX = re.compile(
    r"^(?:[^,]{0,60},\s*)?(?:is|are|was|were|do|does|did|has|have|had|can|could|will|would|should|may|might|"
    r"must|isn't|aren't|wasn't|doesn't|didn't|hasn't|haven't|won't)\b"
)
_YES_NO_ANSWER = re.compile(r"^\W*(?:oui|non|yes|no|si|nope|yeah)\b")


def asks_yes_no(question: str) -> bool:
    """ "Le Pentagone a-t-il confirmé … ?", "Est-ce que …", "Did NATO say …?" (not "Qui a-t-il …")."""
    q = fold(question).strip()
    if q.startswith("est-ce que") or q.startswith("est-ce qu'"):
        return True
    if _EN_AUX.match(q) and not _WH_EN.search(q.split(",")[-1][:40]):
        return not _WH_EN.match(q)
    inverted = _INVERTED.search(q)
    if inverted:
        return not _WH_FR.search(q[: inverted.start()]) and not re.search(r"\bou\b.+\?$", q[inverted.end() :])
    return False


_WHY = re.compile(r"\b(?:pourquoi|why|for what reason|pour quelle raison|dans quel but|what for)\b")
# What a reason looks like: a cause, a purpose, a condition; or a negation (a
# false premise corrected: "Why did Putin deny …?" -> "He did not deny …").
# Markers that only ever give a reason, and markers that often do ("pour", "to",
# "as", "since" also open a view, a direction, a comparison, a date).
_STRONG = (
    r"\b(?:parce qu|puisqu)(?:e\b|')?|\b(?:car|afin|en raison|a cause|grace|faute|en reponse|because|so that|in order|"
    r"due to|owing to|in response)\b"
)
_WEAK = r"\b(?:pour|sans|since|as|to|without|given)\b"
_BECAUSE = re.compile(f"{_STRONG}|{_WEAK}")
_STRONG_RE, _WEAK_RE = re.compile(_STRONG), re.compile(_WEAK)
# Words of a marker, not of the reason ("afin de", "en raison de", "in order to").
REASON_WORDS = frozenset(
    "afin raison cause grace faute reponse response order owing because since given without sans".split()
)


def asks_why(question: str) -> bool:
    return bool(_WHY.search(fold(question)))


def gives_reason(answer: str) -> bool:
    text = fold(answer)
    return bool(_BECAUSE.search(text)) or bool(negations(answer))


# Who a claim comes from, which is not its reason: "according to the Pentagon",
# ", selon lui,", "as reported by Reuters", a leading "Pour la porte-parole, …".
_FROM = r"(?:according to|selon|d'apres|as reported by|citee?s? par|cites? par|cited by)\b"
_FROM_SPANS = re.compile(rf",\s*{_FROM}[^,]*,|^\W*{_FROM}[^,]*,|^\W*pour\b[^,]*,")
_FROM_TAIL = re.compile(rf",?\s*\b{_FROM}")


def reason_given(answer: str) -> str:
    """The text after the reason marker, without its sources ("pour, selon lui, justifier ce
    qu'ils ont déjà fait" -> "justifier ce qu'ils ont déjà fait"); "" without one. The first
    marker that only gives reasons ("parce que", "afin", "because") wins over the first of
    those that may not ("pour", "to", "as")."""
    answer = unicodedata.normalize("NFC", answer)
    # folded one character for one, so a match's offsets are the answer's
    folded = "".join((fold(c) or " ")[0] for c in answer)
    spans = [m.span() for m in _FROM_SPANS.finditer(folded)]

    def outside(m: re.Match[str]) -> bool:
        return not any(lo <= m.start() < hi for lo, hi in spans)

    # a source outside those runs to the end: "…to be trained, according to the Pentagon"
    tail = next(filter(outside, _FROM_TAIL.finditer(folded)), None)
    if tail:
        spans.append((tail.start(), len(folded)))

    strong = next(filter(outside, _STRONG_RE.finditer(folded)), None)
    m = strong or next(filter(outside, _WEAK_RE.finditer(folded)), None)
    if not m:
        return ""
    kept, pos = [], m.end()
    for lo, hi in sorted(spans):
        if hi <= pos:
            continue
        kept.append(answer[pos : max(pos, lo)])
        pos = max(pos, hi)
    kept.append(answer[pos:])
    return " ".join(" ".join(kept).split()).strip(" ,.")


def says_yes_or_no(answer: str) -> bool:
    return bool(_YES_NO_ANSWER.match(fold(answer)))


# -- language ---------------------------------------------------------------------------------

_FR = set("le la les des du de et est une un que qui dans pour sur pas a été sont ont avait selon aux au".split())
_EN = set("the of and is are was were to in that for on with by from has have had not said according".split())


def language(text: str) -> str:
    """ "fr" or "en" from function words: enough to tell which of the two an answer is in."""
    words = [fold(w) for w, _, _ in tokens(text)]
    fr = sum(w in _FR for w in words)
    en = sum(w in _EN for w in words)
    return "fr" if fr > en else "en" if en > fr else "unknown"


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)
