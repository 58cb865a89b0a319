"""Each metric on a hand-worked example."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bot.metrics import (
    abstention_scores,
    answer_correct,
    citation_precision,
    citation_recall,
    mean,
    normalize,
    percentile,
    recall_at_k,
    reciprocal_rank,
    token_f1,
)


def test_normalize_handles_case_accents_elisions_and_numbers():
    assert normalize("L'Armée d'Ukraine") == "armee ukraine"
    assert (
        normalize("10 000")
        == normalize("10,000")
        == normalize("10000")
        == normalize("10\u202f000")
        == normalize("10, 000")
        == "10000"
    )
    assert normalize("En 2024, 500 soldats") == "en 2024 500 soldats"  # a year is not a thousands group
    assert normalize("  Qu’il   vienne ! ") == "il vienne"


def test_answer_correct_matches_whole_words():
    assert answer_correct("Environ 10,000 soldats.", ["10 000"])
    assert answer_correct("À Koursk, en Russie.", ["Koursk", "Kursk"])
    assert not answer_correct("Il a dit nonante.", ["non"])
    assert not answer_correct("anything", [])


def test_token_f1_by_hand():
    # prediction tokens: environ, 10000, soldats (3); gold: 10000, soldats (2); common 2
    # precision 2/3, recall 1 -> F1 = 2 * (2/3) / (5/3) = 0.8
    assert token_f1("environ 10 000 soldats", ["10,000 soldats"]) == pytest.approx(0.8)
    assert token_f1("rien", ["10 000"]) == 0.0
    assert math.isnan(token_f1("x", []))


def test_retrieval_metrics_by_hand():
    ranked = ["a:3", "a:1", "a:5"]
    assert recall_at_k(ranked, {"a:1"}, 1) == 0.0
    assert recall_at_k(ranked, {"a:1"}, 3) == 1.0
    assert reciprocal_rank(ranked, {"a:1", "a:5"}) == 0.5
    assert reciprocal_rank(ranked, {"a:9"}) == 0.0
    assert math.isnan(recall_at_k(ranked, set(), 3))


def test_citation_metrics_by_hand():
    cited = [("a:5", "environ 10 000 soldats"), ("a:1", "Mark Rutte a confirmé"), ("a:3", "une école")]
    # a:5 is support; a:1 contains an accepted answer; a:3 neither -> 2/3
    assert citation_precision(cited, {"a:5"}, ["Rutte"]) == pytest.approx(2 / 3)
    assert math.isnan(citation_precision([], {"a:5"}, []))
    assert citation_recall(["a:3", "a:5"], {"a:5"}) == 1.0
    assert citation_recall(["a:3"], {"a:5"}) == 0.0


def test_abstention_by_hand():
    abstained = [True, True, False, False]
    answerable = [False, True, False, True]
    # said "not found" twice, once rightly; 2 unanswerable, 1 caught
    assert abstention_scores(abstained, answerable) == (0.5, 0.5)


def test_mean_skips_nan_and_percentile_interpolates():
    assert mean([1.0, math.nan, 0.0]) == 0.5
    assert math.isnan(mean([math.nan]))
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10], 95) == 10


def test_squad_loader_maps_spans_to_sentences(tmp_path: Path):
    from bot.evaluate import load_squad

    squad = {
        "version": "v2.0",
        "data": [
            {
                "title": "t",
                "paragraphs": [
                    {
                        "context": "The bridge opened in 1990. It cost four million euros. Engineers built it.",
                        "qas": [
                            {
                                "id": "q1",
                                "question": "How much did it cost?",
                                "answers": [{"text": "four million euros", "answer_start": 35}],
                            },
                            {"id": "q2", "question": "Who painted it?", "answers": [], "is_impossible": True},
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(squad))
    items = load_squad(path, tmp_path / "seeds")
    assert [i.id for i in items] == ["q1", "q2"]
    assert items[0].support_ids == ("squad-0000-000:2",) and items[0].article == "squad-0000-000"
    assert not items[1].answerable and items[1].support_ids == ()
    assert (tmp_path / "seeds" / "squad-0000-000.txt").is_file()


def test_auroc_by_hand():
    from bot.metrics import auroc

    # pairs (pos, neg): (0.9,0.1) (0.9,0.5) (0.4,0.1) (0.4,0.5) -> 3 of 4 ordered right
    assert auroc([0.9, 0.4, 0.1, 0.5], [True, True, False, False]) == 0.75
    assert auroc([0.5, 0.5], [True, False]) == 0.5  # a tie counts half
    assert math.isnan(auroc([0.3], [True]))
    # an unknown score is left out (it used to loop for ever: NaN equals nothing)
    assert auroc([0.9, math.nan, 0.1], [True, False, False]) == 1.0


def test_expected_calibration_error_by_hand():
    from bot.metrics import expected_calibration_error

    # bin [0.8, 0.9): two at 0.8, one right -> |0.8 - 0.5| = 0.3, weight 2/4
    # bin [0.2, 0.3): two at 0.2, none right -> |0.2 - 0| = 0.2, weight 2/4
    assert expected_calibration_error([0.8, 0.8, 0.2, 0.2], [True, False, False, False]) == pytest.approx(0.25)
    assert expected_calibration_error([1.0, 0.0], [True, False]) == 0.0
    assert math.isnan(expected_calibration_error([], []))


def test_risk_coverage_by_hand():
    from bot.metrics import risk_coverage

    curve = risk_coverage([0.9, 0.7, 0.7, 0.2], [True, True, False, False])
    assert curve == [(0.9, 0.25, 1.0), (0.7, 0.75, 2 / 3), (0.2, 1.0, 0.5)]


def test_squad_sections_join_eight_consecutive_paragraphs(tmp_path: Path):
    from bot.datasets import SECTION_PARAGRAPHS, load_squad

    paragraphs = [
        {
            "context": f"Paragraph {i} opens here. The bridge number {i} cost {i} million euros.",
            "qas": [
                {
                    "id": f"q{i}",
                    "question": f"How much did bridge {i} cost?",
                    "answers": [{"text": f"{i} million euros", "answer_start": 0}],
                },
                {"id": f"u{i}", "question": "Who painted it?", "answers": [], "is_impossible": True},
            ],
        }
        for i in range(SECTION_PARAGRAPHS + 3)
    ]
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"version": "v2.0", "data": [{"title": "Bridges", "paragraphs": paragraphs}]}))
    qa = load_squad(path, "sections")
    assert list(qa.articles) == ["squad-0000-bridges-s0", "squad-0000-bridges-s1"]
    assert qa.articles["squad-0000-bridges-s1"].count("Paragraph") == 3
    by_id = {i.id: i for i in qa.items}
    # each question is asked of its own section; its support is the sentence in it with the answer
    last = by_id[f"q{SECTION_PARAGRAPHS + 2}"]
    assert last.article == "squad-0000-bridges-s1" and last.support_ids == ("squad-0000-bridges-s1:6",)
    assert by_id["q0"].support_ids == ("squad-0000-bridges-s0:2",)
    assert not by_id["u0"].answerable and by_id["u0"].article == "squad-0000-bridges-s0"
    assert qa.name == "squad-sections"
