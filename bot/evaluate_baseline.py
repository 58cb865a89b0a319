"""Print (or write with --write) eval/baseline.json: the extractive engine's
quality metrics on the dev and test splits, the numbers the regression gate
(tests/test_eval_gate.py) holds the project to. Update it in its own commit.

    python -m bot.evaluate_baseline [--write]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from . import Bot, Settings
from .evaluate import GATED, evaluate
from .gold import load_gold

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    bot = Bot(Settings.load({"engine": "extractive"}))
    out: dict[str, dict[str, dict[str, float]]] = {"extractive": {}}
    for split in ("dev", "test"):
        items = load_gold(ROOT / "eval" / "gold" / f"{split}.jsonl", bot.index.sentences)
        m = evaluate(bot, items, engine="extractive").metrics
        out["extractive"][split] = {k: round(m[k], 4) for k in GATED}
    text = json.dumps(out, indent=2)
    print(text)
    if "--write" in sys.argv:
        (ROOT / "eval" / "baseline.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
