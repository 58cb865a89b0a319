"""Retrieval at scale: exact flat search against HNSW and IVF at 10,000 to
1,000,000 vectors of dimension 384, on synthetic sentence embeddings.

    python -m bench.scale              # full mode: 10k, 100k, 1M; ~25 minutes on 2 cores
    python -m bench.scale --quick      # 10k and 50k, a short sweep; under 2 minutes
    python -m bench.scale --threads 1  # faiss OpenMP threads (default 2)
    python -m bench.scale --render     # no measuring: the choice and report again from the JSON

Writes ``bench/scale_results.json`` (stable keys; what a mode skips is
``null``), ``bench/scale_results.md`` and ``bench/scale.png``.

Each query is searched on its own, as the bot does, and timed; recall@10 is
against an exact top 10 computed with numpy, not with faiss. At each size the
cheapest setting (lowest median latency) with recall@10 >= 0.95 is picked, and
``choose`` turns the sizes into the rule ``bot/index.py`` can apply
(``CROSSOVER``, ``HNSW_PARAMS``, ``recommend``).
"""

from __future__ import annotations

import os

# Before numpy and faiss start their OpenMP pools: idle workers sleep instead
# of spinning, which on a shared 2-core machine would slow the timed thread.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import asdict, dataclass, replace  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402

from bench import foundation  # noqa: E402
from bench.foundation import Stats, fmt, log, section, summary  # noqa: E402

HERE = Path(__file__).resolve().parent
SCHEMA = "article-qa-bench-scale/1"
DIM = 384
K = 10  # recall@10
SEED = 20241028
TARGET_RECALL = 0.95
TARGET_N, TARGET_P50_MS = 1_000_000, 20.0  # "at 1M: p50 <= 20 ms with recall@10 >= 0.95"
HNSW_M = 32
WARMUP = 10  # untimed searches before each timed pass
ARTICLE_ROWS = 200  # rows of the range an article-restricted search keeps
# Flat search is exact and costs nothing to build, so the bot keeps it while one
# search stays under this. A question takes two searches (sentences, windows),
# so 2 x 2.5 ms is a tenth of the 50 ms warm-ask target, of which the query
# embedding already takes most (bench/foundation_results.md).
FLAT_BUDGET_MS = 2.5

# The product's rule, from the full run of 2026-11-29 16:45 UTC (bench/scale_results.*,
# "choice"); a new full run recomputes it there: copy it here if it moves.
# - Searches run on one faiss thread: faiss splits even one query's flat scan
#   over its threads; on 2 idle cores two threads took from 8 % less to 13 %
#   more time than one, and with another process on the other core they took
#   2x (1M) to 5x (10k) as long.
SEARCH_THREADS = 1
# - Flat (one thread) reaches FLAT_BUDGET_MS near 20,000 vectors (power-law fit
#   through 10k, 100k and 1M, rounded down to one significant digit).
CROSSOVER = 20_000
# - Above it, the smallest efSearch that kept recall@10 >= 0.95 at 100k and 1M
#   in both builds (efConstruction 40 and 80: one build's recall differs from
#   another's by up to 0.02 at the same efSearch, so no single lucky build
#   decides); efConstruction 40, the cheaper build, since both qualify.
#   0.52 ms p50 and recall@10 0.983 at 1M.
HNSW_PARAMS = {"M": HNSW_M, "efConstruction": 40, "efSearch": 128}


def recommend(n: int) -> dict[str, Any]:
    """The index to build for ``n`` vectors.

    >>> recommend(5_000)
    {'index': 'flat'}
    """
    if n < CROSSOVER:
        return {"index": "flat"}
    return {"index": "hnsw", **HNSW_PARAMS}


# -- data ------------------------------------------------------------------
@dataclass(frozen=True)
class Corpus:
    """Synthetic sentence embeddings: unit vectors of dimension ``DIM``.

    "clustered" (the main set) is a two-level Gaussian mixture: ``topics``
    random directions; ``centres`` story centres, each a topic plus noise of
    norm ``centre_noise``, so that stories of a topic are near one another;
    a vector is a centre plus noise of norm ``noise`` whose variance on axis
    j falls as 1/j, so that most of the spread lies in a few dozen directions
    (real embeddings have a low intrinsic dimension). "uniform" is uniform on
    the sphere: no structure at all, the worst case for approximate search.
    """

    kind: str = "clustered"
    topics: int = 64
    centres: int = 4096
    centre_noise: float = 1.0
    noise: float = 1.0
    seed: int = SEED

    def sample(self, n: int, stream: int) -> np.ndarray:
        """``n`` vectors; a different ``stream`` (base 0, queries 1) gives other draws."""
        rng = np.random.default_rng([self.seed, stream])
        out = np.empty((n, DIM), dtype=np.float32)
        centres = self._centres() if self.kind == "clustered" else None
        scale = np.arange(1, DIM + 1, dtype=np.float32) ** -0.5
        scale *= self.noise / np.linalg.norm(scale)
        for lo in range(0, n, 65_536):  # chunks keep the temporaries small (each is 1.5 GB at 1M)
            m = min(65_536, n - lo)
            x = rng.standard_normal((m, DIM), dtype=np.float32)
            if centres is not None:
                x = centres[rng.integers(len(centres), size=m)] + x * scale
            out[lo : lo + m] = unit(x)
        return out

    def _centres(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 99])
        topics = unit(rng.standard_normal((self.topics, DIM), dtype=np.float32))
        noise = rng.standard_normal((self.centres, DIM), dtype=np.float32) * (self.centre_noise / math.sqrt(DIM))
        return unit(topics[rng.integers(self.topics, size=self.centres)] + noise)


def unit(x: np.ndarray) -> np.ndarray:
    return np.asarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def exact_top_k(base: np.ndarray, queries: np.ndarray, k: int = K) -> tuple[np.ndarray, np.ndarray]:
    """Ids and scores of each query's k highest inner products, best first,
    with numpy (independent of faiss); chunked to bound the score matrix."""
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    for lo in range(0, len(base), 131_072):
        s = queries @ base[lo : lo + 131_072].T
        part = np.argpartition(-s, min(k, s.shape[1]) - 1, axis=1)[:, :k]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, part, 1)], axis=1)
        cand_i = np.concatenate([best_i, part + lo], axis=1)
        top = np.argpartition(-cand_s, min(k, cand_s.shape[1]) - 1, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(cand_s, top, 1), np.take_along_axis(cand_i, top, 1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_i, order, 1), np.take_along_axis(best_s, order, 1)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each query's true top k that the search returned (-1, "not found", never counts)."""
    k = truth.shape[1]
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / k for f, t in zip(found, truth, strict=True)]))


# -- measurements ----------------------------------------------------------
@dataclass(frozen=True)
class Sweep:
    """What a run measures."""

    sizes: tuple[int, ...]
    queries: int
    ef_construction: tuple[int, ...]
    ef_search: tuple[int, ...]
    nprobe: tuple[int, ...]
    uniform_sizes: tuple[int, ...]  # the unstructured worst case, at these sizes only
    settle_s: float  # wait up to this long for other processes to go quiet before a section


QUICK = Sweep((10_000, 50_000), 50, (40,), (16, 64, 256), (4, 16, 64), (10_000,), 0.0)
FULL = Sweep(
    (10_000, 100_000, 1_000_000),
    200,
    (40, 80),
    (16, 32, 64, 128, 256, 512),
    (1, 2, 4, 8, 16, 32, 64, 128),
    (100_000,),
    15.0,
)


def single_queries(index: Any, queries: np.ndarray, params: Any = None) -> tuple[list[float], np.ndarray]:
    """Milliseconds of each one-query search (the bot's pattern) and the ids found."""
    for q in queries[:WARMUP]:
        index.search(q[None], K, params=params)
    ids = np.empty((len(queries), K), dtype=np.int64)
    ms: list[float] = []
    for i in range(len(queries)):
        q = queries[i : i + 1]
        t = time.perf_counter()
        _, ids[i] = index.search(q, K, params=params)
        ms.append((time.perf_counter() - t) * 1e3)
    return ms, ids


def index_bytes(index: Any) -> int:
    """Size of the index as written to disk, about its size in memory."""
    return int(faiss.serialize_index(index).nbytes)


def setting(
    kind: str, params: dict[str, int], build_s: float, nbytes: int, ms: list[float], rec: float
) -> dict[str, Any]:
    label = " ".join([kind.upper() if kind != "flat" else "flat", *(f"{k}={v}" for k, v in params.items())])
    return {
        "index": kind,
        "params": params,
        "label": label,
        "build_s": build_s,
        "bytes": nbytes,
        "recall_at_10": rec,
        "latency_ms": summary(ms),
    }


def bench_flat(base: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> list[dict[str, Any]]:
    """Flat search with the run's threads (first row), then with one thread if that differs.

    faiss splits even a single query's scan over its threads; on 2 cores that
    another process is using, waiting for the slower half can cost more than
    the split saves, so one thread is measured too.
    """
    t = time.perf_counter()
    index = faiss.IndexFlatIP(DIM)
    index.add(base)
    build_s = time.perf_counter() - t
    nbytes = index_bytes(index)
    threads = faiss.omp_get_max_threads()
    rows = []
    for n in dict.fromkeys((threads, 1)):
        faiss.omp_set_num_threads(n)
        ms, found = single_queries(index, queries)
        rows.append(setting("flat", {"threads": n}, build_s, nbytes, ms, recall_at_k(found, truth)))
    faiss.omp_set_num_threads(threads)
    return rows


def build_hnsw(base: np.ndarray, ef_construction: int) -> tuple[Any, float]:
    """IndexHNSWFlat built in batches, with progress on stderr (1M takes minutes)."""
    index = faiss.IndexHNSWFlat(DIM, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    batch = 100_000
    t = time.perf_counter()
    for lo in range(0, len(base), batch):
        index.add(base[lo : lo + batch])
        if len(base) > batch:
            done = min(lo + batch, len(base))
            spent = time.perf_counter() - t
            log(f"  HNSW efC={ef_construction}: {done:,}/{len(base):,} in {spent:.0f} s")
    return index, time.perf_counter() - t


def bench_hnsw(
    index: Any, build_s: float, ef_construction: int, ef_search: Sequence[int], queries: np.ndarray, truth: np.ndarray
) -> list[dict[str, Any]]:
    nbytes = index_bytes(index)
    rows = []
    for ef in ef_search:
        index.hnsw.efSearch = ef
        ms, found = single_queries(index, queries)
        params = {"M": HNSW_M, "efConstruction": ef_construction, "efSearch": ef}
        rows.append(setting("hnsw", params, build_s, nbytes, ms, recall_at_k(found, truth)))
    return rows


def bench_ivf(base: np.ndarray, nprobe: Sequence[int], queries: np.ndarray, truth: np.ndarray) -> list[dict[str, Any]]:
    nlist = max(1, round(4 * math.sqrt(len(base))))
    quantizer = faiss.IndexFlatIP(DIM)
    index = faiss.IndexIVFFlat(quantizer, DIM, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.spherical = True  # centroids on the sphere, like the vectors they stand for
    # faiss samples at most this many training vectors per list: 50 (not its 256)
    # keeps k-means on 1M vectors to a few minutes on 2 cores.
    index.cp.max_points_per_centroid = 50
    t = time.perf_counter()
    index.train(base)
    index.add(base)
    build_s = time.perf_counter() - t
    nbytes = index_bytes(index)
    rows = []
    for p in (p for p in nprobe if p <= nlist):
        index.nprobe = p
        ms, found = single_queries(index, queries)
        rows.append(setting("ivf", {"nlist": nlist, "nprobe": p}, build_s, nbytes, ms, recall_at_k(found, truth)))
    return rows


def bench_restricted(base: np.ndarray, hnsw: Any, flat: Any, queries: np.ndarray) -> dict[str, Any]:
    """The bot's ``article=`` search: an IDSelectorRange over one article's rows.

    Exact on a flat index; on HNSW the graph walk meets few allowed rows and
    misses most of them; HNSWFlat's own storage is a flat index, so searching
    it with the same selector stays exact and reads only the range.
    """
    lo = len(base) // 2
    hi = lo + min(ARTICLE_ROWS, len(base) - lo)
    truth, _ = exact_top_k(base[lo:hi], queries)
    truth += lo
    params = faiss.SearchParameters(sel=faiss.IDSelectorRange(lo, hi))  # type: ignore[call-arg]
    out: dict[str, Any] = {"rows": hi - lo, "hnsw_efSearch": int(hnsw.hnsw.efSearch)}
    for key, index in (("flat", flat), ("hnsw", hnsw), ("hnsw_storage", faiss.downcast_index(hnsw.storage))):
        ms, found = single_queries(index, queries, params)
        out[key] = {"recall_at_10": recall_at_k(found, truth), "latency_ms": summary(ms)}
    return out


def measure(
    corpus: Corpus, n: int, sweep: Sweep, contention: dict[str, float | None], restricted: bool = True
) -> dict[str, Any]:
    """Every setting of ``sweep`` on ``n`` vectors of ``corpus``: the core of the benchmark."""
    plan = replace(foundation.QUICK, settle_s=sweep.settle_s)  # section() reads only settle_s
    tag = f"{corpus.kind} {n:,}"
    with section(f"{tag} data", f"{tag}: data and exact top {K}", plan, contention):
        t = time.perf_counter()
        base = corpus.sample(n, 0)
        queries = corpus.sample(sweep.queries, 1)
        data_s = time.perf_counter() - t
        t = time.perf_counter()
        truth, scores = exact_top_k(base, queries)
        truth_s = time.perf_counter() - t
    with section(f"{tag} flat", f"{tag}: flat, {len(queries)} single queries", plan, contention):
        rows = bench_flat(base, queries, truth)
    out: dict[str, Any] = {
        "n": n,
        "base_bytes": int(base.nbytes),
        "data_s": data_s,
        "truth_s": truth_s,
        # how near the true neighbours are: the harder to tell apart, the harder the search
        "neighbour_cos": {
            "top1_median": float(np.median(scores[:, 0])),
            "top10_median": float(np.median(scores[:, -1])),
        },
        "settings": rows,
        "restricted": None,
    }
    for efc in sweep.ef_construction:
        with section(f"{tag} hnsw{efc}", f"{tag}: HNSW M={HNSW_M} efC={efc}, build and sweep", plan, contention):
            index, build_s = build_hnsw(base, efc)
            rows += bench_hnsw(index, build_s, efc, sweep.ef_search, queries, truth)
        if restricted and efc == sweep.ef_construction[-1]:
            flat = faiss.IndexFlatIP(DIM)
            flat.add(base)
            index.hnsw.efSearch = max(sweep.ef_search)
            with section(f"{tag} restricted", f"{tag}: article-restricted search", plan, contention):
                out["restricted"] = bench_restricted(base, index, flat, queries)
            del flat
        del index
        gc.collect()
    if sweep.nprobe:
        with section(f"{tag} ivf", f"{tag}: IVF build and nprobe sweep", plan, contention):
            rows += bench_ivf(base, sweep.nprobe, queries, truth)
    return out


# -- choice ----------------------------------------------------------------
def cheapest(rows: Sequence[dict[str, Any]], approximate: bool = False) -> dict[str, Any] | None:
    """The setting with the lowest median latency among those with recall@10 >= TARGET_RECALL."""
    ok = [r for r in rows if r["recall_at_10"] >= TARGET_RECALL and (r["index"] != "flat" or not approximate)]
    return min(ok, key=lambda r: r["latency_ms"]["median"]) if ok else None


def crossover(flat_p50_ms: dict[int, float], budget_ms: float = FLAT_BUDGET_MS) -> int:
    """Vectors at which flat search reaches ``budget_ms``, from a power-law fit
    of the measured medians, rounded down to one significant digit.

    >>> crossover({10_000: 1.0, 100_000: 10.0, 1_000_000: 100.0}, 2.5)
    20000
    """
    n = np.log(np.array(list(flat_p50_ms), dtype=float))
    t = np.log(np.array(list(flat_p50_ms.values()), dtype=float))
    slope, icept = np.polyfit(n, t, 1) if len(n) > 1 else (0.0, 0.0)
    if slope <= 0:  # one size, or noise: take the time as proportional to n
        slope, icept = 1.0, float(np.mean(t - n))
    at = math.exp((math.log(budget_ms) - icept) / slope)
    digit = 10 ** math.floor(math.log10(at))
    return int(at // digit * digit)


def flat_row(rows: Sequence[dict[str, Any]], threads: int | None = None) -> dict[str, Any]:
    """The flat measurement with ``threads`` faiss threads (default: the run's, measured first)."""
    return next(r for r in rows if r["index"] == "flat" and threads in (None, r["params"]["threads"]))


def choose(sizes: dict[str, dict[str, Any]], run_threads: int) -> dict[str, Any]:
    """The rule for the product, from the measurements.

    Flat below the crossover, where flat search on one faiss thread (the
    fastest way to run a single query, see ``bench_flat``) reaches
    FLAT_BUDGET_MS. Above it, HNSW with the smallest efSearch that keeps
    recall@10 >= TARGET_RECALL in every build measured (each efConstruction)
    at every measured size above the crossover, since builds vary; and the
    cheapest of those builds, the smallest efConstruction.
    """
    by_n = {int(n): s for n, s in sorted(sizes.items(), key=lambda kv: int(kv[0]))}

    def fit(threads: int) -> int:
        return crossover({n: flat_row(s["settings"], threads)["latency_ms"]["median"] for n, s in by_n.items()})

    cross = fit(SEARCH_THREADS)
    above = [n for n in by_n if n >= cross] or [max(by_n)]
    hnsw = [r for n in above for r in by_n[n]["settings"] if r["index"] == "hnsw"]
    builds = {r["params"]["efConstruction"] for r in hnsw}

    def worst(ef: int) -> float:
        """The lowest recall at this efSearch over every build and size (0 if one was not measured)."""
        found = [r["recall_at_10"] for r in hnsw if r["params"]["efSearch"] == ef]
        return min(found) if len(found) == len(builds) * len(above) else 0.0

    swept = sorted({r["params"]["efSearch"] for r in hnsw})
    ok = [ef for ef in swept if worst(ef) >= TARGET_RECALL]
    efs = ok[0] if ok else max(swept, key=worst)  # none reaches the target: the best, flagged
    efc = min(builds)
    above_rule = {"index": "hnsw", "M": HNSW_M, "efConstruction": efc, "efSearch": efs}
    per_n = {}
    for n, s in by_n.items():
        best, approx = cheapest(s["settings"]), cheapest(s["settings"], approximate=True)
        per_n[str(n)] = {"cheapest": best and best["label"], "cheapest_approximate": approx and approx["label"]}
    return {
        "flat_budget_ms": FLAT_BUDGET_MS,
        "search_threads": SEARCH_THREADS,
        "crossover": cross,
        # the same fit with the run's faiss threads (what the bot gets if it leaves faiss at its default)
        "crossover_at_run_threads": fit(run_threads),
        "below": {"index": "flat"},
        "above": above_rule,
        "recall_at": {str(n): recall_of(by_n[n]["settings"], above_rule) for n in above},
        "worst_build_recall_at_efSearch": worst(efs),
        "meets_recall_target": bool(ok),
        "per_n": per_n,
    }


def recommended_row(rows: Sequence[dict[str, Any]], a: dict[str, Any]) -> dict[str, Any] | None:
    """The measurement of the HNSW setting ``a`` (``choose``'s "above"), if this size has it."""
    want = {"M": a["M"], "efConstruction": a["efConstruction"], "efSearch": a["efSearch"]}
    return next((r for r in rows if r["index"] == "hnsw" and r["params"] == want), None)


def recall_of(rows: Sequence[dict[str, Any]], a: dict[str, Any]) -> float | None:
    row = recommended_row(rows, a)
    return row["recall_at_10"] if row else None


def target_1m(sizes: dict[str, dict[str, Any]], choice: dict[str, Any]) -> dict[str, Any]:
    """Is "at 1M: p50 <= 20 ms with recall@10 >= 0.95" met, by the recommended setting and by any?"""
    out: dict[str, Any] = {
        "n": TARGET_N,
        "p50_ms": TARGET_P50_MS,
        "recall_at_10": TARGET_RECALL,
        "measured": str(TARGET_N) in sizes,
        "met": None,
        "recommended": None,
        "best": None,
    }
    if not out["measured"]:
        return out
    rows = sizes[str(TARGET_N)]["settings"]
    rec = recommended_row(rows, choice["above"])
    best = cheapest([r for r in rows if r["latency_ms"]["median"] <= TARGET_P50_MS])

    def brief(r: dict[str, Any]) -> dict[str, Any]:
        return {"label": r["label"], "p50_ms": r["latency_ms"]["median"], "recall_at_10": r["recall_at_10"]}

    out["recommended"] = rec and {
        **brief(rec),
        "met": rec["latency_ms"]["median"] <= TARGET_P50_MS and rec["recall_at_10"] >= TARGET_RECALL,
    }
    out["best"] = best and brief(best)
    out["met"] = best is not None
    return out


# -- run -------------------------------------------------------------------
def run(quick: bool, threads: int = 2, sweep: Sweep | None = None) -> dict[str, Any]:
    """Measure, choose, and return the JSON-ready result (see the module docstring)."""
    sweep = sweep or (QUICK if quick else FULL)
    faiss.omp_set_num_threads(threads)  # builds use them; a one-query search runs on one thread
    start = time.perf_counter()
    contention: dict[str, float | None] = {}
    clustered, uniform = Corpus(), Corpus(kind="uniform")
    sizes = {str(n): measure(clustered, n, sweep, contention) for n in sweep.sizes}
    unstructured = {
        str(n): measure(uniform, n, replace(sweep, ef_construction=sweep.ef_construction[:1]), contention, False)
        for n in sweep.uniform_sizes
    }
    result = {
        "schema": SCHEMA,
        "mode": "quick" if quick else "full",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": foundation.machine(),  # imports torch: after the timings
        "faiss_threads": threads,
        "sweep": asdict(sweep),
        "data": {"clustered": asdict(clustered), "uniform": asdict(uniform), "dim": DIM, "queries": sweep.queries},
        "k": K,
        "target_recall": TARGET_RECALL,
        "sizes": sizes,
        "uniform": unstructured or None,
        "contention": contention,
        "rendered": None,  # set by --render: when the choice and report were recomputed from the JSON
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "elapsed_s": time.perf_counter() - start,
    }
    return derive(result)


def derive(result: dict[str, Any]) -> dict[str, Any]:
    """Add what follows from the measurements: the choice, the 1M target, and
    the constants this file holds (to show whether they still match)."""
    choice = choose(result["sizes"], result["faiss_threads"])
    return {
        **result,
        "choice": choice,
        "target_1m": target_1m(result["sizes"], choice),
        "constants": {"SEARCH_THREADS": SEARCH_THREADS, "CROSSOVER": CROSSOVER, "HNSW_PARAMS": HNSW_PARAMS},
    }


# -- report ----------------------------------------------------------------
def ms(s: Stats) -> str:
    return f"{fmt(s['median'])} / {fmt(s['p95'])}"


def mb(nbytes: int) -> str:
    return f"{nbytes / 2**20:,.0f}" if nbytes >= 2**20 else f"{nbytes / 2**20:.2f}"


def settings_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    return [
        "| setting | recall@10 | p50 / p95 (ms) | min–max (ms) | build (s) | memory (MB) |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| {r['label']} | {r['recall_at_10']:.3f} | {ms(r['latency_ms'])} "
            f"| {fmt(r['latency_ms']['min'])}–{fmt(r['latency_ms']['max'])} | {fmt(r['build_s'])} | {mb(r['bytes'])} |"
            for r in rows
        ),
    ]


def a_params(a: dict[str, Any]) -> dict[str, Any]:
    return {key: a[key] for key in ("M", "efConstruction", "efSearch")}


def markdown(result: dict[str, Any]) -> str:
    r, m, c = result, result["machine"], result["choice"]
    data = r["data"]["clustered"]
    lines = [
        f"# Benchmark: retrieval at scale ({r['mode']} mode)",
        "",
        f"`python -m bench.scale{' --quick' if r['mode'] == 'quick' else ''} --threads {r['faiss_threads']}` "
        f"on {r['date']}, commit `{m['git']}`, took {r['elapsed_s']:.0f} s; peak RSS {r['peak_rss_mb']:,.0f} MB. "
        f"{m['cpu_model']}, nproc {m['nproc']}, RAM {m['mem_gb']} GB, faiss {m['faiss']}, numpy {m['numpy']}, "
        f"OMP_WAIT_POLICY={m['omp_wait_policy']}."
        + (f" Choice and report recomputed from the JSON on {r['rendered']}." if r.get("rendered") else ""),
        "",
        f"Data: synthetic unit vectors of dimension {r['data']['dim']}, a two-level Gaussian mixture "
        f"({data['topics']} topics, {data['centres']:,} story centres around them, vectors around the centres "
        "with a variance falling as 1/j on axis j, i.e. a low intrinsic dimension like real sentence embeddings; "
        f"seed {data['seed']}). {r['data']['queries']} queries from the same distribution, not in the base set. "
        f"Each query is searched alone (as the bot does) after {WARMUP} untimed ones; recall@{r['k']} is against "
        "an exact top 10 computed with numpy. Latency is over the queries (median / p95, min–max); each index "
        "is built once, so build times are single measurements.",
        "",
        "## Headline",
        "",
        f"Cheapest approximate setting with recall@10 ≥ {r['target_recall']} at each size "
        "(lowest median latency; build and memory are that index's):",
        "",
        f"| vectors | flat p50 / p95 (ms), {r['faiss_threads']} threads | flat, 1 thread | flat MB "
        "| cheapest approximate ≥ 0.95 | p50 / p95 (ms) | recall@10 | build (s) | MB |",
        "|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for n, s in r["sizes"].items():
        flat, one = flat_row(s["settings"]), flat_row(s["settings"], threads=1)
        a = cheapest(s["settings"], approximate=True)
        tail = (
            f"{a['label']} | {ms(a['latency_ms'])} | {a['recall_at_10']:.3f} | {fmt(a['build_s'])} | {mb(a['bytes'])}"
            if a
            else "none reaches 0.95 | – | – | – | –"
        )
        lines.append(
            f"| {int(n):,} | {ms(flat['latency_ms'])} | {ms(one['latency_ms'])} | {mb(flat['bytes'])} | {tail} |"
        )
    t = r["target_1m"]
    lines += ["", "## Target at 1M: p50 ≤ 20 ms with recall@10 ≥ 0.95", ""]
    if not t["measured"]:
        lines.append("Not measured in this mode (1M is in the full run only).")
    else:
        rec = t["recommended"]
        lines.append(
            f"**{'Met' if t['met'] else 'MISSED'}.** Recommended setting {rec['label']}: p50 {fmt(rec['p50_ms'])} ms, "
            f"recall@10 {rec['recall_at_10']:.3f} ({'meets' if rec['met'] else 'misses'} the target)."
            + (f" Cheapest setting that meets it: {t['best']['label']}." if t["best"] else "")
        )
    a = c["above"]
    k = r["constants"]
    same = (k["SEARCH_THREADS"], k["CROSSOVER"], k["HNSW_PARAMS"]) == (c["search_threads"], c["crossover"], a_params(a))
    lines += [
        "",
        "## Recommendation for the automatic index choice",
        "",
        f"- **flat (`IndexFlatIP`) below {c['crossover']:,} vectors; from there, `IndexHNSWFlat(384, {a['M']}, "
        f"METRIC_INNER_PRODUCT)` with efConstruction = {a['efConstruction']}, efSearch = {a['efSearch']}; "
        f"searches with `faiss.omp_set_num_threads({c['search_threads']})`.**",
        f"- Threshold: where the flat median with {c['search_threads']} faiss thread (power-law fit over the sizes) "
        f"reaches {c['flat_budget_ms']} ms per search (two searches a question), rounded down to one significant "
        f"digit. With faiss left at {r['faiss_threads']} threads the same fit gives {c['crossover_at_run_threads']:,}.",
        f"- efSearch: the smallest that kept recall@10 ≥ {r['target_recall']} in every build (efConstruction "
        f"{', '.join(str(x) for x in r['sweep']['ef_construction'])}) at every measured size from the threshold "
        f"(worst {c['worst_build_recall_at_efSearch']:.3f}); this build's recall: "
        + ", ".join(f"{int(n):,}: {v:.3f}" for n, v in c["recall_at"].items() if v is not None)
        + ("" if c["meets_recall_target"] else " (**no efSearch reached the target; this is the best**)")
        + f". efConstruction: the cheapest build measured, {a['efConstruction']}.",
        f"- `bench/scale.py` holds SEARCH_THREADS = {k['SEARCH_THREADS']}, CROSSOVER = {k['CROSSOVER']:,}, "
        f"HNSW_PARAMS = {k['HNSW_PARAMS']}" + ("" if same else " (**they differ from this run's choice**)") + ".",
        "",
        "## All settings",
    ]
    for n, s in r["sizes"].items():
        nc = s["neighbour_cos"]
        lines += [
            "",
            f"### {int(n):,} vectors (data {mb(s['base_bytes'])} MB; median cosine of the nearest neighbour "
            f"{nc['top1_median']:.3f}, of the 10th {nc['top10_median']:.3f})",
            "",
            *settings_table(s["settings"]),
        ]
    if r["uniform"]:
        lines += ["", "## Uniform random vectors (no structure: the worst case)", ""]
        for n, s in r["uniform"].items():
            a = cheapest(s["settings"], approximate=True)
            lines += [
                f"### {int(n):,} vectors: cheapest approximate ≥ 0.95: {a['label'] if a else 'none'}",
                "",
                *settings_table(s["settings"]),
                "",
            ]
    lines += [
        "",
        f"## Article-restricted search (`IDSelectorRange` over {ARTICLE_ROWS} rows, as `Retriever` does)",
        "",
        "| vectors | flat: recall, p50 (ms) | HNSW: recall, p50 (ms) | HNSW's flat storage: recall, p50 (ms) |",
        "|---:|---:|---:|---:|",
    ]
    for n, s in r["sizes"].items():
        x = s["restricted"]
        if x:
            cells = [f"{x[k]['recall_at_10']:.3f}, {fmt(x[k]['latency_ms']['median'])}" for k in ("flat", "hnsw")]
            cells.append(f"{x['hnsw_storage']['recall_at_10']:.3f}, {fmt(x['hnsw_storage']['latency_ms']['median'])}")
            lines.append(f"| {int(n):,} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "HNSW is searched at efSearch = its largest swept value. A range filter on HNSW walks the graph and keeps "
        "only allowed rows, so it misses most of an article's sentences; `faiss.downcast_index(hnsw.storage)` is a "
        "flat index over the same rows and searches the range exactly.",
        "",
        "## Contention",
        "",
        "Share of the machine's CPU that other processes used during each section (above ~10 % the timings "
        "of that section are pessimistic):",
        "",
        "| section | other processes |",
        "|---|---:|",
        *(f"| {k} | {v:.0%} |" for k, v in r["contention"].items() if v is not None),
        "",
    ]
    return "\n".join(lines)


def chart(result: dict[str, Any], path: Path) -> None:
    """Median latency against size, log-log: flat, the recommended HNSW setting
    and the cheapest approximate setting at each size, recall annotated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = result["choice"]["above"]
    ns = [int(n) for n in result["sizes"]]
    rows = list(result["sizes"].values())
    fig, ax = plt.subplots(figsize=(8, 5))
    threads = result["faiss_threads"]
    ax.plot(ns, [flat_row(s["settings"])["latency_ms"]["median"] for s in rows], "o-", label=f"flat, {threads} threads")
    if threads != 1:
        one = [flat_row(s["settings"], threads=1)["latency_ms"]["median"] for s in rows]
        ax.plot(ns, one, "o--", color="C0", alpha=0.5, label="flat, 1 thread")
    rec = [(n, recommended_row(s["settings"], a)) for n, s in zip(ns, rows, strict=True)]
    best = [(n, cheapest(s["settings"], approximate=True)) for n, s in zip(ns, rows, strict=True)]
    for points, style, label, below in (
        (rec, "s-", f"HNSW M={a['M']} efC={a['efConstruction']} efSearch={a['efSearch']} (recommended)", False),
        (best, "^", "cheapest approximate with R@10 ≥ 0.95", True),
    ):
        found = [(n, r) for n, r in points if r]
        ax.plot([n for n, _ in found], [r["latency_ms"]["median"] for _, r in found], style, label=label)
        for n, r in found:
            short = "" if not below else " ".join(f"{k}={v}" for k, v in r["params"].items() if k != "M") + "\n"
            text = f"{short}R@10 {r['recall_at_10']:.3f}"
            at = (n, r["latency_ms"]["median"])
            ax.annotate(text, at, textcoords="offset points", xytext=(6, -22 if below else 4), fontsize=7)
    ax.axvline(result["choice"]["crossover"], color="grey", ls="--", lw=1, label="flat | HNSW threshold")
    ax.axhline(TARGET_P50_MS, color="grey", ls=":", lw=1, label="target at 1M: 20 ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(min(ns) / 2, max(ns) * 4)  # room for the labels of the largest size
    lowest = [r["latency_ms"]["median"] for _, r in best + rec if r]
    if lowest:
        ax.set_ylim(bottom=min(lowest) / 4)  # and for those under the lowest point
    ax.set_xlabel("vectors (dimension 384)")
    ax.set_ylabel("single-query latency, median (ms)")
    ax.set_title(f"Retrieval at scale ({result['mode']}, {result['faiss_threads']} faiss threads)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scale", description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10k and 50k vectors, a short sweep (< 2 minutes)")
    ap.add_argument("--threads", type=int, default=2, help="faiss OpenMP threads (default 2)")
    ap.add_argument("--out", type=Path, default=HERE, help="where scale_results.* and scale.png go")
    ap.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: recompute the choice from --out's scale_results.json and rewrite the three files",
    )
    args = ap.parse_args(argv)
    if args.render:
        result = derive(json.loads((args.out / "scale_results.json").read_text(encoding="utf-8")))
        result["rendered"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    else:
        result = run(args.quick, args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    (args.out / "scale_results.json").write_text(text, encoding="utf-8")
    (args.out / "scale_results.md").write_text(markdown(result), encoding="utf-8")
    chart(result, args.out / "scale.png")
    log(f"wrote {args.out / 'scale_results.md'}, scale_results.json and scale.png in {result['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
