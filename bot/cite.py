"""Citations in a generated answer: parse them, drop invented ones, check support.

    >>> parse_citations("Ils sont 10 000 [5][42].", allowed={1, 5})
    Parsed(text='Ils sont 10 000 [5].', cited=(5,), removed=(42,))

Never trust a number the model was not given: ``parse_citations`` rewrites
every bracket group keeping only allowed numbers. ``check_support`` then asks,
for each sentence of the answer, whether one of the sentences it cites backs
it up (details and calibration in docs/llm.md):

1. every number in the answer sentence must appear in a cited sentence
   ("10 000" = "10,000" = "10000");
2. then either enough of its content words appear in the cited sentences
   (same-language answers), or its embedding is close enough to a cited
   sentence's (cross-language answers: an English answer about a French
   article shares names and numbers, not words).

``check_support`` is what the LLM engine used before the claim verifier
(bot/verify.py), which keeps its overlap rule and replaces its cosine floor;
it stays for comparison (bench/verify.py).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_GROUP = re.compile(r"\[\s*(\d{1,4}(?:\s*[,;]\s*\d{1,4})*)\s*\]")
# Anything bracketed that opens on a digit and holds only digits, spaces, "," and ";": every
# _GROUP and the shapes it refuses too ("[1 2]", "[12345]", "[3,]"). What is moved with its
# sentence (_AFTER_STOP) or cut out before a text is read (bot/claims.py).
CITATION_LIKE = re.compile(r"\[\s*\d[\d\s,;]*\]")
# "10 000", "10,000", "10.000" as one number (groups of exactly three digits), else plain numbers.
# Thousands groups: "10 000", "10,000", "10.000", and "10, 000" (how Qwen's
# tokenizer sometimes writes 10,000 back).
_NUMBER = re.compile(r"\b\d{1,3}(?:(?:[ \u00a0\u202f.]|, ?)\d{3})+\b|\d+(?:[.,]\d+)?")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

# Content overlap at or above this is support without asking the embedder.
MIN_OVERLAP = 0.5
# Cosine (multilingual-e5-small, answer as query, cited sentence as passage)
# at or above this is support. Calibrated on the LLM's answers to the dev
# questions: supported pairs 0.84-0.93, answer vs an unrelated article
# sentence 0.74-0.82 (docs/llm.md).
MIN_SIMILARITY = 0.83

STOPWORDS = set(
    """
    le la les un une des du de d l au aux et ou mais donc or ni car que qui quoi dont où ce cet cette ces
    son sa ses leur leurs il elle ils elles on nous vous je tu se en y a à dans par pour sur avec sans sous
    est sont était été être avait avaient ont ne pas plus selon aussi comme lors entre très tout tous
    the a an of to in on at by for with from and or but not is are was were be been has have had that
    this these those it its they their he she his her as about into than then so if which who whom what
    article says said say according
    """.split()
)


@dataclass(frozen=True)
class Parsed:
    text: str  # the answer with invented citation numbers removed
    cited: tuple[int, ...]  # valid numbers, in order of first appearance
    removed: tuple[int, ...]  # numbers that were not in the context


# A citation written after its sentence's stop ("Koursk. [1]") belongs to that
# sentence: move it before the stop ("Koursk [1].") so that the sentence carries it.
_AFTER_STOP = re.compile(rf"([.!?])[ \t]*((?:{CITATION_LIKE.pattern})+)\.?")


def parse_citations(text: str, allowed: set[int]) -> Parsed:
    text = _AFTER_STOP.sub(r" \2\1", text)
    cited: list[int] = []
    removed: list[int] = []

    def keep(match: re.Match[str]) -> str:
        numbers = [int(x) for x in re.split(r"\s*[,;]\s*", match.group(1))]
        good = [n for n in numbers if n in allowed]
        for n in numbers:
            (cited if n in allowed else removed).append(n)
        return "".join(f"[{n}]" for n in dict.fromkeys(good))

    clean = _GROUP.sub(keep, text)
    clean = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", clean)).strip()
    return Parsed(clean, tuple(dict.fromkeys(cited)), tuple(dict.fromkeys(removed)))


def citations_in(text: str) -> list[int]:
    return [int(x) for g in _GROUP.findall(text) for x in re.split(r"\s*[,;]\s*", g)]


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c)).replace("’", "'")


def numbers(text: str) -> set[str]:
    """Numbers as digit strings: "10 000", "10,000" and "10000" are all "10000"."""
    out = set()
    for m in _NUMBER.finditer(text):
        digits = re.sub(r"[ .,\u00a0\u202f]", "", m.group(0))
        out.add(digits.lstrip("0") or "0")
    return out


def content_words(text: str) -> set[str]:
    words = _WORD.findall(fold(text))
    return {w[:6] for w in words if len(w) > 2 and w not in STOPWORDS}


@dataclass(frozen=True)
class Support:
    ok: bool
    reason: str


def split_claims(text: str) -> list[tuple[str, list[int]]]:
    """Answer sentences with the citations they carry. A sentence with none
    borrows those of the next sentence ("X. Y [3]." cites 3 for both), or of
    the previous one when it is last."""
    from .ingest import split_sentences

    parts = [text[a:b] for a, b in split_sentences(text, "en")]
    claims = [(p, citations_in(p)) for p in parts if _WORD.search(p)]
    borrowed: list[int] = []
    out = []
    for sentence, cited in reversed(claims):
        if cited:
            borrowed = cited
        out.append((sentence, cited or borrowed))
    out.reverse()
    # a trailing sentence with none ("… [4]. C'est tout.") leans on the one before
    for i in range(1, len(out)):
        if not out[i][1] and out[i - 1][1]:
            out[i] = (out[i][0], out[i - 1][1])
    return out


def check_support(
    answer: str,
    cited_text: dict[int, str],
    similarity: Callable[[str, Sequence[int]], float] | None = None,
) -> Support:
    """Does every sentence of ``answer`` rest on the sentences it cites?

    ``cited_text`` maps each valid cited number to its sentence;
    ``similarity(claim, numbers)`` returns the best cosine between the claim
    and those sentences (None: lexical check only).
    """
    claims = split_claims(answer)
    if not claims:
        return Support(False, "empty answer")
    for claim, cited in claims:
        if not cited:
            return Support(False, f"no citation for {claim[:60]!r}")
        evidence = " ".join(cited_text[n] for n in cited if n in cited_text)
        missing = numbers(_GROUP.sub(" ", claim)) - numbers(evidence)
        if missing:
            return Support(False, f"number(s) {', '.join(sorted(missing))} not in the cited sentences")
        words = content_words(_GROUP.sub(" ", claim))
        if not words:
            continue
        overlap = len(words & content_words(evidence)) / len(words)
        if overlap >= MIN_OVERLAP:
            continue
        if similarity is not None:
            score = similarity(_GROUP.sub(" ", claim), cited)
            if score >= MIN_SIMILARITY:
                continue
            return Support(False, f"{claim[:60]!r} is not supported (overlap {overlap:.2f}, cosine {score:.2f})")
        return Support(False, f"{claim[:60]!r} is not supported (overlap {overlap:.2f})")
    return Support(True, "every sentence is supported")


_ABSTAIN_PATTERNS = [
    "je ne trouve pas",
    "ne trouve pas cette information",
    "pas dans l'article",
    "ne mentionne pas",
    "ne precise pas",
    "ne dit pas",
    "aucune information",
    "n'indique pas",
    "ne donne pas",
    "can't find",
    "cannot find",
    "could not find",
    "couldn't find",
    "not in the article",
    "does not mention",
    "doesn't mention",
    "does not say",
    "doesn't say",
    "does not specify",
    "doesn't specify",
    "no information",
    "not mentioned",
    "not provided",
    "does not provide",
]


def is_abstention(text: str) -> bool:
    """Did the model say the article does not hold the answer?"""
    t = fold(text)
    return any(p in t for p in _ABSTAIN_PATTERNS)
