"""Article formats: the format comes from the content, each reader gives the
same typed Source, and boilerplate never survives (no model needed)."""

from __future__ import annotations

import pytest

from bot.errors import ArticleError
from bot.sources import Source, read_source, reflow, sniff

from . import pages


def test_a_news_page_keeps_the_story_and_its_metadata_and_drops_the_furniture():
    src = read_source(pages.news_page().encode(), "page.html")
    assert isinstance(src, Source) and src.format == "html"
    assert src.title == pages.TITLE
    assert src.url == pages.URL
    assert src.date == "2026-03-14" and src.author == "Jane Doe"
    for paragraph in pages.STORY:
        assert paragraph in src.text
    for marker in pages.BOILERPLATE:
        assert marker not in src.text, marker
    assert "Accept all" not in src.text and "Related articles" not in src.text


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"%PDF-1.4\n...", "pdf"),
        (b"\xef\xbb\xbf  %PDF-1.7", "pdf"),
        (b"<!DOCTYPE html><html><body><p>x</p></body></html>", "html"),
        (b"<div><p>Un paragraphe.</p><p>Un autre.</p></div>", "html"),
        (b"# Titre\n\nUn paragraphe.", "markdown"),
        (b"---\ntitle: T\n---\nText.", "markdown"),
        (b"Le texte cite [un lien](https://example.com) ici.", "markdown"),
        (b"- un\n- deux\n", "markdown"),
        (b"Un article en texte. Il compare a<b et c>d sans balise.", "text"),
        (b"Une ligne.\nSource : https://example.com/a\n", "text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary:PNG image"),
        (b"PK\x03\x04rest", "binary:ZIP archive (a .docx, .odt or .epub is one)"),
        (b"abc\x00def", "binary"),
    ],
)
def test_the_format_is_sniffed_from_the_content(data, expected):
    assert sniff(data) == expected


def test_the_file_name_is_not_trusted():
    # an HTML page saved as .txt is still read as HTML, and a .html name does not make text HTML
    assert read_source(pages.news_page().encode(), "notes.txt").format == "html"
    assert read_source(b"Just a sentence about a bridge.", "page.html").format == "text"


def test_markdown_is_flattened_with_its_front_matter():
    md = (
        '---\ntitle: "Le pont rouvre"\ndate: 2026-03-14\nauthor: Jeanne\nurl: https://ex.fr/pont\n---\n'
        "# Le pont rouvre\n\nLe vieux pont a **rouvert** samedi après deux ans de\ntravaux, selon "
        "[la mairie](https://ex.fr/mairie).\n\n![photo](x.png)\n\n- Coût : 48 millions d'euros.\n"
        "- Trafic : 30 000 véhicules.\n"
    )
    src = read_source(md.encode(), "pont.md")
    assert src.format == "markdown" and src.title == "Le pont rouvre"
    assert (src.url, src.date, src.author) == ("https://ex.fr/pont", "2026-03-14", "Jeanne")
    assert src.text.split("\n") == [
        "Le pont rouvre",
        "Le vieux pont a rouvert samedi après deux ans de travaux, selon la mairie.",
        "Coût : 48 millions d'euros.",
        "Trafic : 30 000 véhicules.",
    ]


def test_plain_text_keeps_todays_rules():
    src = read_source(b"Titre du jour\nUne phrase.\nSource : https://ex.fr/a\n", "a.txt")
    assert src.format == "text" and src.title == "Titre du jour" and src.url == "https://ex.fr/a"
    assert "Source :" in src.text  # ingest moves it into metadata, as for seed files


def test_a_pdf_is_read_and_reflowed():
    data = pages.pdf(
        [
            "The council approved the new tram line on Monday after a long debate",
            "about its cost, which reached 300 million euros.",
            "Work starts in June.",
        ],
        title="Tram line approved",
    )
    src = read_source(data, "tram.pdf")
    assert src.format == "pdf" and src.title == "Tram line approved" and src.author == "Jane Doe"
    assert src.date == "2026-03-14"
    assert "Monday after a long debate about its cost" in src.text


def test_reflow_joins_lines_and_undoes_hyphens():
    text = reflow(["A long line of text that goes on and on to the edge of the\nmargin and then contin-\nues here.\n3"])
    assert text == "A long line of text that goes on and on to the edge of the margin and then continues here."


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "is empty"),
        (b"  \n\t ", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00IHDR", "is not text (it looks like a PNG image)"),
        (b"PK\x03\x04\x14\x00", "is not text (it looks like a ZIP archive"),
        (b"caf\xe9 cr\xe8me", "is not valid UTF-8 text (byte 3)"),
        (b"%PDF-1.4\ngarbage", "is a PDF"),
        (b"<html><body><nav>Home</nav><script>x()</script></body></html>", "no article text found"),
    ],
)
def test_bad_input_is_one_line_naming_the_fix(data, message):
    with pytest.raises(ArticleError) as e:
        read_source(data, "the upload")
    assert message in str(e.value) and "\n" not in str(e.value)
    assert str(e.value).startswith("the upload")


def test_too_large_names_the_setting():
    with pytest.raises(ArticleError, match="ARTICLE_QA_MAX_ARTICLE_CHARS"):
        read_source(("Une phrase. " * 100).encode(), "big.txt", max_chars=1000)
    with pytest.raises(ArticleError, match="MB"):
        read_source(b"x" * 70_000, "huge.bin", max_chars=1000)
