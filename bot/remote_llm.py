"""The LLM behind an OpenAI-compatible server: `bot llm-server`, llama.cpp's
``llama-server``, vLLM, Ollama, TGI, LM Studio or a hosted API.

    >>> llm = RemoteLLM(Settings.load({"llm_url": "http://127.0.0.1:8080/v1"}))   # cheap
    >>> for piece in llm.stream(messages, grammar=gbnf):    # asks GET /models once, then streams
    ...     print(piece, end="")

Streams ``POST {url}/chat/completions`` over server-sent events with httpx.
What it does where the API leaves room:

- **Which server.** ``GET {url}/models`` once: ``owned_by`` says ``llamacpp``
  or ``vllm``. llama.cpp gets its own fields (``grammar``, ``cache_prompt``,
  ``top_k``), vLLM its structured-output grammar (``structured_outputs``,
  vLLM ≥ 0.12), any other server plain OpenAI fields (it may reject unknown
  ones). The model is ARTICLE_QA_LLM_MODEL, or the one model the server lists.
- **Timeouts.** 5 s to connect; ``llm_timeout`` seconds of silence (before the
  first token, or between two) ends the answer.
- **Retries.** Only when no connection could be made (refused, reset before
  any reply): twice, 0.3 s then 1 s apart. A request the server has seen is
  never sent twice: it may be generating already.
- **Cancellation.** Closing the iterator closes the connection, which makes
  llama.cpp (and vLLM) stop generating for it.
- **Faults** raise ``LLMServerError`` naming the URL and never the key: down,
  refusing, key refused (401/403), silent, or an answer cut short (a stream
  that ends without its final chunk is cut, never a complete answer).
- **No lock.** Concurrent questions go out concurrently: the server batches them.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .backends import GenerationStats, chunk_text
from .config import DEFAULT_LLM, Settings
from .errors import LLMServerError

CONNECT_TIMEOUT_S = 5.0
RETRY_DELAYS_S = (0.3, 1.0)  # after the first and the second failed connection
ERROR_BODY_CHARS = 200


def public_url(url: str) -> str:
    """The URL without any user:password@ part, for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url.rstrip("/")
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)).rstrip("/")


@dataclass(frozen=True)
class ServerInfo:
    kind: str  # "llamacpp", "vllm" or "openai" (anything else that speaks the API)
    model: str
    models: tuple[str, ...]  # what GET /models listed


class RemoteLLM:
    """The ``LLMBackend`` that streams from an OpenAI-compatible server."""

    def __init__(self, settings: Settings) -> None:
        if not settings.llm_url:
            raise LLMServerError("no LLM server URL: set ARTICLE_QA_LLM_URL (e.g. http://127.0.0.1:8080/v1)")
        self.settings = settings
        self.url = settings.llm_url.rstrip("/")
        self.shown_url = public_url(self.url)
        self._client: Any = None
        self._info: ServerInfo | None = None
        # Guard the lazy client and the one-time probe only (reentrant: the
        # probe creates the client); generations take no lock.
        self._lock = threading.RLock()
        self._grammar_rejected = False

    # -- the facts callers need -------------------------------------------
    @property
    def parallel(self) -> int:
        return self.settings.llm_parallel

    def describe(self) -> str:
        return f"the LLM server at {self.shown_url}"

    def takes_grammar(self) -> bool:
        mode = self.settings.llm_grammar
        if mode == "false" or self._grammar_rejected:
            return False
        if mode == "true":
            return True
        return self.info().kind in ("llamacpp", "vllm")

    def load(self) -> None:
        self.info()

    def __repr__(self) -> str:
        return f"RemoteLLM({self.shown_url!r})"

    # -- the server --------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import httpx

                    timeout = httpx.Timeout(self.settings.llm_timeout, connect=CONNECT_TIMEOUT_S)
                    # trust_env=False: a proxy from the environment is not ours to
                    # use for a loopback or LAN inference server.
                    self._client = httpx.Client(timeout=timeout, headers=self._headers(), trust_env=False)
        return self._client

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream, application/json"}
        if self.settings.llm_api_key:
            headers["Authorization"] = f"Bearer {self.settings.llm_api_key}"
        return headers

    def info(self) -> ServerInfo:
        """What the server is and which model to ask for (GET /models, once it answers)."""
        if self._info is not None:
            return self._info
        with self._lock:
            if self._info is None:
                self._info = self._probe()
        return self._info

    def _probe(self) -> ServerInfo:
        response = self._send("GET", "/models")
        try:
            if response.status_code == 404:  # a server without the listing: plain OpenAI, the configured model
                return ServerInfo("openai", self._configured_model() or "default", ())
            if response.status_code != 200:
                self._raise_for_status(response)
            try:
                data = json.loads(self._read(response)).get("data") or []
                listed = [(str(m.get("id", "")), str(m.get("owned_by", ""))) for m in data if isinstance(m, dict)]
            except (ValueError, AttributeError):
                raise LLMServerError(
                    f"{self.describe()} did not answer GET /models with JSON: "
                    "is ARTICLE_QA_LLM_URL the API base (…/v1)?"
                ) from None
        finally:
            response.close()
        owners = {owner.lower() for _, owner in listed}
        kind = "llamacpp" if "llamacpp" in owners else "vllm" if "vllm" in owners else "openai"
        ids = tuple(i for i, _ in listed if i)
        model = self._configured_model()
        if model is None:
            if len(ids) == 1 or (ids and kind == "llamacpp"):
                model = ids[0]
            elif not ids:
                model = "default"
            else:
                shown = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
                raise LLMServerError(
                    f"{self.describe()} serves {len(ids)} models ({shown}): set ARTICLE_QA_LLM_MODEL to one of them"
                )
        elif ids and model not in ids and kind != "llamacpp":  # llama.cpp answers with its one model whatever the name
            shown = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
            raise LLMServerError(
                f"{self.describe()} does not serve model {model!r} (ARTICLE_QA_LLM_MODEL); it serves: {shown}"
            )
        return ServerInfo(kind, model, ids)

    def _read(self, response: Any) -> bytes:
        import httpx

        try:
            return bytes(response.read())
        except httpx.TimeoutException:
            raise LLMServerError(
                f"{self.describe()} did not answer within {self.settings.llm_timeout:g} s (ARTICLE_QA_LLM_TIMEOUT)"
            ) from None
        except httpx.HTTPError as e:
            raise LLMServerError(f"{self.describe()} failed: {self._reason(e)}") from None

    def _configured_model(self) -> str | None:
        return None if self.settings.llm_model == DEFAULT_LLM else self.settings.llm_model

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Send a request and return the streaming response, retrying only when
        no connection could be made."""
        import httpx

        for attempt in range(len(RETRY_DELAYS_S) + 1):
            try:
                request = self.client.build_request(method, self.url + path, json=body)
                return self.client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                if attempt == len(RETRY_DELAYS_S):
                    raise LLMServerError(
                        f"cannot reach {self.describe()} ({self._reason(e)}): start it (`bot llm-server`) "
                        "or fix ARTICLE_QA_LLM_URL"
                    ) from None
            except httpx.RemoteProtocolError as e:
                # the server closed the connection before answering (a stale
                # pooled connection, or a restart): it has not started on it
                if attempt == len(RETRY_DELAYS_S):
                    raise LLMServerError(
                        f"{self.describe()} closed the connection without answering ({self._reason(e)})"
                    ) from None
            except httpx.TimeoutException:
                raise LLMServerError(
                    f"{self.describe()} did not answer within {self.settings.llm_timeout:g} s "
                    "(ARTICLE_QA_LLM_TIMEOUT): it is overloaded or stuck"
                ) from None
            except httpx.HTTPError as e:
                raise LLMServerError(f"{self.describe()} failed: {self._reason(e)}") from None
            time.sleep(RETRY_DELAYS_S[attempt])
        raise AssertionError("unreachable")  # pragma: no cover

    def _reason(self, e: BaseException) -> str:
        text = str(e) or type(e).__name__
        if "refused" in text.lower():
            return "connection refused"
        return self._scrub(text)[:ERROR_BODY_CHARS]

    def _scrub(self, text: str) -> str:
        key = self.settings.llm_api_key
        text = text.replace(key, "***") if key else text
        return text.replace(self.url, self.shown_url)

    def _raise_for_status(self, response: Any) -> None:
        """Turn an HTTP error status into the one-line message a user can act on."""
        status = response.status_code
        detail = self._error_detail(response)
        if status in (401, 403):
            if self.settings.llm_api_key:
                raise LLMServerError(
                    f"{self.describe()} refused the API key (HTTP {status}{detail}): "
                    "set ARTICLE_QA_LLM_API_KEY to a key it accepts"
                )
            raise LLMServerError(
                f"{self.describe()} wants an API key (HTTP {status}{detail}): set ARTICLE_QA_LLM_API_KEY"
            )
        if status == 404:
            raise LLMServerError(
                f"{self.describe()} has no such endpoint or model (HTTP 404{detail}): ARTICLE_QA_LLM_URL must be "
                "the API base (…/v1) and ARTICLE_QA_LLM_MODEL a model it serves"
            )
        if status in (429, 503):
            raise LLMServerError(f"{self.describe()} is busy or still loading (HTTP {status}{detail}): try again")
        raise LLMServerError(f"{self.describe()} failed (HTTP {status}{detail})")

    def _error_detail(self, response: Any) -> str:
        try:
            raw = response.read()[:4000].decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - a detail only; the status says enough
            return ""
        try:
            parsed = json.loads(raw)
            err = parsed.get("error", parsed) if isinstance(parsed, dict) else parsed
            message = err.get("message", err) if isinstance(err, dict) else err
            text = str(message)
        except ValueError:
            text = raw
        text = " ".join(self._scrub(text).split())[:ERROR_BODY_CHARS]
        return f": {text}" if text else ""

    # -- generation --------------------------------------------------------
    def _body(
        self, info: ServerInfo, messages: list[dict[str, str]], max_tokens: int, cache: bool, grammar: str | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": info.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0.0,  # greedy: the same question gets the same answer
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if info.kind == "llamacpp":
            body.update(top_k=1, cache_prompt=cache)
        if grammar:
            if info.kind == "vllm":
                body["structured_outputs"] = {"grammar": grammar}
            else:  # llama.cpp, or a server configured with ARTICLE_QA_LLM_GRAMMAR=true
                body["grammar"] = grammar
        return body

    def stream(
        self,
        messages: list[dict[str, str]],
        max_tokens: int = 200,
        stats: GenerationStats | None = None,
        cache: bool = True,
        grammar: str | None = None,
    ) -> Iterator[str]:
        import httpx

        stats = stats if stats is not None else GenerationStats()
        info = self.info()
        use_grammar = bool(grammar) and self.takes_grammar()
        t0 = time.perf_counter()
        body = self._body(info, messages, max_tokens, cache, grammar if use_grammar else None)
        response = self._send("POST", "/chat/completions", body)
        if response.status_code == 400 and use_grammar and self.settings.llm_grammar == "auto":
            # A server that says it is llama.cpp or vLLM but rejects our grammar
            # (an old vLLM, a proxy): answer without it from now on; the checks
            # after generation still hold the answer to its citations.
            response.close()
            self._grammar_rejected = True
            use_grammar = False
            response = self._send("POST", "/chat/completions", self._body(info, messages, max_tokens, cache, None))
        stats.grammar = use_grammar
        shown = 0  # characters yielded, for the message when the stream is cut
        finished = False
        try:
            if response.status_code != 200:
                self._raise_for_status(response)
            for data in sse_data(response.iter_lines()):
                if data == "[DONE]":
                    finished = True
                    break
                try:
                    chunk = json.loads(data)
                except ValueError:
                    raise LLMServerError(f"{self.describe()} sent something that is not JSON mid-answer") from None
                if not isinstance(chunk, dict):
                    continue
                if chunk.get("error"):
                    err = chunk["error"]
                    message = err.get("message", err) if isinstance(err, dict) else err
                    raise LLMServerError(f"{self.describe()} failed mid-answer: {self._scrub(str(message))[:200]}")
                for piece in chunk_text(chunk, stats, t0):
                    shown += len(piece)
                    yield piece
        except httpx.TimeoutException:
            raise LLMServerError(
                f"{self.describe()} went silent for {self.settings.llm_timeout:g} s "
                f"{'mid-answer' if shown else 'before answering'} (ARTICLE_QA_LLM_TIMEOUT)"
            ) from None
        except httpx.HTTPError as e:  # the connection dropped: killed, restarted, a proxy gave up
            raise LLMServerError(
                f"{self.describe()} cut the answer short after {shown} characters ({self._reason(e)})"
            ) from None
        finally:
            # also when the consumer stops early: closing the connection is what
            # tells the server to stop generating
            response.close()
        # Some servers end with the finish_reason chunk and no [DONE]: that is
        # complete too. Neither means the stream was cut.
        if not finished and stats.finish_reason is None:
            raise LLMServerError(f"{self.describe()} ended the stream mid-answer after {shown} characters")
        stats.total_ms = (time.perf_counter() - t0) * 1000

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


_FIELD = re.compile(r"^data: ?(.*)$")


def sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The ``data`` of each server-sent event (multi-line data joined; comments,
    ``event:``/``id:`` lines and keep-alive pings skipped)."""
    pending: list[str] = []
    for line in lines:
        if not line:
            if pending:
                yield "\n".join(pending)
                pending = []
            continue
        m = _FIELD.match(line)
        if m:
            pending.append(m.group(1))
    if pending:
        yield "\n".join(pending)
