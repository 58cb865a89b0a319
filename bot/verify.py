"""Is every sentence of an answer backed by the sentences it cites? A verdict per sentence, with reasons.

    >>> v = Verifier(embed=embedder.embed_queries, vectors=stored_vectors)
    >>> result = v.verify("The OSCE's secretary general is Mark Rutte [1].", article_sentences,
    ...                   question="Who is the NATO secretary general?", article_lang="fr")
    >>> result.supported, result.reason
    (False, "'OSCE' is not in the cited sentences [1]")

Each answer sentence (with the citations it carries or borrows, as
``cite.split_claims`` reads them) goes through these checks, cheapest first
(docs/verify.md has what each catches, with numbers):

1. **citations**: it cites at least one sentence of the article;
2. **numbers and dates**: every number ("10 000" = "10,000" = "dix mille" =
   "ten thousand") and month in it is in the cited sentences or the question;
3. **names**: every proper name, acronym and title written with capitals is
   in the cited sentences or the question, after case and accent folding, with
   a spelling slack for transliterations (Koursk/Kursk, Lavov/Lavrov), or,
   when the answer is not in the article's language, through the embedder at
   the level of the name (``NAME_SIMILARITY``, calibrated on
   eval/verify/name_pairs.jsonl); countries, nationalities, capitals and the
   main international organisations by their names in both languages instead
   (NATO = OTAN, Moscow = Moscou, Dutch = des Pays-Bas: bot/places.py). A cited sentence that opens on
   "Le responsable", "Il", "M. Rutte"… lends the names of who speaks in the
   sentence before it;
4. **quotes**: a quoted phrase is in the cited sentences (verbatim in the same
   language, through the embedder across languages);
5. **who did what**: whoever the answer has saying or doing something
   ("Selon X", "X a déclaré", "according to X") is the subject, speaker or
   source of a cited sentence (or of the sentence before it, as above);
6. **polarity**: a negated claim matches a negation in the cited sentences,
   and a negated predicate of the cited sentences is not stated positively;
7. **support**: content words overlap the cited sentences (≥ 50 %) or, across
   languages, the sentence's embedding is close to a cited one's (cite.py's
   check, kept: it is what catches a right text citing the wrong sentence).

And for the answer as a whole, given the question: a yes/no question gets
yes or no (oui/non) first, a how-many question a number, a when-question a
time expression, a why-question a reason, and a reason the cited sentences
give (by its words in the article's language, as a quote across languages).

Embeddings are asked for once per call, in one batch, and only for what the
lexical checks could not settle; phrase vectors are cached.
"""

from __future__ import annotations

import difflib
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from . import claims, places, roles
from .answer_types import asks_quantity, asks_time, has_count, has_time
from .cite import citations_in, content_words, fold, is_abstention, split_claims
from .types import Sentence

# Name-level cosine (multilingual-e5-small, both sides embedded as queries) at
# or above which two names are the same across languages. On the 78 pairs of
# eval/verify/name_pairs.jsonl (python eval/verify_calibrate.py, report in
# eval/reports/verify-calibration.md): different names 0.771-0.886 (Europe ~
# Corée 0.886, UN ~ OTAN and Poland ~ Ukraine 0.881, NATO ~ ONU 0.877, OSCE ~
# OTAN 0.844); the same name 0.859-1.000, and 0.904 or more for every pair the
# spelling slack does not already match, except the two spellings of the
# Netherlands (Pays-Bas ~ Netherlands 0.881, ~ Dutch 0.859). 0.895 sits between.
# The first threshold, 0.885, let "Europe" match "Corée": a name is compared
# with every phrase of the cited sentences, so the highest of ~50 cosines must
# stay below it, not one.
NAME_SIMILARITY = 0.895
# A quoted phrase across languages: the quote against windows of the cited
# sentences of about its length. On eval/verify/quote_pairs.jsonl: the same
# quote translated 0.913-0.973, a changed one 0.840-0.908 ("well-founded
# rumours" ~ "rumeurs sans fondement" 0.908): a thin margin, see docs/verify.md.
QUOTE_SIMILARITY = 0.91
# Spelling slack for names written differently (difflib ratio on folded text):
# Kursk/Koursk 0.91, Lavrov/Lavov 0.91, Putin/Poutine 0.83, Moscow/Moscou 0.83.
SPELLING_RATIO = 0.8
# Support. Content words overlapping the cited sentences by this much is
# support without the embedder (cite.py's rule). Otherwise (always, across
# languages) the sentence, embedded as a query, must find its cited sentence
# among the article's closest: no more than MAX_GAP below the article's best
# sentence. cite.py's absolute floor (cosine ≥ 0.83) was measured against this
# on the dev part of the mutation set: it passed 5 of 22 right English answers
# below it (0.80-0.83) and let wrong citations through at 0.83-0.87; the gap was
# 0.000-0.008 for every right answer and 0.016-0.117 for every wrong citation.
MIN_OVERLAP = 0.5
# A why-answer's reason, in the article's language: at most this share of its
# own words (not the question's) may be missing from the cited sentences
# (Verifier._reason). Across languages the reason is matched as a quote is, at
# QUOTE_SIMILARITY: on the 8 reasons of eval/verify/mutations.jsonl's why
# items, right ones 0.938-0.957, invented ones 0.844-0.892 (docs/verify.md).
MAX_REASON_MISSING = 0.5
MAX_GAP = 0.012
CACHE_SIZE = 20_000
MAX_TEXT_CHARS = 50_000  # a long draft, not a book

Embed = Callable[[Sequence[str]], np.ndarray]
# vectors(None): the stored vectors of every sentence of the article, in order
Vectors = Callable[[None], np.ndarray]


@dataclass(frozen=True)
class SentenceVerdict:
    """One answer sentence: what it cites, whether it is supported, and why not."""

    text: str
    cited: tuple[int, ...]
    supported: bool
    reasons: tuple[str, ...] = ()  # why it is not supported (empty when it is)
    notes: tuple[str, ...] = ()  # how the checks matched, e.g. "'NATO' ~ 'OTAN' (0.91)"

    def to_json(self) -> dict[str, object]:
        return {
            "text": self.text,
            "cited": list(self.cited),
            "supported": self.supported,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Verification:
    """The verdict on a whole answer: each sentence's, and the answer-level checks."""

    sentences: tuple[SentenceVerdict, ...]
    answer_reasons: tuple[str, ...] = ()  # e.g. "the question asks yes or no …"
    answer_lang: str = "unknown"
    article_lang: str = "unknown"
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def supported(self) -> bool:
        return bool(self.sentences) and all(s.supported for s in self.sentences) and not self.answer_reasons

    @property
    def reason(self) -> str:
        """The first failure, naming the claim: what a notice shows."""
        for s in self.sentences:
            if not s.supported:
                return f"{_cut(claims.strip_citations(s.text))!r}: {s.reasons[0]}"
        if self.answer_reasons:
            return self.answer_reasons[0]
        return "every sentence is supported" if self.sentences else "empty answer"

    def to_json(self) -> dict[str, object]:
        return {
            "supported": self.supported,
            "reason": self.reason,
            "answer_lang": self.answer_lang,
            "article_lang": self.article_lang,
            "sentences": [s.to_json() for s in self.sentences],
            "answer_reasons": list(self.answer_reasons),
        }


def _cut(text: str, n: int = 70) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass
class _Pending:
    """A check the lexical pass could not settle: does one of ``whole`` match
    something in ``pool``, or else does each of ``parts``?"""

    claim: int
    whole: tuple[str, ...]
    pool: tuple[str, ...]
    threshold: float
    failure: str
    note: str
    parts: tuple[str, ...] = ()


class Verifier:
    """Checks answers against articles; holds the embedder and a cache of phrase vectors.

    ``embed(texts)`` returns L2-normalised query vectors (the bot passes its
    embedder's ``embed_queries``); ``verify(…, vectors=…)`` takes the stored
    vectors of the article's sentences, for the support check. Both optional:
    without them, what only an embedding could settle fails.
    """

    def __init__(self, embed: Embed | None = None) -> None:
        self.embed = embed
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    # -- the public entry ----------------------------------------------------------------
    def verify(
        self,
        answer: str,
        article: Sequence[Sentence],
        question: str | None = None,
        article_lang: str = "unknown",
        vectors: Vectors | None = None,
    ) -> Verification:
        t0 = time.perf_counter()
        by_n = {s.n: s.text for s in article}
        parts = split_claims(answer)
        answer_lang = claims.language(answer)
        cross = answer_lang == "unknown" or article_lang == "unknown" or answer_lang != article_lang
        question = question or ""
        facts = _article_facts(tuple(by_n.values()))
        common = _common_words(answer, question) | facts.common
        article_names = facts.full_names
        reasons: list[list[str]] = [[] for _ in parts]
        notes: list[list[str]] = [[] for _ in parts]
        pending: list[_Pending] = []
        cosine_wanted: list[tuple[int, str, tuple[int, ...], float]] = []
        for i, (text, cited) in enumerate(parts):
            valid = tuple(n for n in dict.fromkeys(cited) if n in by_n)
            if not valid:
                bad = [n for n in cited if n not in by_n]
                reasons[i].append(f"cites [{bad[0]}], which is not a sentence of the article" if bad else "no citation")
                continue
            if not citations_in(text) and cited:
                notes[i].append(f"borrows the citation(s) {list(valid)} of a neighbouring sentence")
            evidence = " ".join(by_n[n] for n in valid)
            context = self._context(valid, by_n, common)
            self._numbers(i, text, evidence, question, reasons)
            # who the role and title checks read: the cited sentences (and those they refer back to)
            seen = _named(text, valid, by_n, facts.common)
            lent = self._titles(text, seen, facts)
            self._names(
                i, text, valid, evidence, context, question, common, cross, article_names, lent, reasons, notes, pending
            )
            self._quotes(i, text, valid, evidence, cross, reasons, pending)
            self._agents(i, text, valid, by_n, common, cross, reasons, notes, pending)
            self._roles(i, text, valid, by_n, facts, seen, reasons, notes)
            self._polarity(i, text, evidence, reasons)
            self._reason(i, text, valid, evidence, question, cross, reasons, pending)
            overlap = _overlap(text, evidence)
            if overlap is not None and overlap < MIN_OVERLAP:
                cosine_wanted.append((i, text, valid, overlap))
        self._settle(pending, cosine_wanted, vectors, reasons, notes)
        verdicts = tuple(
            SentenceVerdict(text, tuple(cited), not reasons[i], tuple(reasons[i]), tuple(notes[i]))
            for i, (text, cited) in enumerate(parts)
        )
        cited_all = " ".join(by_n[n] for _, c in parts for n in dict.fromkeys(c) if n in by_n)
        shape = tuple(_shape(answer, question, cited_all)) if question else ()
        timings = {"verify_ms": (time.perf_counter() - t0) * 1000}
        return Verification(verdicts, shape, answer_lang, article_lang, timings)

    # -- checks --------------------------------------------------------------------------
    @staticmethod
    def _context(cited: Sequence[int], by_n: dict[int, str], common: set[str]) -> list[str]:
        """Who speaks in the sentence before a cited one that refers back to it."""
        out = []
        for n in cited:
            if claims.refers_back(by_n[n]) and n - 1 in by_n:
                out += [a.name.text for a in claims.attributions(by_n[n - 1], common)]
        return out

    @staticmethod
    def _numbers(i: int, text: str, evidence: str, question: str, reasons: list[list[str]]) -> None:
        allowed = claims.numbers(evidence, articles_count=True) | claims.numbers(question)
        missing = claims.numbers(text) - allowed
        if missing:
            reasons[i].append(f"number(s) {', '.join(sorted(missing))} not in the cited sentences")
        month_names = {v: k for k, v in claims.MONTHS.items()}
        wrong = claims.months(text) - claims.months(evidence) - claims.months(question)
        if wrong:
            reasons[i].append(f"date ({', '.join(month_names[m] for m in sorted(wrong))}) not in the cited sentences")

    def _names(
        self,
        i: int,
        text: str,
        cited: tuple[int, ...],
        evidence: str,
        context: list[str],
        question: str,
        common: set[str],
        cross: bool,
        article_names: tuple[claims.Mention, ...],
        lent: set[str],
        reasons: list[list[str]],
        notes: list[list[str]],
        pending: list[_Pending],
    ) -> None:
        pool = _word_set(" ".join([evidence, question, *context]))
        where = _cited_label(cited)
        for mention in claims.names(text, common):
            found = [_word_found(w, pool) for w in mention.words]
            if all(found):
                continue
            if any(found):
                # "Mark Rutte" citing "M. Rutte …": the article's full name for the one found
                known = {fold(w) for w, ok in zip(mention.words, found, strict=True) if ok}
                for full in article_names:
                    words = {fold(w) for w in full.words}
                    if known & words:
                        found = [ok or _word_found(w, words) for w, ok in zip(mention.words, found, strict=True)]
                if all(found):
                    continue
            runs: list[list[str]] = [[]]
            for w, ok in zip(mention.words, found, strict=True):
                if ok:
                    runs.append([])
                else:
                    runs[-1].append(w)
            for run in (" ".join(r) for r in runs if r):
                failure = f"{run!r} is not in the cited sentences {where}"
                # a title the article gives the person this sentence and the cited ones name ("Sabrina
                # Singh, the Pentagon's spokeswoman, warned … [7]": [5] has « la porte-parole du
                # Pentagone, Sabrina Singh »); whether the role itself is theirs is Verifier._roles's
                if lent and all(fold(w) in lent for w in run.split(" ")):
                    notes[i].append(f"{run!r}: in the title the article gives the person named")
                    continue
                # a country's name or adjective in the other language or form ("Dutch", « des
                # Pays-Bas »): a translation, not a similarity (bot/places.py)
                # a capital for its country where it is not a place ("a appelé Moscou",
                # not "à Moscou": the cited sentence's "en Russie" does not say which city)
                capital = places.capital_of(run) is not None and not _as_place(text, run)
                country = places.named_in(run, " ".join([evidence, *context]), capitals=capital)
                if country:
                    kind = "its country" if places.country(run) is None else "same country"
                    notes[i].append(f"{run!r} = {country!r} ({kind})")
                    continue
                # an organisation or a capital we know in both languages: its forms, not a cosine
                if places.known_forms(run):
                    form = places.written_in(run, " ".join([evidence, question, *context]))
                    if form:
                        notes[i].append(f"{run!r} = {form!r} (same name)")
                    else:
                        reasons[i].append(failure)
                    continue
                if not cross:
                    reasons[i].append(failure)
                    continue
                parts = tuple(run.split(" "))
                # the whole mention only when none of it was found: "Prime Minister of
                # Belgium" ~ "Premier ministre des Pays-Bas" is 0.93, carried by the words found
                whole = (run, mention.text) if len(parts) == len(mention.words) else (run,)
                # "Security Council": each word may match a different phrase ("Conseil de sécurité")
                pending.append(
                    _Pending(
                        i,
                        tuple(dict.fromkeys(whole)),
                        tuple(_phrases(evidence) + context),
                        NAME_SIMILARITY,
                        failure,
                        repr(run),
                        parts if len(parts) > 1 else (),
                    )
                )

    def _quotes(
        self,
        i: int,
        text: str,
        cited: tuple[int, ...],
        evidence: str,
        cross: bool,
        reasons: list[list[str]],
        pending: list[_Pending],
    ) -> None:
        flat = _flat(evidence)
        for q in claims.quotes(text):
            if _flat(q) in flat:
                continue
            failure = f"the quote {q!r} is not in the cited sentences {_cited_label(cited)}"
            if not cross:
                reasons[i].append(failure)
                continue
            pool = tuple(sorted(set(_windows(evidence, len(q.split()))) | set(claims.quotes(evidence))))
            pending.append(_Pending(i, (q,), pool, QUOTE_SIMILARITY, failure, f"quote {q!r}"))

    def _agents(
        self,
        i: int,
        text: str,
        cited: tuple[int, ...],
        by_n: dict[int, str],
        common: set[str],
        cross: bool,
        reasons: list[list[str]],
        notes: list[list[str]],
        pending: list[_Pending],
    ) -> None:
        self._place_as_subject(i, text, cited, by_n, common, reasons)
        said = claims.attributions(claims.strip_citations(text), common)
        if not said:
            return
        agents: list[str] = []
        for n in cited:
            agents += [a.name.text for a in claims.attributions(by_n[n], common)]
            if claims.refers_back(by_n[n]) and n - 1 in by_n:
                agents += [a.name.text for a in claims.attributions(by_n[n - 1], common)]
        # who the article has acting together elsewhere ("Le secrétaire général de l'OTAN, Mark
        # Rutte, a confirmé"): "le patron de l'OTAN a demandé" may cite "M. Rutte … a appelé"
        found = _word_set(" ".join(agents))
        for group in _actors(tuple(by_n.values()), frozenset(common)):
            if any(_word_found(w, found) for name in group for w in name.split()[-1:]):
                agents += list(group)
        pool = _word_set(" ".join(agents))
        for a in said:
            words = [w for w in a.name.words if w.lower() not in claims.TITLES]
            if claims.DEMONYMS.match(fold(a.name.text)) or (len(words) == 1 and fold(words[0]) in claims.DEMONYMS_EN):
                continue  # "the former Dutch prime minister said": a nationality, not who
            if not words or any(_word_found(w, pool) for w in words[-1:]):
                continue
            who = ", ".join(dict.fromkeys(agents)) or "nobody named"
            failure = (
                f"{a.name.text!r} is not who speaks or acts in the cited sentence(s) {_cited_label(cited)} ({who})"
            )
            if not cross or not agents:
                reasons[i].append(failure)
                continue
            pending.append(_Pending(i, (a.name.text, words[-1]), tuple(agents), NAME_SIMILARITY, failure, "agent"))

    @staticmethod
    def _place_as_subject(
        i: int, text: str, cited: tuple[int, ...], by_n: dict[int, str], common: set[str], reasons: list[list[str]]
    ) -> None:
        """ "Moscou se bat aux côtés des Ukrainiens [10]" when [10] only has "… à Moscou": a place is not who acts."""
        plain = claims.strip_citations(text)
        found = claims.names(plain, common)
        if not found or found[0].start > 0 or claims.DEMONYMS.match(fold(found[0].text)):
            return
        head = found[0]
        if not re.match(r"\s+[a-zà-ÿ]", plain[head.end :]):  # a verb right after the name
            return
        evidence = fold(" ".join(by_n[n] for n in cited))
        spots = [m.start() for m in re.finditer(rf"\b{re.escape(fold(head.words[-1]))}\b", evidence)]
        if spots and all(_ONLY_PLACE.search(evidence[max(0, at - 6) : at]) for at in spots):
            reasons[i].append(
                f"{head.text!r} is only a place in the cited sentences {_cited_label(cited)}, not who acts"
            )

    @staticmethod
    def _titles(text: str, seen: _Named, facts: _Facts) -> set[str]:
        """The names of ``text``'s own titles that are in the titles the article gives the people named
        both in ``text`` and in the cited sentences (or the sentence they refer back to)."""
        _, named, mine = seen
        if not mine:
            return set()
        lent = {w for k, ws in facts.titles.items() if _word_found(k, named) and _word_found(k, mine) for w in ws}
        # only the names of the answer's own titles ("the Pentagon's spokeswoman"), not any name of the
        # sentence ("M. Rutte a promis à Volodymyr Zelensky" when Zelensky is in a title beside Rutte)
        plain = claims.strip_citations(text)
        titled = _word_set(" ".join(m.text for _, m in roles.complements(plain, claims.names(plain, facts.common))))
        return {w for w in titled if _word_found(w, lent)}

    @staticmethod
    def _roles(
        i: int,
        text: str,
        cited: tuple[int, ...],
        by_n: dict[int, str],
        facts: _Facts,
        seen: _Named,
        reasons: list[list[str]],
        notes: list[list[str]],
    ) -> None:
        """A role or title the answer gives ("the North Korean general … is Mark Rutte [1]", "Lavrov,
        Russia's interior minister [10]") must be one the cited sentences give (bot/roles.py), or one
        the article gives elsewhere to a person they name ("la porte-parole a averti … [7]": [7] has
        Mme Singh, [5] "la porte-parole du Pentagone, Sabrina Singh")."""
        said = roles.find(claims.strip_citations(text))
        if not said:
            return
        read, named, mine = seen
        have = [r for n in read for r in roles.find(by_n[n])]
        # the holder is the answer's own person when it names one ("Sabrina Singh, the Pentagon's
        # spokeswoman"), else anyone the cited sentences name
        holders = [k for k in facts.roles if _word_found(k, named) and (not mine or _word_found(k, mine))]
        held = [r for k in holders for r in facts.roles[k]]
        where = _cited_label(cited)
        for role in said:
            if any(roles.covers(h, role) for h in have):
                continue
            if any(roles.covers(h, role) for h in held):
                notes[i].append(f"{role.text!r}: a role the article gives {', '.join(holders)} elsewhere")
                continue
            given = ", ".join(dict.fromkeys(repr(h.text) for h in have)) or "none"
            reasons[i].append(f"{role.text!r} is not a role the cited sentences {where} give (theirs: {given})")

    @staticmethod
    def _polarity(i: int, text: str, evidence: str, reasons: list[list[str]]) -> None:
        said = claims.negations(text)
        cited = claims.negations(evidence)
        cited_words = [w for n in cited for w in n.words]
        for neg in said:
            if neg.words and not any(claims.same_stem(w, c) for w in neg.words for c in cited_words):
                reasons[i].append(f"it negates {' '.join(neg.words)!r} ({neg.marker}); the cited sentences do not")
        negated_in_answer = [w for n in said for w in n.words]
        plain = [w for w in claims.content_words(text) if w not in negated_in_answer]
        for neg in cited:
            if any(claims.same_stem(w, c) for w in neg.words for c in negated_in_answer):
                continue
            hit = next((c for c in plain for w in neg.words if claims.same_stem(w, c)), None)
            if hit:
                reasons[i].append(
                    f"the cited sentences negate {' '.join(neg.words)!r} ({neg.marker}); it says {hit!r} without"
                )

    @staticmethod
    def _reason(
        i: int,
        text: str,
        cited: tuple[int, ...],
        evidence: str,
        question: str,
        cross: bool,
        reasons: list[list[str]],
        pending: list[_Pending],
    ) -> None:
        """A why-question's answer takes its reason from the cited sentences: "Lavrov a évoqué
        … pour justifier ce qu'ils ont déjà fait [12]" gives a cause sentence 12 does not.
        In the article's language by its words (the question's are free: an answer restates
        it); across languages, the reason against windows of the cited sentences, as a quote."""
        if not claims.asks_why(question):
            return
        reason = claims.reason_given(claims.strip_citations(text))
        asked = claims.content_words(question)
        given = [
            w
            for w in claims.content_words(reason)
            if w not in claims.REASON_WORDS and not any(claims.same_stem(w, q) for q in asked)
        ]
        if not given:
            return
        if cross:
            failure = f"the reason it gives ({reason!r}) is not in the cited sentences {_cited_label(cited)}"
            pool = _windows(evidence, len(reason.split()))
            pending.append(_Pending(i, (reason,), pool, QUOTE_SIMILARITY, failure, f"reason {reason!r}"))
            return
        said = claims.content_words(evidence)
        missing = [w for w in given if not any(claims.same_stem(w, c) for c in said)]
        if len(missing) / len(given) > MAX_REASON_MISSING:
            words = ", ".join(repr(w) for w in missing)
            reasons[i].append(f"the reason it gives ({words}) is not in the cited sentences {_cited_label(cited)}")

    # -- embeddings, once --------------------------------------------------------------------
    def _settle(
        self,
        pending: list[_Pending],
        cosine_wanted: list[tuple[int, str, tuple[int, ...], float]],
        vectors: Vectors | None,
        reasons: list[list[str]],
        notes: list[list[str]],
    ) -> None:
        texts = {t for p in pending for t in (*p.whole, *p.parts, *p.pool)}
        texts |= {claims.strip_citations(t) for _, t, _, _ in cosine_wanted}
        vec = self._vectors(sorted(texts))
        for p in pending:
            best, score = _best(vec, p.whole, p.pool)
            ok = vec is not None and score >= p.threshold
            if ok:
                notes[p.claim].append(f"{p.note} ~ {best!r} ({score:.2f})")
            elif p.parts and vec is not None:
                matches = [(w, *_best(vec, (w,), p.pool)) for w in p.parts]
                ok = all(sc >= p.threshold for _, _, sc in matches)
                if ok:
                    notes[p.claim].append(", ".join(f"{w!r} ~ {b!r} ({sc:.2f})" for w, b, sc in matches))
            if not ok:
                suffix = f" (closest {best!r}, {score:.2f})" if best else ""
                reasons[p.claim].append(p.failure + suffix)
        for i, text, cited, overlap in cosine_wanted:
            claim = _cut(claims.strip_citations(text), 60)
            if vec is None or vectors is None:
                reasons[i].append(f"{claim!r} is not supported (overlap {overlap:.2f})")
                continue
            scores = np.asarray(vectors(None)) @ vec[claims.strip_citations(text)]
            mine = max(float(scores[n - 1]) for n in cited)
            top = int(np.argmax(scores)) + 1
            gap = float(scores[top - 1]) - mine
            if gap <= MAX_GAP:
                notes[i].append(f"cosine {mine:.2f}, {gap:.3f} below the article's closest sentence")
            else:
                reasons[i].append(
                    f"{claim!r} is not supported: it is closer to sentence [{top}] than to {_cited_label(cited)} "
                    f"(overlap {overlap:.2f}, cosine {mine:.2f} vs {float(scores[top - 1]):.2f})"
                )

    def _vectors(self, texts: Sequence[str]) -> dict[str, np.ndarray] | None:
        if self.embed is None:
            return None
        missing = [t for t in texts if t not in self._cache]
        if missing:
            for t, v in zip(missing, self.embed(missing), strict=True):
                self._cache[t] = np.asarray(v, dtype=np.float32)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return {t: self._cache[t] for t in texts}


@lru_cache(maxsize=64)
def _actors(article: tuple[str, ...], common: frozenset[str]) -> list[tuple[str, ...]]:
    """The names that speak or act together in one sentence of the article, merged when they share a
    surname: [("OTAN", "Mark Rutte", "M. Rutte", "Pays-Bas", …), ("Pentagone", "Sabrina Singh", …)]."""
    groups: list[set[str]] = []
    for text in article:
        names = {
            a.name.text
            for a in claims.attributions(text, common)
            if a.how != "source" and not claims.DEMONYMS.match(fold(a.name.text))
        }
        if names:
            groups.append(names)
    merged: list[set[str]] = []
    for g in groups:
        keys = {fold(n.split()[-1]) for n in g}
        for m in merged:
            if keys & {fold(n.split()[-1]) for n in m}:
                m |= g
                break
        else:
            merged.append(set(g))
    return [tuple(sorted(m)) for m in merged]


def _best(vec: dict[str, np.ndarray] | None, phrases: Sequence[str], pool: Sequence[str]) -> tuple[str, float]:
    if vec is None or not pool or not phrases:
        return "", 0.0
    matrix = np.stack([vec[t] for t in pool])
    best, score = "", -1.0
    for p in phrases:
        sims = matrix @ vec[p]
        j = int(np.argmax(sims))
        if float(sims[j]) > score:
            best, score = pool[j], float(sims[j])
    return best, score


def _shape(answer: str, question: str, evidence: str = "") -> list[str]:
    text = claims.strip_citations(answer)
    if is_abstention(text):
        return []
    out = []
    if claims.asks_yes_no(question) and not claims.says_yes_or_no(text):
        out.append("the question asks yes or no and the answer does not say yes or no first")
    if asks_quantity(question):
        # zero is a count only where the cited sentences deny something (« aucune nouvelle restriction »):
        # "No soldiers were sent [5]" does not answer "how many were sent?" when [5] has 10 000
        zero = bool(_ZERO.search(fold(text))) and bool(claims.negations(evidence))
        if has_count(text) or zero:
            out += _count_elsewhere(text, question)
        else:
            out.append("the question asks for a quantity and the answer has no number")
    if asks_time(question) and not has_time(text):
        out.append("the question asks when and the answer has no time expression")
    if claims.asks_why(question) and not claims.gives_reason(text):
        out.append("the question asks why and the answer gives no reason (no because, to, pour, parce que…)")
    return out


# What a how-many question counts: the words after "how many" up to its verb ("How many of
# the North Korean soldiers | have moved close to Ukraine?", "Combien de soldats nord-coréens |
# se sont déplacés …"); what it asks of them is the rest.
_COUNTED = re.compile(
    r"\b(?:how many|how much|combien d[e'’]?|nombre d[e'’]|number of)\s*(.*?)(?=\s(?:have|has|had|are|is|were|was|"
    r"did|do|does|will|would|could|can|ont|a|ont-ils|ont-elles|sont|est|etaient|avaient|ete|se|s['’]|y|en)\b|[-?]|$)",
    re.IGNORECASE,
)
# Zero is a count: "How many new restrictions would Kyiv face?" -> "none", "no new restrictions".
_ZERO = re.compile(r"\b(?:none|no|zero|aucune?|nul(?:le)?|pas (?:un|une) seule?)\b")
# Who says it is not what is asked: "…, according to the Pentagon spokeswoman", « selon Mme Singh, … »
_SOURCE = re.compile(r"\b(?:according to|selon|d['’]apr[eè]s|as reported by|cited by|cit[ée]e? par)\b[^,.;?]*", re.I)
_VAGUE = re.compile(
    r"\b(?:some|several|a few|few|many|certain|certains|certaines|plusieurs|quelques|quelques-uns|"
    r"quelques-unes|une partie|part of|a number of|un certain nombre|nombre d)\b"
)
# Clauses of an answer joined by a coordinator: "10 000 were sent to Russia | and some have moved
# near Ukraine". Not commas: "Some 10,000 soldiers, the Pentagon said, were sent …" is one clause.
_CLAUSE = re.compile(r";|\s(?:and|but|while|whereas|et|mais|tandis que|alors que)\s", re.IGNORECASE)


def _count_elsewhere(answer: str, question: str) -> list[str]:
    """A how-many answer whose number counts something other than what is asked (test t-en-u01: "How
    many … have moved close to Ukraine?" -> "10,000 … have been sent to the east of Russia and some
    have moved near Ukraine [5]"): the clause that says what the question asks has no number, and the
    number is in a clause that says less of it."""
    question, answer = _SOURCE.sub(" ", fold(question)), _SOURCE.sub(" ", answer)
    m = _COUNTED.search(question)
    counted = set(content_words(m.group(1))) if m else set()
    asked = content_words(question) - counted - {"how", "many", "much", "combien", "nombre", "number"}
    clauses = [c for c in _CLAUSE.split(answer) if c.strip()]
    if not asked or len(clauses) < 2:
        return []

    def says(clause: str) -> int:
        return sum(any(claims.same_stem(w, a) for a in asked) for w in set(content_words(fold(clause))))

    best = max(says(c) for c in clauses)
    with_count = [c for c in clauses if has_count(c)]
    if best == 0 or not with_count or any(says(c) == best for c in with_count):
        return []
    asked_in = next(c for c in clauses if says(c) == best)
    # only when that clause counts vaguely ("some have moved", « certains se sont déplacés »): the
    # article has no number for what is asked. Without one, "10 000 soldats ont été envoyés et
    # entraînés en Russie" would fail on a clause that is no clause.
    if not _VAGUE.search(fold(asked_in)):
        return []
    return [
        f"the question asks how many {_cut(asked_in.strip(' ,;:'), 50)!r}; the answer's number is in "
        f"{_cut(with_count[0].strip(' ,;:'), 50)!r}, which says something else"
    ]


def _overlap(text: str, evidence: str) -> float | None:
    words = content_words(claims.strip_citations(text))
    if not words:
        return None
    return len(words & content_words(evidence)) / len(words)


def _common_words(*texts: str) -> set[str]:
    """Folded words seen in lower case: a capitalised one of these at a sentence start is not a name."""
    out: set[str] = set()
    for t in texts:
        out |= {fold(w) for w, _, _ in claims.tokens(t) if w[:1].islower()}
    return out


@dataclass(frozen=True)
class _Facts:
    common: frozenset[str]  # words the article writes in lower case
    full_names: tuple[claims.Mention, ...]  # names of two words or more ("Mark Rutte")
    # the roles the article gives each person, by folded surname: {"singh": (spokesperson,), …}
    roles: dict[str, tuple[roles.Role, ...]]
    # the names in those titles, by surname: {"singh": {"pentagone", "sabrina", "singh"}, "lavrov": {"russe", …}}
    titles: dict[str, frozenset[str]]


@lru_cache(maxsize=64)
def _article_facts(article: tuple[str, ...]) -> _Facts:
    """What every check of an article needs, computed once per article (not per answer)."""
    common = frozenset(_common_words(*article))
    names = tuple(m for t in article for m in claims.names(t, common) if len(m.words) > 1)
    held: dict[str, list[roles.Role]] = {}
    titles: dict[str, set[str]] = {}
    for k, text in enumerate(article):
        found = roles.find(text)
        mentions = claims.names(text, common)
        pairs = roles.holders(text, _people_in(mentions), found=found)
        # "Le chef de la diplomatie a également souligné …" names nobody: its role is the
        # previous sentence's speaker's (the "refers back" rule, as for who speaks)
        if k and claims.refers_back(text):
            tied = {id(r) for r, _ in pairs}
            before = [a.name for a in claims.attributions(article[k - 1], common)]
            pairs += [(r, m) for r in found if id(r) not in tied for m in _people_in(before)]
        for role, who in pairs:
            held.setdefault(fold(who.words[-1]), []).append(role)
        inside = roles.complements(text, mentions, found=found)
        for role, who in pairs:
            words = _word_set(" ".join(m.text for r, m in inside if r == role))
            titles.setdefault(fold(who.words[-1]), set()).update(words)
    return _Facts(common, names, {k: tuple(v) for k, v in held.items()}, {k: frozenset(v) for k, v in titles.items()})


# (sentences read, words of the people they name, words of the people the answer sentence names)
_Named = tuple[list[int], set[str], set[str]]


def _named(text: str, cited: tuple[int, ...], by_n: dict[int, str], common: frozenset[str]) -> _Named:
    """What the role and title checks read: the cited sentences and those they refer back to,
    the words of the people those name, and the words of the people ``text`` names."""
    read = list(cited) + [n - 1 for n in cited if claims.refers_back(by_n[n]) and n - 1 in by_n]
    named = _word_set(" ".join(m.text for n in read for m in _people(by_n[n], common)))
    mine = _word_set(" ".join(m.text for m in _people(claims.strip_citations(text), common)))
    return read, named, mine


def _titled(word: str) -> bool:
    """ "M.", "Mme", "Mr", "President": a title before a one-word name makes it a person's."""
    w = word.lower()
    return w in claims.TITLES or w.rstrip(".") + "." in claims.TITLES


def _people(text: str, common: frozenset[str] | set[str]) -> list[claims.Mention]:
    return _people_in(claims.names(text, common))


def _people_in(mentions: Sequence[claims.Mention]) -> list[claims.Mention]:
    """The names of people among ``mentions``: two words or more, or a title before ("M. Lavrov",
    "Sabrina Singh"); not an organisation's acronym ("OTAN"), which would lend it every role
    written near it."""
    return [
        m
        for m in mentions
        if not claims.DEMONYMS.match(fold(m.text))
        and not places.known_forms(m.text)
        and (len(m.words) > 1 or _titled(m.text.split()[0]))
        and not any(claims.is_acronym(w) for w in m.words)
    ]


def _word_set(text: str) -> set[str]:
    out = set()
    for w, _, _ in claims.tokens(text):
        _, bare = claims.split_elision(w)
        out.add(fold(bare))
        out.update(fold(bare).split("-"))
    return out


def _word_found(word: str, pool: set[str]) -> bool:
    w = fold(word)
    if w in pool or all(part in pool for part in w.split("-")):
        return True
    if len(w) < 4:
        return False
    return any(
        abs(len(p) - len(w)) <= 3 and p[:1] == w[:1] and difflib.SequenceMatcher(None, w, p).ratio() >= SPELLING_RATIO
        for p in pool
    )


def _windows(evidence: str, k: int) -> tuple[str, ...]:
    """Runs of k - 1 to k + 1 words of the cited sentences: what a k-word phrase is compared with."""
    words = [w for w, _, _ in claims.tokens(evidence) if w not in '«»"“”']
    runs = {" ".join(words[a : a + n]) for n in range(max(1, k - 1), k + 2) for a in range(0, len(words) - n + 1)}
    return tuple(sorted(runs))


# A preposition of place, on lower-cased text with its accents ("à", not the English "a"),
# and what may stand between one and the name ("à Moscou et Pyongyang", "sur l'Ukraine").
_PLACE_BEFORE = claims.place_prepositions() + r"\s+(?:[\w'’-]+\s+(?:et|and)\s+)?"
# A name right after one of these in the folded cited sentences is only a place there.
_ONLY_PLACE = re.compile(claims.place_prepositions(("à", "en", "dans", "au", "aux", "in", "at"), folded=True) + r"\s*$")
# "à"/"to" after a verb of addressing is whom, not where ("a demandé à Moscou de cesser").
# Not claims.SAY_VERBS: another list (écri-, adress-, talk, reply; no annonc-, affirm-) on folded text.
_ADDRESSED = re.compile(
    r"\b(?:demand\w*|appel\w*|écri\w*|répond\w*|dit|déclar\w*|adress\w*|ask\w*|call\w*|wr[io]te\w*|"
    r"said|say\w*|spoke|speak\w*|talk\w*|repl\w*|appeal\w*)\s+(?:(?:à|to)\s+[\w'’-]+\s+(?:et|and)\s+)*$"
)


def _as_place(text: str, name: str) -> bool:
    """``name`` follows a preposition of place in ``text`` ("à Moscou", "in Moscow", "sur Kiev"),
    not a verb of addressing's "à"/"to" ("a demandé à Moscou", "wrote to Moscow")."""
    low = text.lower()
    for m in re.finditer(_PLACE_BEFORE + re.escape(name.lower()) + r"\b", low):
        word = m.group(0).split()[0]
        if word in ("à", "to", "on") and _ADDRESSED.search(low[: m.start()]):  # "called on Moscow"
            continue
        return True
    return False


def _phrases(evidence: str) -> list[str]:
    """Candidate names in the cited sentences for a cross-language match: their
    capitalised names, and every run of one to four words that starts and ends
    on a content word ("Premier ministre des Pays-Bas", "nord-coréens")."""
    out = [m.text for m in claims.names(evidence)]
    toks = [claims.split_elision(w)[1] for w, _, _ in claims.tokens(evidence) if w not in '«»"“”']
    content = [len(fold(w)) > 2 and fold(w) not in claims.FUNCTION_WORDS for w in toks]
    joins = [fold(w) in claims.CONNECTORS or c for w, c in zip(toks, content, strict=True)]
    for j in range(len(toks)):
        if not content[j]:
            continue
        for k in range(j, min(j + 4, len(toks))):
            if not joins[k]:
                break
            if content[k]:
                out.append(" ".join(toks[j : k + 1]))
    return list(dict.fromkeys(out))


def _flat(text: str) -> str:
    return " ".join(re.findall(r"\w+", fold(text)))


def _cited_label(cited: Sequence[int]) -> str:
    return "".join(f"[{n}]" for n in cited)


def verify(
    answer: str,
    article: Sequence[Sentence],
    question: str | None = None,
    article_lang: str = "unknown",
    embed: Embed | None = None,
    vectors: Vectors | None = None,
) -> Verification:
    """One-off check (no cache kept): see ``Verifier``."""
    return Verifier(embed).verify(answer, article, question, article_lang, vectors)


def check_input(answer: str, n_sentences: int, article_id: str) -> str:
    """The text as ``bot verify`` takes it, or an ``AnswerError`` naming what is wrong with it."""
    from .errors import AnswerError

    if not isinstance(answer, str) or not answer.strip():
        raise AnswerError('the text to verify is empty: give an answer with citations, e.g. "… 10 000 soldats [5]."')
    text = claims.nfc(answer).strip()
    if len(text) > MAX_TEXT_CHARS:
        raise AnswerError(
            f"the text is {len(text):,} characters long; the limit is {MAX_TEXT_CHARS:,}: check it in parts"
        )
    if not re.search(r"[^\W\d_]", claims.strip_citations(text)):
        raise AnswerError("the text has no words besides its citations: give the sentences to check")
    cited = citations_in(text)
    if not cited:
        raise AnswerError(
            "the text cites no sentence: add the numbers of the article's sentences it rests on as [n] "
            f"(1 to {n_sentences} for {article_id})"
        )
    bad = sorted({n for n in cited if not 1 <= n <= n_sentences})
    if bad:
        raise AnswerError(
            f"citation(s) {', '.join(f'[{n}]' for n in bad)} out of range: article {article_id} has "
            f"{n_sentences} sentences (cite [1] to [{n_sentences}])"
        )
    return text
