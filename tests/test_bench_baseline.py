"""bench/baseline.py: the chunk-to-sentence matching that scores the LangChain
baseline's citations, and the LangChain chat model over our LLM (on a fake)."""

from __future__ import annotations

import math

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from bench.baseline import (
    LocalChatModel,
    baseline_abstained,
    citation_scores,
    pick,
    score,
    sentences_in_chunk,
)
from bot import Settings
from bot.gold import GoldItem
from bot.ingest import parse_article

from .conftest import FakeLLM

TEXT = (
    "Le secrétaire général de l'OTAN, Mark Rutte, a parlé lundi. Il a cité 10 000 soldats.\n"
    "La porte-parole du Pentagone, Sabrina Singh, n'a pas confirmé les combats. Moscou dément."
)
ARTICLE = parse_article("a", TEXT)


def test_the_article_splits_as_the_tests_assume():
    assert [s.text for s in ARTICLE.sentences] == [
        "Le secrétaire général de l'OTAN, Mark Rutte, a parlé lundi.",
        "Il a cité 10 000 soldats.",
        "La porte-parole du Pentagone, Sabrina Singh, n'a pas confirmé les combats.",
        "Moscou dément.",
    ]


def test_a_chunk_contains_the_sentences_inside_it():
    first_paragraph = TEXT.split("\n")[0]
    assert sentences_in_chunk(first_paragraph, ARTICLE) == ("a:1", "a:2")
    assert sentences_in_chunk(TEXT, ARTICLE) == ("a:1", "a:2", "a:3", "a:4")


def test_a_sentence_cut_by_a_chunk_edge_counts_where_most_of_it_is():
    s3 = ARTICLE.sentences[2]
    cut = s3.start + int(0.7 * len(s3.text))  # 70 % of sentence 3 before the cut
    before, after = ARTICLE.text[: cut + 1], ARTICLE.text[cut - 5 :]
    assert sentences_in_chunk(before, ARTICLE) == ("a:1", "a:2", "a:3")
    assert sentences_in_chunk(after, ARTICLE) == ("a:4",)


def test_a_chunk_with_changed_whitespace_falls_back_to_containment():
    chunk = "Il a cité 10 000 soldats.   La porte-parole du Pentagone, Sabrina Singh,"
    assert sentences_in_chunk(chunk, ARTICLE) == ("a:2",)
    assert sentences_in_chunk("nothing from the article", ARTICLE) == ()


def test_citation_scores_count_a_chunk_as_right_when_it_holds_a_gold_sentence():
    gold = ["a:2"]
    assert citation_scores([["a:1", "a:2"]], gold) == (1.0, 1.0)
    assert citation_scores([["a:1", "a:2"], ["a:3", "a:4"]], gold) == (0.5, 1.0)
    assert citation_scores([["a:3"]], gold) == (0.0, 0.0)
    precision, recall = citation_scores([], gold)
    assert math.isnan(precision) and recall == 0.0
    assert all(math.isnan(x) for x in citation_scores([["a:1"]], []))


def item(id: str, lang: str, answerable: bool, answers=("10 000",), support=("a:2",), history=()) -> GoldItem:
    return GoldItem(id, "Combien ?", answerable, tuple(answers), (), tuple(support), tuple(history), lang)


def test_score_reads_citations_against_what_the_model_was_shown():
    chunks = {1: ("a:1", "a:2"), 2: ("a:3", "a:4")}
    s = score(item("q", "fr", True), "Ils sont 10 000 [1][7].", False, "Ils sont 10 000 [1][7].", chunks, [])
    assert (s["correct"], s["cited"], s["valid"], s["units"]) == (True, [1, 7], 1, [["a:1", "a:2"]])
    assert (s["citation_correct"], s["cites_gold"], s["retrieved_gold"]) == (1.0, 1.0, 0.0)
    unanswerable = score(item("u", "fr", False, (), ()), "Je ne sais pas.", True, "", chunks, list(chunks.values()))
    assert unanswerable["correct"] and math.isnan(unanswerable["citation_correct"])


@pytest.mark.parametrize(
    "text, citations, expected",
    [
        ("I don't know.", 0, True),
        ("The context does not contain this information.", 0, True),
        ("Je ne sais pas.", 0, True),
        ("I can't find this in the article.", 0, True),
        ("The context does not say why, but [2] says they were trained.", 1, False),
        ("About 10,000 soldiers [1].", 1, False),
    ],
)
def test_baseline_abstention_follows_ours_rule(text, citations, expected):
    assert baseline_abstained(text, citations) is expected


def test_pick_interleaves_languages_and_answerability_and_skips_dialogues():
    items = [
        item("fr-1", "fr", True),
        item("fr-2", "fr", True),
        item("fr-f", "fr", True, history=(("Qui ?", "Lui."),)),
        item("en-1", "en", True),
        item("fr-u", "fr", False),
        item("en-u", "en", False),
        item("de-1", "de", True),
    ]
    assert [i.id for i in pick(items, None)] == ["fr-1", "en-1", "fr-u", "fr-2", "en-u", "de-1"]
    assert [i.id for i in pick(items, 3)] == ["fr-1", "en-1", "fr-u"]


# -- the LangChain chat model over our LLM


@pytest.fixture
def chat(settings: Settings) -> LocalChatModel:
    return LocalChatModel(llm=FakeLLM(settings, ["Environ 10 000 soldats [1].", "Mark Rutte [2]."]), max_tokens=50)


def test_the_wrapper_is_a_langchain_chat_model(chat: LocalChatModel):
    assert isinstance(chat, BaseChatModel)
    reply = chat.invoke([SystemMessage("Réponds."), HumanMessage("Combien ?")])
    assert isinstance(reply, AIMessage) and reply.content == "Environ 10 000 soldats [1]."
    assert chat.llm.messages[0] == [{"role": "system", "content": "Réponds."}, {"role": "user", "content": "Combien ?"}]
    assert chat.last_stats is not None and chat.last_stats.first_token_ms == 1.0


def test_the_wrapper_streams_piece_by_piece(chat: LocalChatModel):
    chunks = list(chat.stream("Combien ?"))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert [c.text for c in chunks if c.text] == ["Environ", " 10", " 000", " soldats", " [1]."]  # as the LLM yields
    assert "".join(c.text for c in chunks) == "Environ 10 000 soldats [1]."
    assert chat.llm.messages[0] == [{"role": "user", "content": "Combien ?"}]


def test_the_wrapper_runs_in_a_chain_as_the_tutorial_writes_it(chat: LocalChatModel):
    prompt = ChatPromptTemplate.from_messages([("system", "Context:\n{context}"), ("human", "{question}")])
    chain = prompt | chat | StrOutputParser()
    pieces = list(chain.stream({"context": "[1] Il a cité 10 000 soldats.", "question": "Combien ?"}))
    assert "".join(pieces) == "Environ 10 000 soldats [1]."
    assert chain.invoke({"context": "[2] Mark Rutte", "question": "Qui ?"}) == "Mark Rutte [2]."
    assert [m["role"] for m in chat.llm.messages[1]] == ["system", "user"]
    assert chat.llm.messages[1][0]["content"] == "Context:\n[2] Mark Rutte"


# -- the real pipelines


@pytest.mark.real_model
def test_the_baseline_retrieves_and_cites_chunks_of_the_real_article(real_settings: Settings):
    from bench.baseline import ask_baseline, build_baseline

    llm = FakeLLM(real_settings, ["Environ 10 000 soldats [1][9]."])
    b = build_baseline(llm, real_settings)
    assert len(b.chunks) > 4 and all(len(c.page_content) <= 500 for c in b.chunks)
    gold = next(s.id for s in b.article.sentences if "10 000 soldats" in s.text)
    r = ask_baseline(b, item("fr-01", "fr", True, support=(gold,)))
    context = llm.messages[0][0]["content"]
    assert "[4] " in context and "[5] " not in context  # the top 4 chunks, numbered
    assert (r.cited, r.valid, r.engine) == ([1, 9], 1, "langchain")
    assert r.retrieved_gold == 1.0 and r.correct


# The end-to-end crash test is `python -m bench --quick`, which `make test` runs.
