"""The real app in a real browser: Debian's Chromium driven by Playwright.

Starts `bot serve` on a free loopback port with the real models, asks a French
and an English question, checks what a reader sees (a citation link, a
highlighted sentence, a script shown as text and not run), and saves a
screenshot in a temporary folder (`make screenshot` refreshes docs/screenshot.png)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot import Settings

from .conftest import SEED

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `apt-get install chromium` (the Makefile's test target does it)")
    from bench.load import serve

    base = tmp_path_factory.mktemp("app")
    (base / "seeds").mkdir()
    shutil.copy(SEED, base / "seeds" / SEED.name)
    settings = Settings.load({"seeds": base / "seeds", "index": base / "index"}, environ={})
    with serve(settings) as (url, _):
        yield url


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 950})
        page.goto(server)
        yield page
        browser.close()


def ask(page, question: str, n_answers: int) -> str:
    page.wait_for_function("document.querySelector('#question textarea').value === ''")
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()
    # an answer is complete when its timing line is there
    page.wait_for_function(f"document.querySelectorAll('#chat .answer-meta').length >= {n_answers}", timeout=300_000)
    return page.locator("#chat .answer-meta").nth(n_answers - 1).inner_text()


def test_article_is_shown_at_once(page):
    page.wait_for_selector("#article .article-panel", timeout=60_000)
    assert "Mark Rutte" in page.locator("#article").inner_text()


def test_french_question_gets_a_citation_and_a_highlight(page):
    meta = ask(page, "Combien de soldats nord-coréens ont été envoyés en Russie ?", 1)
    assert "engine:" in meta and "total" in meta
    link = page.locator("#chat a.cite-link").first
    assert link.is_visible() and link.inner_text().startswith("[")
    cited = page.locator("#article .sent.cited").first
    assert cited.is_visible() and "10 000" in cited.inner_text()


def test_english_question(page):
    meta = ask(page, "Who is the NATO secretary general?", 2)
    assert "engine:" in meta
    assert "Rutte" in page.locator("#chat").inner_text()


def test_script_in_a_question_is_text(page):
    page.evaluate("window.__pwned = 0")
    evil = "Qui est Mark Rutte ? <script>window.__pwned = 1</script><img src=x onerror='window.__pwned = 2'>"
    ask(page, evil, 3)
    assert "<script>window.__pwned = 1</script>" in page.locator("#chat").inner_text()
    assert page.evaluate("window.__pwned") == 0


def test_right_to_left_and_emoji_questions(page, request, tmp_path):
    arabic = "كم عدد الجنود الكوريين الشماليين الذين أرسلوا إلى روسيا؟"
    ask(page, arabic, 4)
    shown = page.locator("#chat span[dir=auto]", has_text=arabic).first
    assert shown.is_visible()
    # dir="auto" lays the Arabic question out right to left
    assert shown.evaluate("e => getComputedStyle(e).direction") == "rtl"
    assert "English or French" in page.locator("#chat .answer-meta").nth(3).locator("xpath=..").inner_text()
    ask(page, "Combien de soldats 🇰🇵 ont été envoyés en Russie ? 🪖", 5)
    assert "🪖" in page.locator("#chat").inner_text()
    assert "10 000" in page.locator("#chat .answer-meta").nth(4).locator("xpath=..").inner_text()
    shot = Path(request.config.getoption("--screenshot") or tmp_path / "screenshot.png")
    page.locator("#question textarea").fill("")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
