"""The articles folder as a library: add one article, remove one, list them,
without rebuilding the index.

    >>> index, info = add_article(settings, embedder, Path("page.html").read_bytes(), name="page.html")
    >>> info.id, info.title, info.sentences
    ('harbour-bridge-reopens', 'Harbour bridge reopens', 5)
    >>> remove_article(settings, "harbour-bridge-reopens")

An added article is stored in the articles folder (``settings.seeds``) the
way a person would have put it there: ``ID.txt`` holds the extracted text
(its title on the first line, a ``Source : URL`` line last), so a full
rebuild gives the same sentences; ``ID.meta.json`` beside it keeps what the
text does not (title, date, author, when it was added, the format it came
in, the file name). The index manifest copies that metadata, and checks
``ID.txt`` like any other article, so the folder stays current.

Only the new article is embedded, before the index lock is taken (two
sessions embed at the same time, then commit one after the other, each on
top of what the other wrote). Under the lock the index is read as it is on
disk, the article is checked against it (duplicate, id taken), and
``bot/index.py`` appends its vectors as a new generation. The article file
is written as ``.ID.txt.adding`` first and renamed to ``ID.txt`` after the
manifest commit; a removed one is renamed to ``.ID.txt.removing`` before
it. ``recover`` settles either after a crash, by what the manifest says, so
a killed add or remove leaves the previous index intact and current, or the
new one complete.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .config import Settings
from .embed import Embedder
from .errors import ArticleError, IndexStateError
from .index import (
    ARTICLE_META,
    SentenceIndex,
    build_index,
    fsync_dir,
    index_status,
    load_index,
    lock,
    sha256_file,
    update_index,
    window_text,
)
from .ingest import SOURCE_LINE, load_articles, parse_article
from .sources import BYTES_PER_CHAR, Source, check_size, read_source
from .types import Article

META_SUFFIX = ".meta.json"
ADDING, REMOVING = ".adding", ".removing"
ARTICLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}")
# Share of a new article's sentences already in an indexed article that makes it a copy of it.
DUPLICATE_SHARE = 0.9
EMBED_BATCH = 64  # sentences per embedding call, so that progress can be reported
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class ArticleInfo:
    """One indexed article, as ``bot list`` shows it."""

    id: str
    title: str
    source_url: str | None
    sentences: int
    lang: str
    format: str  # "text", "markdown", "html", "pdf"
    added: str | None = None  # ISO 8601, UTC; None for articles put in the folder by hand
    date: str | None = None
    author: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def articles(index: SentenceIndex) -> list[ArticleInfo]:
    """Every indexed article, in index order."""
    out = []
    for article_id, entry in index.manifest["articles"].items():
        lo, hi = index.ranges.get(article_id, (0, 0))
        first = index.sentences[lo].text if hi > lo else article_id
        out.append(
            ArticleInfo(
                id=article_id,
                title=entry.get("title") or _cut(first, 120),
                source_url=entry.get("source_url"),
                sentences=int(entry.get("sentences", hi - lo)),
                lang=entry.get("lang", "?"),
                format=entry.get("format", "text"),
                added=entry.get("added"),
                date=entry.get("date"),
                author=entry.get("author"),
            )
        )
    return out


def rebuild(
    settings: Settings, embedder: Embedder, progress: bool = False, allow_empty: bool = False
) -> tuple[SentenceIndex, list[str]]:
    """Build the whole index from the articles folder; the warnings name skipped files.
    ``allow_empty``: a folder without any article gives an empty index (the first add)."""
    seeds = settings.seeds
    if seeds.is_dir():
        with lock(settings.index):
            recover(seeds, settings.index)
    if allow_empty and not stems(seeds):
        seeds.mkdir(parents=True, exist_ok=True)
        return build_index([], embedder, settings.index), []
    found, problems = load_articles(seeds)
    indexed = {a.id for a in found}
    skipped = {p.stem: sha256_file(p) for p in sorted(seeds.glob("*.txt")) if p.stem not in indexed}
    index = build_index(found, embedder, settings.index, skipped, progress, meta=read_meta(seeds))
    return index, problems


def add_article(
    settings: Settings,
    embedder: Embedder,
    data: bytes | str,
    name: str = "the article",
    article_id: str | None = None,
    title: str | None = None,
    progress: Progress | None = None,
) -> tuple[SentenceIndex, ArticleInfo]:
    """Validate, embed and add one article; raises ArticleError (nothing written) when it cannot be."""
    report = progress or (lambda _f, _m: None)
    if article_id is not None and not ARTICLE_ID.fullmatch(article_id):
        raise ArticleError(
            f"article id {article_id!r} is not allowed: use 1-80 letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    if title is not None:
        title = " ".join(str(title).split())[:200] or None
    report(0.0, f"reading {name}")
    source = read_source(data, name, settings.max_article_chars)
    if title:
        source = replace(source, title=title)
    text = stored_text(source)
    draft = _parse(text, name)
    report(0.05, f"embedding {len(draft.sentences)} sentences")
    vectors, windows = _embed(embedder, draft, report)
    for _ in range(3):
        with lock(settings.index):
            recover(settings.seeds, settings.index)
            status = index_status(settings.index, settings.seeds, embedder.model_id)
            if status.current:
                report(0.95, "writing the index")
                index = load_index(settings.index, embedder.model_id, checksums_verified=True)
                return _commit_add(settings, index, source, text, draft, vectors, windows, name, article_id)
        # Missing or stale (articles edited by hand, another model): bring it up
        # to date once, then add on top of it.
        report(0.5, "the index is out of date: rebuilding it first")
        rebuild(settings, embedder, allow_empty=True)
    raise IndexStateError(f"the index in {settings.index} kept changing during the add: try again")


def _commit_add(
    settings: Settings,
    index: SentenceIndex,
    source: Source,
    text: str,
    draft: Article,
    vectors: np.ndarray,
    windows: np.ndarray,
    name: str,
    article_id: str | None,
) -> tuple[SentenceIndex, ArticleInfo]:
    seeds = settings.seeds
    _refuse_duplicate(index, draft, name)
    taken = set(index.manifest["articles"]) | set(index.manifest.get("skipped", {})) | stems(seeds)
    if article_id is not None:
        if article_id in taken:
            raise ArticleError(
                f"article id {article_id!r} is already taken: choose another --id, or `bot remove {article_id}` first"
            )
        new_id = article_id
    else:
        new_id = unique_id(slug(source.title or Path(name).stem or "article"), taken)
    article = _renamed(draft, new_id)
    meta = {
        "title": source.title or _cut(article.sentences[0].text, 120),
        "url": article.source_url,
        "date": source.date,
        "author": source.author,
        "added": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "format": source.format,
        "name": name,
    }
    seeds.mkdir(parents=True, exist_ok=True)
    pending = seeds / f".{new_id}.txt{ADDING}"
    _write_synced(pending, text.encode("utf-8"))
    _write_synced(seeds / f"{new_id}{META_SUFFIX}", json.dumps(meta, indent=1, ensure_ascii=False).encode("utf-8"))
    new_index = update_index(settings.index, index, add=(article, vectors, windows, meta))
    os.replace(pending, seeds / f"{new_id}.txt")  # after the manifest: recover() settles a crash in between
    fsync_dir(seeds)
    info = next(a for a in articles(new_index) if a.id == new_id)
    return new_index, info


def remove_article(settings: Settings, embedder_model_id: str, article_id: str) -> tuple[SentenceIndex, ArticleInfo]:
    """Drop one article's rows from the index and its files from the folder."""
    seeds = settings.seeds
    with lock(settings.index):
        recover(seeds, settings.index)
        status = index_status(settings.index, seeds, embedder_model_id)
        if not status.current:
            raise IndexStateError(
                f"the index in {settings.index} is out of date ({'; '.join(status.reasons)}): "
                "run `bot index build`, then remove the article"
            )
        index = load_index(settings.index, embedder_model_id, checksums_verified=True)
        if article_id not in index.ranges:
            known = ", ".join(index.article_ids) or "none"
            raise ArticleError(f"unknown article {article_id!r}: `bot list` shows the ids ({known})")
        if len(index.article_ids) == 1:
            raise ArticleError(f"{article_id!r} is the only article: add another one before removing it")
        info = next(a for a in articles(index) if a.id == article_id)
        path = seeds / f"{article_id}.txt"
        if path.exists():
            os.replace(path, seeds / f".{article_id}.txt{REMOVING}")
            fsync_dir(seeds)
        new_index = update_index(settings.index, index, remove=article_id)
        (seeds / f".{article_id}.txt{REMOVING}").unlink(missing_ok=True)
        (seeds / f"{article_id}{META_SUFFIX}").unlink(missing_ok=True)
        return new_index, info


def recover(seeds: Path, folder: Path) -> list[str]:
    """Finish or undo an add or remove that was killed; the caller holds the index lock.

    The manifest is the commit point: an article it lists is added (its
    pending file becomes ``ID.txt``), one it does not list is not (its
    pending file goes). Returns what was done, for logs and tests."""
    pending = sorted(p for p in seeds.glob(".*.txt.*") if p.name.endswith((ADDING, REMOVING)))
    if not pending:
        return []
    try:
        listed = set(json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["articles"])
    except (OSError, ValueError, KeyError, TypeError):
        listed = set()
    done = []
    for path in pending:
        article_id = path.name[1:].split(".txt.", 1)[0]
        target = seeds / f"{article_id}.txt"
        if article_id in listed and not target.exists():
            os.replace(path, target)
            done.append(f"{article_id}: {'add finished' if path.name.endswith(ADDING) else 'remove undone'}")
        else:
            path.unlink()
            if not target.exists():
                (seeds / f"{article_id}{META_SUFFIX}").unlink(missing_ok=True)
            done.append(f"{article_id}: {'add undone' if path.name.endswith(ADDING) else 'remove finished'}")
    fsync_dir(seeds)
    return done


def has_pending(seeds: Path) -> bool:
    return seeds.is_dir() and any(p.name.endswith((ADDING, REMOVING)) for p in seeds.glob(".*.txt.*"))


def read_meta(seeds: Path) -> dict[str, dict[str, Any]]:
    """The sidecars of the articles in the folder: id -> ARTICLE_META fields."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(seeds.glob(f"*{META_SUFFIX}")):
        article_id = path.name[: -len(META_SUFFIX)]
        if not (seeds / f"{article_id}.txt").is_file():
            continue
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a damaged sidecar costs the metadata, not the article
        if isinstance(meta, dict):
            out[article_id] = {k: meta[k] for k in ARTICLE_META if isinstance(meta.get(k), str)}
    return out


def stems(seeds: Path) -> set[str]:
    return {p.stem for p in seeds.glob("*.txt")} if seeds.is_dir() else set()


def stored_text(source: Source) -> str:
    """The text written as ``ID.txt``: the title first (unless the text starts
    with it), the text, then the ``Source : URL`` line (unless it has one)."""
    body = source.text.strip("\n")
    lines = body.split("\n")
    first = next((" ".join(x.split()) for x in lines if x.strip()), "")
    parts = []
    if source.title and first != " ".join(source.title.split()):
        parts.append(source.title)
    parts.append(body)
    if source.url and not any(SOURCE_LINE.match(x) for x in lines):
        parts.append(f"Source : {source.url}")
    return "\n".join(parts) + "\n"


def slug(text: str, limit: int = 48, max_words: int = 6) -> str:
    """An id from a title: its first words in ASCII letters and digits, joined by '-'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[A-Za-z0-9]+", ascii_text.lower())
    out = ""
    for i, w in enumerate(words):
        if out and (len(out) + 1 + len(w) > limit or i >= max_words):
            break
        out = f"{out}-{w}" if out else w[:limit]
    return out or "article"


def unique_id(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _parse(text: str, name: str) -> Article:
    try:
        article = parse_article("new", text, hashlib.sha256(text.encode("utf-8")).hexdigest())
    except ArticleError:
        article = None
    if article is None or not any(any(c.isalnum() for c in s.text) for s in article.sentences):
        raise ArticleError(
            f"{name} holds no sentence (only markup, page furniture or symbols): add an article with text"
        )
    return article


def _renamed(draft: Article, article_id: str) -> Article:
    sentences = tuple(replace(s, id=f"{article_id}:{s.n}", article_id=article_id) for s in draft.sentences)
    return replace(draft, id=article_id, sentences=sentences)


def _embed(embedder: Embedder, article: Article, report: Progress) -> tuple[np.ndarray, np.ndarray]:
    texts = [s.text for s in article.sentences]
    windows = [window_text(article, i) for i in range(len(texts))]
    total = 2 * len(texts)
    parts: list[np.ndarray] = []
    # sentences keep their token states from the same pass when the embedder can (bot/index.py)
    embed_sentences = getattr(embedder, "embed_sentences", embedder.embed_passages)
    for kind, embed in ((texts, embed_sentences), (windows, embedder.embed_passages)):
        chunks = []
        for i in range(0, len(kind), EMBED_BATCH):
            chunks.append(np.asarray(embed(kind[i : i + EMBED_BATCH]), dtype=np.float32))
            done = sum(len(c) for c in parts) + sum(len(c) for c in chunks)
            report(0.05 + 0.9 * done / total, f"embedded {done} of {total} sentences and windows")
        parts.append(np.concatenate(chunks))
    return parts[0], parts[1]


def _refuse_duplicate(index: SentenceIndex, draft: Article, name: str) -> None:
    new = [" ".join(s.text.split()) for s in draft.sentences]
    for article_id, (lo, hi) in index.ranges.items():
        have = {" ".join(s.text.split()) for s in index.sentences[lo:hi]}
        shared = sum(1 for t in new if t in have)
        if shared >= DUPLICATE_SHARE * len(new):
            detail = "the same text" if shared == len(new) == hi - lo else f"{shared} of its {len(new)} sentences"
            raise ArticleError(
                f"{name} is a copy of article {article_id!r} ({detail}): it is already there; "
                f"`bot remove {article_id}` first to replace it"
            )


def _cut(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rsplit(" ", 1)[0] + "…"


def _write_synced(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_input(path: str, max_chars: int, stdin: Any = None) -> tuple[bytes, str]:
    """The bytes of ``bot add FILE`` (or ``-``: standard input) and the name to use in messages;
    a file too large to be an article is refused before it is read."""
    if path == "-":
        import sys

        stream = stdin if stdin is not None else sys.stdin.buffer
        name = "the text on standard input"
        data = stream.read(max_chars * BYTES_PER_CHAR + 1)
        check_size(len(data), name, max_chars)
        return data, name
    p = Path(path)
    if not p.is_file():
        raise ArticleError(f"{path} is not a file: give the path of an article (or - to read standard input)")
    try:
        check_size(p.stat().st_size, p.name, max_chars)
        return p.read_bytes(), p.name
    except OSError as e:
        raise ArticleError(f"cannot read {path} ({e.strerror}): check its permissions") from None


__all__ = [
    "ArticleInfo",
    "add_article",
    "articles",
    "rebuild",
    "recover",
    "remove_article",
]
