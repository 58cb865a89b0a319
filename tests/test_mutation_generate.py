"""bot/generate.py, pinned down where mutation testing (docs/mutation.md) found
behaviour no other test checked: what the model is shown and allowed to write,
the agreement check with retrieval, and each verdict ``generate`` ends with."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.backends import GenerationStats
from bot.cite import Parsed, Support
from bot.context import section_key, sections
from bot.generate import (
    AGREEMENT_TOP,
    CLAIM_CHARS,
    Generated,
    Request,
    _gbnf_string,
    answer_grammar,
    answers_question,
    context_sentences,
    generate,
)
from bot.prompts import ABSTAIN
from bot.types import Hit, Sentence
from bot.verify import SentenceVerdict, Verification

TEXTS = [
    "Environ 10 000 soldats nord-coréens ont été envoyés en Russie.",
    "Mark Rutte dirige l'OTAN depuis octobre.",
    "Les troupes sont arrivées dans la région de Koursk.",
    "Séoul a confirmé ces informations mardi.",
    "Moscou n'a pas commenté.",
]


def sentences(texts: list[str], article: str = "a") -> list[Sentence]:
    out, at = [], 0
    for n, text in enumerate(texts, 1):
        out.append(Sentence(f"{article}:{n}", article, n, text, at, at + len(text)))
        at += len(text) + 1
    return out


ARTICLE = sentences(TEXTS)


def hits(*ns: int, article: list[Sentence] = ARTICLE) -> list[Hit]:
    return [Hit(article[n - 1], 0.9 - 0.01 * i) for i, n in enumerate(ns)]


def request(*ns: int, question: str = "Combien de soldats ?", **kw) -> Request:
    return Request(question, "fr", "a", ARTICLE, hits(*ns), **kw)


# -- what the model is shown -------------------------------------------------
def test_a_short_article_is_shown_whole_unless_retrieved_mode_is_asked():
    r = request(3, 1)
    assert context_sentences(r, 4096) == ARTICLE
    assert context_sentences(r, 4096, "retrieved") == [ARTICLE[0], ARTICLE[2]]


def test_a_long_article_is_shown_as_its_warm_section():
    long = sentences([f"Phrase numéro {i} de l'article, assez longue pour compter." for i in range(200)])
    first = long[slice(*sections(long)[0])]
    hit = [Hit(long[3], 0.9)]
    warm = frozenset({section_key("a", first)})
    assert context_sentences(Request("Q ?", "fr", "a", long, hit, warm=warm), 4096) == first
    assert context_sentences(Request("Q ?", "fr", "a", long, hit), 4096) == [long[3]]


# -- answers_question --------------------------------------------------------
def test_the_answer_must_cite_one_of_the_top_three_retrieved_sentences():
    assert AGREEMENT_TOP == 3
    r = request(4, 2, 5, 1)
    ok = Support(True, "every sentence is supported")
    assert answers_question(r, Parsed("x", (5,), ())) == ok
    assert answers_question(r, Parsed("x", (3, 4), ())) == ok
    assert answers_question(r, Parsed("x", (1, 3), ())) == Support(
        False, "cites [1, 3], none of the retrieved [2, 4, 5]"
    )


def test_only_this_articles_hits_count_and_no_hit_means_no_check():
    other = sentences(["Autre."] * 3, article="b")
    r = Request("Q ?", "fr", "a", ARTICLE, [Hit(other[0], 0.99), Hit(other[1], 0.98), *hits(1, 2, 3, 4)])
    assert answers_question(r, Parsed("x", (3,), ())).ok
    assert not answers_question(r, Parsed("x", (4,), ())).ok
    assert answers_question(request(), Parsed("x", (4,), ())) == Support(True, "every sentence is supported")


# -- the grammar -------------------------------------------------------------
def test_the_grammar_in_full():
    assert CLAIM_CHARS == 240
    g = answer_grammar([3, 1, 3], not_found=["Pas trouvé.", 'Dit "non"'])
    cjk = r"\u3040-\u30FF\u3400-\u4DBF\u4E00-\u9FFF\uAC00-\uD7AF"
    assert g.split("\n") == [
        'root ::= notfound | claim (" " claim)?',
        'notfound ::= "Pas trouvé." | "Dit \\"non\\""',
        rf'claim ::= [^\x5B\x5D\n{cjk}]{{0,239}} [^\x5B\x5D\n.!?;:, {cjk}] "."? " "? cite cite? cite? "."?',
        'cite ::= "[" num "]"',
        'num ::= "1" | "3"',
    ]


def test_the_grammar_says_not_found_in_both_languages_by_default():
    assert answer_grammar([2]).split("\n")[1] == f'notfound ::= "{ABSTAIN["fr"]}" | "{ABSTAIN["en"]}"'


def test_a_grammar_needs_a_number_to_cite():
    with pytest.raises(ValueError, match="^a grammar needs at least one sentence number to cite$"):
        answer_grammar([])


def test_gbnf_strings_escape_backslashes_then_quotes():
    assert _gbnf_string('a\\b"c') == '"a\\\\b\\"c"'


# -- generate ----------------------------------------------------------------
class LLM:
    def __init__(self, reply: str, grammar: str = "auto", mode: str = "article", context: int = 4096) -> None:
        self.settings = SimpleNamespace(llm_context=context, llm_context_mode=mode, llm_grammar=grammar)
        self.reply = reply
        self.calls: list[tuple] = []

    def stream(self, messages, max_tokens, stats, grammar=None):
        self.calls.append((messages, max_tokens, stats, grammar))
        for word in self.reply.split(" "):
            yield word + " "


class Prompts:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def messages(self, article_id, shown, question, lang, history):
        self.calls.append((article_id, list(shown), question, lang, history))
        return [{"role": "user", "content": question}]


def supported(text: str = "x") -> Verification:
    return Verification((SentenceVerdict(text, (1,), True),))


def run(llm, req, check=None, max_tokens=77):
    prompts = Prompts()
    items = list(generate(llm, prompts, req, max_tokens, check=check))
    *texts, last = items
    assert isinstance(last, Generated) and all(isinstance(t, str) for t in texts)
    return texts, last, prompts


def test_generate_streams_the_growing_text_and_asks_with_the_grammar_and_the_prompt():
    llm = LLM("Environ 10 000 soldats [1].")
    history = (("Q0", "A0"),)
    texts, g, prompts = run(llm, request(1, 3, history=history), check=lambda t, q: supported(t))
    assert texts == [
        "Environ ",
        "Environ 10 ",
        "Environ 10 000 ",
        "Environ 10 000 soldats ",
        "Environ 10 000 soldats [1]. ",
    ]
    assert g.raw == "Environ 10 000 soldats [1]. "
    assert prompts.calls == [("a", ARTICLE, "Combien de soldats ?", "fr", history)]
    ((messages, max_tokens, stats, grammar),) = llm.calls
    assert messages == [{"role": "user", "content": "Combien de soldats ?"}]
    assert max_tokens == 77 and stats is g.stats and isinstance(stats, GenerationStats)
    assert grammar == answer_grammar({1, 2, 3, 4, 5})
    assert g.shown == tuple(ARTICLE) and g.mode == "article" and g.section is None
    assert g.support == Support(True, "every sentence is supported") and not g.abstained


def test_generate_without_grammar_when_the_settings_say_false():
    llm = LLM("Environ 10 000 soldats [1].", grammar="false")
    run(llm, request(1), check=lambda t, q: supported(t))
    assert llm.calls[0][3] is None


def test_the_context_mode_comes_from_the_settings():
    _, g, prompts = run(LLM("Oui [3].", mode="retrieved"), request(3, 1), check=lambda t, q: supported(t))
    assert g.mode == "retrieved" and g.shown == (ARTICLE[0], ARTICLE[2])
    assert prompts.calls[0][1] == [ARTICLE[0], ARTICLE[2]]


def test_a_not_found_answer_is_an_abstention_with_no_check():
    def check(text, question):
        raise AssertionError("an abstention is not verified")

    texts, g, _ = run(LLM(ABSTAIN["fr"]), request(1), check=check)
    assert g.abstained is True and g.support == Support(True, "abstained")
    assert g.raw == texts[-1] == ABSTAIN["fr"] + " " and g.parsed == Parsed(ABSTAIN["fr"], (), ())
    assert g.shown == tuple(ARTICLE) and g.verification is None and g.mode == "article" and g.section is None
    _, g, _ = run(LLM(ABSTAIN["en"], mode="retrieved"), request(2), check=check)
    assert g.abstained and g.mode == "retrieved" and g.shown == (ARTICLE[1],)


def test_an_abstention_from_a_warm_section_names_it():
    long = sentences([f"Phrase numéro {i} de l'article, assez longue pour compter." for i in range(200)])
    first = long[slice(*sections(long)[0])]
    key = section_key("a", first)
    req = Request("Q ?", "fr", "a", long, [Hit(long[3], 0.9)], warm=frozenset({key}))
    _, g, _ = run(LLM(ABSTAIN["fr"]), req)
    assert g.abstained and (g.mode, g.section) == ("section", key) and g.shown == tuple(first)
    _, g, _ = run(LLM("Phrase numéro 3 de l'article [4]."), req, check=lambda t, q: supported(t))
    assert not g.abstained and (g.mode, g.section) == ("section", key)


def test_a_not_found_answer_that_cites_is_checked_as_an_answer():
    seen = []

    def check(text, question):
        seen.append((text, question))
        return supported(text)

    _, g, _ = run(LLM("L'article ne dit pas combien, mais [1] parle de soldats."), request(1), check=check)
    assert not g.abstained
    assert seen == [("L'article ne dit pas combien, mais [1] parle de soldats.", "Combien de soldats ?")]


def test_the_verifier_verdict_is_the_support():
    failed = Verification((SentenceVerdict("Des soldats [1].", (1,), False, ("number 12 not in [1]",)),))
    _, g, _ = run(LLM("Des soldats [1]."), request(1), check=lambda t, q: failed)
    assert g.support == Support(False, "'Des soldats.': number 12 not in [1]") and g.verification is failed


def test_without_a_check_the_verifier_knows_the_question():
    _, g, _ = run(LLM("Des soldats nord-coréens ont été envoyés en Russie [1]."), request(1))
    assert g.support == Support(False, "the question asks for a quantity and the answer has no number")
    assert g.abstained is False


def test_without_a_check_the_lexical_verifier_runs_on_the_article():
    _, g, _ = run(LLM("Environ 10 000 soldats nord-coréens ont été envoyés en Russie [1]."), request(1))
    assert g.verification is not None and g.support == Support(True, "every sentence is supported")
    _, g, _ = run(LLM("Environ 12 000 soldats nord-coréens ont été envoyés en Russie [1]."), request(1))
    assert g.verification is not None and not g.support.ok and "12" in g.support.reason


def test_a_supported_answer_must_also_cite_the_top_retrieved_sentences():
    _, g, _ = run(LLM("Moscou n'a pas commenté [5]."), request(1, 2, 3), check=lambda t, q: supported(t))
    assert g.support == Support(False, "cites [5], none of the retrieved [1, 2, 3]")


def test_invented_citations_are_removed_and_said_only_when_the_answer_holds():
    _, g, _ = run(LLM("Environ 10 000 soldats [1][9]."), request(1), check=lambda t, q: supported(t))
    assert g.parsed == Parsed("Environ 10 000 soldats [1].", (1,), (9,))
    assert g.support == Support(True, "removed invented citation(s) [9]")
    _, g, _ = run(LLM("Moscou n'a pas commenté [5][9]."), request(1), check=lambda t, q: supported(t))
    assert g.support == Support(False, "cites [5], none of the retrieved [1]")
