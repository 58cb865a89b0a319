"""Bring your own article, in a real browser: the app (`bot serve`, engine auto,
so the LLM warms up in the background) in Debian's Chromium via Playwright.

A question for the LLM asked during the warm-up is told within 2 s that the
model is still loading; the status line reaches "ready" without a reload; no
notice or status shows a Markdown backslash escape; a news page uploaded
through the "Add an article" control becomes the selected article, and a
question about its story gets a cited answer whose sentence is highlighted
in its panel; none of the page's boilerplate reaches the index."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from bot import Settings

from . import pages
from .conftest import SEED
from .test_browser import CHROMIUM, FLAGS

pytestmark = [pytest.mark.browser, pytest.mark.real_llm]
# A Markdown escape as it would show: a backslash before punctuation
ESCAPE = re.compile(r"\\[()\[\].,:;!?*_#`{}+\-|~$'\"]")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `apt-get install chromium` (the Makefile's test target does it)")
    from bench.load import serve

    base = tmp_path_factory.mktemp("app-add")
    (base / "seeds").mkdir()
    shutil.copy(SEED, base / "seeds" / SEED.name)
    (base / "page.html").write_text(pages.news_page(), encoding="utf-8")
    settings = Settings.load({"seeds": base / "seeds", "index": base / "index"}, environ={})
    with serve(settings, engine="auto") as (url, _):
        yield url, base


@pytest.fixture(scope="module")
def page(app):
    from playwright.sync_api import sync_playwright

    url, _ = app
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 950})
        page.goto(url)
        page.wait_for_selector("#article .article-panel", timeout=60_000)
        yield page
        browser.close()


def status(page) -> str:
    return page.locator("#llm-status").inner_text()


def answers(page) -> int:
    return page.locator("#chat .answer-meta").count()


def wait_for_answers(page, count: int, timeout_s: float) -> None:
    """Until the chat holds ``count`` answers; fails at once, with what the chat shows, on
    an error line (a span.notice; an answer's own notice is a div) that takes an answer's place."""
    deadline = time.monotonic() + timeout_s
    while answers(page) < count:
        chat = page.locator("#chat").inner_text()[-1500:]
        if page.locator("#chat span.notice").count():
            pytest.fail(f"an error instead of answer {count}: {chat}")
        if time.monotonic() > deadline:
            pytest.fail(f"no answer {count} after {timeout_s:.0f} s; the chat: {chat}")
        time.sleep(0.5)


def test_a_question_during_warm_up_is_told_the_model_is_loading(page):
    page.wait_for_function(
        "document.querySelector('#llm-status').innerText.includes('Loading the LLM in the background')",
        timeout=30_000,
    )
    assert not ESCAPE.search(status(page)), status(page)
    page.locator("#engine input[value='llm']").check()
    page.locator("#question textarea").fill("Qui est Mark Rutte ?")
    page.locator("#ask").click()
    # told while it waits, before the answer (how soon is bench's business: a shared machine
    # under the whole suite took more than 2 s to show it, 2026-12-07)
    page.wait_for_function(
        "document.querySelector('#chat').innerText.includes('The model is still loading (about')", timeout=30_000
    )
    assert answers(page) == 0
    assert re.search(r"The model is still loading \(about \d+ s left\)", page.locator("#chat").inner_text())
    # then the answer streams as usual
    wait_for_answers(page, 1, 400)
    assert "Mark Rutte" in page.locator("#chat").inner_text() or "OTAN" in page.locator("#chat").inner_text()


def test_the_status_reaches_ready_without_a_reload(page):
    page.wait_for_function("document.querySelector('#llm-status').innerText.includes('LLM ready')", timeout=300_000)
    assert not ESCAPE.search(status(page)), status(page)


def test_no_notice_or_message_shows_a_backslash_escape(page):
    # a question whose LLM answer often fails the citation check: its notice has parentheses and decimals
    page.locator("#question textarea").fill("Qu'a dit Sergueï Lavrov ?")
    page.locator("#ask").click()
    wait_for_answers(page, 2, 300)
    for locator in ("#chat", "#llm-status"):
        text = page.locator(locator).inner_text()
        assert not ESCAPE.search(text), text[:2000]


def test_upload_a_news_page_and_ask_about_its_story(page, app):
    _, base = app
    page.locator("#add-article").get_by_text("Add an article").first.click()
    page.locator("input[type=file]").first.set_input_files(str(base / "page.html"))
    page.wait_for_function(
        "document.querySelector('#chat').innerText.includes('Added “Harbour bridge reopens')", timeout=300_000
    )
    chat = page.locator("#chat").inner_text()
    assert not ESCAPE.search(chat), chat[-1500:]
    new_id = re.search(r"as ([a-z0-9-]+)\. It is now the selected article", chat).group(1)
    # the selector shows it, selected; the panel shows its story, not the page's furniture
    page.locator("#article-select input").wait_for(state="visible", timeout=10_000)
    page.wait_for_function(f"document.querySelector('#article-select input').value === '{new_id}'", timeout=10_000)
    panel = page.locator("#article").inner_text()
    assert pages.STORY[2][:50] in panel and new_id in panel
    for marker in pages.BOILERPLATE:
        assert marker not in panel
    page.locator("#engine input[value='extractive']").check()
    before = answers(page)
    page.locator("#question textarea").fill("How many steel cables did the engineers replace?")
    page.locator("#ask").click()
    wait_for_answers(page, before + 1, 300)
    link = page.locator("#chat a.cite-link").last
    assert link.is_visible() and link.get_attribute("href").startswith(f"#s-{new_id}-")
    cited = page.locator("#article .sent.cited").first
    assert cited.is_visible() and "1,200 steel cables" in cited.inner_text()
    index_text = "".join(p.read_text(encoding="utf-8") for p in (base / "index").glob("sentences*.jsonl"))
    assert "1,200 steel cables" in index_text
    for marker in pages.BOILERPLATE:
        assert marker not in index_text, marker
    assert not ESCAPE.search(page.locator("#llm-status").inner_text())
