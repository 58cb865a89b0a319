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


def make_backend(settings: Settings) -> LLMBackend:
    """The backend the settings ask for: a server when ``llm_url`` is set, else the local GGUF."""
    if settings.llm_url:
        from .remote_llm import RemoteLLM

        return RemoteLLM(settings)
    from .llm import LocalLLM

    return LocalLLM(settings)


__all__ = ["GenerationStats", "LLMBackend", "make_backend"]
