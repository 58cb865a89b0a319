"""How likely is it that the article answers the question and that we found
where: a calibrated probability, one decision for both engines.

    >>> model = Calibration.load()                       # bot/calibration.json
    >>> j = model.judge(features(evidence, hits))        # Judgement(answerable=0.91, confidence=0.83)
    >>> model.answers(j)                                 # answer, or say "not found"

``features`` turns what retrieval saw (``Evidence``: the question, the
article's scores, the question's and the chosen sentences' tokens) into a
few numbers; two logistic regressions fitted by ``python -m bot.calibrate``
on public data (docs/calibration.md) turn them into the probability that the
article answers the question (the decision) and the probability that the
chosen sentences hold the answer (the confidence shown). The coefficients are
a small versioned JSON file checked on load; nothing is unpickled.

Every feature is rounded to ``PRECISION`` decimals, so that the last digits
of an embedding, which differ from one CPU to another, do not move a
decision; the rounding is the stated precision of the decision.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .answer_types import asks_quantity, asks_time, has_count, has_time
from .errors import ConfigError
from .extractive import choose
from .lexical import LexicalIndex, fold, terms
from .tokens import FEATURES as TOKEN_FEATURES
from .tokens import Tokens, token_match
from .types import Hit

if TYPE_CHECKING:
    from .retrieve import Retrieval

FORMAT = "article-qa-calibration/2"
DEFAULT_PATH = Path(__file__).resolve().parent / "calibration.json"
PRECISION = 4
DENSE_KNEE = 0.80
# the coverage features that also enter multiplied by the article's size (log of
# its sentences): the question's words found in a 5-sentence paragraph say more
# than the same share found in a 200-sentence article (docs/calibration.md)
BY_SIZE = ("terms_in_sentence", "terms_in_window", "terms_best_window", "terms_in_article")
# the calibration data's largest article has 218 sentences: beyond this size the
# products are held, not extrapolated along a line fitted on 5 to 218
SIZE_CAP = 250
# the features that read the question's words in the article's language
LEXICAL = ("lex_share", "lex_top", *BY_SIZE, *(f"{k}_by_size" for k in BY_SIZE))
_NAME = re.compile(r"(?<![\w'’-])(?:[A-ZÀ-Ý][\w'’-]+|\d[\d\s.,]*\d|\d)")


@dataclass(frozen=True)
class Evidence:
    """What retrieval saw for one question, over the article it searched."""

    question: str
    question_lang: str
    article_lang: str
    dense: np.ndarray  # blended dense score of every sentence of the article, in order
    lexical: np.ndarray  # BM25 of every sentence (its window blended in), in order
    lexicon: LexicalIndex  # the article's BM25 index, with its sentences' terms
    history: str = ""  # the previous question, for follow-ups
    # a text's content tokens with their vectors (``kind``: "query" or "passage"),
    # or None when the embedding model cannot give them (bot/tokens.py)
    tokens: Callable[[str, str], Tokens | None] | None = None


def _coverage(wanted: set[str] | frozenset[str], text_terms: set[str] | frozenset[str]) -> float:
    return len(wanted & text_terms) / len(wanted) if wanted else 1.0


def names(text: str) -> set[str]:
    """Capitalised words after the first and numbers: what an answer must not invent."""
    found = set()
    for i, m in enumerate(_NAME.finditer(text)):
        word = m.group(0)
        if i == 0 and m.start() == 0 and not word[0].isdigit():
            continue  # the sentence's first word is capitalised anyway
        found.add(re.sub(r"[\s.,]", "", word.lower()))
    return found


def features(e: Evidence, chosen: Sequence[Hit]) -> dict[str, float]:
    """The confidence model's inputs for answering with ``chosen`` (best first)."""
    lexicon = e.lexicon
    n = lexicon.size
    rows = [h.sentence.n - 1 for h in chosen]
    dense = np.asarray(e.dense, dtype=np.float64)
    top = float(dense[rows[0]]) if rows else 0.0
    others = np.delete(dense, rows[:1]) if n > 1 else np.zeros(1)
    same = float(e.question_lang == e.article_lang)
    q_terms = set(terms(e.question + " " + e.history, e.article_lang))
    window_terms = lexicon.window_terms(rows[0]) if rows else frozenset()
    sentence_terms = frozenset().union(*(lexicon.sentence_terms[r] for r in rows))
    best_window = max((_coverage(q_terms, lexicon.window_terms(i)) for i in range(n)), default=0.0)
    q_names = names(e.question)
    chosen_text = " ".join(h.sentence.text for h in chosen)
    lex = np.asarray(e.lexical, dtype=np.float64)
    lex_top = float(lex[rows[0]]) if rows and lex.size else 0.0
    lex_max = float(lex.max()) if lex.size else 0.0
    out = {
        "dense_top": top,
        "dense_lift": top - float(np.median(dense)) if n else 0.0,
        "dense_gap": top - float(others.max()) if n > 1 else 0.0,
        "dense_z": (top - float(dense.mean())) / (float(dense.std()) + 1e-6) if n > 1 else 0.0,
        # how far the best score falls below DENSE_KNEE: with e5-small, answerable
        # questions almost never score below it, off-topic ones often do, a bend
        # a straight logistic term cannot follow (docs/calibration.md)
        "dense_shortfall": max(0.0, DENSE_KNEE - top),
        "same_lang": same,
        "lex_share": lex_top / lex_max if lex_max > 0 else 0.0,
        "lex_top": math.log1p(max(lex_top, 0.0)),
        "terms_in_sentence": _coverage(q_terms, sentence_terms),
        "terms_in_window": _coverage(q_terms, window_terms),
        "terms_best_window": best_window,
        "terms_in_article": _coverage(q_terms, lexicon.article_terms),
        "question_terms": math.log1p(len(q_terms)),
        # a name is in the article when an article word starts like it (its first
        # four letters, accents folded): "Pentagon" meets "Pentagone", "Moscow" "Moscou"
        "names_in_article": _coverage(q_names, {w for w in q_names if fold(w)[:4] in lexicon.prefixes}),
        "wrong_type": float(
            (asks_quantity(e.question) and not has_count(chosen_text))
            or (asks_time(e.question) and not has_time(chosen_text))
        ),
        "log_sentences": math.log(max(n, 1)),
    }
    out.update(_token_features(e, chosen))
    size = math.log(min(max(n, 1), SIZE_CAP))
    out.update({f"{k}_by_size": out[k] * size for k in BY_SIZE})
    if not same:
        # Across languages the lexical signals are unknown, not zero: an English
        # question shares only names with a French article, and a zero read as
        # "no word of the question is there" refused answerable questions
        # ("What did NATO confirm?" 0.18). NaN is imputed as the calibration
        # data's mean (``Calibration.probability``), so these questions are
        # judged on the dense and name signals alone.
        out.update(dict.fromkeys(LEXICAL, math.nan))
    return {k: round(v, PRECISION) for k, v in out.items()}


def _token_features(e: Evidence, chosen: Sequence[Hit]) -> dict[str, float]:
    """How well the question's tokens are matched by the chosen sentences' tokens;
    unknown (NaN) when the embedding model gives no token vectors."""
    if e.tokens is None or not chosen:
        return dict.fromkeys(TOKEN_FEATURES, math.nan)
    question = e.tokens(e.question, "query")
    sentences = [e.tokens(h.sentence.text, "passage") for h in chosen]
    if question is None or any(s is None for s in sentences):
        return dict.fromkeys(TOKEN_FEATURES, math.nan)
    return token_match(question, [s for s in sentences if s is not None])


@dataclass(frozen=True)
class Logistic:
    """One logistic regression over standardised features."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

    def probability(self, names: Sequence[str], values: Mapping[str, float]) -> float:
        # an unknown feature (NaN) is imputed as the mean: it moves nothing
        z = self.bias + sum(
            w * (values[n] - m) / s
            for n, w, m, s in zip(names, self.weights, self.mean, self.scale, strict=True)
            if not math.isnan(values[n])
        )
        return round(1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z)))), PRECISION)

    def to_json(self) -> dict[str, object]:
        return {"mean": list(self.mean), "scale": list(self.scale), "weights": list(self.weights), "bias": self.bias}

    @classmethod
    def from_json(cls, d: Mapping[str, object], n: int) -> Logistic:
        model = cls(
            tuple(float(x) for x in d["mean"]),  # type: ignore[attr-defined]
            tuple(float(x) for x in d["scale"]),  # type: ignore[attr-defined]
            tuple(float(x) for x in d["weights"]),  # type: ignore[attr-defined]
            float(d["bias"]),  # type: ignore[arg-type]
        )
        if not n == len(model.mean) == len(model.scale) == len(model.weights):
            raise ValueError(f"{n} features and other lengths")
        return model


@dataclass(frozen=True)
class Judgement:
    """What the calibration says of one answer."""

    answerable: float  # P(the article answers the question): the decision reads this
    confidence: float  # P(what is quoted or cited holds the answer): what the reader sees


@dataclass(frozen=True)
class Calibration:
    """Two fitted logistic regressions over ``features`` and the operating point.

    ``answerable`` predicts whether the article answers the question at all;
    ``right`` whether the chosen sentences hold the answer when it does. The
    confidence shown is their product, P(right); the decision to answer reads
    P(answerable), so that the refusal budget (5 % of the answerable
    questions) is not spent on questions the article answers but whose best
    sentence we would get wrong (docs/calibration.md)."""

    names: tuple[str, ...]
    answerable: Logistic
    right: Logistic  # P(the chosen sentences hold the answer | the article answers)
    threshold: float  # default operating point on P(answerable) (see docs/calibration.md)
    floor: float  # and the confidence below which nothing is quoted, whatever the answerability
    meta: Mapping[str, object]

    def judge(self, values: Mapping[str, float]) -> Judgement:
        missing = [n for n in self.names if n not in values]
        if missing:
            raise ConfigError(f"the calibration needs features {missing}: run `python -m bot.calibrate`")
        a = self.answerable.probability(self.names, values)
        return Judgement(a, round(a * self.right.probability(self.names, values), PRECISION))

    def probability(self, values: Mapping[str, float]) -> float:
        """The confidence: P(the chosen sentences hold the answer)."""
        return self.judge(values).confidence

    def answers(self, judged: Judgement, min_confidence: float | None = None) -> bool:
        """The one decision both engines share: answer when the article likely
        answers (the calibrated point) and the confidence is not below the floor,
        or, when the user set ``min_confidence`` (ARTICLE_QA_MIN_CONFIDENCE),
        when the confidence reaches it."""
        if min_confidence is not None:
            return judged.confidence >= min_confidence
        return judged.answerable >= self.threshold and judged.confidence >= self.floor

    def to_json(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "features": list(self.names),
            "answerable": self.answerable.to_json(),
            "right": self.right.to_json(),
            "threshold": self.threshold,
            "confidence_floor": self.floor,
            **dict(self.meta),
        }

    @classmethod
    def load(cls, path: Path = DEFAULT_PATH) -> Calibration:
        return _load(path)


_KEYS = ("format", "features", "answerable", "right", "threshold", "confidence_floor")


@lru_cache(maxsize=4)
def _load(path: Path) -> Calibration:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(
            f"cannot read the calibration {path} ({e}): restore it from git or run `python -m bot.calibrate`"
        ) from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ConfigError(f"{path} is not a {FORMAT} file: run `python -m bot.calibrate`")
    try:
        names = tuple(str(n) for n in d["features"])
        return Calibration(
            names,
            Logistic.from_json(d["answerable"], len(names)),
            Logistic.from_json(d["right"], len(names)),
            float(d["threshold"]),
            float(d["confidence_floor"]),
            {k: v for k, v in d.items() if k not in _KEYS},
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{path} is malformed ({e}): run `python -m bot.calibrate`") from None


def assess(question: str, retrieval: Retrieval, calibration: Calibration) -> tuple[list[Hit], Judgement | None]:
    """The sentences the extractive engine would quote, and the calibration's judgement of answering with them."""
    chosen = choose(question, retrieval.hits)
    if retrieval.evidence is None:
        return chosen, None
    if not chosen:
        return chosen, Judgement(0.0, 0.0)
    return chosen, calibration.judge(features(retrieval.evidence, chosen))
