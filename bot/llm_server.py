"""`bot llm-server`: the bundled GGUF as a real llama.cpp HTTP server, so several
app processes (``bot serve`` replicas, ``bot ask``, ``bot eval``) share one
model in memory and its parallel slots.

    $ bot llm-server --port 8080 --parallel 2
    $ ARTICLE_QA_LLM_URL=http://127.0.0.1:8080/v1 bot serve

It is llama.cpp's own server (OpenAI-compatible ``/v1/chat/completions``,
``/v1/models``, ``/health``, ``/props``, ``/slots``, ``/metrics``), started by
xllamacpp with the same parameters as the in-process model (bot/llm.py:
greedy, prompt cache, n-gram speculative decoding), so the two answer alike.
Each slot keeps ``llm_context`` tokens, a whole article; llama.cpp gives a
request the idle slot whose cached prompt shares most with it, so questions
about an article find that article's prefix already computed
(bench/scale_out_results.md measures it). With ARTICLE_QA_LLM_API_KEY set,
clients must send that key (a flag would show in ``ps``).
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
from dataclasses import dataclass
from typing import Any

from .config import Settings
from .errors import ConfigError, ModelError
from .llm import resolve_model, runtime, server_params


@dataclass(frozen=True)
class Served:
    url: str  # the API base a client sets as ARTICLE_QA_LLM_URL
    model: str
    parallel: int
    context: int  # tokens per slot


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror}): pick another --port or --host") from None


def start(settings: Settings, host: str, port: int, parallel: int, idle_slots: str = "swap") -> tuple[Any, Served]:
    """Load the model and start listening; returns the xllamacpp server (keep a
    reference: deleting it stops the server) and what it serves."""
    if parallel < 1:
        raise ConfigError(f"--parallel must be at least 1; it is {parallel}")
    if not 0 < port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535; it is {port}")
    check_port_free(host, port)
    path = resolve_model(settings)
    keys = (settings.llm_api_key,) if settings.llm_api_key else ()
    swap = idle_slots == "swap"
    params = server_params(settings, path, parallel=parallel, host=host, port=port, api_keys=keys, swap_idle_slots=swap)
    try:
        server = runtime().Server(params)
    except Exception as e:  # the runtime raises several kinds
        raise ModelError(
            f"cannot start the LLM server with {path} on {host}:{port} ({type(e).__name__}: {e})"
        ) from None
    shown_host = f"[{host}]" if ":" in host else host
    return server, Served(f"http://{shown_host}:{port}/v1", path.name, parallel, settings.llm_context)


def serve_forever(settings: Settings, host: str, port: int, parallel: int, idle_slots: str = "swap") -> int:
    """Run until SIGINT or SIGTERM; the ready line goes to stdout once the model is loaded."""
    server, served = start(settings, host, port, parallel, idle_slots)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    key = " (clients must send ARTICLE_QA_LLM_API_KEY)" if settings.llm_api_key else ""
    print(
        f"serving {served.model} at {served.url}: {served.parallel} parallel slot(s) of {served.context} tokens"
        f"{key}; point the app at it with ARTICLE_QA_LLM_URL={served.url}",
        flush=True,
    )
    if host not in ("127.0.0.1", "localhost", "::1") and not settings.llm_api_key:
        print(f"warning: listening on {host} without an API key: anyone who can reach it can use it", file=sys.stderr)
    while not stop.wait(1.0):  # a timed wait: signals are handled between waits
        pass
    print("stopping the LLM server", file=sys.stderr, flush=True)
    del server  # its destructor ends llama.cpp's loop and closes the port
    return 0
