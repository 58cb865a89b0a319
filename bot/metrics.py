"""Evaluation metrics: small pure functions, each tested on a hand-worked example.

A metric that is undefined for an item (recall when there is no gold
sentence, precision when nothing is cited) returns NaN, never a silent 0;
``mean`` skips NaN.

    >>> normalize("L'armée a envoyé 10 000 soldats.")
    'armee a envoye 10000 soldats'
    >>> token_f1("environ 10 000 soldats", ["10,000 soldats"])
    0.8
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

_ELISION = re.compile(r"\b(l|d|j|m|n|s|t|c|qu|jusqu|lorsqu|puisqu)['’]", re.IGNORECASE)
# "10 000", "10,000", "10.000" and "10, 000" (the model sometimes writes that),
# whole: "En 2024, 500 soldats" holds 2024 and 500, not 2024500.
_THOUSANDS = re.compile(r"\b\d{1,3}(?:(?:[ \u00a0\u202f.]|, ?)\d{3})+\b")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
ARTICLES = {"le", "la", "les", "un", "une", "des", "du", "de", "the", "a", "an", "of", "et", "and"}


def normalize(text: str) -> str:
    """Lower case, no accents, no elisions (l', d'), "10 000" = "10,000" = "10000",
    no punctuation, single spaces."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = _ELISION.sub("", text)
    text = _THOUSANDS.sub(lambda m: re.sub(r"\D", "", m.group(0)), text)
    text = _PUNCT.sub(" ", text)
    return " ".join(text.split())


def answer_correct(prediction: str, accepted: Sequence[str]) -> bool:
    """An accepted answer appears in the prediction, after normalisation."""
    p = f" {normalize(prediction)} "
    return any(f" {normalize(a)} " in p for a in accepted if normalize(a))


def _tokens(text: str) -> list[str]:
    return [t for t in normalize(text).split() if t not in ARTICLES]


def token_f1(prediction: str, accepted: Sequence[str]) -> float:
    """SQuAD-style token F1 against the best accepted answer (NaN if none)."""
    if not accepted:
        return math.nan
    pred = _tokens(prediction)
    best = 0.0
    for a in accepted:
        gold = _tokens(a)
        common = sum((Counter(pred) & Counter(gold)).values())
        if not pred or not gold or common == 0:
            continue
        precision, recall = common / len(pred), common / len(gold)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def recall_at_k(ranked: Sequence[str], gold: Iterable[str], k: int) -> float:
    """1 if a gold id is in the top k, else 0; NaN without gold."""
    gold = set(gold)
    if not gold:
        return math.nan
    return 1.0 if gold & set(ranked[:k]) else 0.0


def reciprocal_rank(ranked: Sequence[str], gold: Iterable[str]) -> float:
    gold = set(gold)
    if not gold:
        return math.nan
    for i, r in enumerate(ranked, 1):
        if r in gold:
            return 1.0 / i
    return 0.0


def citation_precision(cited: Sequence[tuple[str, str]], support: Iterable[str], accepted: Sequence[str]) -> float:
    """Share of cited sentences (id, text) that are support sentences or contain
    an accepted answer; NaN when nothing is cited (ALCE-style, no NLI model)."""
    if not cited:
        return math.nan
    support = set(support)
    good = sum(1 for sid, text in cited if sid in support or (accepted and answer_correct(text, accepted)))
    return good / len(cited)


def citation_recall(cited_ids: Iterable[str], support: Iterable[str]) -> float:
    """1 if at least one support sentence is cited; NaN without support."""
    support = set(support)
    if not support:
        return math.nan
    return 1.0 if support & set(cited_ids) else 0.0


def abstention_scores(abstained: Sequence[bool], answerable: Sequence[bool]) -> tuple[float, float]:
    """(precision, recall) of "cannot find it" as a detector of unanswerable questions."""
    tp = sum(1 for a, ok in zip(abstained, answerable, strict=True) if a and not ok)
    said = sum(abstained)
    should = sum(1 for ok in answerable if not ok)
    return (tp / said if said else math.nan, tp / should if should else math.nan)


def mean(values: Iterable[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return sum(vals) / len(vals) if vals else math.nan


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (p in 0..100); NaN for no values."""
    vals = sorted(v for v in values if not math.isnan(v))
    if not vals:
        return math.nan
    k = (len(vals) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return vals[lo] + (vals[hi] - vals[lo]) * (k - lo)


# ---------------------------------------------------------------- confidence


def auroc(scores: Sequence[float], positive: Sequence[bool]) -> float:
    """Probability that a random positive scores above a random negative (ties count half); NaN
    without both classes. The Mann-Whitney statistic, by ranks. A NaN score (a feature
    unknown for that question) says nothing either way and is left out: it
    equals nothing, not even itself, and would stall the tie grouping below."""
    known = [(s, p) for s, p in zip(scores, positive, strict=True) if not math.isnan(s)]
    scores = [s for s, _ in known]
    pos = [s for s, p in known if p]
    neg = [s for s, p in known if not p]
    if not pos or not neg:
        return math.nan
    ordered = sorted(scores)
    rank: dict[float, float] = {}
    i = 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j] == ordered[i]:
            j += 1
        rank[ordered[i]] = (i + j + 1) / 2  # average 1-based rank of the tie group
        i = j
    u = sum(rank[s] for s in pos) - len(pos) * (len(pos) + 1) / 2
    return u / (len(pos) * len(neg))


def expected_calibration_error(probs: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width
    bins weighted by how many predictions fall in each; NaN for no predictions."""
    if not probs:
        return math.nan
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, p in enumerate(probs) if lo <= p < hi or (b == bins - 1 and p == 1.0)]
        if idx:
            conf = sum(probs[i] for i in idx) / len(idx)
            acc = sum(correct[i] for i in idx) / len(idx)
            total += len(idx) / len(probs) * abs(conf - acc)
    return total


def risk_coverage(probs: Sequence[float], correct: Sequence[bool]) -> list[tuple[float, float, float]]:
    """(threshold, coverage, accuracy of the answered) for every distinct
    threshold, most confident first: answering only above the threshold."""
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    out = []
    right = 0
    for k, i in enumerate(order, 1):
        right += bool(correct[i])
        if k == len(order) or probs[order[k]] != probs[i]:
            out.append((probs[i], k / len(order), right / k))
    return out
