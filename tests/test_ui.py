"""The chat function and the HTML it produces, without a browser (fake embedder,
fake LLM). The browser test is tests/test_browser.py."""

from __future__ import annotations

import re

import pytest

from bot import Answer, Bot
from bot.types import Citation
from bot.ui import Session, escape_text, render_answer, render_article, respond

from .conftest import SEED_ID, FakeEmbedder, FakeLLM

Q = "Combien de soldats nord-coréens ont été envoyés en Russie ?"


@pytest.fixture
def ui_bot(settings):
    llm = FakeLLM(settings, ["Environ 10 000 soldats nord-coréens ont été envoyés en Russie [5]."] * 5)
    bot = Bot(settings, embedder=FakeEmbedder(), llm=llm)  # type: ignore[arg-type]
    bot.build()
    return bot


def test_streaming_yields_growing_text_and_ends_with_citations(ui_bot):
    steps = list(respond(ui_bot, Q, [], Session(), "llm", None))
    contents = [chat[-1]["content"] for chat, _, _ in steps]
    assert contents[0] == "…"
    streamed = [c for c in contents[1:-1]]
    assert len(streamed) >= 3 and all(c.endswith("▌") for c in streamed)
    lengths = [len(c) for c in streamed]
    assert lengths == sorted(lengths)
    final_chat, session, article_html = steps[-1]
    final = final_chat[-1]["content"]
    assert f'href="#s-{SEED_ID}-5"' in final and "Sources (1)" in final
    assert 'class="sent cited"' in article_html and f'id="s-{SEED_ID}-5" class="sent cited"' in article_html
    assert session.turns == [(Q, "Environ 10 000 soldats nord-coréens ont été envoyés en Russie [5].")]


def test_errors_become_chat_messages(ui_bot):
    chat, session, _ = list(respond(ui_bot, "   ", [], Session(), "extractive", None))[-1]
    assert "the question is empty" in chat[-1]["content"]
    chat, _, _ = list(respond(ui_bot, "x" * 5000, [], Session(), "extractive", None))[-1]
    assert "5,000 characters long" in chat[-1]["content"]
    chat, _, _ = list(respond(ui_bot, "Qui ?", [], Session(), "extractive", "no-such-article"))[-1]
    assert "unknown article" in chat[-1]["content"]


@pytest.mark.parametrize(
    "evil",
    [
        "<script>alert('x')</script>",
        '<img src=x onerror="alert(1)">',
        "[click me](javascript:alert(1))",
        "**bold** `code` # title",
    ],
)
def test_user_text_is_shown_as_text(ui_bot, evil):
    chat, _, _ = list(respond(ui_bot, evil, [], Session(), "extractive", None))[-1]
    user = chat[0]["content"]
    assert "<script" not in user and "<img" not in user and "](" not in user
    assert html_unescape_markdown(user) == evil


def html_unescape_markdown(text: str) -> str:
    import html
    import re

    text = re.fullmatch(r'<span dir="auto">(.*)</span>', text, re.DOTALL).group(1)  # type: ignore[union-attr]
    return html.unescape(re.sub(r"\\(.)", r"\1", text))


def test_article_text_is_escaped(settings):
    (settings.seeds / "evil.txt").write_text(
        "Un article <script>alert(1)</script> piégé. Il contient <img src=x onerror=alert(2)> aussi.", encoding="utf-8"
    )
    bot = Bot(settings, embedder=FakeEmbedder())
    bot.build()
    page = render_article(bot, "evil")
    assert "<script>" not in page and "<img" not in page and "&lt;script&gt;" in page


def test_answer_html_escapes_citation_text_and_marks_abstention():
    c = Citation(1, "a:1", "a", "<b>gras</b>", 0, 11, 0.9)
    html_ = render_answer(Answer("q", "Réponse <i>x</i> [1].", "llm", False, "fr", (c,)))
    assert "<i>" not in html_ and "<b>gras</b>" not in html_ and 'class="cite-link"' in html_
    abst = render_answer(Answer("q", "Je ne trouve pas cette information dans l'article.", "llm", True, "fr"))
    assert 'class="abstained"' in abst and "Sources" not in abst


def test_escape_text_neutralises_markdown():
    assert escape_text("[a](b)") == "\\[a\\]\\(b\\)"


def test_sessions_do_not_share_conversations(ui_bot):
    # Two sessions talking in turns: each keeps its own turns, and a session
    # handed in is never changed in place (gr.State may hand the same object back).
    a0, b0 = Session(), Session()
    a1 = list(respond(ui_bot, Q, [], a0, "llm", None))[-1][1]
    b1 = list(respond(ui_bot, "Qui est Mark Rutte ?", [], b0, "extractive", None))[-1][1]
    a2 = list(respond(ui_bot, "Et où ?", [], a1, "extractive", None))[-1][1]
    assert a0.turns == [] and b0.turns == []
    assert [q for q, _ in a2.turns] == [Q, "Et où ?"] and [q for q, _ in a1.turns] == [Q]
    assert [q for q, _ in b1.turns] == ["Qui est Mark Rutte ?"]


# -- what a newcomer sees: escapes, readiness, the add-article control ---------


def test_notices_and_sources_show_no_markdown_escapes():
    # inside <details> and <div> Markdown is not parsed: a backslash escape would show as is
    c = Citation(1, "a:1", "a", "M. Lavrov (ministre) a dit : « non ». [sic] 10.5 %", 0, 40, 0.9)
    notice = "the LLM's answer failed the citation check ('Sergei Lavrov … said' is not supported (overlap 0.04)); x"
    page = render_answer(Answer("q", "Réponse [1].", "llm", False, "fr", (c,), notice=notice))
    blocks = page[page.index("<details>") :]
    assert "\\" not in blocks
    assert "(overlap 0.04)" in blocks and "M. Lavrov (ministre)" in blocks
    assert "&lt;script&gt;" in render_answer(Answer("q", "r", "llm", False, "fr", notice="<script>x</script>"))


def as_shown(content: str) -> str:
    """What the browser shows of a Markdown paragraph: tags gone, backslash escapes applied."""
    import html

    return html.unescape(re.sub(r"\\(.)", r"\1", re.sub(r"<[^>]+>", "", content)))


class SlowWarm:
    """A bot whose warm-up takes a while: what the UI shows meanwhile."""

    def __init__(self, bot, seconds):
        self.bot, self.seconds = bot, seconds

    def __getattr__(self, name):
        return getattr(self.bot, name)

    @property
    def llm_loaded(self):
        return False

    def warm(self, article=None, progress=None, pause=None):
        import time

        if progress:
            progress(0, 4000)
        if pause:
            pause()
        time.sleep(self.seconds)
        if progress:
            progress(4000, 4000)


def test_a_question_during_warm_up_is_told_at_once_how_long_is_left(ui_bot):
    import time

    from bot.ui import Warmup

    warmup = Warmup(SlowWarm(ui_bot, 1.5))  # type: ignore[arg-type]
    warmup.start()
    time.sleep(0.1)
    assert warmup.busy and "Loading the LLM in the background" in warmup.status()
    t0 = time.perf_counter()
    steps = respond(ui_bot, Q, [], Session(), "llm", None, warmup=warmup, poll_s=0.2)
    shown = [next(steps), next(steps)]
    assert time.perf_counter() - t0 < 1.0
    text = as_shown(shown[1][0][-1]["content"])
    assert re.fullmatch(r"The model is still loading \(about \d+ s left\); your answer will follow\.", text)
    rest = list(steps)
    assert 'href="#s-' in rest[-1][0][-1]["content"]  # then the answer streams as usual
    assert warmup.status() == "LLM ready."


def test_a_question_let_go_before_the_model_is_loaded_is_told_it_loads(ui_bot):
    from bot.ui import MODEL_LOAD_S, Warmup

    # as between start() and its worker taking the job, or while the worker pauses for a
    # question: nothing busy, nothing loaded; the question loads the model itself (~15-50 s)
    warmup = Warmup(SlowWarm(ui_bot, 0.0))  # type: ignore[arg-type]
    warmup.state = "loading"
    steps = list(respond(ui_bot, Q, [], Session(), "llm", None, warmup=warmup, poll_s=0.05))
    shown = [as_shown(step[0][-1]["content"]) for step in steps]
    told = f"The model is still loading (about {round(MODEL_LOAD_S)} s left); your answer will follow."
    assert told in shown and shown.index(told) < len(shown) - 1
    assert 'href="#s-' in steps[-1][0][-1]["content"]


def test_adding_an_article_from_the_chat(ui_bot):
    from bot.ui import add_article

    from . import pages

    steps = list(add_article(ui_bot, pages.news_page().encode(), "page.html", [], poll_s=0.01))
    chat, new_id, fraction = steps[-1]
    assert new_id in ui_bot.index.article_ids and fraction == 1.0
    assert "Added “Harbour bridge reopens after two years of repairs”" in as_shown(chat[-1]["content"])
    assert "Adding page.html" in as_shown(steps[0][0][-1]["content"])
    assert pages.STORY[2][:40] in render_article(ui_bot, new_id)


@pytest.mark.parametrize(
    "data, message",
    [
        ("", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "is not text"),
        (b"caf\xe9", "is not valid UTF-8"),
        ("Comment (0)\nPartager", "holds no sentence"),
        ("x" * 600_000, "the limit is 500,000"),
        ("SEED", "is a copy of article"),
    ],
    ids=["empty", "binary", "not-utf8", "no-sentence", "too-large", "duplicate"],
)
def test_bad_articles_get_one_line_in_the_chat_and_nothing_changes(ui_bot, settings, data, message):
    from bot.ui import add_article

    from .test_library import snapshot

    if data == "SEED":
        data = (settings.seeds / f"{SEED_ID}.txt").read_bytes()
    before = snapshot(settings.index, settings.seeds)
    chat, new_id, _ = list(add_article(ui_bot, data, "the pasted text", [], poll_s=0.01))[-1]
    assert new_id is None
    content = chat[-1]["content"]
    assert content.startswith('<span class="notice">') and message in as_shown(content) and "\n" not in content
    assert snapshot(settings.index, settings.seeds) == before


def test_a_question_while_the_llm_loads_is_answered_extractively_and_says_so(ui_bot):
    import time

    from bot.ui import Warmup

    warmup = Warmup(SlowWarm(ui_bot, 1.0))  # type: ignore[arg-type]
    warmup.start()
    time.sleep(0.1)
    chat, session, _ = list(respond(ui_bot, Q, [], Session(), "auto", None, warmup=warmup))[-1]
    final = chat[-1]["content"]
    assert "engine: extractive" in final and "the LLM is still loading" in as_shown(final)
    assert ui_bot.llm.messages == []  # the model was not asked
    time.sleep(1.2)
    chat, _, _ = list(respond(ui_bot, Q, [], Session(), "auto", None, warmup=warmup))[-1]
    assert "engine: llm" in chat[-1]["content"] and len(ui_bot.llm.messages) == 1


def test_the_confidence_is_shown_next_to_the_engine():
    from bot.ui import timing_line

    line = timing_line(Answer("q", "x [1].", "extractive", False, "fr", confidence=0.834, answerable=0.912))
    assert line.startswith("engine: extractive · confidence 83% · answerable 91%")
    bare = timing_line(Answer("q", "x", "extractive", True, "fr"))
    assert "confidence" not in bare and "answerable" not in bare


def test_starting_a_warm_up_reads_the_articles_token_vectors_even_without_an_llm(ui_bot):
    import threading

    from bot.ui import Warmup

    class Reader(SlowWarm):
        def __init__(self, bot):
            super().__init__(bot, 0.0)
            self.articles: list[str | None] = []
            self.done = threading.Event()

        def read_tokens(self, article=None):
            self.articles.append(article)
            self.done.set()
            return 1

    bot = Reader(ui_bot)
    warmup = Warmup(bot)  # type: ignore[arg-type]
    warmup.state = "unavailable"  # the LLM failed to load: the confidence still wants the vectors
    warmup.start("other")
    assert bot.done.wait(5) and bot.articles == ["other"]
