"""Regression gate: the extractive engine on the held-out test split, question
by question against eval/baseline.json. One question may lose an outcome (a
near-tie that flips on another CPU's last digits); two fail the gate, and the
failure names each question, what it lost and what the bot said.

The baseline is updated deliberately, in its own commit that says why
(`python -m bot.evaluate_baseline --write`)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from bot import Bot
from bot.evaluate import Prediction, evaluate
from bot.evaluate_baseline import ALLOWED_FLIPS, BASELINE, compare, outcomes
from bot.gold import load_gold

from .conftest import ROOT


def prediction(id: str, correct: bool = True, answerable: bool = True, cited: bool = True) -> Prediction:
    support = [f"a:{id}"]
    return Prediction(
        id=id,
        question="q",
        lang="fr",
        type="what",
        answerable=answerable,
        answer="D'après l'article : « x » [1]" if correct else "Je ne trouve pas cette information dans l'article.",
        engine="extractive",
        abstained=not correct,
        citations=[{"n": 1}] if correct else [],
        ranked=support + ["a:other"] if cited else ["a:other"] + support,
        support=support if answerable else [],
        accepted=["x"],
        correct=correct,
        cited_support=(1.0 if cited else 0.0) if answerable else math.nan,
        f1=1.0,
        citation_precision=1.0,
        invalid_citations=0,
        first_token_ms=None,
        total_ms=1.0,
        scores=[0.85, 0.8499],
    )


def test_gate_passes_with_one_flip_and_fails_with_two():
    preds = [prediction(f"q{i}") for i in range(5)]
    baseline = {p.id: outcomes(p) for p in preds}
    assert compare(baseline, preds).ok and not compare(baseline, preds).regressed

    one = [replace(preds[0], correct=False, abstained=True), *preds[1:]]
    result = compare(baseline, one)
    assert result.ok and [c.id for c in result.regressed] == ["q0"]

    two = [replace(preds[0], correct=False), replace(preds[3], ranked=["a:other", "a:q3"]), *preds[1:3], preds[4]]
    result = compare(baseline, two)
    assert not result.ok
    report = result.report()
    assert "2 question(s) regressed (allowed: 1)" in report
    assert "q0 correct/cited" in report and "q3 recall@1" in report
    assert "score 0.00010 apart" in report  # the near-tie is visible in the message


def test_gate_reports_improvements_and_refuses_unknown_questions():
    preds = [prediction("q0", correct=False), prediction("q1")]
    baseline = {p.id: outcomes(p) for p in preds}
    better = [prediction("q0"), prediction("q1"), prediction("new")]
    result = compare(baseline, better)
    assert [c.id for c in result.improved] == ["q0"]
    assert not result.ok and result.unknown == ["new"] and "evaluate_baseline --write" in result.report()


def test_unanswerable_questions_are_gated_on_abstaining():
    p = prediction("u", correct=True, answerable=False)
    assert outcomes(p) == {"correct": 1}
    assert compare({"u": {"correct": 1}}, [replace(p, correct=False)]).regressed


@pytest.mark.real_model
def test_extractive_engine_holds_the_baseline(real_bot: Bot):
    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))["extractive"]["test"]
    items = load_gold(ROOT / "eval" / "gold" / "test.jsonl", real_bot.index.sentences)
    result = evaluate(real_bot, items, engine="extractive")
    gate = compare(baseline["questions"], result.predictions)
    print(gate.report())
    for key, then in baseline["metrics"].items():
        print(f"{key}: {result.metrics[key]:.3f} (baseline {then:.3f})")
    assert result.metrics["invalid_citation_ids"] == 0
    assert gate.ok, f"more than {ALLOWED_FLIPS} question(s) regressed:\n{gate.report()}"
