"""What the LLM reads about an article: within its context window, and at a
cost per question that does not grow with the article.

    >>> plan = plan_context(request, n_ctx=4096, warm=frozenset())
    >>> plan.mode, len(plan.sentences)
    ('retrieved', 5)

- An article that fits the window beside the fixed parts of the prompt is
  read whole ("article"); its prompt prefix stays in llama.cpp's KV cache,
  so a question costs only its own tokens.
- A longer one is cut into *sections*: runs of consecutive sentences of about
  SECTION_CHARS characters (equal sizes, so each is larger than the fixed
  prefix; see below). A question reads the section holding most of its
  retrieved sentences ("section") once that section has been read ahead
  (``warm_requests``, from ``Bot.warm``): llama.cpp's host-memory prompt
  cache then restores the section's state and the question again costs its
  own tokens, however long the article (first token 0.6-1.1 s measured on
  Rhine sections of 30 sentences, against 6.4 s for retrieved sentences).
- Until its section has been read, or in a one-shot ``bot ask``, a question
  reads only its retrieved sentences ("retrieved"): at most top_k sentences
  after the fixed prefix (system and examples), which the cache keeps.

llama.cpp saves the slot's state to host memory when a new prompt would keep
less than half of it; the prefix is ~840 tokens, so a section must be longer
than that for its state to be saved when the next question moves elsewhere.

Two more things keep llama.cpp from losing a section (bot/slot.py says why,
with what was measured): the slot is *parked* on the fixed prefix before a
prompt the cache cannot hold, and *cleared* before one it holds when the
slot's own state is short; ``cached`` tells the two apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .types import Hit, Sentence

# Tokens kept free for the system prompt, the examples, the question and the
# answer when deciding whether a whole article fits in the context window.
RESERVED_TOKENS = 1400
CHARS_PER_TOKEN = 3.0  # French news text with Qwen's tokenizer: ~3.2 measured
# A section's target size: ~30 English sentences, ~1,100 tokens (above the
# prefix's ~840, below the whole-article budget of ~8,000 characters).
SECTION_CHARS = 5000
SENTENCE_OVERHEAD = 6  # "[123] " and the line break


@dataclass(frozen=True)
class Plan:
    sentences: tuple[Sentence, ...]  # what the model is shown, in reading order
    mode: str  # "article", "section" or "retrieved"
    section: str | None = None  # the section's key (see section_key) in "section" mode


def budget(n_ctx: int) -> int:
    """Characters of article text that fit in the window beside the fixed parts of the prompt."""
    return int((n_ctx - RESERVED_TOKENS) * CHARS_PER_TOKEN)


def fits(sentences: Sequence[Sentence], n_ctx: int) -> bool:
    return chars(sentences) <= budget(n_ctx)


def bounded(ranked: Sequence[Sentence], n_ctx: int) -> tuple[Sentence, ...]:
    """Retrieved sentences, best first, as many as fit; in reading order. A
    sentence longer than the whole budget (text without any stop) is cut."""
    room = budget(n_ctx)
    out: list[Sentence] = []
    for s in ranked:
        if len(s.text) + SENTENCE_OVERHEAD > room:
            if not out:  # the best one, cut to fit: its start stays a substring of the sentence
                out.append(replace(s, text=s.text[: max(1, room - SENTENCE_OVERHEAD)], end=s.start + room))
            break
        out.append(s)
        room -= len(s.text) + SENTENCE_OVERHEAD
    return tuple(sorted(out, key=lambda s: s.n))


def sections(sentences: Sequence[Sentence], target_chars: int = SECTION_CHARS) -> list[tuple[int, int]]:
    """(start, end) positions in ``sentences``: consecutive runs of about equal size."""
    sizes = [len(s.text) + SENTENCE_OVERHEAD for s in sentences]
    total = sum(sizes)
    count = max(1, round(total / target_chars)) if total > target_chars else 1
    out: list[tuple[int, int]] = []
    start, acc = 0, 0
    for i, size in enumerate(sizes):
        acc += size
        # cut where this section's share of the whole is reached
        if len(out) < count - 1 and acc >= total * (len(out) + 1) / count and i + 1 < len(sizes):
            out.append((start, i + 1))
            start = i + 1
    out.append((start, len(sizes)))
    return out


def section_key(article_id: str, sentences: Sequence[Sentence]) -> str:
    """Names a section by its text, so an article re-added under the same id is not taken for warm."""
    digest = hashlib.sha256("\n".join(s.text for s in sentences).encode("utf-8")).hexdigest()[:16]
    return f"{article_id}:{sentences[0].n}-{sentences[-1].n}:{digest}" if sentences else f"{article_id}:empty"


def plan_context(
    article_id: str,
    article_sentences: Sequence[Sentence],
    hits: Sequence[Hit],
    n_ctx: int,
    mode: str = "article",
    warm: frozenset[str] = frozenset(),
) -> Plan:
    """The whole article when it fits; else its best section once warm; else the retrieved sentences."""
    article_sentences = list(article_sentences)
    retrieved = bounded([h.sentence for h in hits if h.sentence.article_id == article_id], n_ctx)
    if mode == "retrieved":
        return Plan(retrieved, "retrieved")
    if fits(article_sentences, n_ctx):
        return Plan(tuple(article_sentences), "article")
    ranges = sections(article_sentences)
    position = {s.n: i for i, s in enumerate(article_sentences)}
    weight = [0.0] * len(ranges)
    ranked = [h for h in hits if h.sentence.article_id == article_id]
    for rank, hit in enumerate(ranked):
        at = position.get(hit.sentence.n)
        if at is None:
            continue
        for k, (lo, hi) in enumerate(ranges):
            if lo <= at < hi:
                weight[k] += 1.0 / (rank + 1)  # the best hit counts most, the next ones can outvote it together
    if ranked and max(weight) > 0:
        best = max(range(len(ranges)), key=lambda k: (weight[k], -k))
        lo, hi = ranges[best]
        chosen = article_sentences[lo:hi]
        key = section_key(article_id, chosen)
        if key in warm and fits(chosen, n_ctx):
            return Plan(tuple(chosen), "section", key)
    return Plan(retrieved, "retrieved")


def cached(plan: Plan, article_id: str, warm: frozenset[str]) -> bool:
    """Whether this plan's prompt state should be in the LLM's cache: a section or a
    whole article read ahead (bot/slot.py prepares the slot accordingly)."""
    return plan.mode == "section" or (plan.mode == "article" and f"{article_id}:article" in warm)


def protects(warm: frozenset[str] | set[str]) -> bool:
    """Whether the cache holds states of ours that a careless prompt could lose or hide."""
    return any(key != "prefix" for key in warm)


def warm_plan(article_id: str, article_sentences: Sequence[Sentence], n_ctx: int) -> list[tuple[str, list[Sentence]]]:
    """What to read ahead for an article: (key, sentences) for the whole article
    when it fits, else for each of its sections, in reading order."""
    article_sentences = list(article_sentences)
    if fits(article_sentences, n_ctx):
        return [(f"{article_id}:article", article_sentences)]
    out: list[tuple[str, list[Sentence]]] = []
    for lo, hi in sections(article_sentences):
        part = article_sentences[lo:hi]
        if fits(part, n_ctx):  # a section that cannot fit (one huge "sentence") is never planned either
            out.append((section_key(article_id, part), part))
    # at least the fixed prefix (system and examples), which every retrieved-only prompt starts with
    return out or [("prefix", [])]


def chars(sentences: Sequence[Sentence]) -> int:
    return sum(len(s.text) + SENTENCE_OVERHEAD for s in sentences)


__all__ = ["Plan", "cached", "chars", "fits", "plan_context", "protects", "section_key", "sections", "warm_plan"]
