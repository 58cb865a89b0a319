"""The regression gate's baseline (eval/baseline.json) and the comparison
against it, question by question.

    python -m bot.evaluate_baseline [--write]

Why per question. The test split has 30 answerable questions, so one question
is 3.3 points of accuracy, and a decision near a threshold can flip on the
last digits of an embedding, which differ from one CPU to the next (on one
machine, two sentences scored 0.01211 apart against a 0.012 margin). A gate on
averages with a 3-point tolerance then fails for no change of the code, and a
wider tolerance would let real regressions through. So the baseline records,
for every question, the outcomes the gate watches (``OUTCOMES``); the gate
lets ONE question lose an outcome (a flip) and fails on two, naming each
question, what it lost and what the bot answered, with the margin between
its two best sentences, so that a near-tie reads as one.

Update the baseline deliberately, in its own commit that says why.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .evaluate import GATED, Prediction

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "eval" / "baseline.json"
# Per question, each 1 (good) or 0: answered right (or abstained when
# unanswerable), a support sentence cited, a support sentence ranked first,
# one in the top three. NaN outcomes (no support sentence) are left out.
OUTCOMES = ("correct", "cited", "recall@1", "recall@3")
# Questions allowed to lose an outcome: one flip is noise across machines,
# two are a regression.
ALLOWED_FLIPS = 1


def outcomes(p: Prediction) -> dict[str, int]:
    """The gated outcomes of one prediction (``OUTCOMES``), 1 good, 0 bad."""
    out = {"correct": int(p.correct)}
    if p.answerable and not math.isnan(p.cited_support):
        out["cited"] = int(p.correct and p.cited_support == 1.0)
    if p.answerable and p.support:
        support = set(p.support)
        out["recall@1"] = int(bool(support & set(p.ranked[:1])))
        out["recall@3"] = int(bool(support & set(p.ranked[:3])))
    return out


@dataclass(frozen=True)
class Change:
    id: str
    lost: tuple[str, ...]  # outcomes that went from 1 to 0 (or gained, for improvements)
    why: str

    def __str__(self) -> str:
        return f"{self.id} {'/'.join(self.lost)}: {self.why}"


@dataclass(frozen=True)
class GateResult:
    regressed: list[Change]
    improved: list[Change]
    unknown: list[str] = field(default_factory=list)  # questions the baseline does not know

    @property
    def ok(self) -> bool:
        return len(self.regressed) <= ALLOWED_FLIPS and not self.unknown

    def report(self) -> str:
        lines = [f"{len(self.regressed)} question(s) regressed (allowed: {ALLOWED_FLIPS})"]
        lines += [f"  - {c}" for c in self.regressed]
        if self.improved:
            lines.append(f"{len(self.improved)} improved")
            lines += [f"  + {c}" for c in self.improved]
        if self.unknown:
            lines.append(
                f"not in the baseline: {', '.join(self.unknown)} (run `python -m bot.evaluate_baseline --write`)"
            )
        return "\n".join(lines)


def explain(p: Prediction) -> str:
    """What the bot did, in one line: the answer, and how close its two best sentences were."""
    state = "abstained" if p.abstained else f"cited {[c['n'] for c in p.citations]}"
    bits = [f"{p.engine} {state}", f"answer {p.answer[:90]!r}"]
    if len(p.scores) >= 2:
        first, second = (r.split(":")[-1] for r in p.ranked[:2])
        bits.append(f"sentences {first} and {second} score {p.scores[0] - p.scores[1]:.5f} apart")
    if p.notice:
        bits.append(f"notice {p.notice[:80]!r}")
    return "; ".join(bits)


def compare(
    baseline: Mapping[str, Mapping[str, int]],
    predictions: Sequence[Prediction],
) -> GateResult:
    """Each prediction's outcomes against the baseline's for the same question."""
    regressed, improved, unknown = [], [], []
    for p in predictions:
        then = baseline.get(p.id)
        if then is None:
            unknown.append(p.id)
            continue
        now = outcomes(p)
        lost = tuple(k for k in OUTCOMES if then.get(k) == 1 and now.get(k) == 0)
        gained = tuple(k for k in OUTCOMES if then.get(k) == 0 and now.get(k) == 1)
        why = explain(p)
        if lost:
            regressed.append(Change(p.id, lost, why))
        elif gained:
            improved.append(Change(p.id, gained, why))
    return GateResult(regressed, improved, unknown)


def main(argv: Sequence[str] | None = None) -> int:
    from . import Bot, Settings
    from .evaluate import evaluate
    from .gold import load_gold

    argv = sys.argv[1:] if argv is None else argv
    bot = Bot(Settings.load({"engine": "extractive"}))
    out: dict[str, dict[str, dict[str, object]]] = {"extractive": {}}
    for split in ("dev", "test"):
        items = load_gold(ROOT / "eval" / "gold" / f"{split}.jsonl", bot.index.sentences)
        result = evaluate(bot, items, engine="extractive")
        out["extractive"][split] = {
            "metrics": {k: round(result.metrics[k], 4) for k in GATED},
            "questions": {p.id: outcomes(p) for p in result.predictions},
        }
    text = json.dumps(out, indent=1, ensure_ascii=False)
    print(text)
    if "--write" in argv:
        BASELINE.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
