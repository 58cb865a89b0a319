"""LLM backends behind one small interface: the GGUF in this process, or any
OpenAI-compatible server.

    >>> llm = make_backend(settings)      # LocalLLM, or RemoteLLM when ARTICLE_QA_LLM_URL is set
    >>> stats = GenerationStats()
    >>> for piece in llm.stream(messages, 200, stats, grammar=gbnf):
    ...     print(piece, end="")
    >>> stats.first_token_ms, stats.cached_tokens

``generate``, the checks, the UI and the LangChain Runnable only see
``LLMBackend``; which one runs is this module's choice. Constructing either is
cheap: the local one loads its model, the remote one asks the server what it
serves, on first use.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .config import Settings


@dataclass
class GenerationStats:
    """Filled in while a generation streams; read it after the iterator ends."""

    first_token_ms: float | None = None
    total_ms: float = 0.0
    prompt_tokens: int = 0  # tokens actually processed for the prompt
    cached_tokens: int = 0  # prompt tokens reused from the KV cache
    completion_tokens: int = 0
    finish_reason: str | None = None
    grammar: bool = False  # the output was constrained by the grammar
    raw: dict[str, Any] = field(default_factory=dict)  # the server's own timings, when it sends them


@runtime_checkable
class LLMBackend(Protocol):
    """What callers may rely on, whichever model answers."""

    settings: Settings

    @property
    def parallel(self) -> int:
        """How many generations it runs at once: 1 means callers should queue."""
        ...

    def describe(self) -> str:
        """Who answers, for notices and errors ("the LLM server at http://…"); never a key."""
        ...

    def takes_grammar(self) -> bool:
        """Does ``stream(grammar=…)`` constrain the output? (False: the grammar is ignored.)"""
        ...

    def load(self) -> None:
        """Get ready now rather than on the first question (load the model, reach the server)."""
        ...

    def stream(
        self,
        messages: list[dict[str, str]],
        max_tokens: int = 200,
        stats: GenerationStats | None = None,
        cache: bool = True,
        grammar: str | None = None,
    ) -> Iterator[str]:
        """Yield the answer's text as it is generated. ``cache=False``: reprocess the
        whole prompt; ``grammar``: GBNF the output must follow, where the backend can.
        Stopping the iteration (``close()``) cancels the generation. Failures raise
        ``ModelError`` (``LLMServerError`` for a server), possibly after some text."""
        ...


def chunk_text(chunk: dict[str, Any], stats: GenerationStats, t0: float) -> Iterator[str]:
    """The text of one streamed chat-completion chunk (the OpenAI shape, which
    llama.cpp's handlers use in process too), noted in ``stats``."""
    for choice in chunk.get("choices") or []:
        delta = (choice.get("delta") or {}).get("content")
        if choice.get("finish_reason"):
            stats.finish_reason = choice["finish_reason"]
        if delta:
            if stats.first_token_ms is None:
                stats.first_token_ms = (time.perf_counter() - t0) * 1000
            stats.completion_tokens += 1
            yield delta
    read_usage(chunk, stats)


def read_usage(chunk: dict[str, Any], stats: GenerationStats) -> None:
    """Token counts and timings, from llama.cpp's ``timings`` or the standard ``usage``."""
    timings = chunk.get("timings")
    if isinstance(timings, dict) and timings:
        stats.prompt_tokens = int(timings.get("prompt_n", 0))
        stats.cached_tokens = int(timings.get("cache_n", 0))
        stats.raw = {**stats.raw, **timings}
    usage = chunk.get("usage")
    if isinstance(usage, dict) and usage:
        cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
        if not timings:
            stats.cached_tokens = cached
            stats.prompt_tokens = max(0, int(usage.get("prompt_tokens") or 0) - cached)
        if usage.get("completion_tokens"):
            stats.completion_tokens = int(usage["completion_tokens"])
        stats.raw = {**stats.raw, "usage": usage}


def make_backend(settings: Settings) -> LLMBackend:
    """The backend the settings ask for: a server when ``llm_url`` is set, else the local GGUF."""
    if settings.llm_url:
        from .remote_llm import RemoteLLM

        return RemoteLLM(settings)
    from .llm import LocalLLM

    return LocalLLM(settings)


__all__ = ["GenerationStats", "LLMBackend", "make_backend"]
