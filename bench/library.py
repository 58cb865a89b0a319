"""Adding one article to a large index against rebuilding it, with the real embedding model.

    python -m bench.library [--articles 100] [--quick] [--out DIR]   # writes DIR/library_results.{md,json}

The index holds ``--articles`` French Wikipedia articles of PIAF (all of an
article's paragraphs, one a line; ``../shared/data/``, override with
``BENCH_DATA_DIR``; skipped with a message when absent). Then, alternating:
``Bot.add_article`` of a ~1,500-word English article (the first paragraphs
of SQuAD's "Rhine"), ``Bot.remove_article`` of it, and a full ``Bot.build``
of the folder with that article in it. Each is timed wall-clock end to end
(reading, splitting, embedding, writing, verifying); the ratio is rebuild ÷
add at the median.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bench.foundation import p50_stats  # noqa: E402
from bot import Bot, Settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("BENCH_DATA_DIR", ROOT.parent / "shared" / "data"))


def new_article(words: int = 1500) -> str:
    doc = json.loads((DATA / "squad2-dev-rhine.json").read_text(encoding="utf-8"))["data"][0]
    out, n = [], 0
    for p in doc["paragraphs"]:
        out.append(p["context"])
        n += len(p["context"].split())
        if n >= words:
            break
    return "The Rhine\n" + "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3, help="add, rebuild, remove cycles (a rebuild takes minutes)")
    ap.add_argument("--quick", action="store_true", help="10 articles, once: a crash test")
    ap.add_argument("--out", type=Path, default=ROOT / "bench")
    args = ap.parse_args()
    if not (DATA / "piaf-v1.0-dev.json").is_file() or not (DATA / "squad2-dev-rhine.json").is_file():
        print(f"[library] skipped: PIAF and SQuAD files not in {DATA} (set BENCH_DATA_DIR)")
        return 0
    if args.quick:
        args.articles, args.repeats = 10, 1
    docs = json.loads((DATA / "piaf-v1.0-dev.json").read_text(encoding="utf-8"))["data"][: args.articles]
    work = Path(tempfile.mkdtemp(prefix="article-qa-library-"))
    try:
        seeds = work / "seeds"
        seeds.mkdir()
        for i, doc in enumerate(docs):
            (seeds / f"piaf-{i:03d}.txt").write_text(
                "\n".join(p["context"] for p in doc["paragraphs"]), encoding="utf-8"
            )
        bot = Bot(Settings.load({"seeds": seeds, "index": work / "index"}))
        t0 = time.perf_counter()
        bot.build()
        first_build_s = time.perf_counter() - t0  # includes loading the model: not compared
        base_sentences = len(bot.index.sentences)
        text = new_article()
        adds, removes, rebuilds = [], [], []
        info = None
        for _ in range(args.repeats):
            t = time.perf_counter()
            info = bot.add_article(text, name="rhine.txt", article_id="rhine")
            adds.append(time.perf_counter() - t)
            t = time.perf_counter()
            bot.build()  # the same folder, the new article in it
            rebuilds.append(time.perf_counter() - t)
            t = time.perf_counter()
            bot.remove_article("rhine")
            removes.append(time.perf_counter() - t)
        assert info is not None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    add, rebuild = p50_stats(adds), p50_stats(rebuilds)
    assert add is not None and rebuild is not None
    result: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "articles": len(docs),
        "sentences": base_sentences,
        "new_article": {"words": len(text.split()), "sentences": info.sentences},
        "first_build_s": first_build_s,
        "add_s": add,
        "remove_s": p50_stats(removes),
        "rebuild_s": rebuild,
        "ratio_rebuild_over_add": rebuild["p50"] / add["p50"],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "library_results.json").write_text(json.dumps(result, indent=1))
    md = markdown(result)
    (args.out / "library_results.md").write_text(md)
    print(md)
    return 0


def markdown(r: dict[str, Any]) -> str:
    def s(x: dict[str, Any] | None) -> str:
        return "–" if not x else f"{x['p50']:.2f} s (min {x['min']:.2f}, max {x['max']:.2f}, n {x['n']})"

    return "\n".join(
        [
            "# Benchmark: adding one article against rebuilding the index",
            "",
            f"`python -m bench.library` ({r['mode']} mode, {r['date']}): an index of {r['articles']} PIAF articles "
            f"({r['sentences']:,} sentences, multilingual-e5-small), then a {r['new_article']['words']:,}-word "
            f"English article ({r['new_article']['sentences']} sentences) added with `Bot.add_article`, the whole "
            "folder rebuilt with `Bot.build`, the article removed with `Bot.remove_article`, alternating. Wall "
            "clock, end to end.",
            "",
            "| | p50 |",
            "|---|---|",
            f"| add one article | {s(r['add_s'])} |",
            f"| remove it | {s(r['remove_s'])} |",
            f"| rebuild the whole index | {s(r['rebuild_s'])} |",
            "",
            f"Rebuild ÷ add: **{r['ratio_rebuild_over_add']:.1f}×** (bar: ≥ 10×).",
            "",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
