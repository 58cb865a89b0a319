"""Regression gate: the extractive engine on the held-out test split must not
drop more than 3 points below eval/baseline.json on any headline metric.

The baseline is updated deliberately, in its own commit that says why
(`python -m bot.evaluate_baseline` prints the new values)."""

from __future__ import annotations

import json
import math

import pytest

from bot import Bot
from bot.evaluate import GATED, evaluate
from bot.gold import load_gold

from .conftest import ROOT

pytestmark = pytest.mark.real_model
TOLERANCE = 0.03


def test_extractive_engine_holds_the_baseline(real_bot: Bot):
    baseline = json.loads((ROOT / "eval" / "baseline.json").read_text())["extractive"]["test"]
    items = load_gold(ROOT / "eval" / "gold" / "test.jsonl", real_bot.index.sentences)
    result = evaluate(real_bot, items, engine="extractive")
    drops = []
    for key in GATED:
        now, then = result.metrics[key], baseline[key]
        print(f"{key}: {now:.3f} (baseline {then:.3f})")
        if math.isnan(now) or now < then - TOLERANCE:
            drops.append(f"{key} {now:.3f} < baseline {then:.3f} - {TOLERANCE}")
    assert result.metrics["invalid_citation_ids"] == 0
    assert not drops, "; ".join(drops)
