"""Hybrid ranking and the calibrated confidence: BM25 terms, rank fusion,
features on crafted evidence, the calibration file and its checks, and the
one decision both engines share (fake embedder, fake LLM)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from bot import Bot
from bot.confidence import LEXICAL, TOKEN_FEATURES, Calibration, Evidence, Judgement, features, names
from bot.errors import ConfigError
from bot.lexical import LexicalIndex, terms
from bot.retrieve import fuse
from bot.types import Hit, Sentence

from .conftest import FakeEmbedder, FakeLLM

Q = "Combien de soldats nord-coréens ont été envoyés en Russie ?"


def sentences(*texts: str) -> list[Sentence]:
    return [Sentence(f"a:{i}", "a", i, t, 0, len(t)) for i, t in enumerate(texts, 1)]


def test_terms_are_stemmed_folded_and_without_stop_words():
    assert terms("Combien de soldats nord-coréens ont été envoyés en Russie ?", "fr") == [
        "soldat",
        "nord",
        "coreen",
        "envoi",
        "russ",
    ]
    assert terms("The soldiers were sent to Russia", "en") == ["soldier", "sent", "russia"]


def test_bm25_ranks_the_sentence_sharing_rare_words_first():
    lex = LexicalIndex(
        sentences("Le ministre a parlé.", "Environ 10 000 soldats ont été envoyés.", "Le ministre est parti."), "fr"
    )
    sentence, window = lex.scores("Combien de soldats envoyés ?")
    assert int(np.argmax(sentence)) == 1 and sentence[0] == 0.0
    assert window.shape == (3,) and window[0] > 0  # the first window holds the second sentence
    assert not lex.scores("xylophone")[0].any()


def test_fusion_lets_a_lexical_match_reorder_near_ties_only():
    dense = np.array([0.90, 0.88, 0.70])
    lexical = np.array([0.0, 5.0, 1.0])
    fused = fuse(dense, lexical, 0.04)
    assert int(np.argmax(fused)) == 1  # 0.88 + 0.04 beats 0.90
    assert int(np.argmax(fuse(np.array([0.95, 0.88]), np.array([0.0, 5.0]), 0.04))) == 0  # a clear winner stays
    assert np.array_equal(fuse(dense, np.zeros(3), 0.04), dense)  # no shared word: dense alone
    assert np.array_equal(fuse(dense, lexical, 0.0), dense)


def test_names_are_capitalised_words_after_the_first_and_numbers():
    assert names("Qui est Mark Rutte, selon ABC News en 2024 ?") == {"mark", "rutte", "abc", "news", "2024"}
    assert names("Combien de soldats ?") == set()
    assert names("Environ 10 000 soldats") == {"10000"}


def evidence(question: str, texts: list[str], dense: list[float], lexical: list[float], q_lang="fr") -> Evidence:
    return Evidence(question, q_lang, "fr", np.array(dense), np.array(lexical), LexicalIndex(sentences(*texts), "fr"))


def hit(n: int, texts: list[str], score: float) -> Hit:
    return Hit(Sentence(f"a:{n}", "a", n, texts[n - 1], 0, 1), score)


def test_features_on_crafted_evidence():
    texts = ["Le ministre a parlé.", "Environ 10 000 soldats nord-coréens ont été envoyés en Russie.", "Fin."]
    e = evidence(Q, texts, [0.80, 0.90, 0.70], [0.0, 4.0, 0.0])
    f = features(e, [hit(2, texts, 0.90)])
    assert f["dense_top"] == 0.9 and f["dense_lift"] == pytest.approx(0.1) and f["dense_gap"] == pytest.approx(0.1)
    assert f["same_lang"] == 1.0 and f["lex_share"] == 1.0
    assert f["terms_in_window"] == 1.0 and f["terms_in_article"] == 1.0
    assert f["wrong_type"] == 0.0 and f["log_sentences"] == pytest.approx(np.log(3), abs=1e-4)
    # across languages the lexical signals are unknown (NaN), and the others stay
    english = features(replace(e, question="How many North Korean soldiers were sent?", question_lang="en"), [])
    assert all(math.isnan(english[n]) for n in LEXICAL) and english["same_lang"] == 0.0
    assert not any(math.isnan(v) for n, v in english.items() if n not in LEXICAL and n not in TOKEN_FEATURES)
    # without token vectors (this fake model has none) the token features are unknown
    assert all(math.isnan(f[n]) for n in TOKEN_FEATURES)
    # a name the article never mentions
    f = features(replace(e, question="Combien de soldats Zelensky a-t-il envoyés ?"), [hit(2, texts, 0.9)])
    assert f["names_in_article"] == 0.0


def test_token_features_read_each_question_token_best_match():
    from bot.tokens import Tokens

    unit = np.eye(3, dtype=np.float16)
    vectors = {
        ("query", Q): Tokens(("soldats", "tués", "Koursk"), unit),
        # the sentence matches "soldats" and "Koursk" exactly, nothing like "tués"
        ("passage", "Environ 10 000 soldats à Koursk."): Tokens(("soldats", "Koursk"), unit[[0, 2]]),
    }
    texts = ["Le ministre a parlé.", "Environ 10 000 soldats à Koursk."]
    e = replace(evidence(Q, texts, [0.8, 0.9], [0.0, 1.0]), tokens=lambda text, kind: vectors[(kind, text)])
    f = features(e, [hit(2, texts, 0.9)])
    assert (f["tok_min"], f["tok_low2"], f["tok_mean"]) == (0.0, 0.5, pytest.approx(0.6667, abs=1e-4))
    assert f["tok_q25"] == 0.5
    # a model whose folder the numpy encoder cannot read gives no vectors: unknown
    f = features(replace(e, tokens=lambda text, kind: None), [hit(2, texts, 0.9)])
    assert all(math.isnan(f[n]) for n in TOKEN_FEATURES)


def test_features_are_rounded_to_the_stated_precision():
    texts = ["Un.", "Deux."]
    f = features(evidence("Quoi ?", texts, [0.812345678, 0.8], [0, 0]), [hit(1, texts, 0.81)])
    assert f["dense_top"] == 0.8123 and f["dense_gap"] == 0.0123


def test_the_calibration_file_is_versioned_and_checked(tmp_path):
    model = Calibration.load()
    assert model.names and 0.0 < model.threshold < 1.0
    assert model.meta["recipe"].startswith("python -m bot.calibrate")
    assert "gold-test" not in model.meta["data"]  # never fitted on the held-out split
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({**model.to_json(), "format": "other/2"}))
    with pytest.raises(ConfigError, match="python -m bot.calibrate"):
        Calibration.load(bad)
    short = tmp_path / "s.json"
    short.write_text(json.dumps({**model.to_json(), "right": {**model.right.to_json(), "weights": [1.0]}}))
    with pytest.raises(ConfigError, match="features"):
        Calibration.load(short)
    old = tmp_path / "v1.json"
    old.write_text(json.dumps({**model.to_json(), "format": "article-qa-calibration/1"}))
    with pytest.raises(ConfigError, match="is not a article-qa-calibration/2 file: run `python -m bot.calibrate`"):
        Calibration.load(old)
    with pytest.raises(ConfigError, match="needs features"):
        model.probability({"dense_top": 0.9})


@pytest.mark.parametrize("part", ["answerable", "right"])
def test_an_unknown_feature_counts_as_the_calibration_mean(part):
    model = Calibration.load()
    logistic = getattr(model, part)
    at_mean = dict(zip(model.names, logistic.mean, strict=True))
    unknown = {**at_mean, **dict.fromkeys(LEXICAL, math.nan), **dict.fromkeys(TOKEN_FEATURES, math.nan)}
    assert logistic.probability(model.names, unknown) == logistic.probability(model.names, at_mean)
    # and a known lexical value still moves it (the weights are not all zero)
    moved = {**at_mean, "terms_in_article": at_mean["terms_in_article"] + 1.0}
    assert logistic.probability(model.names, moved) != logistic.probability(model.names, at_mean)


def test_the_confidence_is_the_product_and_the_decision_reads_the_answerability():
    model = Calibration.load()
    values = dict(zip(model.names, model.answerable.mean, strict=True))
    j = model.judge(values)
    a, r = model.answerable.probability(model.names, values), model.right.probability(model.names, values)
    assert j == Judgement(a, round(a * r, 4)) and j.confidence <= j.answerable
    at, floor = model.threshold, model.floor
    assert model.answers(Judgement(at, floor)) and not model.answers(Judgement(at - 0.0001, 1.0))
    # below the floor nothing is quoted, however answerable the question looks
    assert not model.answers(Judgement(1.0, floor - 0.0001)) and 0 < floor < at
    # a user's minimum confidence decides on the confidence alone, inclusive
    assert model.answers(Judgement(0.0, 0.3), min_confidence=0.3)
    assert not model.answers(Judgement(1.0, 0.2999), min_confidence=0.3)


def test_probability_grows_with_the_evidence():
    model = Calibration.load()
    texts = ["Le ministre a parlé.", "Environ 10 000 soldats nord-coréens ont été envoyés en Russie.", "Fin."]
    strong = features(evidence(Q, texts, [0.80, 0.90, 0.70], [0.0, 4.0, 0.0]), [hit(2, texts, 0.9)])
    weak = features(
        evidence("Quelle est la recette de la ratatouille ?", texts, [0.76, 0.77, 0.76], [0, 0, 0]),
        [hit(2, texts, 0.77)],
    )
    assert 0.0 <= model.probability(weak) < model.probability(strong) <= 1.0
    assert not model.answers(model.judge(weak)) and model.answers(model.judge(strong))


def test_min_confidence_moves_the_operating_point(settings):
    llm = FakeLLM(settings, ["Environ 10 000 soldats nord-coréens ont été envoyés en Russie [5]."] * 3)
    never = Bot(replace(settings, min_confidence=1.0), embedder=FakeEmbedder(), llm=llm)  # type: ignore[arg-type]
    a = never.ask(Q, engine="llm")
    assert a.abstained and a.engine == "llm" and a.confidence is not None and a.confidence < 1.0
    assert llm.messages == []  # below the operating point the LLM is not asked at all
    always = Bot(replace(settings, min_confidence=0.0), embedder=FakeEmbedder(), llm=llm)  # type: ignore[arg-type]
    a = always.ask(Q, engine="llm")
    assert not a.abstained and a.engine == "llm" and len(llm.messages) == 1
    assert not always.ask(Q, engine="extractive").abstained
    assert never.ask(Q, engine="extractive").abstained


def test_min_confidence_is_checked():
    from bot import Settings

    assert Settings.load({"min_confidence": "0.3"}, environ={}).min_confidence == 0.3
    assert Settings.load(environ={"ARTICLE_QA_MIN_CONFIDENCE": ""}).min_confidence is None
    with pytest.raises(ConfigError, match="between 0 and 1"):
        Settings.load({"min_confidence": "1.5"}, environ={})
    with pytest.raises(ConfigError, match="a number like 0.4"):
        Settings.load({"min_confidence": "high"}, environ={})


def _rows(values, labels, set_name="s", answerable=None):
    from bot.calibrate import Row

    return [
        Row(set_name, str(i), bool(lab) if answerable is None else answerable[i], v, lab)
        for i, (v, lab) in enumerate(zip(values, labels, strict=True))
    ]


def test_fit_learns_the_direction_and_imputes_unknown_values():
    from bot.calibrate import fit

    rng = np.random.default_rng(0)
    good = rng.normal(size=200)
    labels = [int(g + 0.3 * rng.normal() > 0) for g in good]
    # "unknown" is NaN in every other row and noise elsewhere
    values = [{"good": float(g), "unknown": math.nan if i % 2 else float(rng.normal())} for i, g in enumerate(good)]
    mean, scale, weights, bias = fit(_rows(values, labels), ["good", "unknown"])
    assert np.isfinite(weights).all() and np.isfinite(bias)
    assert mean[1] == pytest.approx(np.nanmean([v["unknown"] for v in values]))
    assert weights[0] > 1.0 and abs(weights[1]) < 0.5 * weights[0]


def test_operating_point_refuses_at_most_the_stated_share_of_answerable_questions():
    from bot.calibrate import operating_point

    # 20 answerable questions with probabilities .05 .. 1.00, one unanswerable at .01
    probs = [round(0.05 * i, 2) for i in range(1, 21)] + [0.01]
    rows = _rows([{}] * 21, [1] * 20 + [0], answerable=[True] * 20 + [False])
    # 5 % of 20 is one question: the threshold may refuse the .05 one, not the .10 one
    assert operating_point(rows, probs, limit=0.05, slack=0.0) == 0.1
    assert operating_point(rows, probs, limit=0.0, slack=0.0) == 0.05
    assert operating_point(rows, probs, limit=0.10, slack=0.0) == 0.15


def test_questions_below_the_confidence_floor_spend_the_budget_first():
    from bot.calibrate import operating_point

    probs = [round(0.05 * i, 2) for i in range(1, 21)]
    rows = _rows([{}] * 20, [1] * 20, answerable=[True] * 20)
    # the .90 one is refused by the floor: the one question the budget allows
    floored = [p == 0.9 for p in probs]
    assert operating_point(rows, probs, limit=0.05, refused=floored, slack=0.0) == 0.05
    assert operating_point(rows, probs, limit=0.10, refused=floored, slack=0.0) == 0.1
    with pytest.raises(ValueError, match="floor alone"):
        operating_point(rows, probs, limit=0.05, refused=[p < 0.15 for p in probs], slack=0.0)


def test_operating_point_holds_the_promise_in_every_large_set():
    from bot.calibrate import MIN_BINDING, operating_point

    # a large set whose answerable questions score .01 .. 1.00 and a large one
    # scoring .50 .. 1.00: each may refuse 5 % of its own; the first binds
    n = MIN_BINDING
    low = [round((i + 1) / n, 4) for i in range(n)]
    high = [round(0.5 + 0.5 * i / n, 4) for i in range(n)]
    rows = _rows([{}] * n, [1] * n, "low") + _rows([{}] * n, [1] * n, "high")
    assert operating_point(rows, low + high, limit=0.05, slack=0.0) == low[5]
    # a small set (fewer than MIN_BINDING answerable) does not bind, however low it scores
    small = _rows([{}] * 10, [1] * 10, "small")
    assert operating_point(rows + small, low + high + [0.001] * 10, limit=0.05, slack=0.0) == low[5]
    # unanswerable questions never bind
    unanswerable = _rows([{}] * n, [0] * n, "other", answerable=[False] * n)
    assert operating_point(rows + unanswerable, low + high + [0.99] * n, limit=0.05, slack=0.0) == low[5]


def test_operating_point_refuses_only_what_scores_strictly_below_it():
    from bot.calibrate import MIN_BINDING, operating_point

    # 100 answerable questions: 4 at .10, 3 at .20, the rest .50: 5 % is 5 questions;
    # a threshold of .20 refuses the four below it, .50 would refuse 7
    n = MIN_BINDING
    probs = [0.1] * 4 + [0.2] * 3 + [0.5] * (n - 7)
    rows = _rows([{}] * n, [1] * n, "ties")
    assert operating_point(rows, probs, limit=0.05, slack=0.0) == 0.2
    # a set just under MIN_BINDING does not bind while a larger one does
    small = _rows([{}] * (n - 1), [1] * (n - 1), "small")
    assert operating_point(rows + small, probs + [0.01] * (n - 1), limit=0.05, slack=0.0) == 0.2


def test_the_operating_point_keeps_its_slack_below_the_question_at_the_limit():
    from bot.calibrate import MIN_BINDING, NUMERIC_SLACK, operating_point

    # 100 answerable questions; 5 % may be refused: the 6th lowest (.23336) is the one at the limit
    n = MIN_BINDING
    probs = [0.1] * 5 + [0.23336] + [0.9] * (n - 6)
    rows = _rows([{}] * n, [1] * n, "edge")
    # rounded to the nearest, .2334 would refuse it: rounded down it is answered
    assert operating_point(rows, probs, limit=0.05, slack=0.0) == 0.2333
    t = operating_point(rows, probs, limit=0.05)
    assert t == 0.2323 and t <= 0.23336 - NUMERIC_SLACK
    # a build that scores it a hair lower still answers it
    assert sum(p < t for p in [*probs[:5], 0.23336 - 5e-5]) == 5
    # a probability a float's width under a 4-decimal step is not rounded up onto it
    edge = [0.1] * 5 + [0.23339999999995] + [0.9] * (n - 6)
    assert operating_point(rows, edge, limit=0.05, slack=0.0) == 0.2333


def test_the_articles_sentence_tokens_are_read_ahead(settings):
    from bot.tokens import Tokens

    read: list[tuple[str, str]] = []

    class TokenEmbedder(FakeEmbedder):
        def token_states(self, text: str, kind: str) -> Tokens:
            read.append((kind, text))
            return Tokens(("x",), np.ones((1, 4), dtype=np.float16) / 2)

    bot = Bot(settings, embedder=TokenEmbedder())  # type: ignore[arg-type]
    lo, hi = bot.index.ranges[bot.index.article_ids[0]]
    texts = [s.text for s in bot.index.sentences[lo:hi]]
    assert bot.read_tokens() == len(texts) and read == [("passage", t) for t in texts]
    # and a question then reads its features from them
    a = bot.ask(Q, engine="extractive")
    assert ("query", Q) in read and a.confidence is not None
    # a model without token vectors: nothing to read
    assert Bot(settings, embedder=FakeEmbedder()).read_tokens() == 0
