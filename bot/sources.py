"""Article sources: one small reader per format, all returning the same ``Source``.

    >>> src = read_source(Path("page.html").read_bytes(), name="page.html")
    >>> src.format, src.title, src.url
    ('html', 'Harbour bridge reopens', 'https://news.example.com/…')

The format is decided from the bytes, never from the file name: ``%PDF-``
is a PDF, a document with real HTML tags is a web page, Markdown markers (a
``#`` heading, a link, front matter, list items) make Markdown, anything else
is plain text. Binary files (images, archives, Office documents) are refused.

- plain text: as given; ``bot/ingest.py`` applies today's rules (the
  ``Source : URL`` line, page furniture such as ``Comment (0)`` dropped);
- Markdown: parsed by markdown-it-py and flattened to one paragraph a line
  (soft-wrapped lines join, markup goes, link targets and images go); front
  matter gives title, date, author and URL;
- HTML: a page saved from a news site goes through trafilatura, which keeps
  the story and drops navigation, cookie banners, scripts, comments and
  "related articles"; its metadata gives the title, date, author and the
  canonical URL, which becomes the source link;
- PDF: pypdf's text, lines re-flowed into paragraphs, hyphenation undone.

Then ``bot/ingest.py`` takes over (cleaning, sentence splitting, offsets); it
never looks at the format.
"""

from __future__ import annotations

import io
import re
import statistics
from dataclasses import dataclass
from typing import Any

from .errors import ArticleError
from .ingest import SOURCE_LINE

FORMATS = ("text", "markdown", "html", "pdf")
# Raw bytes allowed per allowed character of text: a saved news page is often
# 20-30x its text (scripts, styles, markup), a PDF more.
BYTES_PER_CHAR = 64
_BINARY = (
    (b"\x89PNG", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF8", "GIF image"),
    (b"RIFF", "RIFF media file"),
    (b"PK\x03\x04", "ZIP archive (a .docx, .odt or .epub is one)"),
    (b"\x1f\x8b", "gzip archive"),
    (b"\xd0\xcf\x11\xe0", "legacy Office document"),
    (b"7z\xbc\xaf", "7-Zip archive"),
    (b"\x7fELF", "program"),
)
_HTML_TAG = re.compile(
    rb"<(?:!doctype\s+html|html|head|body|meta|title|p|div|article|section|span|a|h[1-6]|br|nav|header|footer"
    rb"|script|style|ul|li|table|link|main)\b[^>]{0,2000}>",
    re.IGNORECASE,
)
_MD_BLOCK = re.compile(r"^(?:#{1,6}\s+\S|\s{0,3}(?:[-*+]|\d{1,3}[.)])\s+\S|\s{0,3}>\s|\s{0,3}(?:```|~~~))")
_MD_INLINE = re.compile(r"\[[^\]\n]+\]\([^)\s]+\)|\*\*[^*\n]+\*\*|__[^_\n]+__")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_SENTENCE_END = re.compile(r"[.!?:;»\"”’)]$")


@dataclass(frozen=True)
class Source:
    """An article as read from its file, before cleaning and splitting."""

    text: str  # one paragraph a line
    format: str  # one of FORMATS
    title: str | None = None
    url: str | None = None
    date: str | None = None  # as the page gives it, ISO 8601 when known
    author: str | None = None

    def __repr__(self) -> str:
        return f"Source({self.format!r}, {self.title!r}, {len(self.text)} chars)"


def read_source(data: bytes | str, name: str = "the article", max_chars: int = 500_000) -> Source:
    """Read one article in any supported format; a bad input is an ArticleError naming the fix."""
    try:
        # surrogateescape: a str holding undecodable bytes (argv, a lenient read) gets them back
        raw = data.encode("utf-8", errors="surrogateescape") if isinstance(data, str) else bytes(data)
    except UnicodeEncodeError:
        raise ArticleError(f"{name} holds characters that are not valid text: send it as UTF-8") from None
    check_size(len(raw), name, max_chars)
    kind = sniff(raw)
    if kind.startswith("binary"):
        what = kind.partition(":")[2] or "binary file"
        raise ArticleError(f"{name} is not text (it looks like a {what}): add a text, Markdown, HTML or PDF article")
    if kind == "pdf":
        source = _read_pdf(raw, name)
    elif kind == "html":
        source = _read_html(raw, name)
    else:
        text = _decode(raw, name)
        source = _read_markdown(text) if kind == "markdown" else _read_text(text)
    if not source.text.strip():
        raise ArticleError(f"{name} is empty: paste or upload an article with some text")
    if len(source.text) > max_chars:
        raise ArticleError(
            f"{name} is {len(source.text):,} characters long; the limit is {max_chars:,}: "
            "split it into parts, or raise ARTICLE_QA_MAX_ARTICLE_CHARS"
        )
    return source


def check_size(n_bytes: int, name: str, max_chars: int) -> None:
    """Refuse a file too large to hold an article of at most ``max_chars`` characters."""
    if n_bytes > max_chars * BYTES_PER_CHAR:
        raise ArticleError(
            f"{name} is {n_bytes / 1e6:,.1f} MB; files over {max_chars * BYTES_PER_CHAR / 1e6:,.0f} MB are refused "
            "(ARTICLE_QA_MAX_ARTICLE_CHARS): split it, or paste the article's text"
        )


def sniff(raw: bytes) -> str:
    """ "pdf", "html", "markdown", "text", or "binary:<what>", from the content alone."""
    head = raw[:8192]
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if body.startswith(b"%PDF-"):
        return "pdf"
    for magic, what in _BINARY:
        if head.startswith(magic):
            return f"binary:{what}"
    if b"\x00" in head:
        return "binary"
    # Real markup, not "a <b> in a sentence": a document opening with a tag, or several tags.
    tags = _HTML_TAG.findall(head)
    if (body[:1] == b"<" and tags) or len(tags) >= 3:
        return "html"
    text = head.decode("utf-8", errors="ignore")
    if _FRONT_MATTER.match(text.replace("\r\n", "\n")):
        return "markdown"
    lines = text.splitlines()
    blocks = sum(1 for line in lines if _MD_BLOCK.match(line))
    headings = sum(1 for line in lines if re.match(r"#{1,6}\s+\S", line))
    if headings or blocks >= 2 or _MD_INLINE.search(text):
        return "markdown"
    return "text"


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ArticleError(f"{name} is not valid UTF-8 text (byte {e.start}): re-save it as UTF-8") from None


def _first_line(text: str) -> str | None:
    for line in text.splitlines():
        line = " ".join(line.split())
        if line and not SOURCE_LINE.match(line):
            return _cut(line)
    return None


def _cut(text: str, n: int = 200) -> str:
    text = " ".join(text.split())
    if len(text) <= n:
        return text
    return text[: n - 1].rsplit(" ", 1)[0] + "…"


def _source_url(text: str) -> str | None:
    for line in text.splitlines():
        m = SOURCE_LINE.match(line)
        if m:
            return m.group(1)
    return None


# -- plain text ---------------------------------------------------------------


def _read_text(text: str) -> Source:
    return Source(text, "text", title=_first_line(text), url=_source_url(text))


# -- Markdown -----------------------------------------------------------------


def _read_markdown(text: str) -> Source:
    from markdown_it import MarkdownIt

    text = text.replace("\r\n", "\n").replace("\r", "\n")
    meta: dict[str, str] = {}
    m = _FRONT_MATTER.match(text)
    if m:
        for line in m.group(1).splitlines():
            key, sep, value = line.partition(":")
            if sep and value.strip():
                meta[key.strip().lower()] = value.strip().strip("\"'")
        text = text[m.end() :]
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    paragraphs: list[str] = []
    title = meta.get("title")
    tokens = md.parse(text)
    for i, tok in enumerate(tokens):
        if tok.type == "inline":
            line = _inline_text(tok.children or [])
            for part in line.split("\n"):
                part = " ".join(part.split())
                if part:
                    paragraphs.append(part)
            if title is None and i and tokens[i - 1].type == "heading_open":
                title = " ".join(line.split()) or None
        elif tok.type in ("fence", "code_block"):
            paragraphs.extend(x.strip() for x in tok.content.splitlines() if x.strip())
        elif tok.type == "html_block":
            stripped = re.sub(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->|<[^>]+>", " ", tok.content, flags=re.S | re.I)
            paragraphs.extend(" ".join(x.split()) for x in stripped.splitlines() if x.strip())
    body = "\n".join(paragraphs)
    url = meta.get("url") or meta.get("canonical") or meta.get("source") or meta.get("link") or _source_url(body)
    if url and not re.match(r"^https?://\S+$", url):
        url = None
    return Source(
        body,
        "markdown",
        title=_cut(title) if title else _first_line(body),
        url=url,
        date=meta.get("date") or meta.get("published"),
        author=meta.get("author") or meta.get("authors") or meta.get("by"),
    )


def _inline_text(children: list[Any]) -> str:
    out = []
    for child in children:
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type == "softbreak":
            out.append(" ")
        elif child.type == "hardbreak":
            out.append("\n")
        # link_open/close, em/strong marks, images and inline HTML leave no text
    return "".join(out)


# -- HTML ---------------------------------------------------------------------


def _read_html(raw: bytes, name: str) -> Source:
    import trafilatura

    doc: Any = None
    for precise in (True, False):
        # Precision first: a news page's sidebars and teasers are worse than a
        # missed paragraph. A page too short for that (a fragment) gets recall.
        # Either is kept only if it holds a real sentence, not just a menu.
        doc = trafilatura.bare_extraction(
            raw,
            with_metadata=True,
            include_comments=False,
            include_tables=False,
            include_images=False,
            include_links=False,
            favor_precision=precise,
            favor_recall=not precise,
            deduplicate=False,
        )
        text = (doc.text or "") if doc is not None else ""
        if any(len(x.split()) >= 5 and _SENTENCE_END.search(x.strip()) for x in text.splitlines()):
            break
        text = ""
    if not text.strip():
        raise ArticleError(
            f"{name}: no article text found in this HTML page: save the article's own page, or paste its text"
        )
    url = doc.url if doc.url and re.match(r"^https?://\S+$", doc.url) else None
    title = " ".join((doc.title or "").split()) or _first_line(text)
    return Source(text, "html", title=_cut(title) if title else None, url=url, date=doc.date, author=doc.author)


# -- PDF ----------------------------------------------------------------------


def _read_pdf(raw: bytes, name: str) -> Source:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ArticleError(f"{name} is a password-protected PDF: save an unprotected copy, or paste its text")
        pages = [page.extract_text() or "" for page in reader.pages]
        info: Any = reader.metadata or {}
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
        raise ArticleError(f"{name} is a PDF that cannot be read ({e}): paste its text instead") from None
    text = reflow(pages)
    if not text.strip():
        raise ArticleError(f"{name} is a PDF with no text in it (a scan?): paste its text instead")
    title = str(info.get("/Title") or "").strip() or None
    author = str(info.get("/Author") or "").strip() or None
    date = _pdf_date(str(info.get("/CreationDate") or ""))
    return Source(
        text, "pdf", title=_cut(title) if title else _first_line(text), url=_source_url(text), date=date, author=author
    )


def _pdf_date(value: str) -> str | None:
    m = re.match(r"D:(\d{4})(\d{2})?(\d{2})?", value)
    if not m:
        return None
    return "-".join(x for x in m.groups() if x)


def reflow(pages: list[str]) -> str:
    """PDF text is laid out in lines: join the lines of a paragraph, undo
    end-of-line hyphenation, drop bare page numbers. A paragraph ends at a
    blank line, or at a line that ends a sentence and stops well short of
    the usual line width."""
    lines = [line.rstrip() for page in pages for line in (page.splitlines() + [""])]
    widths = [len(x) for x in lines if len(x.strip()) > 20]
    full = statistics.median(widths) if widths else 80
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        stripped = line.strip()
        if not stripped or re.fullmatch(r"(?:page\s*)?\d{1,4}(?:\s*/\s*\d{1,4})?", stripped, re.IGNORECASE):
            if current:
                paragraphs.append(current)
                current = ""
            continue
        if current.endswith("-") and stripped[:1].islower():
            current = current[:-1] + stripped
        else:
            current = f"{current} {stripped}" if current else stripped
        if _SENTENCE_END.search(stripped) and len(line) < 0.8 * full:
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return "\n".join(paragraphs)
