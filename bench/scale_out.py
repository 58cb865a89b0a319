"""Scale-out: many chat sessions on one model, with the LLM answering.

    python -m bench.scale_out [--quick] [--out DIR] [--sessions 20] [--duration 180]

Two setups, one after the other in one run, on the same questions:

- **single**: today's deployment, one ``bot serve`` process with the LLM in
  process (its lock: one answer at a time);
- **replicas**: one ``bot llm-server --parallel 2`` (two slots decoded
  together) and two ``bot serve`` replicas pointed at it with
  ARTICLE_QA_LLM_URL; sessions alternate between the replicas, as a load
  balancer with sticky sessions would spread them.

Each session is bench/load.py's: its own gradio_client ``Client`` asking its own
three-question conversations with ``--engine llm`` (the extractive engine would
measure nothing of the LLM). Every answer is compared with the answer the
in-process model gives to the same question and history, asked one at a time
before the run: equal, or *different* (greedy decoding of two sequences batched
together is not bit-identical to one alone), or *cross-session* when it is the
reference answer of another session's question, or a chat holds another
session's question. RSS is sampled every second for every process of a setup;
peak memory is the largest sum.

Then **slots**: does one llama.cpp slot per article pay? Questions alternating
between two articles, sent one at a time to a 2-slot server, with the server's
own slot choice (the idle slot whose cached prompt is most similar), with
``id_slot`` pinning each article to a slot, and with one slot only; the time to
first token and the prompt tokens served from a cache tell.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bench.foundation import p50_stats  # noqa: E402
from bench.load import SessionLog, conversations, llm_server, rss_mb, run_session, serve  # noqa: E402
from bot import Bot, Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("ARTICLE_QA_SHARED_DATA", ROOT.parent / "shared" / "data"))
SERVER_PARALLEL = 2


def sample_rss(pids: list[int], done: threading.Event, out: list[list[float]]) -> None:
    t0 = time.time()
    while not done.is_set():
        out.append([time.time() - t0, *(rss_mb(p) for p in pids)])
        done.wait(1.0)


def run_load(
    urls: list[str],
    pids: dict[str, int],
    plans: list[list[tuple[str, str]]],
    article: str,
    duration: float,
    fallbacks: dict[str, set[str]] | None = None,
) -> dict[str, Any]:
    """The sessions against ``urls`` (session i on urls[i % len]) for ``duration`` seconds."""
    # Warm-up, untimed, one question per replica at once (so both server slots
    # get the article): the query model, and the article into the model's cache.
    once = (plans[0][:1], article, time.time() + 1)
    warm = [threading.Thread(target=run_session, args=(url, *once, SessionLog(), True, "llm")) for url in urls]
    for t in warm:
        t.start()
    for t in warm:
        t.join()
    samples: list[list[float]] = []
    done = threading.Event()
    sampler = threading.Thread(target=sample_rss, args=(list(pids.values()), done, samples), daemon=True)
    sampler.start()
    logs = [SessionLog() for _ in plans]
    start = time.time()
    stop = start + duration
    threads = [
        threading.Thread(
            target=run_session,
            args=(urls[i % len(urls)], plans[i], article, stop, logs[i]),
            kwargs={"engine": "llm"},
            daemon=True,
        )
        for i in range(len(plans))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration + 900)
    elapsed = time.time() - start
    done.set()
    sampler.join()
    check = classify(logs, plans, fallbacks)
    lat = [x for log in logs for x in log.latencies_ms]
    names = list(pids)
    return {
        "processes": names,
        "elapsed_s": elapsed,
        "questions_answered": len(lat),
        "per_session_answered": [len(log.latencies_ms) for log in logs],
        "throughput_qps": len(lat) / elapsed,
        "latency_ms": p50_stats(lat),
        "errors": [e for log in logs for e in log.errors],
        **check,
        "peak_rss_mb": {
            "total": max((sum(s[1:]) for s in samples), default=float("nan")),
            **{n: max((s[1 + k] for s in samples), default=float("nan")) for k, n in enumerate(names)},
        },
    }


def classify(
    logs: list[SessionLog], plans: list[list[tuple[str, str]]], fallbacks: dict[str, set[str]] | None = None
) -> dict[str, Any]:
    """Each answer against the sequential reference: equal, different, or another session's.
    ``fallbacks``: answers a question may get without any mix-up (the "not found" sentence,
    its own extractive answer when the LLM's fails its check), even when another
    question's reference is the same text."""
    own = {q: a for plan in plans for q, a in plan}
    fallbacks = fallbacks or {}
    equal, different, cross = 0, [], []
    for log in logs:
        cross += log.foreign_chats
        for question, got in log.answers:
            if got == own[question]:
                equal += 1
                continue
            others = [q for q, a in own.items() if a == got and q != question]
            if others and got not in fallbacks.get(question, set()):
                cross.append(f"{question!r} got the answer to {others[0]!r}: {got[:100]!r}")
            else:
                different.append({"question": question, "got": got, "reference": own[question]})
    answers = [got for log in logs for _, got in log.answers]
    return {
        "same_as_reference": equal,
        "different_from_reference": different,
        "cross_session": cross,
        "answers": answers,
    }


Plans = list[list[tuple[str, str]]]
Fallbacks = dict[str, set[str]]


def fallback_answers(bot: Bot, plans: Plans) -> Fallbacks:
    """What each question gets without the LLM: its extractive answer (after every
    history the run may give it, approximated by the reference's), or "not found"."""
    from bot.prompts import ABSTAIN

    out: Fallbacks = {}
    for plan in plans:
        for k, (question, _) in enumerate(plan):
            extractive = bot.ask(question, history=plan[:k], engine="extractive").answer
            out[question] = {extractive, *ABSTAIN.values()}
    return out


def single(
    settings: Settings, plans: Plans, article: str, duration: float, env: dict[str, str], fallbacks: Fallbacks
) -> dict[str, Any]:
    with serve(settings, env=env) as (url, pid):
        return run_load([url], {"app": pid}, plans, article, duration, fallbacks)


def replicas(
    settings: Settings, plans: Plans, article: str, duration: float, env: dict[str, str], fallbacks: Fallbacks
) -> dict[str, Any]:
    with llm_server(parallel=SERVER_PARALLEL) as (llm_url, server):
        env = {**env, "ARTICLE_QA_LLM_URL": llm_url}
        with serve(settings, env=env) as (url1, pid1), serve(settings, env=env) as (url2, pid2):
            pids = {"llm-server": server.pid, "app-1": pid1, "app-2": pid2}
            return run_load([url1, url2], pids, plans, article, duration, fallbacks)


# -- slots ---------------------------------------------------------------------------
def second_article(folder: Path, chars: int) -> Path | None:
    """The SQuAD "Rhine" paragraphs, about as long as the seed article, as an article file."""
    source = DATA / "squad2-dev-rhine.json"
    if not source.is_file():
        return None
    paragraphs = [p["context"] for p in json.loads(source.read_text(encoding="utf-8"))["data"][0]["paragraphs"]]
    text, used = "", 0
    for p in paragraphs:
        if used + len(p) > chars:
            break
        text += p + "\n\n"
        used += len(p)
    path = folder / "rhine.txt"
    path.write_text(text, encoding="utf-8")
    return path


def first_token(url: str, messages: list[dict[str, str]], extra: dict[str, Any]) -> dict[str, float]:
    """One streamed request straight to llama.cpp: time to first token and its cache figures."""
    import httpx

    from bot.remote_llm import sse_data

    body = {"messages": messages, "max_tokens": 24, "temperature": 0.0, "top_k": 1, "stream": True, **extra}
    t0 = time.perf_counter()
    ttft = None
    timings: dict[str, Any] = {}
    with httpx.stream("POST", url + "/chat/completions", json=body, timeout=600, trust_env=False) as r:
        for data in sse_data(r.iter_lines()):
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if ttft is None and any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or []):
                ttft = (time.perf_counter() - t0) * 1000
            timings = chunk.get("timings") or timings
    return {
        "ttft_ms": ttft or float("nan"),
        "cached": float(timings.get("cache_n", 0)),
        "processed": float(timings.get("prompt_n", 0)),
    }


def slots(settings: Settings, rounds: int, article_chars: int | None = None) -> dict[str, Any]:
    """``article_chars``: cut both articles to about that length (quick mode)."""
    seed = next(iter(sorted(settings.seeds.glob("*.txt"))))
    with tempfile.TemporaryDirectory(prefix="article-qa-slots-") as folder:
        return _slots(settings, Path(folder), seed, rounds, article_chars)


def _slots(settings: Settings, work: Path, seed: Path, rounds: int, article_chars: int | None) -> dict[str, Any]:
    from bot.ingest import read_article
    from bot.prompts import Prompts

    if article_chars:
        short = work / seed.name
        short.write_text(seed.read_text(encoding="utf-8")[:article_chars].rsplit(".", 1)[0] + ".", "utf-8")
        seed = short
    rhine = second_article(work, article_chars or len(seed.read_text(encoding="utf-8")))
    if rhine is None:
        return {"skipped": f"no {DATA}/squad2-dev-rhine.json (the shared data folder): slot runs skipped"}
    prompts = Prompts.load()
    articles = [read_article(seed), read_article(rhine)]
    questions = {
        articles[0].id: ["Qui est Mark Rutte ?", "Combien de soldats ?", "Où était Lavrov ?", "Que dit Poutine ?"],
        articles[1].id: ["Where does the Rhine begin?", "How long is it?", "Which lake?", "What countries?"],
    }

    def messages(i: int, k: int) -> list[dict[str, str]]:
        a = articles[i]
        q = questions[a.id][k % 4]
        return prompts.messages(a.id, list(a.sentences), q, "fr" if i == 0 else "en")

    runs: dict[str, Any] = {}
    choices = (
        ("server's choice (idle slots swapped to RAM: llama.cpp's default)", 2, False, "swap"),
        ("server's choice, idle slots keep their prompt (--idle-slots keep)", 2, False, "keep"),
        ("id_slot per article", 2, True, "swap"),
        ("one slot", 1, False, "swap"),
    )
    for name, parallel, pin, idle in choices:
        with llm_server(parallel=parallel, args=("--idle-slots", idle)) as (url, _):
            for i in range(2):  # each article once, untimed: the prefixes into the caches
                first_token(url, messages(i, 0), {"id_slot": i} if pin else {})
            rows = []
            for k in range(rounds):
                for i in range(2):  # alternate: A, B, A, B...
                    extra = {"id_slot": i} if pin else {}
                    rows.append({"article": i, **first_token(url, messages(i, k + 1), extra)})
        runs[name] = {
            "ttft_ms": p50_stats([r["ttft_ms"] for r in rows]),
            "cached_share": statistics.mean(r["cached"] / max(1.0, r["cached"] + r["processed"]) for r in rows),
            "rows": rows,
        }
    return {"article_chars": [len(a.text) for a in articles], "rounds": rounds, "runs": runs}


# -- report ----------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        cpu = next(x.split(":", 1)[1].strip() for x in open("/proc/cpuinfo") if x.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu_model": cpu, "nproc": os.cpu_count(), "python": platform.python_version()}


def markdown(r: dict[str, Any]) -> str:
    a, b = r["single"], r["replicas"]

    def lat(x: dict[str, Any], k: str) -> str:
        s = x["latency_ms"]
        return f"{s[k] / 1000:.1f}" if s else "–"

    rows = [
        ("questions answered", lambda x: f"{x['questions_answered']} in {x['elapsed_s']:.0f} s"),
        ("throughput (questions/s)", lambda x: f"{x['throughput_qps']:.3f}"),
        ("latency p50 / p95 (s)", lambda x: f"{lat(x, 'p50')} / {lat(x, 'p95')}"),
        ("errors", lambda x: str(len(x["errors"]))),
        ("cross-session: another session's answer or question", lambda x: f"{len(x['cross_session'])}"),
        ("answers equal to the one-at-a-time reference", lambda x: f"{x['same_as_reference']} of {len(x['answers'])}"),
        ("peak memory, all processes (MB)", lambda x: f"{x['peak_rss_mb']['total']:.0f}"),
        ("peak memory per process (MB)", lambda x: ", ".join(f"{n} {x['peak_rss_mb'][n]:.0f}" for n in x["processes"])),
    ]
    lines = [
        f"# Scale-out: {r['sessions']} chat sessions with the LLM engine ({r['mode']} mode)",
        "",
        f"`python -m bench.scale_out` on {r['date']}; {r['machine']['cpu_model']}, {r['machine']['nproc']} cores. "
        f"{r['sessions']} sessions (bench/load.py's gradio_client sessions, {r['turns']}-question conversations, "
        f"`--engine llm`) for {r['duration_s']:.0f} s against each setup, one after the other. Latency is one "
        "question as the client sees it, queueing included. The reference answers are the in-process model's, "
        "asked one at a time before the runs.",
        "",
        f"| | single process, LLM in process | 2 replicas + `bot llm-server --parallel {SERVER_PARALLEL}` |",
        "|---|---:|---:|",
        *(f"| {label} | {f(a)} | {f(b)} |" for label, f in rows),
        "",
        f"**Throughput, replicas ÷ single: {r['ratio_throughput']:.2f}×.**",
        "",
    ]
    for name, x in (("single", a), ("replicas", b)):
        lines += [f"- {name} error: {e}" for e in x["errors"][:5]]
        lines += [f"- {name} cross-session: {e}" for e in x["cross_session"][:5]]
        for d in x["different_from_reference"][:3]:
            lines.append(
                f"- {name}, differs from the reference: {d['question']!r}: {d['got'][:120]!r} "
                f"(reference {d['reference'][:120]!r})"
            )
    s = r.get("slots") or {}
    if s.get("skipped"):
        lines += ["", f"Slots: {s['skipped']}."]
    elif s:
        lines += [
            "",
            "## One slot per article?",
            "",
            f"Questions alternating between two articles ({' and '.join(str(c) for c in s['article_chars'])} "
            f"characters), one at a time, {s['rounds']} rounds, after each article was asked once:",
            "",
            "| slot choice | first token p50 / p95 (ms) | prompt tokens from a cache |",
            "|---|---:|---:|",
            *(
                f"| {name} | {x['ttft_ms']['p50']:.0f} / {x['ttft_ms']['p95']:.0f} "
                f"| {100 * x['cached_share']:.0f} % |"
                for name, x in s["runs"].items()
            ),
            "",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scale_out", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a crash test: 2 sessions, one question each, a few seconds")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--duration", type=float, default=150.0, help="seconds per setup")
    ap.add_argument("--out", type=Path, default=ROOT / "bench")
    args = ap.parse_args(argv)
    sessions, duration, turns, rounds = (2, 5.0, 1, 1) if args.quick else (args.sessions, args.duration, 3, 2)
    # Quick: the model reads the retrieved sentences, not the whole article, so
    # that each cold prompt takes seconds, not twenty; the code paths are the same.
    mode = "retrieved" if args.quick else "article"
    settings = Settings.load({"engine": "llm", "llm_context_mode": mode})
    env = {"ARTICLE_QA_ENGINE": "llm", "ARTICLE_QA_LLM_CONTEXT_MODE": mode}
    bot = Bot(settings)
    bot.ensure_index()
    article = bot.index.article_ids[0]
    t0 = time.time()
    plans = conversations(settings, sessions, engine="llm", turns=turns, bot=bot)
    reference_s = time.time() - t0
    fallbacks = fallback_answers(bot, plans)
    del bot  # its model leaves memory before the runs
    result: dict[str, Any] = {
        "schema": "article-qa-bench-scale-out/1",
        "mode": "quick" if args.quick else "full",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "sessions": sessions,
        "turns": turns,
        "duration_s": duration,
        "reference_s": reference_s,
        "context_mode": mode,
        "single": single(settings, plans, article, duration, env, fallbacks),
        "replicas": replicas(settings, plans, article, duration, env, fallbacks),
    }
    a, b = result["single"]["throughput_qps"], result["replicas"]["throughput_qps"]
    result["ratio_throughput"] = b / a if a else float("nan")
    result["slots"] = slots(settings, rounds, article_chars=800 if args.quick else None)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale_out_results.json").write_text(json.dumps(result, indent=1, ensure_ascii=False), "utf-8")
    text = markdown(result)
    (args.out / "scale_out_results.md").write_text(text, encoding="utf-8")
    print(text)
    bad = any(result[k]["errors"] or result[k]["cross_session"] for k in ("single", "replicas"))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
