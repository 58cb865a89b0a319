"""The chat function and the HTML it produces, without a browser (fake embedder,
fake LLM). The browser test is tests/test_browser.py."""

from __future__ import annotations

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


def test_a_question_while_the_llm_loads_is_answered_extractively_and_says_so(ui_bot):
    chat, session, _ = list(respond(ui_bot, Q, [], Session(), "auto", None, llm_ready=False))[-1]
    final = chat[-1]["content"]
    assert "engine: extractive" in final and "the LLM is still loading" in final
    assert ui_bot.llm.messages == []  # the model was not asked
    chat, _, _ = list(respond(ui_bot, Q, [], Session(), "auto", None, llm_ready=True))[-1]
    assert "engine: llm" in chat[-1]["content"] and len(ui_bot.llm.messages) == 1
