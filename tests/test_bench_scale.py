"""bench/scale.py on a tiny size: the measurements hold the properties the
report relies on, and the choice rule gives the documented answers."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from bench import scale

TINY = scale.Sweep(
    sizes=(2_000,),
    queries=20,
    ef_construction=(40,),
    ef_search=(16, 256),
    nprobe=(1, 16),
    uniform_sizes=(),
    settle_s=0.0,
)


@pytest.fixture(scope="module")
def tiny() -> dict[str, Any]:
    import faiss

    faiss.omp_set_num_threads(2)  # as `run` does; a Retriever built by another test leaves it at 1
    return scale.measure(scale.Corpus(), 2_000, TINY, contention={})


def rows(size: dict[str, Any], index: str) -> list[dict[str, Any]]:
    return [r for r in size["settings"] if r["index"] == index]


def test_data_is_unit_seeded_and_queries_are_new() -> None:
    corpus = scale.Corpus()
    base, again, queries = corpus.sample(500, 0), corpus.sample(500, 0), corpus.sample(50, 1)
    assert base.shape == (500, scale.DIM) and base.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(base, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(base, again)
    assert (queries @ base.T).max() < 0.999  # no query is a copy of a base vector


def test_clustered_data_is_more_structured_than_uniform() -> None:
    def top1(corpus: scale.Corpus) -> float:
        _, scores = scale.exact_top_k(corpus.sample(2_000, 0), corpus.sample(50, 1))
        return float(np.median(scores[:, 0]))

    assert top1(scale.Corpus()) > top1(scale.Corpus(kind="uniform")) + 0.2


def test_exact_top_k_matches_a_full_sort() -> None:
    rng = np.random.default_rng(0)
    base, queries = scale.unit(rng.standard_normal((300_000, 8))), scale.unit(rng.standard_normal((5, 8)))
    ids, scores = scale.exact_top_k(base, queries, 10)  # crosses the 131,072-row chunks
    full = queries @ base.T
    assert np.array_equal(ids, np.argsort(-full, axis=1)[:, :10])
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_recall_counts_shared_ids_and_ignores_not_found() -> None:
    truth = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    found = np.array([[4, 3, 9, -1], [5, 6, 7, 8]])
    assert scale.recall_at_k(found, truth) == pytest.approx((0.5 + 1.0) / 2)


def test_flat_is_exact_with_any_thread_count(tiny: dict[str, Any]) -> None:
    flat = rows(tiny, "flat")
    assert flat[-1]["params"] == {"threads": 1}
    for r in flat:
        assert r["recall_at_10"] == 1.0
        assert r["bytes"] >= tiny["base_bytes"]
        assert r["latency_ms"]["n"] == TINY.queries


def test_hnsw_recall_is_a_share_and_high_at_high_ef(tiny: dict[str, Any]) -> None:
    hnsw = {r["params"]["efSearch"]: r for r in rows(tiny, "hnsw")}
    assert set(hnsw) == set(TINY.ef_search)
    assert all(0.0 <= r["recall_at_10"] <= 1.0 for r in hnsw.values())
    assert hnsw[256]["recall_at_10"] >= 0.9
    assert hnsw[256]["recall_at_10"] >= hnsw[16]["recall_at_10"]
    assert hnsw[16]["bytes"] > tiny["base_bytes"]  # the graph comes on top of the vectors


def test_ivf_recall_grows_with_nprobe(tiny: dict[str, Any]) -> None:
    ivf = {r["params"]["nprobe"]: r for r in rows(tiny, "ivf")}
    assert 0.0 <= ivf[1]["recall_at_10"] <= ivf[16]["recall_at_10"] <= 1.0


def test_range_filter_is_exact_on_flat_storage(tiny: dict[str, Any]) -> None:
    restricted = tiny["restricted"]
    assert restricted["flat"]["recall_at_10"] == 1.0
    assert restricted["hnsw_storage"]["recall_at_10"] == 1.0
    assert 0.0 <= restricted["hnsw"]["recall_at_10"] <= 1.0


def test_cheapest_picks_the_fastest_setting_that_reaches_the_target() -> None:
    def row(index: str, recall: float, p50: float) -> dict[str, Any]:
        return {"index": index, "recall_at_10": recall, "latency_ms": {"median": p50}}

    settings = [row("flat", 1.0, 9.0), row("hnsw", 0.90, 0.1), row("hnsw", 0.96, 0.5), row("ivf", 0.97, 0.7)]
    assert scale.cheapest(settings) is settings[2]
    assert scale.cheapest(settings[:2]) is settings[0]
    assert scale.cheapest(settings[:2], approximate=True) is None


def test_crossover_on_a_hand_worked_example() -> None:
    # 0.1 µs a vector: 2.5 ms at 25,000 vectors, rounded down to 20,000
    assert scale.crossover({10_000: 1.0, 100_000: 10.0, 1_000_000: 100.0}, 2.5) == 20_000
    assert scale.crossover({10_000: 1.0}, 2.5) == 20_000  # one size: proportional


def test_recommend_is_flat_for_small_collections_and_hnsw_for_large_ones() -> None:
    assert scale.recommend(2_000) == {"index": "flat"}
    assert scale.recommend(scale.CROSSOVER - 1) == {"index": "flat"}
    large = scale.recommend(10**7)
    assert large["index"] == "hnsw" and large["M"] == scale.HNSW_M and large["efSearch"] >= 16


def test_choose_and_report_on_the_tiny_size(tiny: dict[str, Any], tmp_path: Any) -> None:
    choice = scale.choose({"2000": tiny}, run_threads=2)
    assert choice["crossover"] > 2_000  # flat at 2,000 vectors is well under the budget
    assert choice["crossover_at_run_threads"] > 2_000
    assert choice["below"] == {"index": "flat"}
    assert choice["above"]["efSearch"] in TINY.ef_search
    assert choice["meets_recall_target"] and choice["worst_build_recall_at_efSearch"] >= scale.TARGET_RECALL
    measured = {
        "mode": "quick",
        "date": "2026-01-01T00:00:00+00:00",
        "machine": {k: "x" for k in ("git", "cpu_model", "nproc", "mem_gb", "faiss", "numpy", "omp_wait_policy")},
        "faiss_threads": 2,
        "data": {"clustered": vars(scale.Corpus()), "dim": scale.DIM, "queries": TINY.queries},
        "sweep": vars(TINY),
        "k": scale.K,
        "target_recall": scale.TARGET_RECALL,
        "sizes": {"2000": tiny},
        "uniform": None,
        "contention": {"clustered 2,000 flat": 0.0},
        "rendered": None,
        "peak_rss_mb": 1.0,
        "elapsed_s": 1.0,
    }
    result = scale.derive(measured)
    assert result["choice"] == choice
    json.dumps(result)  # JSON-ready
    assert result["target_1m"]["measured"] is False and result["target_1m"]["met"] is None
    text = scale.markdown(result)
    assert "| 2,000 |" in text and "Not measured" in text
    scale.chart(result, tmp_path / "scale.png")
    assert (tmp_path / "scale.png").stat().st_size > 1_000


def test_the_product_uses_what_the_benchmark_recommends() -> None:
    from bot import index

    assert index.FLAT_MAX == scale.CROSSOVER
    assert {"M": index.HNSW_M, "efConstruction": index.HNSW_EF_CONSTRUCTION, "efSearch": index.HNSW_EF_SEARCH} == (
        scale.HNSW_PARAMS
    )
