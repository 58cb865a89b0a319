"""Load: concurrent chat sessions against the running app, through gradio_client.

    python -m bench.load [--sessions 20] [--duration 120]   # writes bench/load_results.{md,json}

The app is started as a real server process on 127.0.0.1 (``bot serve``, the
extractive engine). Each session is its own gradio_client ``Client`` (its own
session hash, so its own ``gr.State``) and holds three-question conversations
drawn from the gold questions, no two sessions asking the same ones; it calls
``/send`` then ``/answer`` as the page does, and ``/clear`` after each
conversation. Every answer is checked against what ``Bot.ask`` gives for the
same question and history in this process: an answer that belongs to another
session, or a chat holding another session's question, is a *mismatch*.
The server's RSS is sampled every second to show whether memory grows.
tests/test_load.py runs a short version.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bench.foundation import p50_stats  # noqa: E402
from bot import Bot, Settings  # noqa: E402
from bot.gold import load_gold  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GOLD = (ROOT / "eval" / "gold" / "dev.jsonl", ROOT / "eval" / "gold" / "test.jsonl")
TURNS = 3  # questions per conversation before /clear


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def shown_answer(message: dict[str, Any]) -> str:
    """The plain answer text of a chat message as gradio_client returns it."""
    content = message["content"]
    text = content[0]["text"] if isinstance(content, list) else str(content)
    for end in ("<details>", '<div class="notice">', '<div class="answer-meta">'):
        text = text.split(end)[0]
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(re.sub(r"\\(.)", r"\1", text)).strip()


def conversations(
    settings: Settings, sessions: int, engine: str = "extractive", turns: int = TURNS, bot: Bot | None = None
) -> list[list[tuple[str, str]]]:
    """Per session: (question, expected answer) pairs, asked in order with history;
    the expected answers are ``bot``'s (a new one by default) with ``engine``."""
    bot = bot or Bot(settings)
    items = [i for path in GOLD for i in load_gold(path, bot.index.sentences) if not i.history]
    if len(items) < sessions * turns:
        raise SystemExit(f"need {sessions * turns} gold questions, have {len(items)}")
    plans = []
    for s in range(sessions):
        plan: list[tuple[str, str]] = []
        for item in items[s * turns : (s + 1) * turns]:
            a = bot.ask(item.question, history=plan, engine=engine)
            plan.append((item.question, a.answer))
        plans.append(plan)
    return plans


@dataclass
class SessionLog:
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)  # either kind below
    foreign_chats: list[str] = field(default_factory=list)  # a chat holding another session's question
    answers: list[tuple[str, str]] = field(default_factory=list)  # (question, shown answer), every one


def run_session(
    url: str,
    plan: list[tuple[str, str]],
    article: str,
    stop: float,
    log: SessionLog,
    once: bool = False,
    engine: str = "extractive",
) -> None:
    """Ask ``plan``'s questions in turn until ``stop`` (``once``: one pass), checking each answer."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    chat: list[dict[str, Any]] = []
    turn = 0
    while time.time() < stop:
        question, expected = plan[turn]
        t0 = time.perf_counter()
        try:
            client.predict(question, api_name="/send")
            chat, *_page_and_status = client.predict(chat, engine, article, api_name="/answer")
        except Exception as e:  # noqa: BLE001 - counted, the run goes on
            log.errors.append(f"{type(e).__name__}: {e}"[:300])
            chat, turn = [], 0
            try:  # the server's session too, or the next answers would use the old history
                client.predict(article, api_name="/clear")
            except Exception:  # noqa: BLE001, S110 - the next question reports it
                pass
            continue
        log.latencies_ms.append((time.perf_counter() - t0) * 1000)
        asked = [shown_answer(m) for m in chat if m["role"] == "user"]
        mine = [q for q, _ in plan[: turn + 1]]
        if asked != mine:
            log.foreign_chats.append(f"chat holds questions {asked}, this session asked {mine}")
            log.mismatches.append(log.foreign_chats[-1])
        got = shown_answer(chat[-1])
        log.answers.append((question, got))
        if got != expected:
            log.mismatches.append(f"{question!r}: got {got[:120]!r}, expected {expected[:120]!r}")
        turn += 1
        if turn == len(plan):
            client.predict(article, api_name="/clear")
            chat, turn = [], 0
            if once:
                return


@contextmanager
def serve(
    settings: Settings, startup_s: float = 300.0, engine: str = "extractive", env: dict[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """The app as a real server process on a free loopback port: (url, pid);
    ``engine`` is its default engine (auto or llm warm the LLM up in the background),
    ``env`` adds to its environment.

    Its output goes to a log file: an unread pipe fills up and stalls a server
    that logs, and reading it to report a failed start would wait for its end."""
    port = free_port()
    cmd = [sys.executable, "-m", "bot", "--seeds", str(settings.seeds), "--index", str(settings.index)]
    url = f"http://127.0.0.1:{port}/"
    with _process([*cmd, "serve", "--port", str(port)], {"ARTICLE_QA_ENGINE": engine, **(env or {})}, "serve") as (
        server,
        log,
    ):
        deadline = time.time() + startup_s
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read(1)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"the app did not start on {url}: {log()[-2000:]}") from None
                time.sleep(0.5)
        yield url, server.pid


@contextmanager
def llm_server(
    parallel: int = 2, startup_s: float = 300.0, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`bot llm-server` as a real process on a free loopback port: (API base URL, process)."""
    port = free_port()
    cmd = [sys.executable, "-m", "bot", "llm-server", "--port", str(port), "--parallel", str(parallel), *args]
    with _process(cmd, env, "llm-server") as (server, log):
        deadline = time.time() + startup_s
        while "point the app at it with" not in log():  # the ready line: model loaded, port open
            if server.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the LLM server did not start: {log()[-2000:]}")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/v1", server


@contextmanager
def _process(
    cmd: list[str], env: dict[str, str] | None, name: str
) -> Iterator[tuple[subprocess.Popen[str], Any]]:
    """A child process logging to a file; yields it and a function reading the log."""
    full_env = {
        **os.environ,
        "ARTICLE_QA_ENGINE": "extractive",
        "HF_HUB_OFFLINE": "1",
        "OMP_WAIT_POLICY": "PASSIVE",
        "GRADIO_ANALYTICS_ENABLED": "False",
        **(env or {}),
    }
    with tempfile.NamedTemporaryFile("w+", prefix=f"article-qa-{name}-", suffix=".log") as log:
        proc = subprocess.Popen(cmd, env=full_env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, text=True)

        def tail() -> str:
            log.flush()
            return Path(log.name).read_text(encoding="utf-8", errors="replace")

        try:
            yield proc, tail
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def run(sessions: int = 20, duration: float = 120.0, settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or Settings.load({"engine": "extractive"})
    bot = Bot(settings)
    bot.ensure_index()
    article = bot.index.article_ids[0]
    plans = conversations(settings, sessions)
    with serve(settings) as (url, pid):
        # Warm-up, untimed: the first question loads the query model; memory is
        # compared from there on.
        run_session(url, plans[0][:1], article, time.time() + 1, SessionLog(), once=True)
        samples: list[tuple[float, float]] = []
        done = threading.Event()

        def sample() -> None:
            t0 = time.time()
            while not done.is_set():
                samples.append((time.time() - t0, rss_mb(pid)))
                done.wait(1.0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        logs = [SessionLog() for _ in range(sessions)]
        start = time.time()
        stop = start + duration
        threads = [
            threading.Thread(target=run_session, args=(url, plans[i], article, stop, logs[i]), daemon=True)
            for i in range(sessions)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=duration + 300)
        elapsed = time.time() - start
        done.set()
        sampler.join()
    lat = [x for log in logs for x in log.latencies_ms]
    rss = [r for _, r in samples]
    k = max(1, len(rss) // 5)
    return {
        "sessions": sessions,
        "duration_s": duration,
        "elapsed_s": elapsed,
        "questions_answered": len(lat),
        "per_session_answered": [len(log.latencies_ms) for log in logs],
        "throughput_qps": len(lat) / elapsed,
        "latency_ms": p50_stats(lat),
        "errors": [e for log in logs for e in log.errors],
        "mismatches": [m for log in logs for m in log.mismatches],
        "rss_mb": {
            "first_fifth_median": statistics.median(rss[:k]) if rss else float("nan"),
            "last_fifth_median": statistics.median(rss[-k:]) if rss else float("nan"),
            "max": max(rss, default=float("nan")),
            "samples": [[round(t, 1), round(r, 1)] for t, r in samples],
        },
    }


def markdown(r: dict[str, Any]) -> str:
    m = r["rss_mb"]
    lat = r["latency_ms"] or dict.fromkeys(("p50", "p95", "min", "max"), float("nan"))  # nothing answered
    growth = m["last_fifth_median"] - m["first_fifth_median"]
    return "\n".join(
        [
            f"# Load: {r['sessions']} concurrent chat sessions for {r['duration_s']:.0f} s",
            "",
            "`python -m bench.load`: the app as a real server on 127.0.0.1, the extractive engine, each "
            "session its own gradio_client `Client` asking its own three-question conversations (`/send`, "
            "`/answer`, `/clear` after three). Latency is one question, `/send` + `/answer`, seen by the "
            "client; the app answers one request at a time (queue concurrency 1), so it includes the wait.",
            "",
            "| | |",
            "|---|---|",
            f"| questions answered | {r['questions_answered']} in {r['elapsed_s']:.0f} s "
            f"(every session: {min(r['per_session_answered'])}–{max(r['per_session_answered'])}) |",
            f"| throughput | {r['throughput_qps']:.2f} questions/s |",
            f"| latency p50 / p95 / min–max | {lat['p50']:.0f} / {lat['p95']:.0f} / "
            f"{lat['min']:.0f}–{lat['max']:.0f} ms |",
            f"| errors | {len(r['errors'])} |",
            f"| answers from another session, or chats with another session's question | {len(r['mismatches'])} |",
            "| server RSS after a warm-up question, median of the first and last fifth of the run | "
            f"{m['first_fifth_median']:.0f} → "
            f"{m['last_fifth_median']:.0f} MB ({growth:+.0f} MB); max {m['max']:.0f} MB |",
            "",
            *(f"- error: {e}" for e in r["errors"][:10]),
            *(f"- mismatch: {x}" for x in r["mismatches"][:10]),
            "",
        ]
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--duration", type=float, default=120.0, help="seconds")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "load_results")
    args = ap.parse_args()
    r = run(args.sessions, args.duration)
    args.out.with_suffix(".json").write_text(json.dumps(r, indent=1), encoding="utf-8")
    text = markdown(r)
    args.out.with_suffix(".md").write_text(text, encoding="utf-8")
    print(text)
    return 1 if r["errors"] or r["mismatches"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
