"""Run a mutation set through `bot verify` and report how many mutants it rejects and originals it keeps.

    python eval/verify_mutations.py     # eval/verify/mutations.jsonl -> eval/reports/verify-mutations.md
    python eval/verify_mutations.py --set OTHER.jsonl --out /tmp/report.md --split dev

Every item goes through the CLI (`bot verify --batch`, one process for the
whole set, the same code path as `bot verify "…" --article ID --question Q`),
so a set written by someone else runs the same way. An item is one JSON line:
``{"id", "kind", "pair", "article", "question"?, "answer", "expect": "supported"|"unsupported", "split"?}``
(kind ``original`` for a right answer). Bars (issue 15): at least 95 % of the
mutants of each kind rejected and 90 % of the originals kept, per language pair.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SET = ROOT / "eval" / "verify" / "mutations.jsonl"
OUT = ROOT / "eval" / "reports" / "verify-mutations.md"
MUTANT_BAR, ORIGINAL_BAR = 0.95, 0.90


def run(items: list[dict[str, Any]], extra: list[str]) -> tuple[dict[str, dict[str, Any]], float]:
    """Verdicts by item id, from one `bot verify --batch` process; and its wall time."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        for it in items:
            f.write(json.dumps({k: it.get(k) for k in ("id", "answer", "article", "question")}, ensure_ascii=False))
            f.write("\n")
        path = f.name
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "verify", "--batch", path, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    elapsed = time.perf_counter() - t0
    Path(path).unlink()
    out = {}
    for line in proc.stdout.splitlines():
        if line.strip():
            d = json.loads(line)
            out[str(d.get("id"))] = d
    if not out:
        raise SystemExit(f"bot verify printed nothing (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return out, elapsed


def rate(hits: int, n: int) -> str:
    return "–" if n == 0 else f"{100 * hits / n:.1f} % ({hits}/{n})"


def summarise(items: list[dict[str, Any]], verdicts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per (kind, pair) and split: items, right verdicts; every wrong verdict listed."""
    cells: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    wrong = []
    for it in items:
        v = verdicts.get(str(it["id"]), {})
        if "error" in v or "supported" not in v:
            ok = False
            got = f"error: {v.get('error', 'no verdict')}"
        else:
            ok = bool(v["supported"]) == (it["expect"] == "supported")
            got = "supported" if v["supported"] else "rejected: " + str(v.get("reason"))
        for split in (it.get("split", "all"), "all"):
            cell = cells[(it["kind"], it["pair"], split)]
            cell[0] += ok
            cell[1] += 1
        if not ok:
            wrong.append(
                {"id": it["id"], "kind": it["kind"], "split": it.get("split"), "answer": it["answer"], "got": got}
            )
    return {"cells": {"|".join(k): v for k, v in cells.items()}, "wrong": wrong}


def markdown(items: list[dict[str, Any]], s: dict[str, Any], elapsed: float, source: str) -> str:
    cells = {tuple(k.split("|")): v for k, v in s["cells"].items()}
    kinds = sorted({k for k, _, _ in cells}, key=lambda k: (k != "original", k))
    pairs = sorted({p for _, p, _ in cells})
    splits = sorted({sp for _, _, sp in cells if sp != "all"})
    lines = [
        "# Claim verifier against the mutation set",
        "",
        f"`python eval/verify_mutations.py` on {source}: {len(items)} items through `bot verify --batch` "
        f"in {elapsed:.1f} s. A mutant must be rejected (bar ≥ {MUTANT_BAR:.0%} per kind and language pair), "
        f"an original kept (bar ≥ {ORIGINAL_BAR:.0%}). Pair = answer language / article language.",
        "",
        "| kind | pair | " + " | ".join(splits) + " | all | bar |",
        "|---|---|" + "---:|" * (len(splits) + 1) + "---|",
    ]
    verdict_all = True
    for kind in kinds:
        for pair in pairs:
            if (kind, pair, "all") not in cells:
                continue
            ok, n = cells[(kind, pair, "all")]
            bar = ORIGINAL_BAR if kind == "original" else MUTANT_BAR
            met = ok / n >= bar
            verdict_all &= met
            per = [rate(*cells.get((kind, pair, sp), [0, 0])) for sp in splits]
            what = "kept" if kind == "original" else "rejected"
            lines.append(
                f"| {kind} ({what}) | {pair} | " + " | ".join(per) + f" | {rate(ok, n)} | "
                f"{'met' if met else '**missed**'} |"
            )
    lines += ["", f"Every bar met: **{'yes' if verdict_all else 'no'}**.", ""]
    if s["wrong"]:
        lines += ["## Wrong verdicts", ""]
        for w in s["wrong"]:
            lines.append(f"- `{w['id']}` ({w['kind']}, {w['split']}): {w['answer']}  \n  → {w['got']}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--set", type=Path, default=SET, help="the mutation set (JSONL)")
    ap.add_argument("--out", type=Path, default=OUT, help="the report (Markdown; a .json beside it)")
    ap.add_argument("--split", help="only items of this split (dev, holdout)")
    ap.add_argument("bot_args", nargs="*", help="extra arguments for `bot verify` (after --), e.g. --index DIR")
    args = ap.parse_args(argv)
    items = [json.loads(line) for line in args.set.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.split:
        items = [it for it in items if it.get("split") == args.split]
    verdicts, elapsed = run(items, args.bot_args)
    s = summarise(items, verdicts)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    source = args.set.relative_to(ROOT) if args.set.is_relative_to(ROOT) else args.set
    args.out.write_text(markdown(items, s, elapsed, str(source)), encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(s, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(args.out.read_text(encoding="utf-8").split("## Wrong verdicts")[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
