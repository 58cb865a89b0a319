"""The LLM engine with a fake LLM returning crafted text: citation parsing,
removal of invented ids, the support check, fallback and abstention. The same
checks on the real model are in tests/test_llm_real.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import Answer, Bot, Settings
from bot.cite import check_support, is_abstention, numbers, parse_citations
from bot.errors import ModelError
from bot.generate import answer_grammar
from bot.ingest import read_article
from bot.prompts import ABSTAIN, PromptError, Prompts, render

from .conftest import SEED, SEED_ID, BrokenLLM, FakeEmbedder, FakeLLM

Q = "Combien de soldats nord-coréens ont été envoyés en Russie ?"


def llm_bot(settings, *replies: str) -> tuple[Bot, FakeLLM]:
    llm = FakeLLM(settings, replies)
    return Bot(settings, embedder=FakeEmbedder(), llm=llm), llm  # type: ignore[arg-type]


def test_a_supported_answer_is_kept_with_its_citations(settings):
    bot, _ = llm_bot(settings, "Environ 10 000 soldats nord-coréens ont été envoyés en Russie [5].")
    a = bot.ask(Q, engine="llm")
    assert a.engine == "llm" and not a.abstained
    assert a.answer == "Environ 10 000 soldats nord-coréens ont été envoyés en Russie [5]."
    assert [c.sentence_id for c in a.citations] == [f"{SEED_ID}:5"]
    c = a.citations[0]
    assert c.text.startswith("Le même jour") and c.end > c.start


def test_invented_citation_ids_are_removed(settings):
    bot, _ = llm_bot(settings, "Environ 10 000 soldats ont été envoyés en Russie [5][99].")
    a = bot.ask(Q, engine="llm")
    assert a.engine == "llm" and "[99]" not in a.answer
    assert [c.n for c in a.citations] == [5]
    assert a.notice and "[99]" in a.notice


@pytest.mark.parametrize(
    "reply, reason",
    [
        ("Environ 12 000 soldats ont été envoyés en Russie [5].", "12000 not in the cited sentences"),
        ("Environ 10 000 soldats ont été envoyés en Russie.", "no citation"),
        ("Les soldats sont partis en vacances à la plage [2].", "not supported"),
        ("Il y a des soldats [77].", "no citation"),
    ],
)
def test_an_unsupported_answer_falls_back_to_extractive(settings, reply, reason):
    bot, _ = llm_bot(settings, reply)
    a = bot.ask(Q, engine="llm")
    assert a.engine == "extractive"
    assert a.notice and "failed the citation check" in a.notice and reason in a.notice
    assert reply not in a.answer


@pytest.mark.parametrize(
    "question, reply, reason",
    [
        (  # true and cited, but a date is not the count asked for
            "Combien de soldats ont combattu à Koursk selon M. Rutte ?",
            "M. Rutte a confirmé le 28 octobre que des soldats nord-coréens avaient combattu à Koursk [1].",
            "asks for a quantity",
        ),
        (  # true and cited, but says nothing of when
            "Quand la Russie et la Corée du Nord ont-elles signé leur accord de coopération ?",
            "L'accord de coopération de défense entre Moscou et Pyongyang est du ressort des deux parties [9].",
            "asks when",
        ),
    ],
)
def test_an_answer_of_the_wrong_type_falls_back(settings, question, reply, reason):
    bot, _ = llm_bot(settings, reply)
    a = bot.ask(question, engine="llm")
    assert a.engine == "extractive" and a.notice and reason in a.notice


def test_the_grammar_allows_only_the_shown_sentences_and_ends_claims_in_citations():
    g = answer_grammar({3, 1, 12})
    assert 'num ::= "1" | "3" | "12"' in g
    assert '"Je ne trouve pas cette information dans l\'article."' in g and '"I can\'t find this in the article."' in g
    assert 'claim (" " claim)?' in g  # two sentences at most
    assert '"."? " "? cite cite? cite? "."?' in g  # every sentence ends in one to three citations
    assert r"\u4E00-\u9FFF" in g  # no slipping into Chinese
    with pytest.raises(ValueError):
        answer_grammar(set())
    # the not-found sentences the grammar allows are the ones the prompt teaches
    system = Prompts.load().system
    assert all(sentence in system for sentence in ABSTAIN.values())


def test_the_engine_sends_the_grammar_unless_it_is_turned_off(settings):
    bot, llm = llm_bot(settings, "Environ 10 000 soldats nord-coréens ont été envoyés en Russie [5].")
    bot.ask(Q, engine="llm")
    n = len(bot.index.sentences)
    assert llm.grammars[-1] == answer_grammar(range(1, n + 1))
    off = Settings.load(
        {"seeds": settings.seeds, "index": settings.index, "llm_grammar": "false", "min_confidence": 0.0}, environ={}
    )
    bot, llm = llm_bot(off, "Environ 10 000 soldats nord-coréens ont été envoyés en Russie [5].")
    assert bot.ask(Q, engine="llm").engine == "llm"
    assert llm.grammars == [None]


def test_abstention_has_no_citation_and_uses_the_canonical_sentence(settings):
    bot, _ = llm_bot(settings, "Je ne trouve pas cette information dans l'article.")
    a = bot.ask("Combien de morts à Koursk ?", engine="llm")
    assert a.abstained and a.engine == "llm" and a.citations == ()
    assert a.answer == "Je ne trouve pas cette information dans l'article."


def test_streaming_yields_growing_text_then_the_answer(settings):
    bot, _ = llm_bot(settings, "Environ 10 000 soldats nord-coréens ont été envoyés en Russie [5].")
    items = list(bot.stream(Q, engine="llm"))
    texts = [i for i in items if isinstance(i, str)]
    assert isinstance(items[-1], Answer) and all(isinstance(i, str) for i in items[:-1])
    assert len(texts) > 3 and all(b.startswith(a) for a, b in zip(texts, texts[1:], strict=False))
    assert items[-1].answer == texts[-1]


def test_auto_falls_back_when_the_model_is_missing(settings):
    bot = Bot(settings, embedder=FakeEmbedder(), llm=BrokenLLM(settings))  # type: ignore[arg-type]
    a = bot.ask(Q, engine="auto")
    assert a.engine == "extractive" and a.notice and "LLM unavailable (the LLM's weights" in a.notice
    with pytest.raises(ModelError, match="make setup"):
        bot.ask(Q, engine="llm")


def test_prompt_puts_the_article_first_so_the_prefix_is_cached(settings):
    bot, llm = llm_bot(settings, "x [1].", "y [1].")
    bot.ask(Q, engine="llm")
    bot.ask("Who is Mark Rutte?", engine="llm", history=[["Qui est Sabrina Singh ?", "La porte-parole [5]."]])
    first, second = llm.messages
    assert first[:-1] == second[:-1]  # system and examples
    a, b = first[-1]["content"], second[-1]["content"]
    prefix = a[: a.index("Question:")]
    assert b.startswith(prefix) and "[5] Le même jour, la porte-parole du Pentagone" in prefix
    assert "Conversation so far:\nUser: Qui est Sabrina Singh ?" in b
    assert b.rstrip().endswith("Answer in English.") and a.rstrip().endswith("Answer in French.")


def test_every_template_renders():
    p = Prompts.load()
    messages = p.messages("a", [], "Qui ?", "fr", [["Q", "A"]])
    assert messages[0]["role"] == "system" and messages[-1]["role"] == "user"
    assert len(messages) == 2 + 2 * len(p.examples["exchanges"])
    for m in messages:
        assert "{" not in m["content"].replace("{article}", "")


def test_a_missing_variable_names_missing_and_given():
    with pytest.raises(PromptError, match="needs article, question; given: language"):
        render("{article} {question} {language}", "t", language="fr")


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("Ils étaient 10 000. [5]", "Ils étaient 10 000 [5]."),
        ("Ils étaient 10 000.[5][6].", "Ils étaient 10 000 [5][6]."),
        ("Oui. [2] Et non. [3]", "Oui [2]. Et non [3]."),
        ("M. Rutte l'a dit [1].", "M. Rutte l'a dit [1]."),
        ("Environ 10.5 [2]?", "Environ 10.5 [2]?"),
    ],
)
def test_a_citation_after_the_stop_moves_before_it(raw, clean):
    # so that the sentence carries it (the grammar allows both placements)
    assert parse_citations(raw, {1, 2, 3, 5, 6}).text == clean
    assert "no citation" not in check_support(clean, {n: "x" for n in (1, 2, 3, 5, 6)}).reason


def test_parse_citations_rewrites_groups():
    p = parse_citations("A [1, 2]. B [3;9]. C [9].", {1, 2, 3})
    assert p.text == "A [1][2]. B [3]. C."
    assert p.cited == (1, 2, 3) and p.removed == (9,)


@given(st.text(alphabet=st.sampled_from(list("ab [],;0123456789.")), max_size=80), st.sets(st.integers(1, 20)))
def test_parsed_citations_are_always_allowed(text, allowed):
    p = parse_citations(text, allowed)
    assert set(p.cited) <= allowed
    assert set(parse_citations(p.text, allowed).cited) <= allowed
    assert not parse_citations(p.text, allowed).removed


def test_numbers_are_normalised():
    assert numbers("10 000 et 10,000 et 10000 le 28") == {"10000", "28"}
    assert numbers("10, 000 troops, 3, 5 and 12") == {"10000", "3", "5", "12"}
    assert numbers("En 2024, 500 soldats") == {"2024", "500"}


def test_support_uses_similarity_when_words_differ():
    cited = {5: "environ 10 000 soldats nord-coréens avaient été envoyés dans l'est de la Russie"}
    english = "About 10,000 North Korean soldiers were sent to eastern Russia [5]."
    assert not check_support(english, cited).ok
    assert check_support(english, cited, similarity=lambda t, ns: 0.9).ok
    assert not check_support(english, cited, similarity=lambda t, ns: 0.5).ok


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Je ne trouve pas cette information dans l'article.", True),
        ("I can't find this in the article.", True),
        ("The article does not mention it.", True),
        ("Environ 10 000 soldats [5].", False),
    ],
)
def test_abstention_detection(text, expected):
    assert is_abstention(text) is expected


def test_runnable_invoke_and_stream(settings):
    from langchain_core.runnables import Runnable

    from bot.langchain_api import AnswerRunnable

    bot, _ = llm_bot(settings, "Environ 10 000 soldats ont été envoyés en Russie [5].", "Mark Rutte [1].")
    chain = AnswerRunnable(bot)
    assert isinstance(chain, Runnable)
    a = chain.invoke({"question": Q, "history": [], "engine": "llm"})
    assert isinstance(a, Answer) and a.citations[0].n == 5
    items = list(chain.stream({"question": "Qui est le secrétaire général de l'OTAN Mark Rutte ?", "engine": "llm"}))
    assert isinstance(items[-1], Answer)


# ---------------------------------------------------------------- guards each test below must notice


def test_an_uncited_sentence_borrows_the_citations_of_the_next_or_the_previous():
    from bot.cite import split_claims

    assert split_claims("Ils sont 10 000. Ils ont été envoyés en Russie [5].") == [
        ("Ils sont 10 000.", [5]),
        ("Ils ont été envoyés en Russie [5].", [5]),
    ]
    assert split_claims("Rutte l'a confirmé [1]. C'est tout.")[-1] == ("C'est tout.", [1])
    cited = {5: "environ 10 000 soldats nord-coréens avaient été envoyés dans l'est de la Russie"}
    # the number of the uncited first sentence is checked against the sentence it borrows
    assert check_support("Ils sont 10 000. Des soldats nord-coréens envoyés en Russie [5].", cited).ok
    assert "12000" in check_support("Ils sont 12 000. Des soldats nord-coréens envoyés en Russie [5].", cited).reason


def test_a_claim_without_content_words_rests_on_its_citation():
    # only stop words: nothing to compare word for word, so its citation carries it
    cited = {6: "Mme Singh n'a pas confirmé que les troupes combattaient"}
    assert check_support("Ce n'est pas tout [6].", cited).ok
    assert check_support("Mme Singh n'a pas confirmé que les troupes combattaient. Ce n'est pas tout [6].", cited).ok


def test_an_answer_that_cites_while_saying_the_article_lacks_something_is_an_answer(settings):
    reply = (
        "L'article ne précise pas le nombre de morts, mais 10 000 soldats nord-coréens ont été envoyés en Russie [5]."
    )
    bot, _ = llm_bot(settings, reply)
    a = bot.ask(Q, engine="llm")
    # it stands or falls on its claims (here the verifier refuses the negation the
    # cited sentence lacks), rather than being shown as "not found"
    assert not (a.engine == "llm" and a.abstained)
    assert a.notice and "failed the citation check" in a.notice


def test_an_answer_citing_none_of_the_top_retrieved_sentences_falls_back(settings):
    # true and cited, but about something else than the question
    reply = "Sergueï Lavrov a tenu une conférence de presse à Moscou le 28 octobre [10]."
    bot, _ = llm_bot(settings, reply)
    top3 = [h.sentence.n for h in bot.retrieve(Q, top_k=3)]
    assert 10 not in top3
    a = bot.ask(Q, engine="llm")
    assert a.engine == "extractive" and a.notice and "none of the retrieved" in a.notice


def test_an_article_too_long_for_the_context_is_given_as_its_retrieved_sentences(settings, fake_bot):
    from bot.generate import Request, context_sentences

    index = fake_bot.index
    hits = fake_bot.retrieve(Q, top_k=3)
    request = Request(Q, "fr", SEED_ID, index.sentences, hits)
    assert len(context_sentences(request, 4096)) == 14
    shown = context_sentences(request, 2400)  # 1,000 tokens for the article: too few for it, enough for 3 sentences
    assert [s.n for s in shown] == sorted(h.sentence.n for h in hits)
    assert len(context_sentences(request, 4096, mode="retrieved")) == 3


@pytest.mark.parametrize(
    "history, question, lang",
    [("Qui est Sabrina Singh ?", "Kiev?", "fr"), ("Who is Sabrina Singh?", "Et Lavrov?", "en")],
)
def test_a_question_too_short_to_tell_takes_the_language_of_the_conversation(fake_bot, history, question, lang):
    assert fake_bot.ask(question).lang != lang  # alone, the detector guesses the other language
    assert fake_bot.ask(question, history=[[history, "…"]]).lang == lang


class FailingMidwayLLM(FakeLLM):
    """Streams a few words, then the runtime fails."""

    def stream(self, messages, max_tokens=200, stats=None, grammar=None):
        yield "Environ"
        yield " 10 000"
        raise ModelError("the LLM failed while generating (decode error); try again or use --engine extractive")


def test_a_model_error_after_partial_text_falls_back_in_auto_and_fails_in_llm(settings):
    bot = Bot(settings, embedder=FakeEmbedder(), llm=FailingMidwayLLM(settings, []))  # type: ignore[arg-type]
    items = list(bot.stream(Q, engine="auto"))
    final = items[-1]
    assert isinstance(final, Answer) and final.engine == "extractive"
    assert final.notice and "LLM unavailable (the LLM failed while generating" in final.notice
    # the partial text was streamed, then replaced: the last text is the answer shown
    texts = [i for i in items if isinstance(i, str)]
    assert texts[0] == "Environ" and texts[-1] == final.answer
    with pytest.raises(ModelError, match="failed while generating"):
        list(bot.stream(Q, engine="llm"))


def test_an_answer_sentence_cut_at_the_grammars_limit_falls_back(settings):
    """The grammar ends a claim at CLAIM_CHARS characters, however far its thought has got
    (test t-fr-11: "… en cas d'attaque militaire de l'une d [13]"): such a claim is not shown."""
    from bot.generate import CLAIM_CHARS, whole_sentences

    body = next(s.text for s in read_article(SEED).sentences if s.n == 13)
    assert len(body) > CLAIM_CHARS
    end = CLAIM_CHARS
    while body[end - 1] == " ":  # a claim never ends in a space
        end += 1
    cut = body[:end]
    question = "Que dit le chef de la diplomatie de l'accord de coopération ?"
    bot, _ = llm_bot(settings, f"{cut} [13].")
    a = bot.ask(question, engine="llm")
    assert a.engine == "extractive" and a.notice and f"cut off at {CLAIM_CHARS} characters" in a.notice
    assert whole_sentences(f"{cut[: CLAIM_CHARS - 2]}x [13].").ok
    assert not whole_sentences(f"Court [1]. {cut} [13]").ok
    # without the grammar nothing was cut: a long sentence is the model's own
    off = Settings.load(
        {"seeds": settings.seeds, "index": settings.index, "llm_grammar": "false", "min_confidence": 0.0}, environ={}
    )
    bot, _ = llm_bot(off, f"{body.rstrip('.')} [13].")
    assert bot.ask(question, engine="llm").engine == "llm"

    class NoGrammarServer(FakeLLM):  # a server that does not take our grammar (bot/remote_llm.py)
        def stream(self, messages, max_tokens=200, stats=None, grammar=None):
            yield from super().stream(messages, max_tokens, None if stats is None else stats, None)

    llm = NoGrammarServer(settings, [f"{body.rstrip('.')} [13]."])
    bot = Bot(settings, embedder=FakeEmbedder(), llm=llm)  # type: ignore[arg-type]
    assert bot.ask(question, engine="llm").engine == "llm"


def test_a_streamed_answer_may_resume_on_another_thread_each_step(settings):
    # Gradio runs each step of a streaming handler on whichever pool thread is
    # free: the slot's lock, held from the first token to the last, is then
    # released by another thread than took it. A lock owned by a thread (an
    # RLock) fails that release and stays held, and every later question and
    # warm-up read waits on it forever (the browser test's hang, 2026-12-07).
    import threading
    from concurrent.futures import ThreadPoolExecutor

    bot, _ = llm_bot(settings, "Environ 10 000 soldats nord-coréens ont été envoyés en Russie [5].")
    steps = bot.stream(Q, engine="llm")
    final = None
    with ThreadPoolExecutor(max_workers=1) as one, ThreadPoolExecutor(max_workers=1) as other:
        for i in range(10_000):
            # the first step on one thread, every later one on another: the lock's release is never
            # on the thread that took it, whatever the reply's length
            item = (other if i else one).submit(next, steps, None).result()
            if item is None:
                break
            final = item
    assert isinstance(final, Answer) and final.engine == "llm"
    got = threading.Event()
    threading.Thread(target=lambda: bot.slot.lock.acquire(timeout=5) and got.set()).start()
    assert got.wait(6), "the slot's lock is still held after the answer ended"


@pytest.mark.parametrize(
    "reply, right",
    [
        ("Environ 10 000 soldats nord-coréens ont été envoyés en Russie [4].", True),  # right words, wrong line
        ("Environ 12 000 soldats nord-coréens ont été envoyés en Russie [5].", False),
    ],
)
def test_eval_keeps_the_llm_answer_the_checks_refused_and_whether_it_was_right(settings, reply, right):
    from bot.evaluate import predict, summarize
    from bot.gold import GoldItem

    bot, _ = llm_bot(settings, reply)
    item = GoldItem("q1", Q, True, ("10 000",), (), ())
    p = predict(bot, item, "llm")
    assert p.engine == "extractive" and p.rejected == reply and p.rejected_right is right
    m = summarize([p])
    assert (m["llm_rejected"], m["llm_rejected_right"], m["llm_shown"]) == (1, int(right), 0)
    kept, _ = llm_bot(settings, "Environ 10 000 soldats nord-coréens ont été envoyés en Russie [5].")
    shown = predict(kept, item, "llm")
    assert shown.engine == "llm" and shown.rejected is None and shown.rejected_right is None
