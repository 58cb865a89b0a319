"""`bot llm-server` as a real llama.cpp HTTP server process on 127.0.0.1 (the
bundled GGUF, no mock), and the app talking to it: gold questions in French
and English, agreement with the in-process model under greedy decoding, a
`bot` process that never loads the GGUF, `bot eval --engine llm`, concurrency,
cancellation, and the fault matrix (wrong key, silent, killed mid-answer,
stopped, a port nothing listens on).

One server for the module (the kill tests start their own). The fast tests
of the same logic on a loopback fake are tests/test_remote_llm.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench.load import free_port, llm_server
from bot import Answer, Bot, Settings
from bot.errors import LLMServerError
from bot.gold import load_gold
from bot.metrics import answer_correct
from bot.remote_llm import RemoteLLM

from .conftest import GOLD_DEV, ROOT

pytestmark = pytest.mark.real_llm

KEY = "sk-article-qa-test-6c1d"
# Gold dev questions the in-process model answers right with a gold citation
# (eval/reports/llm-dev): six French (one a follow-up), four English.
GOLD_IDS = ("fr-03", "fr-04", "fr-05", "fr-11", "fr-18", "fr-f02", "en-01", "en-02", "en-03", "en-05")
Q_FR = "Où Sergueï Lavrov a-t-il tenu sa conférence de presse ?"
# The servers the kill tests start and kill read the retrieved sentences, not the
# whole article: a cold prompt of seconds, not a minute; the fault paths are the same.
SHORT = {"llm_context_mode": "retrieved"}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """One `bot llm-server --parallel 2` that wants KEY: (API base URL, process)."""
    with llm_server(parallel=2, env={"ARTICLE_QA_LLM_API_KEY": KEY}) as (url, proc):
        yield url, proc


@pytest.fixture(scope="module")
def server(served: tuple[str, subprocess.Popen[str]]) -> str:
    return served[0]


def settings_for(real_settings: Settings, url: str, **overrides: Any) -> Settings:
    return replace(real_settings, engine="llm", llm_url=url, llm_api_key=KEY, **overrides)


@pytest.fixture(scope="module")
def remote_bot(real_bot: Bot, server: str) -> Bot:
    bot = Bot(settings_for(real_bot.settings, server), embedder=real_bot.embedder)
    bot.warm()  # the article's prefix into a slot's cache
    return bot


def gold_items(bot: Bot) -> list[Any]:
    items = {i.id: i for i in load_gold(GOLD_DEV, bot.index.sentences)}
    return [items[i] for i in GOLD_IDS]


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTICLE_QA_")}
    env.update(
        ARTICLE_QA_SEEDS=str(settings.seeds),
        ARTICLE_QA_INDEX=str(settings.index),
        HF_HUB_OFFLINE="1",
        OMP_WAIT_POLICY="PASSIVE",
        **extra,
    )
    return env


# The child writes its own peak RSS (VmHWM of its address space) when it exits.
# wait4's ru_maxrss cannot be used: Linux carries the parent's high-water mark
# over fork and exec, so a pytest process that holds the in-process LLM (5 GB
# in a full run) would be reported as the child's peak.
_PEAK = (
    "import atexit, os, runpy, sys\n"
    "def peak():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            open(os.environ['PEAK_RSS_FILE'], 'w').write(line.split()[1])\n"
    "atexit.register(peak)\n"
    "sys.argv[0] = 'bot'\n"
    "runpy.run_module('bot', run_name='__main__')\n"
)


def run_bot(args: list[str], env: dict[str, str]) -> tuple[int, str, str, float]:
    """`python -m bot ARGS` in a child process: exit code, stdout, stderr, and
    the child's own peak RSS in MB (its output goes through files)."""
    with tempfile.TemporaryDirectory() as tmp:
        peak = Path(tmp) / "peak"
        env = {**env, "PEAK_RSS_FILE": str(peak)}
        with open(Path(tmp) / "out", "w+") as out, open(Path(tmp) / "err", "w+") as err:
            code = subprocess.call([sys.executable, "-c", _PEAK, *args], env=env, cwd=ROOT, stdout=out, stderr=err)
            out.seek(0)
            err.seek(0)
            kib = float(peak.read_text()) if peak.exists() else float("nan")
            return code, out.read(), err.read(), kib / 1024


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err[-2000:]
    assert "Traceback" not in err
    return lines[0]


# -- answers ---------------------------------------------------------------------
def test_gold_questions_through_the_server_agree_with_the_model_in_process(real_bot: Bot, remote_bot: Bot):
    items = gold_items(remote_bot)
    through = [remote_bot.ask(i.question, history=i.history, engine="llm") for i in items]
    assert {i.lang for i in items} == {"fr", "en"}
    passed = []
    for item, a in zip(items, through, strict=True):
        cited = {c.sentence_id for c in a.citations}
        # engine "llm": the answer passed the citation checks (else it is the extractive one)
        ok = a.engine == "llm" and not a.abstained and bool(cited & set(item.support_ids))
        ok = ok and answer_correct(a.answer, item.answers)
        passed.append(ok)
    assert sum(passed) >= 8, [(i.id, a.engine, a.answer, a.notice) for i, a in zip(items, through, strict=True)]

    local = Bot(replace(real_bot.settings, engine="llm"), embedder=real_bot.embedder)
    here = [local.ask(i.question, history=i.history, engine="llm") for i in items]

    def key(a: Answer) -> tuple[Any, ...]:
        return a.answer, a.engine, a.citations

    same = [key(a) == key(b) for a, b in zip(through, here, strict=True)]
    differ = [(i.id, a.answer, b.answer) for i, a, b, s in zip(items, through, here, same, strict=True) if not s]
    assert sum(same) >= 9, differ


def test_the_article_prefix_is_served_from_a_slot_cache(remote_bot: Bot):
    remote_bot.ask(Q_FR)
    stats = remote_bot.last_stats
    assert stats is not None and stats.cached_tokens > 500 and stats.grammar, stats


def test_the_bot_process_does_not_load_the_gguf(real_settings: Settings, server: str, tmp_path: Path):
    batch = tmp_path / "questions.jsonl"
    questions = [Q_FR, "Who is the NATO secretary general?"]
    batch.write_text("\n".join(json.dumps({"id": n, "question": q}) for n, q in enumerate(questions)), "utf-8")
    env = env_for(real_settings, ARTICLE_QA_LLM_URL=server, ARTICLE_QA_LLM_API_KEY=KEY)
    code, out, err, peak_mb = run_bot(["ask", "--batch", str(batch), "--engine", "llm", "--json"], env)
    assert code == 0, err[-2000:]
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["engine"] for a in answers] == ["llm", "llm"], answers
    assert "Moscou" in answers[0]["answer"] and "Rutte" in answers[1]["answer"]
    # the GGUF alone is 1.1 GB; the in-process LLM peaks near 2 GB
    assert peak_mb < 1000, f"peak RSS {peak_mb:.0f} MB"
    assert KEY not in out + err


def test_bot_eval_with_the_llm_engine_works_through_the_server(real_settings: Settings, server: str, tmp_path: Path):
    gold = tmp_path / "gold.jsonl"
    lines = [line for line in GOLD_DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    wanted = {"fr-11", "en-02", "fr-u01"}
    gold.write_text("\n".join(line for line in lines if json.loads(line)["id"] in wanted), encoding="utf-8")
    env = env_for(real_settings, ARTICLE_QA_LLM_URL=server, ARTICLE_QA_LLM_API_KEY=KEY)
    code, out, err, _ = run_bot(["eval", str(gold), "--engine", "llm", "--out", str(tmp_path / "report")], env)
    assert code == 0, err[-2000:]
    assert "questions, engine llm" in out
    preds = [json.loads(x) for x in (tmp_path / "report" / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == len(wanted) and any(p["engine"] == "llm" for p in preds)


# -- concurrency and cancellation ---------------------------------------------------
def slots(url: str) -> list[dict[str, Any]]:
    base = url.removesuffix("/v1")
    req = urllib.request.Request(f"{base}/slots", headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return list(json.loads(r.read()))


COUNT = [{"role": "user", "content": "Count from 1 to 300, one number per line, nothing else."}]


def test_two_questions_are_decoded_at_once(real_settings: Settings, server: str):
    llm = RemoteLLM(settings_for(real_settings, server))
    busy: list[int] = []

    def ask() -> None:
        for _ in llm.stream(COUNT, max_tokens=40, cache=False):
            pass

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        busy.append(sum(bool(s.get("is_processing")) for s in slots(server)))
        time.sleep(0.1)
    for t in threads:
        t.join()
    assert max(busy) == 2, f"slots busy at once: {sorted(set(busy))}"


def test_closing_the_stream_frees_the_slot(real_settings: Settings, server: str):
    llm = RemoteLLM(settings_for(real_settings, server))
    stream = llm.stream(COUNT, max_tokens=400, cache=False)
    next(stream)
    next(stream)
    stream.close()
    deadline = time.time() + 10
    while any(s.get("is_processing") for s in slots(server)):
        assert time.time() < deadline, "the server went on generating for a closed stream"
        time.sleep(0.1)


# -- faults -------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["llm", "auto"])
def test_a_wrong_key_says_the_key_was_refused(real_settings: Settings, server: str, engine: str):
    wrong = "sk-wrong-key-1234"
    env = env_for(real_settings, ARTICLE_QA_LLM_URL=server, ARTICLE_QA_LLM_API_KEY=wrong)
    code, out, err, _ = run_bot(["ask", Q_FR, "--engine", engine, "--json"], env)
    assert wrong not in out + err
    if engine == "llm":
        assert code == 2
        line = one_line_error(err)
        assert f"the LLM server at {server} refused the API key (HTTP 401" in line
    else:
        assert code == 0, err
        answer = json.loads(out)
        assert answer["engine"] == "extractive" and "refused the API key" in answer["notice"]
        assert server in answer["notice"]


@pytest.mark.parametrize("engine", ["llm", "auto"])
def test_a_port_nothing_listens_on(real_settings: Settings, engine: str):
    url = f"http://127.0.0.1:{free_port()}/v1"
    env = env_for(real_settings, ARTICLE_QA_LLM_URL=url)
    code, out, err, _ = run_bot(["ask", Q_FR, "--engine", engine], env)
    if engine == "llm":
        assert code == 2
        assert f"cannot reach the LLM server at {url} (connection refused)" in one_line_error(err)
    else:
        assert code == 0 and "Moscou" in out, err
        assert err.startswith("note: LLM unavailable (cannot reach the LLM server at " + url)


def _kill_mid_answer(bot: Bot, proc: subprocess.Popen[str], engine: str) -> list[str | Answer]:
    """Ask, and SIGKILL the server as soon as the first words arrive."""
    items: list[str | Answer] = []
    for item in bot.stream(Q_FR, engine=engine):
        items.append(item)
        if isinstance(item, str) and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    return items


def test_a_server_killed_mid_answer_then_stopped(real_bot: Bot):
    with llm_server(parallel=1) as (url, proc):
        bot = Bot(replace(real_bot.settings, llm_url=url, **SHORT), embedder=real_bot.embedder)
        bot.warm()
        items = _kill_mid_answer(bot, proc, "auto")
    final = items[-1]
    assert isinstance(final, Answer) and final.engine == "extractive" and "Moscou" in final.answer
    assert isinstance(items[-2], str) and items[-2] == final.answer  # the partial LLM text was replaced
    assert f"LLM unavailable (the LLM server at {url} cut the answer short" in (final.notice or "")
    # and now nothing listens there: stopped
    with pytest.raises(LLMServerError, match=f"cannot reach the LLM server at {url}"):
        bot.ask(Q_FR, engine="llm")
    a = bot.ask(Q_FR, engine="auto")
    assert a.engine == "extractive" and "cannot reach" in (a.notice or "")


def test_engine_llm_fails_when_the_server_dies_mid_answer(real_bot: Bot):
    with llm_server(parallel=1) as (url, proc):
        bot = Bot(replace(real_bot.settings, llm_url=url, **SHORT), embedder=real_bot.embedder)
        bot.warm()
        streamed: list[Any] = []
        with pytest.raises(LLMServerError, match=f"the LLM server at {url} cut the answer short") as e:
            for item in bot.stream(Q_FR, engine="llm"):
                streamed.append(item)
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
    assert streamed and not any(isinstance(i, Answer) for i in streamed)  # no partial answer as complete
    assert "\n" not in str(e.value)


def test_a_silent_server_times_out(real_bot: Bot, served: tuple[str, subprocess.Popen[str]]):
    url, proc = served
    bot = Bot(settings_for(real_bot.settings, url, llm_timeout=1.5), embedder=real_bot.embedder)
    bot.llm.load()  # it knows the server before the server goes silent
    # SIGSTOP: the kernel still accepts the connection, and nothing answers it
    proc.send_signal(signal.SIGSTOP)
    try:
        t0 = time.perf_counter()
        a = bot.ask(Q_FR, engine="auto")
        took = time.perf_counter() - t0
    finally:
        proc.send_signal(signal.SIGCONT)
    assert a.engine == "extractive" and "Moscou" in a.answer
    assert f"the LLM server at {url} did not answer within 1.5 s" in (a.notice or "")
    assert took < 10  # not retried
