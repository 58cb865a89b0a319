"""RemoteLLM against a tiny OpenAI-compatible server written here (http.server,
streaming server-sent events) on a free loopback port: parsing, the fields each
kind of server gets, retries, timeouts, cuts, keys, cancellation and
concurrency. The same faults against the real llama.cpp server are in
tests/test_llm_server_real.py."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bot import Bot, Settings
from bot.backends import GenerationStats, LLMBackend, make_backend
from bot.errors import ConfigError, LLMServerError, ModelError
from bot.llm import LocalLLM
from bot.remote_llm import RemoteLLM, public_url, sse_data

from .conftest import FakeEmbedder

KEY = "sk-test-4f9c2b7e-never-shown"
ANSWER = "Environ 10 000 soldats nord-coréens ont été envoyés en Russie [5]."
Q = "Combien de soldats nord-coréens ont été envoyés en Russie ?"


@dataclass
class Script:
    """What the fake server does; tests change it and read what it saw."""

    owned_by: str = "llamacpp"
    models: tuple[str, ...] = ("served-model",)
    pieces: tuple[str, ...] = tuple(ANSWER.split(" "))
    delay_s: float = 0.0  # between pieces
    stall_s: float = 0.0  # before the response headers
    status: int = 200
    cut_after: int | None = None  # close the connection after this many pieces, no [DONE]
    drop_connections: int = 0  # close this many connections without answering first
    reject_grammar: bool = False  # 400 when the body has a grammar
    key: str | None = None  # required bearer key
    bodies: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    client_gone: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: Script) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.script = script


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeServer

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _authorised(self) -> bool:
        key = self.server.script.key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._json(401, {"error": {"message": "Invalid API Key", "type": "authentication_error", "code": 401}})
        return False

    def _json(self, status: int, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if not self._authorised():
            return
        s = self.server.script
        if self.path.endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": m, "owned_by": s.owned_by} for m in s.models]})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        s = self.server.script
        with s.lock:
            s.requests += 1
            if s.drop_connections > 0:
                s.drop_connections -= 1
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not self._authorised():
            return
        s.bodies.append(body)
        if s.stall_s:
            time.sleep(s.stall_s)
        if s.reject_grammar and ("grammar" in body or "structured_outputs" in body):
            self._json(400, {"error": {"message": "grammar not supported"}})
            return
        if s.status != 200:
            self._json(s.status, {"error": {"message": f"failure {s.status}", "code": s.status}})
            return
        with s.lock:
            s.in_flight += 1
            s.max_in_flight = max(s.max_in_flight, s.in_flight)
        try:
            self._stream(s)
        finally:
            with s.lock:
                s.in_flight -= 1

    def _stream(self, s: Script) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def event(obj: Any) -> None:
            self.wfile.write(f"data: {json.dumps(obj)}\n\n".encode())
            self.wfile.flush()

        try:
            self.wfile.write(b": a comment line, as some servers send to keep the connection alive\n\n")
            for i, piece in enumerate(s.pieces):
                if s.cut_after is not None and i == s.cut_after:
                    return  # the connection closes: no finish_reason, no [DONE]
                text = piece if i == 0 else " " + piece
                event({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})
                time.sleep(s.delay_s)
            event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            usage = {"prompt_tokens": 900, "completion_tokens": len(s.pieces)}
            usage["prompt_tokens_details"] = {"cached_tokens": 880}
            timings = {"cache_n": 880, "prompt_n": 20, "predicted_n": len(s.pieces)}
            event({"choices": [], "usage": usage, **({"timings": timings} if s.owned_by == "llamacpp" else {})})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            s.client_gone.set()


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def fake_server(script: Script) -> Iterator[str]:
    server = FakeServer(script)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def remote(url: str, **overrides: Any) -> RemoteLLM:
    return RemoteLLM(Settings.load({"llm_url": url, **overrides}, environ={}))


MESSAGES = [{"role": "user", "content": "Combien ?"}]


# -- settings and the factory -------------------------------------------------
def test_the_factory_picks_the_backend_from_the_settings():
    assert isinstance(make_backend(Settings.load(environ={})), LocalLLM)
    llm = make_backend(Settings.load({"llm_url": "http://127.0.0.1:8080/v1"}, environ={}))
    assert isinstance(llm, RemoteLLM)
    for backend in (llm, LocalLLM(Settings.load(environ={}))):
        assert isinstance(backend, LLMBackend)
    assert LocalLLM(Settings.load(environ={})).parallel == 1
    assert llm.parallel == 4


@pytest.mark.parametrize(
    "raw, expected",
    [("auto", "auto"), ("true", "true"), ("1", "true"), ("yes", "true"), ("false", "false"), ("0", "false")],
)
def test_the_grammar_setting_keeps_true_and_false_and_adds_auto(raw, expected):
    assert Settings.load(environ={"ARTICLE_QA_LLM_GRAMMAR": raw}).llm_grammar == expected
    assert Settings.load(environ={}).llm_grammar == "auto"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"llm_grammar": "maybe"}, "llm_grammar must be auto, true or false"),
        ({"llm_url": "127.0.0.1:8080"}, "llm_url must be the http:// or https:// base URL"),
        ({"llm_timeout": "soon"}, "llm_timeout must be a number"),
        ({"llm_timeout": 0}, "llm_timeout must be a positive number"),
        ({"llm_parallel": 0}, "llm_parallel must be at least 1"),
    ],
)
def test_bad_llm_settings_name_the_problem(overrides, message):
    with pytest.raises(ConfigError, match=message):
        Settings.load(overrides, environ={})


def test_the_key_is_never_shown():
    url = "http://user:pw@127.0.0.1:9/v1"
    s = Settings.load(environ={"ARTICLE_QA_LLM_URL": url, "ARTICLE_QA_LLM_API_KEY": KEY})
    assert s.llm_api_key == KEY
    llm = RemoteLLM(s)
    for text in (repr(s), str(s), repr(llm), llm.describe()):
        assert KEY not in text and "pw" not in text.replace("pw@", "")
    assert llm.describe() == "the LLM server at http://127.0.0.1:9/v1"
    assert public_url("https://a:b@example.org:8443/v1/") == "https://example.org:8443/v1"


def test_sse_parsing_joins_data_lines_and_skips_the_rest():
    lines = [": ping", "", "event: message", "data: {\"a\":", "data: 1}", "id: 7", "", "data:[DONE]", ""]
    assert list(sse_data(lines)) == ['{"a":\n1}', "[DONE]"]


# -- streaming ------------------------------------------------------------------
def test_streams_the_text_and_fills_the_stats(fake_server, script):
    llm = remote(fake_server)
    stats = GenerationStats()
    pieces = list(llm.stream(MESSAGES, 50, stats, grammar="root ::= \"x\""))
    assert "".join(pieces) == ANSWER and len(pieces) == len(script.pieces)
    assert stats.finish_reason == "stop" and stats.first_token_ms is not None and stats.total_ms >= stats.first_token_ms
    assert (stats.prompt_tokens, stats.cached_tokens, stats.completion_tokens) == (20, 880, len(script.pieces))
    assert stats.grammar
    body = script.bodies[-1]
    assert body["model"] == "served-model" and body["stream"] is True and body["temperature"] == 0.0
    assert body["grammar"] == 'root ::= "x"' and body["cache_prompt"] is True and body["top_k"] == 1
    assert body["messages"] == MESSAGES and body["max_tokens"] == 50


@pytest.mark.parametrize(
    "owned_by, mode, sent",
    [
        ("llamacpp", "auto", "grammar"),
        ("vllm", "auto", "structured_outputs"),
        ("ollama", "auto", None),
        ("ollama", "true", "grammar"),
        ("llamacpp", "false", None),
    ],
)
def test_each_kind_of_server_gets_the_grammar_it_takes(fake_server, script, owned_by, mode, sent):
    script.owned_by = owned_by
    llm = remote(fake_server, llm_grammar=mode)
    stats = GenerationStats()
    list(llm.stream(MESSAGES, 20, stats, grammar="root ::= [a-z]+"))
    body = script.bodies[-1]
    fields = {"grammar", "structured_outputs"} & set(body)
    assert fields == ({sent} if sent else set())
    if sent == "structured_outputs":
        assert body["structured_outputs"] == {"grammar": "root ::= [a-z]+"}
    assert llm.takes_grammar() == (sent is not None) == stats.grammar
    # llama.cpp's own fields go to llama.cpp only: another server may refuse them
    assert ("cache_prompt" in body) == (owned_by == "llamacpp")


def test_without_usage_or_timings_the_stats_count_the_pieces(fake_server, script):
    script.owned_by = "somebody"
    stats = GenerationStats()
    list(remote(fake_server).stream(MESSAGES, 20, stats))
    assert stats.cached_tokens == 880 and stats.prompt_tokens == 20  # from the standard usage block


def test_a_server_that_rejects_the_grammar_answers_without_it(fake_server, script):
    script.reject_grammar = True
    llm = remote(fake_server)
    stats = GenerationStats()
    assert "".join(llm.stream(MESSAGES, 20, stats, grammar="root ::= [a-z]+")) == ANSWER
    assert not stats.grammar and not llm.takes_grammar()
    assert "grammar" in script.bodies[0] and "grammar" not in script.bodies[1]
    list(llm.stream(MESSAGES, 20, grammar="root ::= [a-z]+"))
    assert "grammar" not in script.bodies[-1]  # not tried again


def test_the_model_is_the_configured_one_or_the_only_one(fake_server, script):
    script.owned_by, script.models = "vllm", ("Qwen/Qwen2.5-7B-Instruct", "other")
    listed = r"serves 2 models \(Qwen/Qwen2.5-7B-Instruct, other\).*ARTICLE_QA_LLM_MODEL"
    with pytest.raises(LLMServerError, match=listed):
        remote(fake_server).load()
    with pytest.raises(LLMServerError, match="does not serve model 'nope'"):
        remote(fake_server, llm_model="nope").load()
    llm = remote(fake_server, llm_model="other")
    list(llm.stream(MESSAGES, 5))
    assert script.bodies[-1]["model"] == "other"


# -- faults ---------------------------------------------------------------------
def test_a_port_nothing_listens_on_names_the_url(monkeypatch):
    monkeypatch.setattr("bot.remote_llm.RETRY_DELAYS_S", (0.01, 0.01))
    port = free_port()
    with pytest.raises(LLMServerError) as e:
        list(remote(f"http://127.0.0.1:{port}/v1", llm_api_key=KEY).stream(MESSAGES))
    text = str(e.value)
    assert f"cannot reach the LLM server at http://127.0.0.1:{port}/v1 (connection refused)" in text
    assert "bot llm-server" in text and KEY not in text and "\n" not in text


def test_connection_errors_are_retried_and_nothing_else_is(fake_server, script, monkeypatch):
    monkeypatch.setattr("bot.remote_llm.RETRY_DELAYS_S", (0.01, 0.01))
    llm = remote(fake_server)
    llm.load()
    script.drop_connections = 2  # closed twice without an answer, then served
    assert "".join(llm.stream(MESSAGES)) == ANSWER
    assert script.requests == 3
    script.requests, script.status = 0, 500
    with pytest.raises(LLMServerError, match=r"failed \(HTTP 500: failure 500\)"):
        list(llm.stream(MESSAGES))
    assert script.requests == 1  # the server saw it: never sent twice


@pytest.mark.parametrize("status, message", [(503, "busy or still loading"), (404, "no such endpoint or model")])
def test_error_statuses_say_what_to_do(fake_server, script, status, message):
    llm = remote(fake_server)
    llm.load()
    script.status = status
    with pytest.raises(LLMServerError, match=message):
        list(llm.stream(MESSAGES))


def test_a_wrong_or_missing_key_says_so(fake_server, script):
    script.key = "the-right-key"
    with pytest.raises(LLMServerError) as e:
        remote(fake_server, llm_api_key=KEY).load()
    assert "refused the API key (HTTP 401: Invalid API Key)" in str(e.value) and KEY not in str(e.value)
    with pytest.raises(LLMServerError, match="wants an API key .*set ARTICLE_QA_LLM_API_KEY"):
        remote(fake_server).load()
    assert "".join(remote(fake_server, llm_api_key="the-right-key").stream(MESSAGES)) == ANSWER


def test_a_silent_server_times_out(fake_server, script):
    llm = remote(fake_server, llm_timeout=0.5)
    llm.load()
    script.stall_s = 2.0
    t0 = time.perf_counter()
    with pytest.raises(LLMServerError, match=r"did not answer within 0.5 s \(ARTICLE_QA_LLM_TIMEOUT\)"):
        list(llm.stream(MESSAGES))
    assert time.perf_counter() - t0 < 1.8  # not retried


def test_a_server_silent_mid_answer_times_out(fake_server, script):
    llm = remote(fake_server, llm_timeout=0.4)
    script.delay_s = 1.5
    got: list[str] = []
    with pytest.raises(LLMServerError, match=r"went silent for 0.4 s mid-answer"):
        for piece in llm.stream(MESSAGES):
            got.append(piece)
    assert got == ["Environ"]


def test_a_stream_cut_short_is_an_error_not_an_answer(fake_server, script):
    script.cut_after = 3
    got: list[str] = []
    with pytest.raises(LLMServerError, match="ended the stream mid-answer after 14 characters"):
        for piece in remote(fake_server).stream(MESSAGES):
            got.append(piece)
    assert "".join(got) == "Environ 10 000"


def test_closing_the_stream_stops_the_generation(fake_server, script):
    script.pieces = tuple(f"w{i}" for i in range(200))
    script.delay_s = 0.02
    stream = remote(fake_server).stream(MESSAGES)
    assert next(stream) == "w0" and next(stream) == " w1"
    stream.close()
    assert script.client_gone.wait(3.0), "the server kept streaming to nobody"


# -- through the bot -------------------------------------------------------------
def remote_bot(settings: Settings, url: str, **overrides: Any) -> Bot:
    from dataclasses import replace

    return Bot(replace(settings, llm_url=url, **overrides), embedder=FakeEmbedder())


def test_the_bot_answers_through_the_server(settings, fake_server, script):
    bot = remote_bot(settings, fake_server)
    a = bot.ask(Q, engine="llm")
    assert a.engine == "llm" and a.answer == ANSWER and [c.n for c in a.citations] == [5]
    assert "first_token_ms" in a.timings_ms
    assert script.bodies[-1]["grammar"]  # the answer grammar went to llama.cpp


def test_auto_replaces_a_cut_answer_with_the_extractive_one(settings, fake_server, script):
    script.cut_after = 4
    bot = remote_bot(settings, fake_server, llm_api_key=KEY)
    items = list(bot.stream(Q, engine="auto"))
    final = items[-1]
    streamed = [i for i in items if isinstance(i, str)]
    assert streamed[0] == "Environ"  # the LLM's start was streamed...
    # ...and replaced by the extractive answer, which is what the stream ends on
    assert final.engine == "extractive" and streamed[-1] == final.answer and not final.answer.startswith("Environ 10")
    assert "LLM unavailable (the LLM server at " in final.notice
    assert fake_server in final.notice and "mid-answer" in final.notice and KEY not in final.notice
    assert "\n" not in final.notice and KEY not in json.dumps(final.to_json())


def test_engine_llm_fails_with_one_line(settings, fake_server, script):
    script.cut_after = 2
    bot = remote_bot(settings, fake_server)
    with pytest.raises(ModelError) as e:
        bot.ask(Q, engine="llm")
    assert isinstance(e.value, LLMServerError) and "\n" not in str(e.value) and fake_server in str(e.value)


def test_concurrent_questions_reach_the_server_together(settings, fake_server, script):
    script.delay_s = 0.05  # about 0.6 s an answer
    bot = remote_bot(settings, fake_server)
    bot.ensure_index()
    answers: list[Any] = []
    threads = [threading.Thread(target=lambda: answers.append(bot.ask(Q, engine="llm"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(answers) == 4 and all(a.engine == "llm" and a.answer == ANSWER for a in answers)
    assert script.max_in_flight >= 3, f"only {script.max_in_flight} at once: something serialises remote generation"


def test_the_ui_answers_as_many_at_once_as_the_backend_takes(settings, fake_server):
    from bot.ui import build_demo

    def answer_limits(bot: Bot) -> set[Any]:
        demo = build_demo(bot, warm=False)
        fns = demo.fns.values() if isinstance(demo.fns, dict) else demo.fns
        return {fn.concurrency_limit for fn in fns if fn.api_name == "answer"}

    local = Bot(settings, embedder=FakeEmbedder())
    assert answer_limits(local) == {1}
    assert answer_limits(remote_bot(settings, fake_server, llm_parallel=6)) == {6}


def test_the_scale_out_bench_tells_drift_from_cross_session_answers():
    # bench.scale_out's check must be able to fail: an answer that is another
    # session's reference is cross-session; one that merely differs is not.
    from bench.load import SessionLog
    from bench.scale_out import classify

    plans = [[("Q1", "A1 [1]."), ("Q2", "A2 [2].")], [("Q3", "A3 [3].")]]
    log = SessionLog(answers=[("Q1", "A1 [1]."), ("Q2", "A3 [3]."), ("Q3", "A3, reworded [3].")])
    log.foreign_chats.append("chat holds questions ['Q3'], this session asked ['Q1']")
    r = classify([log], plans)
    assert r["same_as_reference"] == 1
    assert len(r["cross_session"]) == 2 and "'Q2' got the answer to 'Q3'" in r["cross_session"][1]
    assert [d["question"] for d in r["different_from_reference"]] == ["Q3"]


def test_llm_server_refuses_a_busy_port_and_bad_flags_in_one_line(capsys):
    from bot.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["llm-server", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}") and "pick another --port" in err
    assert "\n" not in err
    assert main(["llm-server", "--port", str(free_port()), "--parallel", "0"]) == 2
    assert "--parallel must be at least 1" in capsys.readouterr().err


def test_an_answer_any_question_may_get_is_not_cross_session():
    from bench.load import SessionLog
    from bench.scale_out import classify

    plans = [[("Q1", "Not found.")], [("Q2", "Quote [4].")], [("Q3", "Quote [4].")]]
    log = SessionLog(answers=[("Q1", "Quote [4]."), ("Q2", "Not found.")])
    r = classify([log], plans, {"Q1": {"Quote [4]."}, "Q2": {"Not found."}})
    assert r["cross_session"] == [] and len(r["different_from_reference"]) == 2
    assert len(classify([log], plans)["cross_session"]) == 2
