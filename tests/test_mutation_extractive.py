"""bot/extractive.py, pinned down where mutation testing (docs/mutation.md)
found behaviour no other test checked: which sentences are quoted (the margin,
the count rule, reading order), the exact text and citations of an answer, and
when it abstains."""

from __future__ import annotations

import pytest

from bot.extractive import FRAME, SECOND_MARGIN, UNSUPPORTED_LANG, _quotable, answer_extractive, choose
from bot.prompts import ABSTAIN
from bot.types import Answer, Citation, Hit, Sentence


def hit(n: int, text: str, score: float, article: str = "a") -> Hit:
    start = 100 * n
    return Hit(Sentence(f"{article}:{n}", article, n, text, start, start + len(text)), score)


def ns(hits: list[Hit]) -> list[tuple[str, int]]:
    return [(h.sentence.article_id, h.sentence.n) for h in hits]


# -- choose ------------------------------------------------------------------
def test_nothing_retrieved_nothing_chosen():
    assert choose("Qui est Rutte ?", []) == []


def test_one_hit_is_the_answer():
    assert ns(choose("Qui est Rutte ?", [hit(4, "Rutte dirige l'OTAN.", 0.9)])) == [("a", 4)]


def test_the_second_sentence_joins_within_the_margin_inclusive():
    assert SECOND_MARGIN == 0.025
    best, close = hit(7, "Rutte dirige l'OTAN.", 0.90), hit(3, "Il a été élu.", 0.875)
    # reading order, not score order
    assert ns(choose("Qui est Rutte ?", [best, close])) == [("a", 3), ("a", 7)]
    # rounding: 0.9 - 0.875 is 0.025000000000000022 in floating point, within the margin
    assert ns(choose("Qui est Rutte ?", [best, hit(3, "Il a été élu.", 0.8749)])) == [("a", 7)]
    assert ns(choose("Qui est Rutte ?", [best, hit(3, "x", 0.875), hit(1, "y", 0.875)])) == [("a", 3), ("a", 7)]


def test_reading_order_is_by_article_then_sentence_number():
    chosen = choose("Qui ?", [hit(2, "x", 0.9, article="b"), hit(9, "y", 0.9, article="a")])
    assert ns(chosen) == [("a", 9), ("b", 2)]


def test_a_quantity_question_quotes_the_sentences_that_hold_a_count():
    q = "Combien de soldats ?"
    counted, words = hit(5, "Ils sont 10 000 soldats.", 0.89), hit(2, "Des soldats sont partis.", 0.90)
    # both within the margin: only the counted one
    assert ns(choose(q, [words, counted])) == [("a", 5)]
    # the count is second and out of the margin: it replaces the best one
    assert ns(choose(q, [words, hit(5, "Ils sont 10 000 soldats.", 0.70)])) == [("a", 5)]
    # no count in the best two: the best one as usual
    third = hit(8, "Ils sont 12 000.", 0.5)
    assert ns(choose(q, [words, hit(3, "Rien.", 0.6), third])) == [("a", 2)]
    # a date is not a count
    assert ns(choose(q, [words, hit(5, "Le 3 octobre 2024.", 0.6)])) == [("a", 2)]
    # only the first of the two counted sentences out of the margin
    assert ns(choose(q, [hit(1, "Ils sont 3.", 0.9), hit(6, "Ils sont 4.", 0.5)])) == [("a", 1)]


def test_a_question_not_about_quantity_ignores_counts():
    words, counted = hit(2, "Des soldats sont partis.", 0.90), hit(5, "Ils sont 10 000 soldats.", 0.70)
    assert ns(choose("Où sont les soldats ?", [words, counted])) == [("a", 2)]


# -- answer_extractive -------------------------------------------------------
def test_a_french_answer_quotes_and_cites_one_sentence():
    h = hit(5, "Environ 10 000 soldats ont été envoyés.", 0.876543)
    a = answer_extractive("Combien ?", [h], "fr", confidence=0.9, abstain=False)
    assert a == Answer(
        "Combien ?",
        "D'après l'article : « Environ 10 000 soldats ont été envoyés. » [5]",
        "extractive",
        False,
        "fr",
        (Citation(5, "a:5", "a", "Environ 10 000 soldats ont été envoyés.", 500, 539, 0.8765),),
        (h,),
        confidence=0.9,
    )


def test_an_english_answer_quotes_two_sentences_in_reading_order():
    first, second = hit(9, "He leads NATO.", 0.91), hit(2, "Mark Rutte spoke.", 0.90)
    a = answer_extractive("Who is Rutte?", [first, second], "en")
    assert (
        a.answer == "According to the article: \u201cMark Rutte spoke.\u201d [2] Also: \u201cHe leads NATO.\u201d [9]"
    )
    assert [(c.n, c.score) for c in a.citations] == [(2, 0.9), (9, 0.91)]
    assert not a.abstained and a.confidence is None and a.hits == (first, second)


def test_three_sentences_would_each_get_the_joiner():
    opening, joiner = FRAME["fr"]
    assert (opening, joiner) == ("D'après l'article : ", "Et : ")


def test_a_bracketed_number_in_a_quote_is_not_a_citation():
    assert _quotable("publié en [[1987]] et [1, 2]") == "publié en [［1987］] et ［1, 2］"
    assert _quotable("un [lien] reste") == "un [lien] reste"
    a = answer_extractive("Quand ?", [hit(3, "Publié en [1987].", 0.9)], "fr")
    assert a.answer == "D'après l'article : « Publié en ［1987］. » [3]"
    assert a.citations[0].text == "Publié en [1987]."  # the citation keeps the sentence as it is


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_told_to_abstain_it_abstains_keeping_the_hits(lang):
    h = hit(5, "Environ 10 000 soldats.", 0.9)
    a = answer_extractive("Combien ?", [h], lang, confidence=0.39, abstain=True)
    assert a == Answer("Combien ?", ABSTAIN[lang], "extractive", True, lang, (), (h,), confidence=0.39)


def test_a_low_confidence_alone_does_not_make_it_abstain():
    # the decision is the calibration's (Calibration.answers), passed in as abstain
    a = answer_extractive("Combien ?", [hit(5, "Environ 10 000 soldats.", 0.9)], "fr", confidence=0.01)
    assert not a.abstained and a.confidence == 0.01


def test_told_to_abstain_without_a_confidence_it_abstains():
    a = answer_extractive("Combien ?", [hit(5, "Environ 10 000 soldats.", 0.9)], "fr", abstain=True)
    assert a.abstained and a.confidence is None and a.citations == ()


def test_nothing_retrieved_abstains():
    assert answer_extractive("Combien ?", [], "en") == Answer("Combien ?", ABSTAIN["en"], "extractive", True, "en")


def test_another_language_is_told_which_ones_it_takes():
    h = hit(5, "Environ 10 000 soldats.", 0.9)
    a = answer_extractive("Wie viele?", [h], "de", confidence=0.9, abstain=False)
    assert a == Answer("Wie viele?", UNSUPPORTED_LANG, "extractive", True, "de", (), (h,), confidence=0.9)
    assert UNSUPPORTED_LANG == (
        "I can only answer in English or French. / Je ne peux répondre qu'en français ou en anglais."
    )
