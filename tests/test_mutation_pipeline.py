"""bot/pipeline.py, pinned down where mutation testing (docs/mutation.md) found
behaviour no other test checked: the exact refusals of ``clean_question``, the
index notices, what ``stream`` yields and when the LLM is asked, how an LLM
answer's citations are scored, ``verify``'s refusals and ``warm``'s progress."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bot import Answer, Bot, Settings
from bot.backends import GenerationStats
from bot.confidence import Calibration, Judgement
from bot.errors import ArticleError, ConfigError, ModelError, QuestionError
from bot.pipeline import ENGINES, _history_lang, clean_question, strip_markup
from bot.prompts import ABSTAIN
from bot.verify import Verification

from .conftest import SEED, SEED_ID, FakeEmbedder, FakeLLM

Q = "Combien de soldats nord-coréens ont été envoyés en Russie ?"
ANSWER = "Environ 10 000 soldats nord-coréens ont été envoyés en Russie [5]."
ENGLISH = (
    "NATO's chief Mark Rutte said on Monday that North Korean troops had been sent to Russia. "
    "The Pentagon said about 10,000 soldiers were in the east of the country. "
    "Seoul confirmed the news on Tuesday."
)


def llm_bot(settings: Settings, *replies: str) -> tuple[Bot, FakeLLM]:
    llm = FakeLLM(settings, replies)
    return Bot(settings, embedder=FakeEmbedder(), llm=llm), llm  # type: ignore[arg-type]


def final(items: list) -> Answer:
    assert isinstance(items[-1], Answer) and all(isinstance(x, str) for x in items[:-1])
    return items[-1]


# -- clean_question ----------------------------------------------------------
@pytest.mark.parametrize(
    "question, message",
    [
        (None, "the question must be text"),
        (b"Qui ?", "the question must be text"),
        ("Qui \udcff ?", "the question holds bytes that are not valid UTF-8: send it as UTF-8 text"),
        (" \t\n\x00 ", "the question is empty: type a question about the article"),
        ("?!… <b></b> **", "the question has no letters or digits (markup is ignored): ask about the article in words"),
    ],
)
def test_each_refusal_says_what_is_wrong(question, message):
    with pytest.raises(QuestionError) as e:
        clean_question(question, 100)
    assert str(e.value) == message


def test_the_length_limit_counts_the_cleaned_text_and_is_inclusive():
    assert clean_question("a" * 1000, 1000) == "a" * 1000
    assert clean_question("  " + "a " * 500, 1000) == ("a " * 500).strip()  # 999 characters once folded
    with pytest.raises(QuestionError) as e:
        clean_question("a" * 1001, 1000)
    assert str(e.value) == "the question is 1,001 characters long; the limit is 1,000: ask a shorter question"


def test_the_question_is_nfc_without_control_characters_and_folded():
    assert clean_question("Qui\x07 est\u00a0 e\u0301lu\r\n ?", 100) == "Qui est élu ?"


@pytest.mark.parametrize(
    "text, clean",
    [
        ("<script>alert(1)</script>Qui est Rutte ?", "Qui est Rutte ?"),
        ("<STYLE type='x'>b{}</style >Qui ?", "Qui ?"),
        ("<p>Qui</p><div>est</div>Rutte ?", "Qui est Rutte ?"),
        ("Qui est <b>Rutte</b>?", "Qui est Rutte?"),
        ("Qui est <a href='x'>Rutte</a> ?", "Qui est Rutte ?"),
        ("a<b and c>d", "a<b and c>d"),
        ("Qui<br>est là ?", "Qui<br>est là ?"),  # after a letter: maybe a comparison
        ("Qui <br/>est</br>là ?", "Qui est là ?"),
        ("Voir [le texte](https://x.org/a_(b)) ici", "Voir le texte ici"),
        ("![image](x.png) Qui ?", "image Qui ?"),
        ("Qui est **Rutte** et __Singh__ ou ~~Lavrov~~ et `x` ?", "Qui est Rutte et Singh ou Lavrov et x ?"),
        ("mon__init__ et x**2**3", "mon__init__ et x**2**3"),
        ("<custom>Qui ?</custom>", "<custom>Qui ?</custom>"),
    ],
)
def test_markup_is_stripped(text, clean):
    assert strip_markup(text) == clean


# -- the engines -------------------------------------------------------------
def test_an_unknown_engine_is_refused_naming_the_known_ones(fake_bot: Bot):
    assert ENGINES == ("auto", "llm", "extractive")
    with pytest.raises(ConfigError) as e:
        fake_bot.ask(Q, engine="magic")
    assert str(e.value) == "engine must be one of auto, llm, extractive; got 'magic'"


def test_the_settings_engine_is_the_default(settings: Settings):
    bot, llm = llm_bot(replace(settings, engine="llm"), ANSWER)
    a = bot.ask(Q)
    assert a.engine == "llm" and a.answer == ANSWER and len(llm.messages) == 1


def test_an_extractive_answer_streams_its_text_once_then_the_answer(fake_bot: Bot):
    items = list(fake_bot.stream(Q))
    a = final(items)
    assert items[:-1] == [a.answer] and a.engine == "extractive" and not a.abstained
    assert [c.n for c in a.citations] == [5]
    assert a.notice == f"built the index in {fake_bot.settings.index} (there was none)"
    assert set(a.timings_ms) == {"index_ms", "retrieval_ms", "answer_ms", "total_ms"}
    t = a.timings_ms
    assert min(t.values()) > 0 and t["total_ms"] < 60_000  # milliseconds, of this question
    # the three stages add up to the whole
    assert t["total_ms"] == pytest.approx(t["index_ms"] + t["retrieval_ms"] + t["answer_ms"], rel=1e-9)
    b = fake_bot.ask(Q)
    assert b.notice is None and b.answer == a.answer and b.confidence == a.confidence


def test_the_question_is_cleaned_before_it_is_answered(fake_bot: Bot):
    a = fake_bot.ask("  <b>Combien</b> de soldats\tnord-coréens ?  ")
    assert a.question == "Combien de soldats nord-coréens ?"


def test_top_k_limits_the_hits(fake_bot: Bot):
    assert len(fake_bot.ask(Q, top_k=2).hits) == 2
    assert len(fake_bot.ask(Q).hits) == fake_bot.settings.top_k
    assert len(fake_bot.retrieve(Q, top_k=3)) == 3
    assert len(fake_bot.retrieve(Q)) == fake_bot.settings.top_k


def test_the_history_sets_the_language_of_an_ambiguous_question(fake_bot: Bot):
    assert _history_lang([]) is None
    assert _history_lang([("", "x"), ("  ", "y")]) is None
    assert _history_lang([("Who leads NATO and what did he say?", "x"), ("", "y")]) == "en"
    history = [("Qui dirige l'OTAN et qu'a-t-il dit ?", "Mark Rutte.")]
    assert fake_bot.ask("Mark Rutte ?", history=history).lang == "fr"


def test_the_question_is_retrieved_with_its_history_and_in_its_language(fake_bot: Bot):
    question = "Où a-t-il tenu sa conférence de presse ?"
    history = [["Qu'a dit Sergueï Lavrov, ministre russe des Affaires étrangères, lors de la conférence ?", "…"]]
    assert fake_bot.ask(question, history=history).citations[0].n == 10
    assert fake_bot.ask(question).citations[0].n == 4
    # "Rutte and Lavrov?" alone reads as English; after a French question it is French, and retrieval
    # weighs words as within one language
    history = [("Qui dirige l'OTAN et qu'a-t-il dit ?", "Mark Rutte.")]
    a = fake_bot.ask("Rutte and Lavrov?", history=history)
    search = fake_bot._retriever.search  # type: ignore[union-attr]
    as_fr = search("Rutte and Lavrov?", fake_bot.settings.top_k, None, history, lang="fr").hits
    as_en = search("Rutte and Lavrov?", fake_bot.settings.top_k, None, history, lang="en").hits
    assert a.lang == "fr" and list(a.hits) == as_fr and as_fr != as_en


def test_an_article_asked_for_is_the_only_one_searched(settings: Settings, seeds: Path):
    (seeds / "en_news.txt").write_text(ENGLISH, encoding="utf-8")
    bot = Bot(settings, embedder=FakeEmbedder())
    assert bot.ask(Q).citations[0].article_id == SEED_ID
    a = bot.ask(Q, article="en_news")
    assert a.hits and {h.sentence.article_id for h in a.hits} == {"en_news"}


# -- the decision and the LLM ------------------------------------------------
def test_below_the_threshold_the_llm_is_not_asked(settings: Settings):
    bot, llm = llm_bot(replace(settings, min_confidence=0.9999), ANSWER)
    for engine in ("llm", "auto"):
        items = list(bot.stream(Q, engine=engine))
        a = final(items)
        assert (a.engine, a.abstained, a.answer, a.citations) == ("llm", True, ABSTAIN["fr"], ())
        assert items[:-1] == [ABSTAIN["fr"]] and a.confidence is not None and a.confidence < 0.9999
        assert a.hits and a.lang == "fr"
    assert llm.messages == []
    ex = bot.ask(Q, engine="extractive")
    assert ex.engine == "extractive" and ex.abstained


def test_at_the_threshold_the_llm_is_asked(settings: Settings):
    probe = Bot(settings, embedder=FakeEmbedder()).ask(Q)
    assert probe.confidence is not None
    bot, llm = llm_bot(replace(settings, min_confidence=probe.confidence), ANSWER)
    assert bot.ask(Q, engine="llm").answer == ANSWER and len(llm.messages) == 1


def test_a_threshold_setting_overrides_the_calibration(settings: Settings):
    probe = Bot(settings, embedder=FakeEmbedder()).ask(Q)
    assert probe.confidence is not None and probe.answerable is not None
    # min_confidence decides on the confidence alone, whatever the answerability
    above = Bot(replace(settings, min_confidence=probe.confidence), embedder=FakeEmbedder()).ask(Q)
    assert not above.abstained
    below = Bot(replace(settings, min_confidence=min(1.0, probe.confidence + 0.0001)), embedder=FakeEmbedder()).ask(Q)
    assert below.abstained
    # unset, the calibrated point on the answerability decides
    calibrated = Bot(replace(settings, min_confidence=None), embedder=FakeEmbedder()).ask(Q)
    decision = Calibration.load().answers(Judgement(probe.answerable, probe.confidence))
    assert calibrated.abstained == (not decision)


def test_an_llm_answer_streams_the_text_as_it_grows_and_keeps_the_first_token_time(settings: Settings):
    bot, llm = llm_bot(settings, ANSWER)
    items = list(bot.stream(Q, engine="llm"))
    a = final(items)
    assert items[-2] == ANSWER and items[0] == "Environ" and len(items) == len(ANSWER.split(" ")) + 1
    assert (a.engine, a.abstained, a.answer, a.lang) == ("llm", False, ANSWER, "fr")
    assert set(a.timings_ms) == {"index_ms", "retrieval_ms", "answer_ms", "total_ms", "first_token_ms"}
    t = a.timings_ms
    assert t["total_ms"] == pytest.approx(t["index_ms"] + t["retrieval_ms"] + t["answer_ms"], rel=1e-9)
    assert min(t.values()) > 0 and t["total_ms"] < 60_000
    assert a.timings_ms["first_token_ms"] == pytest.approx(a.timings_ms["index_ms"] + a.timings_ms["retrieval_ms"] + 1)
    assert bot.last_stats is not None and bot.last_context == "article"
    assert a.verification is not None and a.verification.supported


def test_an_llm_answer_cites_with_the_retrieval_scores(settings: Settings):
    bot, _ = llm_bot(settings, ANSWER)
    a = bot.ask(Q, engine="llm")
    (c,) = a.citations
    hit = next(h for h in a.hits if h.sentence.n == 5)
    assert (c.n, c.sentence_id, c.article_id) == (5, f"{SEED_ID}:5", SEED_ID)
    assert c.text == hit.sentence.text and (c.start, c.end) == (hit.sentence.start, hit.sentence.end)
    assert c.score == round(hit.score, 4) and c.score > 0


def test_a_cited_sentence_retrieval_did_not_return_is_scored_by_the_retriever(settings: Settings):
    reply = "Mark Rutte, secrétaire général de l'OTAN, a confirmé le 28 octobre [1]. Environ 10 000 soldats [5]."
    bot, _ = llm_bot(settings, reply)
    a = bot.ask(Q, engine="llm", top_k=1)
    assert [h.sentence.n for h in a.hits] == [5]
    by_n = {c.n: c for c in a.citations}
    assert set(by_n) == {1, 5}
    assert 0 < by_n[1].score < 1 and by_n[1].score != by_n[5].score
    assert by_n[1].score == round(by_n[1].score, 4)


def test_a_cited_sentence_is_scored_as_retrieval_scores_it_zero_included(settings: Settings):
    reply = (
        "Mark Rutte, secrétaire général de l'OTAN, a confirmé le 28 octobre [1]. "
        "M. Rutte a appelé la Russie et la Corée du Nord à cesser [4]. Lavrov a parlé [14]."
    )
    bot, _ = llm_bot(settings, reply)
    a = bot.ask("Qui est Lavrov ?", engine="llm", top_k=1)
    assert a.engine == "llm" and a.question == "Qui est Lavrov ?"
    assert [(c.n, c.score) for c in a.citations] == [(1, 0.0), (4, 0.0184), (14, 0.1905)]


def test_a_cited_sentence_keeps_the_score_the_follow_up_gave_it(settings: Settings):
    # with the history, the contextual query scores sentence 10 far above the question alone
    question = "Où a-t-il tenu sa conférence de presse ?"
    history = [["Qu'a dit Sergueï Lavrov, ministre russe des Affaires étrangères, lors de la conférence ?", "…"]]
    reply = "Sergueï Lavrov a parlé lors d'une conférence de presse à Moscou le 28 octobre [10]."
    bot, _ = llm_bot(settings, reply)
    a = bot.ask(question, history=history, engine="llm")
    hit = next(h for h in a.hits if h.sentence.n == 10)
    assert a.engine == "llm" and [(c.n, c.score) for c in a.citations] == [(10, hit.score)]
    alone = bot._retriever.score(bot._retriever.search(question, 1).query, SEED_ID, 10)  # type: ignore[union-attr]
    assert hit.score > round(alone, 4) + 0.1


def test_the_scores_are_those_of_the_article_read(settings: Settings, seeds: Path):
    (seeds / "en_news.txt").write_text(ENGLISH, encoding="utf-8")
    reply = "Mark Rutte, secrétaire général de l'OTAN, a confirmé le 28 octobre [1]. Environ 10 000 soldats [5]."
    bot, _ = llm_bot(settings, reply)
    a = bot.ask(Q, engine="llm", top_k=17)
    score = {(h.sentence.article_id, h.sentence.n): h.score for h in a.hits}
    assert ("en_news", 1) in score and score[("en_news", 1)] != score[(SEED_ID, 1)]
    assert [(c.article_id, c.n, c.score) for c in a.citations] == [
        (SEED_ID, 1, score[(SEED_ID, 1)]),
        (SEED_ID, 5, score[(SEED_ID, 5)]),
    ]


def test_the_llm_is_asked_for_the_settings_max_tokens_and_checked_with_the_embedder(settings: Settings):
    seen = []

    class Tokens(FakeLLM):
        def stream(self, messages, max_tokens=200, stats=None, grammar=None):
            seen.append(max_tokens)
            yield from super().stream(messages, max_tokens, stats, grammar)

    english = "Sabrina Singh said that about 10,000 soldiers had been sent to eastern Russia [5]."
    llm = Tokens(replace(settings, llm_max_tokens=33), [english])
    bot = Bot(replace(settings, llm_max_tokens=33), embedder=FakeEmbedder(), llm=llm)  # type: ignore[arg-type]
    a = bot.ask(Q, engine="llm")
    # an English answer about a French article: only the embedder can say it is supported
    assert seen == [33] and a.engine == "llm" and a.answer == english


def test_an_abstention_in_another_language_is_said_in_english(settings: Settings):
    german = "Wie viele nordkoreanische Soldaten wurden nach Russland geschickt?"
    bot, _ = llm_bot(settings, ABSTAIN["en"])
    a = bot.ask(german, engine="llm")
    assert (a.lang, a.engine, a.abstained, a.answer, a.question) == ("de", "llm", True, ABSTAIN["en"], german)
    unsure = Bot(replace(settings, min_confidence=0.9999), embedder=FakeEmbedder())
    a = unsure.ask(german, engine="auto")
    assert (a.lang, a.engine, a.abstained, a.answer, a.question) == ("de", "llm", True, ABSTAIN["en"], german)


def test_invented_citations_are_dropped_and_said(settings: Settings):
    bot, _ = llm_bot(settings, "Environ 10 000 soldats nord-coréens ont été envoyés en Russie [5][99][98].")
    bot.ensure_index()
    a = bot.ask(Q, engine="llm")
    assert a.notice == "removed citation(s) to sentences the model was not given: [99, 98]"
    assert [c.n for c in a.citations] == [5]


def test_a_failed_llm_answer_falls_back_to_the_extractive_one_with_its_verification(settings: Settings):
    bot, _ = llm_bot(settings, "Environ 12 000 soldats nord-coréens ont été envoyés en Russie [5].")
    bot.ensure_index()
    items = list(bot.stream(Q, engine="llm"))
    a = final(items)
    extractive = Bot(settings, embedder=FakeEmbedder()).ask(Q, engine="extractive")
    assert a.engine == "extractive" and a.answer == extractive.answer and a.citations == extractive.citations
    assert items[-2] == a.answer
    assert a.notice is not None and a.notice.startswith("the LLM's answer failed the citation check (")
    assert a.notice.endswith("); extractive answer shown")
    assert isinstance(a.verification, Verification) and not a.verification.supported
    assert "first_token_ms" not in a.timings_ms


def test_an_llm_abstention_is_said_in_the_question_language(settings: Settings):
    bot, _ = llm_bot(settings, ABSTAIN["en"], ABSTAIN["fr"])
    a = bot.ask(Q, engine="llm")
    assert (a.engine, a.abstained, a.answer, a.citations, a.lang) == ("llm", True, ABSTAIN["fr"], (), "fr")
    assert a.hits and a.timings_ms["first_token_ms"] > 0


def test_the_llm_reads_the_article_of_the_best_hit_or_the_one_asked(settings: Settings, seeds: Path):
    (seeds / "en_news.txt").write_text(ENGLISH, encoding="utf-8")
    bot, llm = llm_bot(settings, "Seoul confirmed it [3].", "Seoul confirmed it [3].")
    a = bot.ask("Did Seoul confirm the news on Tuesday?", engine="llm")
    assert [c.sentence_id for c in a.citations] == ["en_news:3"]
    assert "Seoul confirmed the news on Tuesday." in json.dumps(llm.messages[0], ensure_ascii=False)
    assert "Sabrina Singh" not in json.dumps(llm.messages[0], ensure_ascii=False)


def test_the_llm_failing_in_auto_mode_answers_extractively_and_says_why(settings: Settings):
    class Failing(FakeLLM):
        def stream(self, messages, max_tokens=200, stats=None, grammar=None):
            yield "Environ"
            raise ModelError("the server closed the stream")

    llm = Failing(settings, [])
    bot = Bot(settings, embedder=FakeEmbedder(), llm=llm)  # type: ignore[arg-type]
    items = list(bot.stream(Q, engine="auto"))
    a = final(items)
    assert items[0] == "Environ" and items[-2] == a.answer and a.engine == "extractive"
    assert a.notice == (
        f"built the index in {settings.index} (there was none); "
        "LLM unavailable (the server closed the stream); answered extractively"
    )
    with pytest.raises(ModelError, match="the server closed the stream"):
        bot.ask(Q, engine="llm")


@pytest.mark.parametrize("prompt, cached, stays", [(100, 40, False), (100, 100, True)])
def test_a_warm_section_evicted_from_the_cache_is_no_longer_warm(settings, monkeypatch, prompt, cached, stays):
    from bot import generate as gen

    class Stats(FakeLLM):
        def stream(self, messages, max_tokens=200, stats=None, grammar=None):
            if stats is not None:
                stats.prompt_tokens, stats.cached_tokens = prompt, cached
            yield from super().stream(messages, max_tokens, stats, grammar)

    original = gen.plan_context
    monkeypatch.setattr(gen, "plan_context", lambda *a, **k: replace(original(*a, **k), mode="section", section="sec"))
    bot = Bot(settings, embedder=FakeEmbedder(), llm=Stats(settings, [ANSWER]))  # type: ignore[arg-type]
    bot.ensure_index()
    bot._warm = {"sec"}
    bot.ask(Q, engine="llm")
    assert ("sec" in bot._warm) is stays
    assert bot.last_context == "section"


# -- the index ---------------------------------------------------------------
def test_the_index_notices(settings: Settings, seeds: Path):
    bot = Bot(settings, embedder=FakeEmbedder())
    index, notice = bot.ensure_index()
    assert notice == f"built the index in {settings.index} (there was none)"
    assert bot.ensure_index() == (index, None) and bot.index is index
    (seeds / "en_news.txt").write_text(ENGLISH, encoding="utf-8")
    index2, notice = bot.ensure_index()
    assert notice == "rebuilt the stale index: article en_news is new" and index2 is not index
    assert bot.known_article_ids == [SEED_ID, "en_news"]
    # another session rebuilt it: loaded, not rebuilt
    other = Bot(settings, embedder=FakeEmbedder())
    assert other.known_article_ids == []
    loaded, notice = other.ensure_index()
    assert notice is None and loaded.article_ids == [SEED_ID, "en_news"]
    assert other.build().article_ids == [SEED_ID, "en_news"] and other.warnings == []


def test_every_reason_for_a_rebuild_is_given(fake_bot: Bot, seeds: Path):
    fake_bot.ensure_index()
    (seeds / "b.txt").write_text(ENGLISH, encoding="utf-8")
    (seeds / "c.txt").write_text("Un autre article. Avec deux phrases.", encoding="utf-8")
    assert fake_bot.ensure_index()[1] == "rebuilt the stale index: article b is new; article c is new"


def test_a_renamed_article_is_noticed(fake_bot: Bot, seeds: Path):
    fake_bot.ensure_index()
    (seeds / f"{SEED_ID}.txt").rename(seeds / "renamed.txt")  # same size, same mtime
    assert (
        fake_bot.ensure_index()[1] == f"rebuilt the stale index: article renamed is new; article {SEED_ID} was removed"
    )


def test_an_index_loaded_once_is_kept_until_a_file_changes(settings: Settings):
    Bot(settings, embedder=FakeEmbedder()).build()
    bot = Bot(settings, embedder=FakeEmbedder())
    first = bot.index
    assert bot.index is first and bot.ensure_index() == (first, None)
    # a file the signature cannot stat (a dangling link) is passed over, not the end of the list
    (settings.index / "aaa.link").symlink_to(settings.index / "missing")
    assert bot.index is first
    Bot(settings, embedder=FakeEmbedder()).build()  # another session rewrites the index files
    assert bot.index is not first and bot.index.article_ids == [SEED_ID]


def test_loading_hashes_the_files_once_under_a_shared_lock(settings: Settings, monkeypatch):
    import fcntl
    import threading

    import bot.index as index_module

    Bot(settings, embedder=FakeEmbedder()).build()
    hashed = []
    real = index_module.sha256_file
    monkeypatch.setattr(index_module, "sha256_file", lambda p: hashed.append(Path(p).name) or real(p))
    bot = Bot(settings, embedder=FakeEmbedder())
    with open(settings.index / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_SH)  # another reader
        try:
            done = threading.Thread(target=bot.ensure_index, daemon=True)
            done.start()
            done.join(timeout=20)
            assert not done.is_alive(), "a reader waited for another reader"
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    assert sorted(n for n in hashed if not n.endswith(".txt")) == sorted(
        ["vectors.faiss", "windows.faiss", "sentences.jsonl"]
    )


def test_build_passes_progress_on(settings: Settings):
    seen = []

    class Recording(FakeEmbedder):
        def embed_passages(self, texts, progress=False):
            seen.append(progress)
            return super().embed_passages(texts, progress)

    bot = Bot(settings, embedder=Recording())
    bot.build()
    assert seen == [False, False]
    bot.build(progress=True)
    assert seen[2:] == [True, True]


def test_an_index_the_manifest_misdescribes_is_rebuilt_saying_why(settings: Settings):
    Bot(settings, embedder=FakeEmbedder()).ensure_index()
    manifest = settings.index / "manifest.json"
    m = json.loads(manifest.read_text(encoding="utf-8"))
    m["index_type"] = "IndexHNSWFlat(M=32,efSearch=128)"
    manifest.write_text(json.dumps(m), encoding="utf-8")
    bot = Bot(settings, embedder=FakeEmbedder())
    index, notice = bot.ensure_index()
    assert notice is not None and notice.startswith("rebuilt the index: ") and "the manifest says IndexHNSW" in notice
    assert index.manifest["index_type"] == "IndexFlatIP" and bot.ensure_index()[1] is None


def test_a_killed_add_is_settled_before_the_index_is_read(settings: Settings, seeds: Path):
    bot = Bot(settings, embedder=FakeEmbedder())
    bot.ensure_index()
    (seeds / ".ghost.txt.adding").write_text(ENGLISH, encoding="utf-8")  # not in the manifest: undone
    bot2 = Bot(settings, embedder=FakeEmbedder())
    index, notice = bot2.ensure_index()
    assert notice is None and bot2.index is index  # settled, loaded once
    assert not (seeds / ".ghost.txt.adding").exists() and bot2.known_article_ids == [SEED_ID]


def test_a_skipped_article_is_a_warning_and_explained_when_asked_for(settings: Settings, seeds: Path):
    shutil.copy(SEED, seeds / "copy.txt")
    bot = Bot(settings, embedder=FakeEmbedder())
    bot.ensure_index()
    assert bot.warnings and bot.warnings[0].startswith("copy.txt")
    with pytest.raises(ArticleError) as e:
        bot.ask(Q, article="copy")
    assert str(e.value) == f"article 'copy' is not indexed: {bot.warnings[0]}; indexed articles: {SEED_ID}"
    (seeds / "empty.txt").write_text("", encoding="utf-8")
    bot.ensure_index()
    with pytest.raises(ArticleError) as e:
        bot.ask(Q, article="empty")
    assert str(e.value).startswith("article 'empty' is not indexed: ") and "empty" in str(e.value)[32:]
    with pytest.raises(ArticleError) as e:
        bot.ask(Q, article="nope")
    assert str(e.value) == f"unknown article 'nope'; indexed articles: {SEED_ID}"
    with pytest.raises(ArticleError) as e:
        bot.ask(Q, article="../seeds/copy")
    assert str(e.value) == f"unknown article '../seeds/copy'; indexed articles: {SEED_ID}"


def test_an_unknown_article_before_any_index_names_none(settings: Settings):
    bot = Bot(settings, embedder=FakeEmbedder())
    with pytest.raises(ArticleError) as e:
        bot._explain_unknown("nope")
    assert str(e.value) == "unknown article 'nope'; indexed articles: none"


# -- articles ----------------------------------------------------------------
def test_adding_pasted_text_a_file_and_removing_update_the_index_in_memory(settings: Settings, tmp_path: Path):
    bot = Bot(settings, embedder=FakeEmbedder())
    seen = []
    info = bot.add_article(ENGLISH, article_id="pasted", title="Seoul", progress=lambda f, m: seen.append(m))
    assert (info.id, info.title, info.lang) == ("pasted", "Seoul", "en")
    assert seen[0] == "reading the pasted text"
    assert json.loads((settings.seeds / "pasted.meta.json").read_text(encoding="utf-8"))["name"] == "the pasted text"
    assert bot.known_article_ids == [SEED_ID, "pasted"]
    path = tmp_path / "note.md"
    path.write_text("# Note\n\nLa Corée du Sud a confirmé mardi. Séoul a parlé.", encoding="utf-8")
    info = bot.add_article(path)
    assert info.format == "markdown" and info.id in bot.known_article_ids
    assert json.loads((settings.seeds / f"{info.id}.meta.json").read_text(encoding="utf-8"))["name"] == "note.md"
    assert [a.id for a in bot.articles()] == [SEED_ID, "pasted", info.id]
    removed = bot.remove_article("pasted")
    assert removed.id == "pasted" and bot.known_article_ids == [SEED_ID, info.id]
    assert bot.ask("Séoul a confirmé ?", article=info.id).citations[0].article_id == info.id


def test_a_file_too_large_is_refused_before_it_is_read(settings: Settings, tmp_path: Path):
    path = tmp_path / "big.txt"
    path.write_text("Une phrase. " * 100, encoding="utf-8")
    bot = Bot(replace(settings, max_article_chars=100), embedder=FakeEmbedder())
    with pytest.raises(ArticleError) as e:
        bot.add_article(path)
    assert "big.txt" in str(e.value)


# -- verify ------------------------------------------------------------------
def test_verify_needs_the_article_when_there_are_several(settings: Settings, seeds: Path):
    bot = Bot(settings, embedder=FakeEmbedder())
    assert bot.verify(ANSWER).supported
    assert bot.verify(ANSWER, article=SEED_ID, question=" <b>Combien</b> de soldats ? ").supported
    (seeds / "en_news.txt").write_text(ENGLISH, encoding="utf-8")
    with pytest.raises(ArticleError) as e:
        bot.verify(ANSWER)
    assert str(e.value) == f"give the article to check against (--article ID): {SEED_ID}, en_news"
    with pytest.raises(ArticleError) as e:
        bot.verify(ANSWER, article="nope")
    assert str(e.value) == f"unknown article 'nope'; indexed articles: {SEED_ID}, en_news"


def test_verify_checks_the_citations_against_the_articles_sentences(fake_bot: Bot):
    from bot.errors import AnswerError

    with pytest.raises(AnswerError) as e:
        fake_bot.verify("Des soldats [15].", article=SEED_ID)
    assert str(e.value) == (f"citation(s) [15] out of range: article {SEED_ID} has 14 sentences (cite [1] to [14])")
    # the last sentence can be cited, and is checked
    v = fake_bot.verify("Des soldats nord-coréens [14].", article=SEED_ID)
    assert (
        not v.supported and v.reason == "'Des soldats nord-coréens.': 'nord-coréens' is not in the cited sentences [14]"
    )
    assert fake_bot.verify(
        "Le chef de la diplomatie a souligné que l'accord est public [13].", article=SEED_ID
    ).supported


def test_verify_knows_the_articles_language(settings: Settings, seeds: Path):
    (seeds / "en_news.txt").write_text(ENGLISH, encoding="utf-8")
    bot = Bot(settings, embedder=FakeEmbedder())
    v = bot.verify("Seoul confirmed the news on Tuesday [3].", article="en_news")
    assert v.article_lang == "en" and v.supported
    assert bot.verify(ANSWER, article=SEED_ID).article_lang == "fr"


def test_verify_counts_the_sentences_of_the_article_checked(settings: Settings, seeds: Path):
    from bot.errors import AnswerError

    (seeds / "en_news.txt").write_text(ENGLISH, encoding="utf-8")
    bot = Bot(settings, embedder=FakeEmbedder())
    with pytest.raises(AnswerError) as e:
        bot.verify("Seoul confirmed it [4].", article="en_news")
    assert str(e.value) == "citation(s) [4] out of range: article en_news has 3 sentences (cite [1] to [3])"


def test_verify_uses_the_embedder_for_what_words_alone_do_not_settle(fake_bot: Bot):
    # an English claim about the French article: a third of its words overlap, the embedding decides
    claim = "Sabrina Singh said that about 10,000 soldiers had been sent to eastern Russia [5]."
    calls = fake_bot.embedder.calls  # type: ignore[attr-defined]
    v = fake_bot.verify(claim, article=SEED_ID)
    assert v.supported and fake_bot.embedder.calls > calls  # type: ignore[attr-defined]


def test_an_article_without_a_language_is_verified_as_unknown(settings: Settings):
    Bot(settings, embedder=FakeEmbedder()).ensure_index()
    manifest = settings.index / "manifest.json"
    m = json.loads(manifest.read_text(encoding="utf-8"))
    del m["articles"][SEED_ID]["lang"]
    manifest.write_text(json.dumps(m), encoding="utf-8")
    bot = Bot(settings, embedder=FakeEmbedder())
    assert bot.verify(ANSWER, article=SEED_ID).article_lang == "unknown"


def test_an_article_file_that_appeared_after_the_index_was_read_is_unknown(settings: Settings, seeds: Path):
    bot = Bot(settings, embedder=FakeEmbedder())
    bot.ensure_index()
    (seeds / "late.txt").write_text(ENGLISH, encoding="utf-8")  # readable, not a copy: just not indexed yet
    with pytest.raises(ArticleError) as e:
        bot._explain_unknown("late")
    assert str(e.value) == f"unknown article 'late'; indexed articles: {SEED_ID}"


# -- warm --------------------------------------------------------------------
class Recorder(FakeLLM):
    def __init__(self, settings, prompt_tokens=0):
        super().__init__(settings, [])
        self.calls: list[tuple] = []
        self.prompt_tokens = prompt_tokens

    def stream(self, messages, max_tokens=200, stats=None, grammar=None):
        self.calls.append((messages, max_tokens))
        if stats is not None:
            stats.prompt_tokens = self.prompt_tokens
        yield "x"

    @staticmethod
    def parked(messages) -> bool:
        """A park request (generate.park): the prefix and an empty article."""
        return re.search(r'<article id="[^"]*">\n\n</article>', messages[-1]["content"]) is not None

    @staticmethod
    def cleared(messages) -> bool:
        """A clear request (bot/slot.py): one word, no system prompt."""
        return len(messages) == 1

    @property
    def reads(self) -> list[tuple]:
        return [c for c in self.calls if not self.parked(c[0]) and not self.cleared(c[0])]


def test_warm_reads_the_whole_short_article_once_reporting_progress(settings: Settings):
    llm = Recorder(settings)
    bot = Bot(settings, embedder=FakeEmbedder(), llm=llm)  # type: ignore[arg-type]
    seen, paused = [], []
    bot.warm(progress=lambda d, t: seen.append((d, t)), pause=lambda: paused.append(1))
    lo, hi = bot.index.ranges[SEED_ID]
    from bot.context import chars

    total = chars(bot.index.sentences[lo:hi])
    assert seen == [(0, total), (total, total)] and paused == [1]
    ((messages, max_tokens),) = llm.calls
    assert max_tokens == 1
    assert messages == bot.prompts.messages(SEED_ID, bot.index.sentences[lo:hi], "?", "en")
    assert bot._warm == {f"{SEED_ID}:article"}
    bot.warm()  # the whole article is read again (it is cheap once cached), without progress
    # no clear before it: the slot still holds that article's read (bot/slot.py)
    assert len(llm.calls) == 2


def test_warm_reads_the_article_asked_for(settings: Settings, seeds: Path):
    (seeds / "en_news.txt").write_text(ENGLISH, encoding="utf-8")
    llm = Recorder(settings)
    bot = Bot(settings, embedder=FakeEmbedder(), llm=llm)  # type: ignore[arg-type]
    bot.warm("en_news")
    assert "Seoul confirmed" in json.dumps(llm.calls[0][0]) and bot._warm == {"en_news:article"}
    bot.warm()
    # the seed article's first read is preceded by a park, so that it cannot overwrite en_news's state
    assert llm.parked(llm.calls[1][0]) and len(llm.calls) == 3
    assert "Sabrina Singh" in json.dumps(llm.calls[2][0], ensure_ascii=False)


LONG = " ".join(f"La phrase numéro {i} de ce long article parle de la guerre en Ukraine." for i in range(400))


def long_bot(settings: Settings, seeds: Path, prompt_tokens: int) -> tuple[Bot, Recorder]:
    for p in seeds.glob("*.txt"):
        p.unlink()
    (seeds / "long.txt").write_text(LONG, encoding="utf-8")
    llm = Recorder(settings, prompt_tokens)
    return Bot(settings, embedder=FakeEmbedder(), llm=llm), llm  # type: ignore[arg-type]


def test_warm_reads_each_section_of_a_long_article_and_checks_the_first_was_restored(settings: Settings, seeds: Path):
    from bot.context import chars, warm_plan

    bot, llm = long_bot(settings, seeds, prompt_tokens=2)
    seen = []
    bot.warm(progress=lambda d, t: seen.append((d, t)))
    lo, hi = bot.index.ranges["long"]
    plan = warm_plan("long", bot.index.sentences[lo:hi], settings.llm_context)
    assert len(plan) > 1
    sizes = [chars(s) for _, s in plan]
    total = sum(sizes)
    assert seen == [(0, total)] + [(sum(sizes[: i + 1]), total) for i in range(len(sizes))]
    assert bot._warm == {k for k, _ in plan}
    # each section after the first is read from a parked slot (bot/context.py)
    # and the check (a cached read) from a cleared slot: this fake reports 2 tokens a read, a short state
    kinds = ["park" if llm.parked(m) else "clear" if llm.cleared(m) else "read" for m, _ in llm.calls]
    assert kinds == ["read"] + ["park", "read"] * (len(plan) - 1) + ["clear", "read"]
    # then the first section once more, one token: restored (2 tokens read), it stays warm
    assert len(llm.reads) == len(plan) + 1
    assert llm.calls[-1] == (bot.prompts.messages("long", plan[0][1], "?", "en"), 1)
    # warm again: nothing left to read but the check
    before = len(llm.calls)
    bot.warm()
    assert len(llm.calls) == before


def test_sections_not_restored_from_the_cache_are_marked_cold(settings: Settings, seeds: Path):
    from bot.context import CHARS_PER_TOKEN, chars, warm_plan

    bot, _ = long_bot(settings, seeds, prompt_tokens=0)
    lo, hi = bot.index.ranges["long"]
    plan = warm_plan("long", bot.index.sentences[lo:hi], settings.llm_context)
    limit = chars(plan[0][1]) / CHARS_PER_TOKEN / 4
    bot2, llm2 = long_bot(settings, seeds, prompt_tokens=int(limit) + 1)
    bot2.warm()
    assert bot2._warm == set()
    bot3, _ = long_bot(settings, seeds, prompt_tokens=int(limit))
    bot3.warm()
    assert bot3._warm == {k for k, _ in plan}
    bot4, _ = long_bot(settings, seeds, prompt_tokens=limit)  # type: ignore[arg-type]  # exactly at the limit: restored
    bot4.warm()
    assert bot4._warm == {k for k, _ in plan}


def test_one_section_left_to_read_is_not_checked_again(settings: Settings, seeds: Path):
    bot, llm = long_bot(settings, seeds, prompt_tokens=2)
    bot.warm()
    before = len(llm.calls)
    key = sorted(bot._warm)[1]
    bot._warm.discard(key)
    bot.warm()
    assert len(llm.calls) == before + 2 and key in bot._warm  # a park, then the section
    assert llm.parked(llm.calls[-2][0]) and not llm.parked(llm.calls[-1][0])


def test_an_article_of_two_sections_is_checked_after_its_warm_up(settings: Settings, seeds: Path):
    from bot.context import warm_plan

    small = replace(settings, llm_context=3000)
    for p in seeds.glob("*.txt"):
        p.unlink()
    (seeds / "two.txt").write_text(LONG[: 100 * 75], encoding="utf-8")
    llm = Recorder(small, prompt_tokens=2)
    bot = Bot(small, embedder=FakeEmbedder(), llm=llm)  # type: ignore[arg-type]
    bot.warm()
    lo, hi = bot.index.ranges["two"]
    plan = warm_plan("two", bot.index.sentences[lo:hi], 3000)
    assert len(plan) == 2 and len(llm.reads) == 3 and len(llm.calls) == 5  # a park, and a clear before the check


def test_a_new_bot_has_loaded_nothing(settings: Settings):
    from bot.embed import SentenceTransformerEmbedder

    bot = Bot(settings)
    assert isinstance(bot.embedder, SentenceTransformerEmbedder) and bot.embedder.settings is settings
    assert bot.embedder.loads == 0 and bot.embedder.model_id.startswith(settings.embed_model)
    assert bot.warnings == [] and bot.known_article_ids == [] and bot._warm == set()


def test_the_verifier_gets_the_articles_sentences_language_and_stored_vectors(settings: Settings, seeds: Path):
    from bot.index import all_vectors

    (seeds / "en_news.txt").write_text(ENGLISH, encoding="utf-8")
    bot = Bot(settings, embedder=FakeEmbedder())
    seen = []

    class Verifier:
        def verify(self, text, sentences, question, lang, vectors):
            seen.append((text, list(sentences), question, lang, vectors(None)))
            return "verdict"

    bot.ensure_index()
    bot._verifier = Verifier()  # type: ignore[assignment]
    for article, lang in ((SEED_ID, "fr"), ("en_news", "en")):
        assert bot.verify("Seoul confirmed it [1].", article=article, question="Who?") == "verdict"
        lo, hi = bot.index.ranges[article]
        text, sentences, question, got_lang, vectors = seen[-1]
        assert (text, sentences, question, got_lang) == (
            "Seoul confirmed it [1].",
            bot.index.sentences[lo:hi],
            "Who?",
            lang,
        )
        assert vectors.shape == (hi - lo, FakeEmbedder.dim)
        assert (vectors == all_vectors(bot.index)[0][lo:hi]).all()


def test_llm_loaded_and_the_backend_made_from_the_settings(settings: Settings):
    bot = Bot(settings, embedder=FakeEmbedder())
    assert not bot.llm_loaded
    llm = FakeLLM(settings, [])
    assert Bot(settings, embedder=FakeEmbedder(), llm=llm).llm_loaded  # type: ignore[arg-type]
    llm.loaded = False  # type: ignore[attr-defined]
    assert not Bot(settings, embedder=FakeEmbedder(), llm=llm).llm_loaded  # type: ignore[arg-type]


def test_stats_of_the_last_generation_are_kept(settings: Settings):
    bot, _ = llm_bot(settings, ANSWER)
    assert bot.last_stats is None and bot.last_context is None
    bot.ask(Q, engine="llm")
    assert isinstance(bot.last_stats, GenerationStats) and bot.last_stats.first_token_ms == 1.0
