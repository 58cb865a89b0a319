"""Long articles and the LLM engine: first token, total and answer quality on
the ~200-sentence SQuAD 2.0 articles, beside the seed article.

    python -m bench.longarticle [--n 10] [--quick] [--out DIR]   # writes DIR/longarticle_results.{md,json}

Each SQuAD 2.0 file of ``../shared/data/`` (override: ``BENCH_DATA_DIR``)
is one Wikipedia article: all its paragraphs, one a line, make one article
(Rhine: 218 sentences, Computational complexity theory: 201). ``--n``
answerable questions per article are taken at even steps through the file's
question list (the same ones every run), asked with ``--engine llm`` through
``Bot.ask`` after ``Bot.warm(article)`` (untimed: the app warms in the
background), and scored with ``bot.metrics.answer_correct`` against SQuAD's
accepted answers. The seed article's dev questions are asked in the same run,
for the comparison the issue asks for. Skips with a message when the data
folder is absent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bench.foundation import p50_stats  # noqa: E402
from bot import Bot, Settings  # noqa: E402
from bot.errors import BotError  # noqa: E402
from bot.gold import load_gold  # noqa: E402
from bot.metrics import answer_correct  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("BENCH_DATA_DIR", ROOT.parent / "shared" / "data"))
FILES = ("squad2-dev-rhine.json", "squad2-dev-complexity.json")
SEED = ROOT / "seeds" / "000_806bd7fa77100f9f.txt"


def squad_article(path: Path, n: int) -> tuple[str, str, list[tuple[str, list[str]]]]:
    """(article id, text with one paragraph a line, n answerable (question, answers))."""
    doc = json.loads(path.read_text(encoding="utf-8"))["data"][0]
    text = "\n".join(p["context"] for p in doc["paragraphs"])
    qas = [
        (q["question"], list(dict.fromkeys(a["text"] for a in q["answers"])))
        for p in doc["paragraphs"]
        for q in p["qas"]
        if not q.get("is_impossible") and q["answers"]
    ]
    step = max(1, len(qas) // n)
    article_id = "squad-" + doc["title"].lower().replace("_", "-")
    return article_id, text, qas[::step][:n]


def ask_all(bot: Bot, article: str, questions: list[tuple[str, list[str]]], warm: bool = True) -> dict[str, Any]:
    t0 = time.perf_counter()
    warm_error = None
    try:
        if warm:
            bot.warm(article)
    except BotError as e:  # before issue 14, a long article's warm-up overflowed the context
        warm_error = str(e)
    warm_s = time.perf_counter() - t0
    lo, hi = bot.index.ranges[article]
    rows = []
    for question, answers in questions:
        a = bot.ask(question, article=article, engine="llm")
        stats = bot.last_stats
        rows.append(
            {
                "question": question,
                "answer": a.answer,
                "engine": a.engine,
                "abstained": a.abstained,
                "correct": (not a.abstained) and answer_correct(a.answer, answers),
                "first_token_ms": a.timings_ms.get("first_token_ms"),
                "total_ms": a.timings_ms.get("total_ms"),
                "prompt_tokens": stats.prompt_tokens if stats else None,
                "context": getattr(bot, "last_context", None),
                "cached_tokens": stats.cached_tokens if stats else None,
                "notice": a.notice,
            }
        )
    firsts = [r["first_token_ms"] for r in rows if r["first_token_ms"] is not None]
    return {
        "article": article,
        "sentences": hi - lo,
        "warm_s": warm_s,
        "warm_error": warm_error,
        "questions": len(rows),
        "first_token_ms": p50_stats(firsts),
        "total_ms": p50_stats([r["total_ms"] for r in rows]),
        "prompt_tokens_p50": statistics.median([r["prompt_tokens"] or 0 for r in rows]) if rows else None,
        "accuracy": sum(r["correct"] for r in rows) / len(rows) if rows else None,
        "llm_kept": sum(r["engine"] == "llm" for r in rows) / len(rows) if rows else None,
        "abstained": sum(r["abstained"] for r in rows) / len(rows) if rows else None,
        "rows": rows,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10, help="answerable questions per long article")
    ap.add_argument("--seed-n", type=int, default=10, help="dev questions on the seed article")
    ap.add_argument("--quick", action="store_true", help="one question on one long article: a crash test")
    ap.add_argument("--out", type=Path, default=ROOT / "bench")
    args = ap.parse_args()
    missing = [f for f in FILES if not (DATA / f).is_file()]
    if missing:
        print(f"[longarticle] skipped: {', '.join(missing)} not in {DATA} (set BENCH_DATA_DIR)")
        return 0
    if args.quick:
        args.n, args.seed_n = 1, 0
    work = Path(tempfile.mkdtemp(prefix="article-qa-long-"))
    try:
        seeds = work / "seeds"
        seeds.mkdir()
        shutil.copy(SEED, seeds / SEED.name)
        plans = []
        for name in FILES[:1] if args.quick else FILES:
            article_id, text, questions = squad_article(DATA / name, args.n)
            (seeds / f"{article_id}.txt").write_text(text, encoding="utf-8")
            plans.append((article_id, questions))
        bot = Bot(Settings.load({"seeds": seeds, "index": work / "index", "engine": "llm"}))
        bot.build()
        # quick: no read-ahead (the retrieved-sentences path), to stay a short crash test
        sections = {article_id: ask_all(bot, article_id, qs, warm=not args.quick) for article_id, qs in plans}
        if args.seed_n:
            gold = [i for i in load_gold(ROOT / "eval/gold/dev.jsonl", bot.index.sentences) if i.answerable]
            gold = [i for i in gold if not i.history][: args.seed_n]
            sections["seed"] = ask_all(bot, SEED.stem, [(i.question, list(i.answers)) for i in gold])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    long_rows = [r for k, s in sections.items() if k != "seed" for r in s["rows"]]
    result: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "llm_context": bot.settings.llm_context,
        "long": {
            "questions": len(long_rows),
            "first_token_ms": p50_stats([r["first_token_ms"] for r in long_rows if r["first_token_ms"] is not None]),
            "total_ms": p50_stats([r["total_ms"] for r in long_rows]),
            "accuracy": sum(r["correct"] for r in long_rows) / len(long_rows) if long_rows else None,
        },
        "articles": sections,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "longarticle_results.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    md = markdown(result)
    (args.out / "longarticle_results.md").write_text(md)
    print(md)
    return 0


def _ms(s: dict[str, Any] | None, key: str = "p50") -> str:
    return "–" if not s or s.get(key) is None else f"{s[key] / 1000:.2f} s"


def markdown(r: dict[str, Any]) -> str:
    lines = [
        "# Benchmark: long articles with the LLM engine",
        "",
        f"`python -m bench.longarticle` ({r['mode']} mode, {r['date']}), context window {r['llm_context']} tokens. "
        "Answerable SQuAD 2.0 questions at even steps through each article, `Bot.ask(..., engine='llm')` after "
        "an untimed `Bot.warm(article)`; correct = an accepted answer appears in the final answer "
        "(bot.metrics.answer_correct). First token and total are end to end (retrieval included).",
        "",
        "| article | sentences | warm-up | questions | first token p50 / p95 | total p50 / p95 | "
        "prompt tokens processed p50 | correct | LLM answer kept | abstained |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in r["articles"].items():
        lines.append(
            f"| {name} | {s['sentences']} | {s['warm_s']:.0f} s | {s['questions']} | "
            f"{_ms(s['first_token_ms'])} / {_ms(s['first_token_ms'], 'p95')} | "
            f"{_ms(s['total_ms'])} / {_ms(s['total_ms'], 'p95')} | {s['prompt_tokens_p50']:.0f} | "
            f"{100 * s['accuracy']:.0f} % | {100 * s['llm_kept']:.0f} % | {100 * s['abstained']:.0f} % |"
        )
    lg = r["long"]
    acc = "–" if lg["accuracy"] is None else f"{100 * lg['accuracy']:.0f} %"
    lines += [
        "",
        f"Long articles together: first token p50 **{_ms(lg['first_token_ms'])}**, total p50 "
        f"**{_ms(lg['total_ms'])}**, correct {acc} of {lg['questions']} (bars: first token ≤ 2.5 s, total ≤ 8 s). "
        f"Peak RSS {r['peak_rss_mb']:.0f} MB.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
