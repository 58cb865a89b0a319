"""Gold questions (JSONL), with their support excerpts mapped to sentence ids.

One object a line:
``{"id", "question", "answerable", "answers": [...], "support": [verbatim
excerpts], "history"?, "lang"?, "type"?, "article"?}``. An excerpt maps to the
sentence(s) whose text contains it; an excerpt found nowhere is an error that
names the line, because a silently unmapped excerpt would score as a miss.

    >>> items = load_gold(Path("eval/gold/dev.jsonl"), index.sentences)
    >>> items[0].support_ids
    ('000_806bd7fa77100f9f:5',)
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import BotError
from .types import Sentence


class GoldError(BotError):
    """A gold file line is malformed or cites text that is not in the article."""


@dataclass(frozen=True)
class GoldItem:
    id: str
    question: str
    answerable: bool
    answers: tuple[str, ...]
    support: tuple[str, ...]
    support_ids: tuple[str, ...]
    history: tuple[tuple[str, str], ...] = ()
    lang: str = ""
    type: str = ""
    article: str | None = None


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\u2019", "'")
    return " ".join(text.split())


def load_gold(path: Path, sentences: Sequence[Sentence]) -> list[GoldItem]:
    items = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise GoldError(f"{where} is not valid JSON ({e.msg}): fix that line") from None
        for key in ("id", "question", "answerable"):
            if key not in d:
                raise GoldError(f"{where} lacks {key!r}: every line needs id, question, answerable")
        article = d.get("article")
        pool = [s for s in sentences if article is None or s.article_id == article]
        support_ids: list[str] = []
        for excerpt in d.get("support", []):
            hits = [s.id for s in pool if _norm(excerpt) in _norm(s.text)]
            if not hits:
                raise GoldError(f"{where}: support excerpt {excerpt[:60]!r} is in no sentence; copy it verbatim")
            support_ids.extend(h for h in hits if h not in support_ids)
        items.append(
            GoldItem(
                id=str(d["id"]),
                question=d["question"],
                answerable=bool(d["answerable"]),
                answers=tuple(d.get("answers", [])),
                support=tuple(d.get("support", [])),
                support_ids=tuple(support_ids),
                history=tuple((str(u), str(a)) for u, a in d.get("history", [])),
                lang=d.get("lang", ""),
                type=d.get("type", ""),
                article=article,
            )
        )
    return items
