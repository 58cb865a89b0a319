"""LLM speed: time to first token and total, with the article prefix in the KV
cache and without, and with n-gram speculative decoding and without, on the
dev questions; peak RSS.

    python -m bench.llm [--n 10] [--quick] [--out DIR]   # writes DIR/llm_results.md and .json

"With the cache" is the product's path: the article was warmed once and each
question processes only its own tokens. "Without" sends the same prompt with
cache_prompt off, so llama.cpp processes all of it, as a pipeline that puts
retrieved text before the question would. "No speculative decoding" is a
second copy of the model loaded with ``llm_speculative=none`` and warmed the
same way; the three runs alternate question by question, so a noisy moment on
the shared machine hits all of them. Peak RSS is read before that copy loads.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bench.foundation import p50_stats as stats  # noqa: E402
from bot import Bot, Settings  # noqa: E402
from bot.generate import Request, answer_grammar, context_sentences  # noqa: E402
from bot.gold import load_gold  # noqa: E402
from bot.lang import detect  # noqa: E402
from bot.llm import GenerationStats, LocalLLM  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10, help="questions (from eval/gold/dev.jsonl)")
    ap.add_argument("--quick", action="store_true", help="one question: a crash test")
    ap.add_argument("--out", type=Path, default=ROOT / "bench", help="where llm_results.* go")
    ap.add_argument("--no-speculative-run", action="store_true", help="skip the run without speculative decoding")
    args = ap.parse_args()
    if args.quick:
        args.n = 1
    args.out.mkdir(parents=True, exist_ok=True)
    bot = Bot(Settings.load({"engine": "llm"}))
    t0 = time.perf_counter()
    bot.warm()
    warm_s = time.perf_counter() - t0
    items = [i for i in load_gold(ROOT / "eval/gold/dev.jsonl", bot.index.sentences) if not i.history][: args.n]
    index = bot.index
    article = index.article_ids[0]
    lo, hi = index.ranges[article]
    modes = ("cached", "uncached") if args.no_speculative_run else ("cached", "uncached", "no_speculative")
    runs: dict[str, dict[str, list[float]]] = {m: {"ttft_ms": [], "total_ms": [], "prompt_tokens": []} for m in modes}
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    plain: LocalLLM | None = None
    if "no_speculative" in modes:
        plain = LocalLLM(Settings.load({"engine": "llm", "llm_speculative": "none"}))
        Bot(bot.settings, embedder=bot.embedder, llm=plain).warm()
    for item in items:
        hits = bot.retrieve(item.question, top_k=5)
        lang = detect(item.question)
        req = Request(item.question, lang, article, index.sentences[lo:hi], hits)
        shown = context_sentences(req, bot.settings.llm_context)
        messages = bot.prompts.messages(article, shown, item.question, lang)
        grammar = answer_grammar({x.n for x in shown}) if bot.settings.llm_grammar != "false" else None
        # "cached" first: the KV cache then holds the article and the *previous*
        # question, as in real use; "uncached" re-reads everything.
        for mode in modes:
            llm = plain if mode == "no_speculative" and plain is not None else bot.llm
            s = GenerationStats()
            for _ in llm.stream(messages, bot.settings.llm_max_tokens, s, cache=(mode != "uncached"), grammar=grammar):
                pass
            runs[mode]["ttft_ms"].append(s.first_token_ms or 0.0)
            runs[mode]["total_ms"].append(s.total_ms)
            runs[mode]["prompt_tokens"].append(float(s.prompt_tokens))
    result = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "llm_threads": bot.settings.llm_threads,
        },
        "mode": "quick" if args.quick else "full",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "model": str(bot.llm.model_path),
        "warm_prefix_s": warm_s,
        "questions": len(items),
        **{mode: {k: stats(v) for k, v in runs[mode].items()} for mode in modes},
        "peak_rss_mb": rss_mb,
    }
    result["ratio_ttft_uncached_over_cached"] = (
        result["uncached"]["ttft_ms"]["p50"] / result["cached"]["ttft_ms"]["p50"]
    )
    c, u = result["cached"], result["uncached"]
    md = [
        "# Benchmark: LLM (Qwen2.5-Coder-1.5B-Instruct Q4_K_M, xllamacpp)",
        "",
        f"{len(items)} dev questions, {bot.settings.llm_threads} threads, greedy, "
        f"max {bot.settings.llm_max_tokens} tokens, "
        f"answer grammar {'on' if bot.settings.llm_grammar != 'false' else 'off'}, "
        f"speculative decoding {bot.settings.llm_speculative}. "
        f"Warming the article prefix once: {warm_s:.1f} s. Peak RSS {rss_mb:.0f} MB.",
        "",
        "| | TTFT p50 (ms) | TTFT p95 | total p50 (ms) | total p95 | prompt tokens processed p50 |",
        "|---|---:|---:|---:|---:|---:|",
        f"| article prefix cached | {c['ttft_ms']['p50']:.0f} | {c['ttft_ms']['p95']:.0f} | "
        f"{c['total_ms']['p50']:.0f} | "
        f"{c['total_ms']['p95']:.0f} | {c['prompt_tokens']['p50']:.0f} |",
        f"| no cache | {u['ttft_ms']['p50']:.0f} | {u['ttft_ms']['p95']:.0f} | {u['total_ms']['p50']:.0f} | "
        f"{u['total_ms']['p95']:.0f} | {u['prompt_tokens']['p50']:.0f} |",
    ]
    if "no_speculative" in result:
        n = result["no_speculative"]
        result["ratio_total_no_speculative_over_speculative"] = n["total_ms"]["p50"] / c["total_ms"]["p50"]
        md.append(
            f"| prefix cached, no speculative decoding | {n['ttft_ms']['p50']:.0f} | {n['ttft_ms']['p95']:.0f} | "
            f"{n['total_ms']['p50']:.0f} | {n['total_ms']['p95']:.0f} | {n['prompt_tokens']['p50']:.0f} |"
        )
    md += [
        "",
        f"Time to first token without the cache ÷ with it: **{result['ratio_ttft_uncached_over_cached']:.1f}×**.",
        "",
    ]
    if "ratio_total_no_speculative_over_speculative" in result:
        md += [
            "Total time without speculative decoding ÷ with it: "
            f"**{result['ratio_total_no_speculative_over_speculative']:.2f}×**.",
            "",
        ]
    (args.out / "llm_results.json").write_text(json.dumps(result, indent=2))
    (args.out / "llm_results.md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
