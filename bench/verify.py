"""What the claim check costs per answer: ``Bot.verify`` (bot/verify.py) against cite.py's old
``check_support``, side by side on the same answers, alternating.

    python -m bench.verify            # every answer of eval/verify/mutations.jsonl, 3 passes
    python -m bench.verify --quick    # 40 answers, 1 pass (a crash test)

Three timings per answer, after an untimed pass that loads the models:
- ``cold``: a new verifier for every answer, nothing cached: every phrase and
  sentence that needs a vector is embedded (a new answer about an article not
  seen before; ``bot verify`` from the shell once the models are loaded). The
  target is on this one;
- ``warm``: the verifier as the bot keeps it, after the untimed pass has seen
  the same answers: every vector cached (a lower bound: a new answer's own
  sentences are never cached);
- ``check_support``: the check it replaces (content words, numbers, one cosine
  through the retriever when the overlap is low).
Writes ``verify_results.json`` and ``verify_results.md`` in ``--out``. Target:
≤ 50 ms per answer at p50 (issue 15). The check runs once the answer is
written, so it never delays the first token.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.cite import check_support
from bot.config import Settings
from bot.pipeline import Bot
from bot.verify import Verifier

from .foundation import machine, p50_stats

ROOT = Path(__file__).resolve().parents[1]
SET = ROOT / "eval" / "verify" / "mutations.jsonl"
SCHEMA = "article-qa-bench-verify/1"
TARGET_P50_MS = 50.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "bench")
    args = ap.parse_args(argv)
    items = [json.loads(line) for line in SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    passes = 1 if args.quick else 3
    if args.quick:
        items = items[::10][:40]
    work = Path(tempfile.mkdtemp(prefix="bench-verify-"))
    try:
        seeds = work / "seeds"
        seeds.mkdir()
        shutil.copy(ROOT / "seeds" / f"{items[0]['article']}.txt", seeds)
        bot = Bot(Settings.load({"seeds": seeds, "index": work / "index", "engine": "extractive"}))
        bot.build()
        result = measure(bot, items, passes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result.update(
        schema=SCHEMA,
        mode="quick" if args.quick else "full",
        date=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        machine=machine(),
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "verify_results.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (args.out / "verify_results.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))
    return 0


def measure(bot: Bot, items: list[dict[str, Any]], passes: int) -> dict[str, Any]:
    index = bot.index
    article = items[0]["article"]
    lo, hi = index.ranges[article]
    by_n = {s.n: s.text for s in index.sentences[lo:hi]}
    retriever = bot._retriever
    assert retriever is not None

    def old(item: dict[str, Any]) -> None:
        check_support(item["answer"], by_n, lambda t, ns: retriever.similarity(t, article, ns))

    for item in items:  # untimed: loads the models, fills the warm cache
        bot.verify(item["answer"], article, item.get("question"))
        old(item)
    warm: list[float] = []
    cold: list[float] = []
    before: list[float] = []
    for _ in range(passes):
        for item in items:
            t = time.perf_counter()
            bot.verify(item["answer"], article, item.get("question"))
            warm.append((time.perf_counter() - t) * 1000)
            kept, bot._verifier = bot._verifier, Verifier(bot.embedder.embed_queries)
            t = time.perf_counter()
            bot.verify(item["answer"], article, item.get("question"))
            cold.append((time.perf_counter() - t) * 1000)
            bot._verifier = kept
            t = time.perf_counter()
            old(item)
            before.append((time.perf_counter() - t) * 1000)
    w, c, b = p50_stats(warm), p50_stats(cold), p50_stats(before)
    assert w and c and b
    return {
        "answers": len(items),
        "passes": passes,
        "warm_ms": w,
        "cold_ms": c,
        "check_support_ms": b,
        "target_p50_ms": TARGET_P50_MS,
        "met": c["p50"] <= TARGET_P50_MS,
    }


def markdown(r: dict[str, Any]) -> str:
    def row(name: str, s: dict[str, float]) -> str:
        return f"| {name} | {s['p50']:.1f} | {s['p95']:.1f} | {s['min']:.1f}–{s['max']:.1f} | {int(s['n'])} |"

    m = r.get("machine") or {}
    return "\n".join(
        [
            f"# Claim check cost per answer ({r.get('mode')} mode)",
            "",
            f"`python -m bench.verify` on {r.get('date')}; {m.get('cpu_model', '?')}, {m.get('nproc', '?')} cores. "
            f"{r['answers']} answers of eval/verify/mutations.jsonl × {r['passes']} pass(es), the three checks "
            "alternating answer by answer, after an untimed pass.",
            "",
            "| check | p50 (ms) | p95 (ms) | min–max (ms) | n |",
            "|---|---:|---:|---:|---:|",
            row("`Bot.verify`, cold (new verifier each answer, nothing cached)", r["cold_ms"]),
            row("`Bot.verify`, warm (the same answers again, every vector cached)", r["warm_ms"]),
            row("`cite.check_support` (the check it replaces)", r["check_support_ms"]),
            "",
            f"Target ≤ {r['target_p50_ms']:.0f} ms at p50, cold: **{'met' if r['met'] else 'missed'}**. "
            "The slow cold answers (p95) are the first about an article with many names to match across "
            "languages: up to ~50 phrases embedded in one batch.",
            "",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
