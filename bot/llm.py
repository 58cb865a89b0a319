"""The local LLM: a GGUF file run by llama.cpp through xllamacpp, loaded once.

    >>> llm = LocalLLM(settings)             # cheap
    >>> for piece in llm.stream(messages):   # loads the model on first use
    ...     print(piece, end="")

xllamacpp embeds llama.cpp's server (no HTTP port is opened: we call its
handlers directly). Its prompt cache keeps the longest common token prefix of
the previous request, which is what makes the article-first prompt layout pay:
a new question about the same article only processes its own tokens.
One request runs at a time (a lock): two generations on two cores would
starve each other.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import DEFAULT_LLM, Settings
from .errors import ModelError


@dataclass
class GenerationStats:
    """Filled in while a generation streams; read it after the iterator ends."""

    first_token_ms: float | None = None
    total_ms: float = 0.0
    prompt_tokens: int = 0  # tokens actually processed for the prompt
    cached_tokens: int = 0  # prompt tokens reused from the KV cache
    completion_tokens: int = 0
    finish_reason: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


CACHE_RAM_MIB = 8192
# n-gram speculative decoding (bench/llm_results.md has the measurement).
SPEC_NGRAM = 2
SPEC_DRAFT = 8


class LocalLLM:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._server: Any = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self.loads = 0
        self.model_path: Path | None = None

    def resolve_model(self) -> Path:
        name = self.settings.llm_model
        if name == DEFAULT_LLM:
            from .provision import provision_gguf

            return provision_gguf(self.settings.cache)
        path = Path(name).expanduser()
        if not path.is_file():
            raise ModelError(f"LLM model file {path} does not exist: set ARTICLE_QA_LLM_MODEL to a .gguf file")
        return path

    @property
    def loaded(self) -> bool:
        return self._server is not None

    def load(self) -> None:
        if self._server is not None:
            return
        with self._load_lock:
            if self._server is not None:
                return
            path = self.resolve_model()
            try:
                import xllamacpp as xlc
            except ImportError:
                raise ModelError(
                    "the LLM runtime xllamacpp is not installed: run `make setup` or `pip install -e .`"
                ) from None
            params = xlc.CommonParams()
            params.model.path = str(path)
            params.n_ctx = self.settings.llm_context
            params.n_parallel = 1  # one slot: its KV cache holds the current article
            params.n_batch = 512
            params.cpuparams.n_threads = self.settings.llm_threads
            params.cpuparams_batch.n_threads = self.settings.llm_threads
            params.warmup = False
            params.cache_prompt = True
            # Host memory for prompt states the slot moved away from (a long
            # article's sections, bot/context.py). 2 GiB lost the second long
            # article's sections in bench.longarticle (every question on them
            # re-read its section); llama.cpp's default, 8 GiB, kept both.
            params.cache_ram_mib = CACHE_RAM_MIB
            params.sampling.temp = 0.0  # greedy: the same question gets the same answer
            params.sampling.top_k = 1
            params.sampling.seed = 0
            params.verbosity = 0
            if self.settings.llm_speculative == "ngram":
                # Draft the next tokens from the last occurrence of the current
                # 3 tokens in the prompt or answer, and verify them in one
                # batch: answers repeat the article's names and phrases, and on
                # these cores a batch of 8 costs about as much as one decoding step.
                spec = params.speculative
                spec.types = [xlc.common_speculative_type.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
                spec.ngram_simple.size_n = SPEC_NGRAM
                spec.ngram_simple.size_m = SPEC_DRAFT
                spec.draft.n_max = SPEC_DRAFT
                spec.draft.n_min = 0
            try:
                self._server = xlc.Server(params)
            except Exception as e:  # the runtime raises several kinds
                raise ModelError(f"cannot load the LLM from {path} ({type(e).__name__}: {e}): check the file") from None
            self.model_path = path
            self.loads += 1

    def stream(
        self,
        messages: list[dict[str, str]],
        max_tokens: int = 200,
        stats: GenerationStats | None = None,
        cache: bool = True,
        grammar: str | None = None,
    ) -> Iterator[str]:
        """Yield the answer's text as it is generated (``cache=False``: reprocess
        the whole prompt; ``grammar``: GBNF the output must follow)."""
        self.load()
        stats = stats if stats is not None else GenerationStats()
        request: dict[str, Any] = {
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "top_k": 1,
            "stream": True,
            "cache_prompt": cache,
        }
        if grammar:
            request["grammar"] = grammar
        chunks: queue.Queue[Any] = queue.Queue()
        done = object()

        def run() -> None:
            try:
                self._server.handle_chat_completions(request, chunks.put)
            except Exception as e:  # surfaced in the consuming thread
                chunks.put(e)
            finally:
                chunks.put(done)

        with self._run_lock:
            t0 = time.perf_counter()
            worker = threading.Thread(target=run, name="llm-generate", daemon=True)
            worker.start()
            while True:
                item = chunks.get()
                if item is done:
                    break
                if isinstance(item, Exception):
                    raise ModelError(f"the LLM failed while generating ({item}); try again or use --engine extractive")
                if not isinstance(item, dict):
                    continue
                if "error" in item or "code" in item:
                    raise ModelError(f"the LLM refused the request: {str(item)[:200]}")
                for choice in item.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content")
                    if choice.get("finish_reason"):
                        stats.finish_reason = choice["finish_reason"]
                    if delta:
                        if stats.first_token_ms is None:
                            stats.first_token_ms = (time.perf_counter() - t0) * 1000
                        stats.completion_tokens += 1
                        yield delta
                timings = item.get("timings")
                if timings:
                    stats.prompt_tokens = int(timings.get("prompt_n", 0))
                    stats.cached_tokens = int(timings.get("cache_n", 0))
                    stats.raw = timings
            worker.join()
            stats.total_ms = (time.perf_counter() - t0) * 1000

    def complete(self, messages: list[dict[str, str]], max_tokens: int = 200) -> tuple[str, GenerationStats]:
        stats = GenerationStats()
        text = "".join(self.stream(messages, max_tokens, stats))
        return text, stats


def passive_openmp() -> None:
    # llama.cpp's and torch's thread pools spin-wait by default; on two shared
    # cores a spinning idle pool starves the one that works.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
