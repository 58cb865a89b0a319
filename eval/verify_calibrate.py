"""The verifier's cross-language thresholds, measured on pairs written down in eval/verify/.

    python eval/verify_calibrate.py      # -> eval/reports/verify-calibration.md

Each pair is embedded as two queries with the product's embedder (multilingual-e5-small);
``same`` pairs must reach the threshold, the others stay below it. The thresholds
themselves live in bot/verify.py (NAME_SIMILARITY, QUOTE_SIMILARITY); this script
says how well they separate the pairs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot import Settings  # noqa: E402
from bot.embed import SentenceTransformerEmbedder  # noqa: E402
from bot.verify import NAME_SIMILARITY, QUOTE_SIMILARITY  # noqa: E402

SETS = (("names", ROOT / "eval/verify/name_pairs.jsonl", NAME_SIMILARITY),
        ("quotes", ROOT / "eval/verify/quote_pairs.jsonl", QUOTE_SIMILARITY))  # fmt: skip


def measure(embed, path: Path) -> list[tuple[dict, float]]:
    pairs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    a = embed([p["a"] for p in pairs])
    b = embed([p["b"] for p in pairs])
    return [(p, float(x)) for p, x in zip(pairs, np.sum(a * b, axis=1), strict=True)]


def main() -> int:
    embed = SentenceTransformerEmbedder(Settings.load()).embed_queries
    lines = ["# Cross-language thresholds of the claim verifier", "",
             "`python eval/verify_calibrate.py`: cosine of each written-down pair (both sides embedded as "
             "queries, multilingual-e5-small through the product's embedder).", ""]  # fmt: skip
    for name, path, threshold in SETS:
        scored = measure(embed, path)
        same = sorted(s for p, s in scored if p["same"])
        other = sorted(s for p, s in scored if not p["same"])
        missed = [(p, s) for p, s in scored if p["same"] and s < threshold]
        let_in = [(p, s) for p, s in scored if not p["same"] and s >= threshold]
        lines += [
            f"## {name} ({path.relative_to(ROOT)}, threshold {threshold})",
            "",
            f"- same: {len(same)} pairs, cosine {same[0]:.3f}–{same[-1]:.3f}; below the threshold: {len(missed)}",
            f"- different: {len(other)} pairs, cosine {other[0]:.3f}–{other[-1]:.3f}; at or above it: {len(let_in)}",
            "",
            "| a | b | same | cosine | at threshold |",
            "|---|---|---|---:|---|",
        ]
        for p, s in sorted(scored, key=lambda x: -x[1]):
            ok = (s >= threshold) == p["same"]
            lines.append(
                f"| {p['a']} | {p['b']} | {'yes' if p['same'] else 'no'} | {s:.3f} | {'ok' if ok else '**wrong**'} |"
            )
        lines.append("")
    out = ROOT / "eval" / "reports" / "verify-calibration.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(x for x in lines if not x.startswith("|")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
