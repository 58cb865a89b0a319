"""Public question-answering sets (SQuAD v1.1/v2.0 format, PIAF) as articles and gold items.

    >>> qa = load_squad(Path("squad2-dev-rhine.json"), mode="article")
    >>> len(qa.articles), qa.items[0].support_ids
    (1, ('squad-rhine:3',))

Three ways to ask a set's questions:

- ``paragraph``: each paragraph is an article, each question asked of its own
  paragraph (the SQuAD setting);
- ``article``: all paragraphs of a Wikipedia article joined by blank lines make
  one long article, and every question is asked of it (what a user does);
- ``sections``: every ``SECTION_PARAGRAPHS`` consecutive paragraphs make one
  article and each question is asked of its own (mid-size articles, which
  the calibration sets lack: they hold 5-, 14- and 200-sentence articles);
- ``other-paragraph``: every question asked of a *different* paragraph of the
  same Wikipedia article, one that does not contain its answer: a realistic
  on-topic unanswerable question (PIAF has no unanswerable questions of its own).

The gold support of a question is the sentence holding its answer span. The
data lives outside the project (``shared_data()``); nothing here is committed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .gold import GoldError, GoldItem
from .ingest import parse_article
from .metrics import normalize

MODES = ("paragraph", "article", "sections", "other-paragraph")
# "sections": this many consecutive paragraphs make one article, a size between
# a paragraph and a whole Wikipedia article (a SQuAD section is ~40 sentences)
SECTION_PARAGRAPHS = 8
ROOT = Path(__file__).resolve().parent.parent
# The public sets named in ../shared/data/README.md, and how each is asked.
PUBLIC_SETS = {
    "piaf-paragraph": ("piaf-v1.0-dev.json", "paragraph"),
    "piaf-other-paragraph": ("piaf-v1.0-dev.json", "other-paragraph"),
    "squad2-rhine-article": ("squad2-dev-rhine.json", "article"),
    "squad2-complexity-article": ("squad2-dev-complexity.json", "article"),
}
# Asked only by eval/public.py, never fitted on: the same questions in articles
# of sizes the calibration sets do not have (~17 sentences for a PIAF article,
# ~40 for a SQuAD section), to see whether the confidence holds between them.
SIZE_SETS = {
    "piaf-article": ("piaf-v1.0-dev.json", "article"),
    "squad2-rhine-sections": ("squad2-dev-rhine.json", "sections"),
    "squad2-complexity-sections": ("squad2-dev-complexity.json", "sections"),
}


@dataclass(frozen=True)
class QASet:
    """Articles (id -> raw text) and the questions asked of them."""

    name: str
    articles: dict[str, str]
    items: list[GoldItem]

    def write_articles(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for article_id, text in self.articles.items():
            (folder / f"{article_id}.txt").write_text(text, encoding="utf-8")

    def sample(self, n: int | None, seed: int = 0) -> QASet:
        """At most ``n`` questions, spread evenly over the set (deterministic), and only their articles."""
        if n is None or n >= len(self.items):
            return self
        step = len(self.items) / n
        items = [self.items[int(i * step + (seed % max(1, int(step))))] for i in range(n)]
        used = {i.article for i in items}
        return QASet(self.name, {k: v for k, v in self.articles.items() if k in used}, items)


def shared_data() -> Path | None:
    """``../shared/data`` beside the project (``SHARED_DATA`` overrides it), or
    None when it is absent, as on a user's machine."""
    folder = Path(os.environ.get("SHARED_DATA") or ROOT.parent / "shared" / "data")
    return folder if folder.is_dir() else None


def public_sets(names: Iterator[str] | list[str] | None = None) -> Iterator[QASet]:
    """The public sets found in ``shared_data()``; none when the folder is absent."""
    folder = shared_data()
    if folder is None:
        return
    for name in names or PUBLIC_SETS:
        file, mode = {**PUBLIC_SETS, **SIZE_SETS}[name]
        if (folder / file).is_file():
            qa = load_squad(folder / file, mode)
            yield QASet(name, qa.articles, qa.items)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", normalize(text))[:40].strip("-") or "article"


def load_squad(path: Path, mode: str = "paragraph") -> QASet:
    """Read a SQuAD-format file and ask its questions in ``mode`` (see the module docstring)."""
    if mode not in MODES:
        raise GoldError(f"unknown SQuAD mode {mode!r}: use one of {', '.join(MODES)}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        docs = [(str(d.get("title") or i), list(d["paragraphs"])) for i, d in enumerate(data)]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise GoldError(f"{path} is not a SQuAD JSON file ({e}): expected {{'data': [...]}}") from None
    articles: dict[str, str] = {}
    items: list[GoldItem] = []
    for di, (title, paragraphs) in enumerate(docs):
        if mode in ("article", "sections"):
            size = len(paragraphs) if mode == "article" else SECTION_PARAGRAPHS
            for gi, g0 in enumerate(range(0, len(paragraphs), size)):
                group = paragraphs[g0 : g0 + size]
                article_id = f"squad-{di:04d}-{_slug(title)}" + ("" if mode == "article" else f"-s{gi}")
                text = "\n\n".join(p["context"] for p in group)
                articles[article_id] = text
                article = parse_article(article_id, text)
                starts = _paragraph_starts(article.text)
                for pi, para in enumerate(group):
                    block = [s for s in article.sentences if _paragraph_of(s.start, starts) == pi]
                    items += _items(para, article_id, block)
            continue
        ids = [f"squad-{di:04d}-{pi:03d}" for pi in range(len(paragraphs))]
        parsed = {}
        for article_id, para in zip(ids, paragraphs, strict=True):
            articles[article_id] = para["context"]
            parsed[article_id] = parse_article(article_id, para["context"]).sentences
        if mode == "paragraph":
            for article_id, para in zip(ids, paragraphs, strict=True):
                items += _items(para, article_id, list(parsed[article_id]))
            continue
        # other-paragraph: the next paragraph (in order, wrapping) that does not hold the answer
        for pi, para in enumerate(paragraphs):
            for qa in para.get("qas", []):
                answers = [a["text"] for a in qa.get("answers", []) + qa.get("plausible_answers", [])]
                for step in range(1, len(paragraphs)):
                    other = (pi + step) % len(paragraphs)
                    context = f" {normalize(paragraphs[other]['context'])} "
                    if not any(f" {normalize(a)} " in context for a in answers if normalize(a)):
                        items.append(_item(qa, ids[other], answerable=False, answers=(), support=(), suffix="-other"))
                        break
    return QASet(path.stem + ("" if mode == "paragraph" else f"-{mode}"), articles, items)


def _paragraph_starts(text: str) -> list[int]:
    """Offsets where each paragraph of a cleaned article starts (one a line)."""
    starts, pos = [], 0
    for line in text.split("\n"):
        starts.append(pos)
        pos += len(line) + 1
    return starts


def _paragraph_of(offset: int, starts: list[int]) -> int:
    return max(i for i, s in enumerate(starts) if s <= offset)


def _items(para: dict[str, Any], article_id: str, sentences: list[Any]) -> list[GoldItem]:
    out = []
    for qa in para.get("qas", []):
        impossible = bool(qa.get("is_impossible", False))
        answers = [] if impossible else [a["text"] for a in qa.get("answers", [])]
        support: list[str] = []
        for a in [] if impossible else qa.get("answers", []):
            holders = [s for s in sentences if normalize(a["text"]) and normalize(a["text"]) in normalize(s.text)]
            if holders:
                first = sentences[0].start if sentences else 0
                best = min(holders, key=lambda s: abs(s.start - first - a.get("answer_start", 0)))
                if best.id not in support:
                    support.append(best.id)
        out.append(_item(qa, article_id, not impossible, tuple(dict.fromkeys(answers)), tuple(support)))
    return out


def _item(
    qa: dict[str, Any],
    article_id: str,
    answerable: bool,
    answers: tuple[str, ...],
    support: tuple[str, ...],
    suffix: str = "",
) -> GoldItem:
    return GoldItem(
        id=str(qa.get("id", "")) + suffix,
        question=qa["question"],
        answerable=answerable,
        answers=answers,
        support=(),
        support_ids=support,
        lang="",
        type="squad" if answerable else "unanswerable",
        article=article_id,
    )
