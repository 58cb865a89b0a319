from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import ArticleError
from bot.ingest import load_articles, parse_article, read_article, split_sentences

from .conftest import SEED, SEED_ID


@pytest.fixture(scope="module")
def seed():
    return read_article(SEED)


def test_seed_article_is_cleaned(seed):
    assert seed.id == SEED_ID
    assert seed.source_url is not None and seed.source_url.startswith("https://thanhnien.vn/")
    assert "Source" not in seed.text
    assert "Comment (0)" not in seed.text
    assert seed.lang == "fr"


def test_seed_article_sentences(seed):
    texts = [s.text for s in seed.sentences]
    assert len(texts) == 14
    # the photo caption is its own sentence
    assert texts[2] == "Des membres d'une école militaire nord-coréenne lors d'une démonstration d'artillerie."
    # "M." does not end a sentence
    assert texts[3].startswith("M. Rutte, ancien Premier ministre")
    assert texts[5].startswith("Mme Singh n'a pas confirmé")
    # "10 000" stays one number inside its sentence
    assert "environ 10 000 soldats" in texts[4]
    # « … » stays inside its sentence
    assert texts[7].endswith("« rumeurs sans fondement ».")
    # a quotation of two sentences stays with its attribution
    assert texts[11].startswith('"Des militaires occidentaux sont présents en Ukraine depuis longtemps. Cela fait')
    assert texts[11].endswith("à la Russie.")
    assert texts[13].startswith("« Notre position") and texts[13].endswith("a déclaré M. Lavrov.")


def test_ids_and_offsets(seed):
    for i, s in enumerate(seed.sentences, 1):
        assert s.id == f"{SEED_ID}:{i}" and s.n == i
        assert seed.text[s.start : s.end] == s.text


def test_caption_without_final_period_is_a_sentence():
    a = parse_article(
        "x", "Première phrase du texte. Deuxième phrase.\nUne légende de photo sans point\nSuite du texte."
    )
    assert [s.text for s in a.sentences] == [
        "Première phrase du texte.",
        "Deuxième phrase.",
        "Une légende de photo sans point",
        "Suite du texte.",
    ]


def test_english_article():
    a = parse_article(
        "en",
        "Mr. Smith went to Washington on Monday. He met 10,000 people there.\n"
        "Source: https://example.com/a\nComments (3)",
    )
    assert [s.text for s in a.sentences] == ["Mr. Smith went to Washington on Monday.", "He met 10,000 people there."]
    assert a.source_url == "https://example.com/a"
    assert a.lang == "en"


def test_text_is_nfc_normalised():
    decomposed = "Le ministre a de\u0301clare\u0301 la guerre."
    a = parse_article("x", decomposed)
    assert a.sentences[0].text == "Le ministre a déclaré la guerre."


def test_invalid_utf8_is_named(tmp_path: Path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"Un texte \xff\xfe cass\xe9.")
    with pytest.raises(ArticleError, match="bad.txt is not valid UTF-8"):
        read_article(bad)


def test_folder_skips_bad_empty_and_duplicate_files(tmp_path: Path):
    (tmp_path / "a.txt").write_text("Une phrase. Une autre.", encoding="utf-8")
    (tmp_path / "b.txt").write_text("Une phrase. Une autre.", encoding="utf-8")  # same bytes as a
    (tmp_path / "c.txt").write_text("Comment (0)\n\n", encoding="utf-8")
    (tmp_path / "d.txt").write_bytes(b"\xff")
    articles, problems = load_articles(tmp_path)
    assert [a.id for a in articles] == ["a"]
    assert any("b.txt is a copy of a.txt" in p for p in problems)
    assert any("c.txt has no sentence" in p for p in problems)
    assert any("d.txt is not valid UTF-8" in p for p in problems)


def test_empty_folder_is_an_error(tmp_path: Path):
    with pytest.raises(ArticleError, match="no usable article"):
        load_articles(tmp_path)
    with pytest.raises(ArticleError, match="does not exist"):
        load_articles(tmp_path / "missing")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab .?!«»\"'MmeR0 1\u00a0\n,;:()…-")), max_size=200))
def test_spans_always_map_back_to_the_text(paragraph: str):
    spans = split_sentences(paragraph, "fr")
    last = 0
    for start, end in spans:
        assert last <= start < end <= len(paragraph)
        chunk = paragraph[start:end]
        assert chunk == chunk.strip() and chunk
        last = end
    # every non-blank character is in exactly one sentence
    covered = "".join(paragraph[a:b] for a, b in spans)
    assert "".join(covered.split()) == "".join(paragraph.split())


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_article_offsets_hold_for_any_text(raw: str):
    try:
        a = parse_article("p", raw)
    except ArticleError:
        return  # empty after cleaning
    for s in a.sentences:
        assert a.text[s.start : s.end] == s.text
