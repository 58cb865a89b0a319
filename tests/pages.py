"""Articles in the formats users bring, written by the tests (nothing downloaded).

``news_page()`` is a news site's saved page: the story wrapped in a navigation
bar, a cookie banner, scripts, a "related articles" box, a comments block
and a footer, each holding a marker string that must never reach the index.
``pdf()`` writes a small, valid PDF by hand (pypdf only reads)."""

from __future__ import annotations

STORY = [
    "The old harbour bridge in Portvale reopened to traffic on Saturday after two years of repairs "
    "that cost 48 million euros, the city council said.",
    "The mayor, Lena Hart, cut the ribbon at nine in the morning and said the bridge would carry "
    "about 30,000 vehicles a day.",
    "Engineers replaced 1,200 steel cables and repainted the towers in their original green, "
    "according to the contractor, Nordbau.",
    "Cyclists will get a separate lane from May, the council added.",
]
TITLE = "Harbour bridge reopens after two years of repairs"
URL = "https://news.example.com/2026/03/14/harbour-bridge-reopens"
BOILERPLATE = (
    "NAVIGATION_MENU_ITEM",
    "COOKIE_BANNER_TEXT",
    "SCRIPT_SECRET_TOKEN",
    "RELATED_ARTICLE_HEADLINE",
    "COMMENT_BODY_TEXT",
    "FOOTER_TEXT",
    "INLINE_SCRIPT_TEXT",
)


def news_page(story: list[str] = STORY, title: str = TITLE, url: str = URL) -> str:
    paragraphs = "\n".join(f"<p>{p}</p>" for p in story)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{title} | The Daily Example</title>
<meta property="og:title" content="{title}">
<meta name="author" content="Jane Doe">
<meta property="article:published_time" content="2026-03-14T08:00:00Z">
<link rel="canonical" href="{url}">
<script>var tracker = "SCRIPT_SECRET_TOKEN"; document.title = "x";</script>
<style>body {{ font-family: serif; }}</style>
</head><body>
<nav class="main-nav"><ul><li><a href="/">Home</a></li><li><a href="/world">World NAVIGATION_MENU_ITEM</a></li>
<li><a href="/sport">Sport</a></li></ul></nav>
<div id="cookie-banner" class="cookie-consent">We use cookies COOKIE_BANNER_TEXT to improve your experience.
<button>Accept all</button></div>
<main><article>
<h1>{title}</h1>
<p class="byline">By Jane Doe, 14 March 2026</p>
{paragraphs}
<script>console.log("INLINE_SCRIPT_TEXT");</script>
</article></main>
<aside class="related"><h2>Related articles</h2><ul>
<li><a href="/ferries">RELATED_ARTICLE_HEADLINE: ferries return to the bay</a></li></ul></aside>
<section id="comments" class="comments"><h3>Comments (2)</h3>
<div class="comment"><p>COMMENT_BODY_TEXT this bridge is ugly and nobody asked for it.</p></div></section>
<footer>Copyright 2026 The Daily Example FOOTER_TEXT</footer>
</body></html>
"""


def pdf(lines: list[str], title: str = "A PDF article") -> bytes:
    """One page of Helvetica text, one string a line."""

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    content = "BT /F1 11 Tf 50 750 Td 14 TL " + " ".join(f"({esc(x)}) Tj T*" for x in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Title ({esc(title)}) /Author (Jane Doe) /CreationDate (D:20260314080000Z) >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out
