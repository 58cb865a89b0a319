"""What the LLM's slot holds, and the two small requests that keep llama.cpp's
host-memory prompt cache from losing a long article's sections (bot/context.py).

    >>> slot = Slot()
    >>> slot.before(llm, prompts, "long", cached=True, protect=True, key=plan.section)  # maybe a clear
    >>> for piece in llm.stream(messages, stats=stats): ...
    >>> slot.after(stats, key=plan.section)

llama.cpp's server, on a new prompt, looks at how much of the slot's state the
prompt shares (``f_keep``). Below half, it saves the state to its cache and
restores the cached state that shares the most with the new prompt; otherwise
it keeps the slot and consults nothing. Two failures follow, both measured:

- **A near miss is destroyed.** A cached state sharing one token more with the
  new prompt than the slot does is taken out of the cache, restored and then
  overwritten: "[1]" and "[17]" share the digit 1, so reading the section that
  starts at sentence 17 lost the one at sentence 1 (bench.longarticle: every
  question on that section re-read it, 10-25 s). So before a prompt the cache
  cannot hold (a first read, retrieved sentences, an article not read ahead)
  the slot is **parked** on the fixed prefix and an empty article: that state
  is ~98 % inside any of our prompts, so nothing is consulted and nothing lost.
- **A short state hides the cache.** When the slot holds less than about twice
  the prefix (a parked slot, retrieved sentences, a short section), a question
  whose section is cached shares more than half of it and the cache is never
  consulted: the section is read again. So before such a question the slot is
  **cleared** with a one-word prompt that shares ~4 tokens with ours, unless
  it already holds that question's section (a follow-up on the same one).

Each costs one small request (~20 tokens read, one generated, ~0.3 s here),
and only when the cache holds something to protect or to restore.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .backends import GenerationStats, LLMBackend
from .prompts import Prompts

# Tokens of the fixed prefix (system prompt and examples) until a park measures it.
PREFIX_TOKENS = 900
CLEAR = [{"role": "user", "content": "?"}]


@dataclass
class Slot:
    short: bool = True  # the slot's state is under twice the prefix (or nothing, or not known)
    holds: str | None = None  # the section or article (bot/context.py's key) the slot's state is a read of
    prefix_tokens: int = PREFIX_TOKENS
    parks: int = 0
    clears: int = 0
    # held from the preparation to the end of the prompt it prepares: a warm-up's read and a
    # question from another thread would otherwise interleave and undo each other's preparation.
    # A plain Lock, not an RLock: a streamed answer holds it across its yields, and Gradio runs
    # each step of a streaming handler on whichever pool thread is free, so the thread that
    # releases it is often not the one that took it (an RLock then stays held for good)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def before(
        self,
        llm: LLMBackend,
        prompts: Prompts,
        article_id: str,
        cached: bool,
        protect: bool,
        key: str | None = None,
    ) -> None:
        """Prepare the slot for a prompt whose state is in the cache (``cached``) or not;
        ``protect``: the cache holds states of ours (a section, an article read ahead);
        ``key``: the section or article the prompt reads."""
        if not protect:
            return
        if cached and self.short and (key is None or key != self.holds):
            self._send(llm, CLEAR)
            self.clears += 1
            self.short, self.holds = True, None  # a few tokens: the next prompt consults the cache
        elif not cached:
            stats = self._send(llm, prompts.messages(article_id, [], "?", "en"))
            self.parks += 1
            total = stats.prompt_tokens + stats.cached_tokens
            if total:
                self.prefix_tokens = total
            self.short, self.holds = True, None

    def after(self, stats: GenerationStats, key: str | None = None) -> None:
        """Note what the slot holds after a request of ours (``key``: what it read)."""
        total = stats.prompt_tokens + stats.cached_tokens
        # a backend that does not report tokens leaves the slot's state unknown: treat it as short
        self.short = total < 2 * self.prefix_tokens + 50 if total else True
        self.holds = key

    @staticmethod
    def _send(llm: LLMBackend, messages: list[dict[str, str]]) -> GenerationStats:
        stats = GenerationStats()
        for _ in llm.stream(messages, 1, stats):
            pass
        return stats


__all__ = ["Slot"]
