"""The local LLM: a GGUF file run by llama.cpp through xllamacpp, loaded once.

    >>> llm = LocalLLM(settings)             # cheap
    >>> for piece in llm.stream(messages):   # loads the model on first use
    ...     print(piece, end="")

xllamacpp embeds llama.cpp's server; we call its handlers directly (its HTTP
listener stays on a loopback port nobody is told about). Its prompt cache keeps
the longest common token prefix of the previous request, which is what makes
the article-first prompt layout pay: a new question about the same article only
processes its own tokens. One request runs at a time (a lock): two generations
on two cores would starve each other. ``server_params`` is shared with
``bot llm-server`` (bot/llm_server.py), so both decode alike.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .backends import GenerationStats, chunk_text
from .config import DEFAULT_LLM, Settings
from .errors import ModelError

# Host memory for prompt states a slot moved away from (a long article's
# sections, bot/context.py): llama.cpp's default, 8 GiB, ~300,000 tokens at
# ~28 KB a token. (Sections once lost were blamed on a 2 GiB cap; the cause was
# the cache's near-miss lookup, which bot/slot.py works around.)
CACHE_RAM_MIB = 8192
# n-gram speculative decoding (bench/llm_results.md has the measurement).
SPEC_NGRAM = 2
SPEC_DRAFT = 8


def resolve_model(settings: Settings) -> Path:
    """The GGUF file to run: the bundled one (joined on first use) or ARTICLE_QA_LLM_MODEL's path."""
    name = settings.llm_model
    if name == DEFAULT_LLM:
        from .provision import provision_gguf

        return provision_gguf(settings.cache)
    path = Path(name).expanduser()
    if not path.is_file():
        raise ModelError(f"LLM model file {path} does not exist: set ARTICLE_QA_LLM_MODEL to a .gguf file")
    return path


def runtime() -> Any:
    try:
        import xllamacpp as xlc
    except ImportError:
        raise ModelError("the LLM runtime xllamacpp is not installed: run `make setup` or `pip install -e .`") from None
    return xlc


def server_params(
    settings: Settings,
    path: Path,
    parallel: int = 1,
    host: str = "127.0.0.1",
    port: int = 0,
    api_keys: tuple[str, ...] = (),
    swap_idle_slots: bool = True,
) -> Any:
    """llama.cpp's parameters for our model: greedy, prompt cache on, ``parallel``
    slots of ``llm_context`` tokens each (port 0: any free loopback port)."""
    xlc = runtime()
    params = xlc.CommonParams()
    params.model.path = str(path)
    params.model_alias = {path.stem}  # what /v1/models lists: the file's name, not where it lives
    # Each slot gets n_ctx / n_parallel tokens: keep a whole article per slot.
    params.n_ctx = settings.llm_context * parallel
    params.n_parallel = parallel  # in process: one slot, its KV cache holds the current article
    params.n_batch = 512
    params.cpuparams.n_threads = settings.llm_threads
    params.cpuparams_batch.n_threads = settings.llm_threads
    params.warmup = False
    params.cache_prompt = True
    params.cache_ram_mib = CACHE_RAM_MIB
    params.sampling.temp = 0.0  # greedy: the same question gets the same answer
    params.sampling.top_k = 1
    params.sampling.seed = 0
    params.verbosity = 0
    params.hostnames = [host]
    params.port = port
    params.api_keys = list(api_keys)
    # llama.cpp's default: when a task starts, idle slots are saved to the
    # host-memory prompt cache and cleared; False keeps each slot's KV (its article).
    params.cache_idle_slots = swap_idle_slots
    if settings.llm_speculative == "ngram":
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
    return params


class LocalLLM:
    """The ``LLMBackend`` that runs the GGUF in this process, one generation at a time."""

    parallel = 1  # two generations on two cores would starve each other

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._server: Any = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self.loads = 0
        self.model_path: Path | None = None

    def resolve_model(self) -> Path:
        return resolve_model(self.settings)

    def describe(self) -> str:
        name = self.model_path.name if self.model_path else self.settings.llm_model
        return f"the local LLM ({name})"

    def takes_grammar(self) -> bool:
        return self.settings.llm_grammar != "false"

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
            params = server_params(self.settings, path)
            try:
                self._server = runtime().Server(params)
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
        if grammar and self.takes_grammar():
            request["grammar"] = grammar
            stats.grammar = True
        chunks: queue.Queue[Any] = queue.Queue()
        done = object()
        cancelled = threading.Event()

        def on_chunk(chunk: Any) -> bool:
            chunks.put(chunk)
            return cancelled.is_set()  # True stops the generation

        def run() -> None:
            try:
                self._server.handle_chat_completions(request, on_chunk)
            except Exception as e:  # surfaced in the consuming thread
                chunks.put(e)
            finally:
                chunks.put(done)

        with self._run_lock:
            t0 = time.perf_counter()
            worker = threading.Thread(target=run, name="llm-generate", daemon=True)
            worker.start()
            try:
                yield from self._consume(chunks, done, stats, t0)
            finally:
                # The consumer stopped early (a closed stream, a user gone) or
                # failed: stop generating, and hold the lock until the model is
                # free, so the next question does not queue behind a ghost.
                cancelled.set()
                worker.join()
            stats.total_ms = (time.perf_counter() - t0) * 1000

    @staticmethod
    def _consume(chunks: queue.Queue[Any], done: object, stats: GenerationStats, t0: float) -> Iterator[str]:
        while True:
            item = chunks.get()
            if item is done:
                return
            if isinstance(item, Exception):
                raise ModelError(f"the LLM failed while generating ({item}); try again or use --engine extractive")
            if not isinstance(item, dict):
                continue
            if "error" in item or "code" in item:
                raise ModelError(f"the LLM refused the request: {str(item)[:200]}")
            yield from chunk_text(item, stats, t0)

    def complete(self, messages: list[dict[str, str]], max_tokens: int = 200) -> tuple[str, GenerationStats]:
        stats = GenerationStats()
        text = "".join(self.stream(messages, max_tokens, stats))
        return text, stats


def passive_openmp() -> None:
    # llama.cpp's and torch's thread pools spin-wait by default; on two shared
    # cores a spinning idle pool starves the one that works.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
