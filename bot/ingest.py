"""Read articles from a folder, clean them, and split them into sentences.

    >>> articles, problems = load_articles(Path("seeds"))
    >>> articles[0].sentences[0].id
    '000_806bd7fa77100f9f:1'

Cleaning keeps the text a reader sees: the ``Source : URL`` line moves into
metadata and page furniture (``Comment (0)``, share buttons) is dropped.
Each remaining line is a paragraph, split by pysbd's French (or English) rules,
which know ``M.``, ``Mme``, ``« … »``, ``10 000`` and keep a quotation that
runs over two sentences together with its attribution. (We tried sentencex,
which is more actively released, but it splits after ``M.``.) A line with no
final period, like a photo caption, is its own sentence because paragraphs are
split separately.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import ArticleError
from .types import Article, Sentence

SOURCE_LINE = re.compile(r"^\s*(?:source|lien|url)\s*:\s*(https?://\S+)\s*$", re.IGNORECASE)
# Whole lines that are page furniture, not article text.
_BOILERPLATE = re.compile(
    r"^\s*(?:comments?|commentaires?|commenter|partager|share|imprimer|print"
    r"|lire aussi|read more|publicité|advertisement)\s*(?:\(\d+\))?\s*:?\s*$",
    re.IGNORECASE,
)
# Control characters other than newline and tab carry no text.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SUPPORTED_SPLIT_LANGS = {"fr", "en", "de", "es", "it", "nl"}


def load_articles(folder: Path) -> tuple[list[Article], list[str]]:
    """All ``*.txt`` articles of ``folder`` in name order, and warnings about
    files that were skipped (unreadable, empty, duplicate)."""
    if not folder.is_dir():
        raise ArticleError(f"articles folder {folder} does not exist: create it or pass --seeds DIR")
    articles: list[Article] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.txt")):
        try:
            article = read_article(path)
        except ArticleError as e:
            problems.append(str(e))
            continue
        if article.sha256 in seen:
            problems.append(f"{path.name} is a copy of {seen[article.sha256]}.txt: skipped; delete one of them")
            continue
        seen[article.sha256] = article.id
        articles.append(article)
    if not articles:
        detail = ("; ".join(problems)) if problems else "no *.txt file"
        raise ArticleError(f"no usable article in {folder} ({detail}): add a UTF-8 .txt article there")
    return articles, problems


def read_article(path: Path) -> Article:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ArticleError(f"{path.name} is not valid UTF-8 (byte {e.start}): skipped; re-save it as UTF-8") from None
    return parse_article(path.stem, text, hashlib.sha256(raw).hexdigest())


def parse_article(article_id: str, raw_text: str, sha256: str = "") -> Article:
    """Clean ``raw_text`` and split it; offsets point into the cleaned text."""
    text = unicodedata.normalize("NFC", raw_text).replace("\r\n", "\n").replace("\r", "\n")
    text = CONTROL_CHARS.sub("", text)
    source_url = None
    paragraphs = []
    for line in text.split("\n"):
        m = SOURCE_LINE.match(line)
        if m:
            source_url = source_url or m.group(1)
            continue
        if _BOILERPLATE.match(line) or not line.strip():
            continue
        paragraphs.append(" ".join(line.split()))  # tabs and runs of spaces
    cleaned = "\n".join(paragraphs)
    if not cleaned:
        raise ArticleError(f"{article_id}.txt has no sentence (empty after cleaning): skipped; add text to it")
    from .lang import detect

    lang = detect(cleaned[:2000])
    sentences: list[Sentence] = []
    pos = 0
    for para in paragraphs:
        for start, end in split_sentences(para, lang):
            n = len(sentences) + 1
            sentences.append(Sentence(f"{article_id}:{n}", article_id, n, para[start:end], pos + start, pos + end))
        pos += len(para) + 1
    return Article(article_id, cleaned, tuple(sentences), source_url, sha256 or _sha(raw_text), lang)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=8)
def _segmenter(lang: str) -> Any:
    import pysbd

    return pysbd.Segmenter(language=lang if lang in SUPPORTED_SPLIT_LANGS else "en", clean=False)


def split_sentences(paragraph: str, lang: str = "fr") -> list[tuple[int, int]]:
    """(start, end) spans of the sentences of ``paragraph``, whitespace trimmed.

    pysbd gives the sentence strings; we locate them in order so that the
    spans always cover every non-blank character exactly once, whatever
    pysbd does with odd input.
    """
    spans: list[tuple[int, int]] = []
    cursor = 0

    def emit(a: int, b: int) -> None:
        chunk = paragraph[a:b]
        if chunk.strip():
            a += len(chunk) - len(chunk.lstrip())
            b -= len(chunk) - len(chunk.rstrip())
            spans.append((a, b))

    for segment in _segmenter(lang).segment(paragraph):
        s = segment.strip()
        found = paragraph.find(s, cursor) if s else -1
        if found < 0:
            continue  # left for the gap or remainder below
        emit(cursor, found)
        emit(found, found + len(s))
        cursor = found + len(s)
    emit(cursor, len(paragraph))
    return spans
