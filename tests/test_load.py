"""Concurrent chat sessions against the real app process through gradio_client
(bench/load.py; the full two-minute run is `python -m bench.load`)."""

from __future__ import annotations

import time

import pytest

from bench.load import SessionLog, run, run_session, serve

pytestmark = pytest.mark.real_model


def test_twenty_sessions_get_their_own_answers(real_bot):
    r = run(sessions=20, duration=20, settings=real_bot.settings)
    assert r["errors"] == []
    assert r["mismatches"] == []
    assert min(r["per_session_answered"]) >= 1, "a session was starved"
    growth = r["rss_mb"]["last_fifth_median"] - r["rss_mb"]["first_fifth_median"]
    assert growth < 100, f"server memory grew by {growth:.0f} MB in 20 s"


def test_a_wrong_answer_is_counted_as_a_mismatch(real_bot):
    # The check above must be able to fail: expect an answer the app will not give.
    article = real_bot.index.article_ids[0]
    log = SessionLog()
    with serve(real_bot.settings) as (url, _):
        plan = [("Combien de soldats nord-coréens ont été envoyés en Russie ?", "Une autre réponse.")]
        run_session(url, plan, article, time.time() + 60, log, once=True)
    assert log.errors == []
    assert len(log.mismatches) == 1 and "Une autre réponse" in log.mismatches[0]
