"""Bad input through every interface (eval/badinput.py's matrix, on the real
model and real CLI processes), the question cleaner, and a property test of
citations through the whole pipeline: whatever the LLM writes, the answer
never shows a citation id it was not given."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot import Bot
from bot.cite import citations_in
from bot.errors import QuestionError
from bot.pipeline import clean_question, strip_markup

from .conftest import ROOT, FakeEmbedder, FakeLLM


def load_matrix():
    spec = importlib.util.spec_from_file_location("badinput", ROOT / "eval" / "badinput.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.real_model
def test_bad_input_matrix_cli_api_ui(tmp_path: Path):
    m = load_matrix()
    rows, warnings, unchanged = m.run_matrix(tmp_path)
    failures = [
        f"{row.case.name} / {iface}: {why} ({o.kind}: {o.text[:120]})"
        for row in rows
        for iface, (ok, o, why) in row.results.items()
        if not ok
    ]
    assert not failures, "\n".join(failures)
    assert len(rows) == len(m.CASES) >= 18
    assert unchanged, "the seeds folder changed"
    assert sorted(w.split(" ")[0] for w in warnings) == ["copy.txt", "empty.txt", "latin1.txt"]


def test_matrix_judge_fails_what_it_should():
    m = load_matrix()
    case = m.Case("x", "q", "answer", cites=5)
    assert m.judge(case, m.Outcome("answer", "…", (5,)), "api")[0]
    assert not m.judge(case, m.Outcome("answer", "…", (4,)), "api")[0]
    assert not m.judge(case, m.Outcome("abstain", "…"), "api")[0]
    assert not m.judge(case, m.Outcome("crash", "Traceback"), "cli")[0]
    assert not m.judge(case, m.Outcome("answer", "…", (5,), raw_markup=True), "ui")[0]
    msg = m.Case("y", "", "message", "empty")
    assert not m.judge(msg, m.Outcome("message", "something else"), "cli")[0]


@pytest.mark.parametrize(
    "question, fragment",
    [
        ("", "empty"),
        (" \t\n\u3000", "empty"),
        ("x" * 3000, "3,000 characters"),
        ("🤔🤔 ?!", "no letters"),
        ("<script>alert(1)</script>", "no letters"),
        ("Combien \udcff ?", "UTF-8"),
    ],
)
def test_clean_question_refuses_with_a_reason(question, fragment):
    with pytest.raises(QuestionError, match=fragment):
        clean_question(question, 2000)


def test_clean_question_keeps_the_words():
    assert clean_question("Combien\x00 de <b>soldats</b>\x07 ?", 2000) == "Combien de soldats ?"
    assert strip_markup("[ici](javascript:alert(1)) **urgent** `x`") == "ici urgent x"
    assert strip_markup("Is 3 < 5 and 7 > 2?") == "Is 3 < 5 and 7 > 2?"
    # nothing a real question needs goes, and no space lands before "?" (French typography)
    assert strip_markup("What is <b>NATO</b>?") == "What is NATO?"
    assert strip_markup("What about <script> tags in the article?") == "What about tags in the article?"
    assert strip_markup("Is a<b and c>d? Who is <Ukraine>? C++, C#, x**2, « oui » [5]") == (
        "Is a<b and c>d? Who is <Ukraine>? C++, C#, x**2, « oui » [5]"
    )
    assert strip_markup("<p>Combien</p><p>de soldats ?</p>") == "Combien de soldats ?"
    assert clean_question("Qui est Сергей Лавров ? 🪖", 2000) == "Qui est Сергей Лавров ? 🪖"


# What a small model might write: words, numbers and citations of every shape,
# in range or not, grouped, nested or unclosed.
_piece = st.one_of(
    st.sampled_from(["Environ", "10 000", "soldats", "nord-coréens", "Russie", "Rutte", ".", ",", " "]),
    st.integers(-3, 40).map(lambda n: f"[{n}]"),
    st.lists(st.integers(0, 40), min_size=1, max_size=4).map(lambda ns: "[" + ", ".join(map(str, ns)) + "]"),
    st.sampled_from(["[", "]", "[[5]]", "[5", "[ 3 ]", "[5;6]", "[12]"]),
)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reply=st.lists(_piece, max_size=25).map(" ".join))
def test_pipeline_never_shows_a_citation_it_was_not_given(settings, reply):
    bot = Bot(settings, embedder=FakeEmbedder(), llm=FakeLLM(settings, [reply]))  # type: ignore[arg-type]
    a = bot.ask("Combien de soldats nord-coréens ont été envoyés en Russie ?", engine="llm")
    n_sentences = len(bot.index.sentences)
    cited = {c.n for c in a.citations}
    assert all(1 <= n <= n_sentences for n in cited)
    assert set(citations_in(a.answer)) <= cited  # every [n] shown resolves to a citation
    for c in a.citations:  # and each citation is the article's own sentence
        assert bot.index.sentences[c.n - 1].text == c.text
    if a.abstained:
        assert not a.citations
