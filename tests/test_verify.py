"""The claim verifier (bot/verify.py, bot/claims.py): each check on hand-made answers about the
seed article, `bot verify` (exit codes, --json, stdin), and the LLM engine's fallback when a claim
fails. Fast tests use the fake embedder, plus a dictionary embedder where a check needs two names
to be close across languages; the real model is in the real_model tests at the end."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot import Bot, claims, places
from bot.cli import main
from bot.errors import AnswerError, ArticleError
from bot.ingest import read_article
from bot.types import Sentence
from bot.verify import Verifier, verify

from .conftest import SEED, SEED_ID, FakeEmbedder, FakeLLM
from .verify_sets import run_set

ROOT = Path(__file__).resolve().parents[1]
ARTICLE = read_article(SEED).sentences


class SynonymEmbedder(FakeEmbedder):
    """The fake embedder reading English words as their French counterparts (NATO = OTAN):
    enough of a cross-language model for names and short answers."""

    FRENCH = {"nato": "otan", "north": "nord", "korean": "coréens", "soldiers": "soldats", "fought": "combattu",
              "russian": "russes", "alongside": "côtés"}  # fmt: skip

    def _vec(self, text: str) -> np.ndarray:
        words = [self.FRENCH.get(w.lower(), w) for w in text.replace("-", " ").split()]
        return super()._vec(" ".join(words))


def check(answer: str, question: str | None = None, embedder: FakeEmbedder | None = None):
    e = embedder or FakeEmbedder()
    passages = e.embed_passages([s.text for s in ARTICLE])
    return Verifier(e.embed_queries).verify(answer, ARTICLE, question, "fr", lambda _: passages)


# -- what the claims are -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("environ 10 000 soldats", {"10000"}),
        ("about 10,000 soldiers", {"10000"}),
        ("10, 000 North Korean troops", {"10000"}),
        ("dix mille soldats", {"10000"}),
        ("ten thousand troops", {"10000"}),
        ("a hundred thousand, cent mille", {"100000"}),
        ("des deux parties", {"2"}),
        ("le 28 octobre 2024", {"28", "2024"}),
        ("un représentant", set()),  # "un" is an article, not a number, in an answer
    ],
)
def test_numbers_are_normalised(text, expected):
    assert claims.numbers(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        # fold("à") is "a": not a one added to the number after it (was 8, 3 and 10 001)
        ("le Milan AC a remporté la C1 à sept reprises", {"1", "7"}),
        ("il y a deux ans", {"2"}),
        ("à 10 000 soldats", {"10000"}),
        ("quatre-vingts soldats, quatre-vingt-dix chars", {"80", "90"}),  # was 24 and 34
        ("vingt et un pays", {"21"}),  # was 20
        ("l'une des parties", {"1"}),
        ("a hundred soldiers", {"100"}),
        ("un million de personnes", {"1000000"}),
    ],
)
def test_numbers_of_the_cited_sentences_count_articles_as_one_only_alone(text, expected):
    assert claims.numbers(text, articles_count=True) == expected


@pytest.mark.parametrize(
    "text, who",
    [
        ("La construction du temple de Rome a été annoncée le 4 octobre 2008 par Thomas S. Monson.", []),
        ("La nouvelle est démentie par Moscou.", []),
        ("The plan was announced by Mark Rutte.", []),
        ("Mark Rutte announced the plan.", ["Mark Rutte"]),
        ("Mme Singh s'est exprimée sur ce sujet.", ["Mme Singh"]),  # reflexive, not passive
        ("A non-deterministic Turing machine can be characterized by checking many paths.", []),
    ],
)
def test_the_subject_of_a_passive_verb_of_saying_is_not_its_speaker(text, who):
    assert [a.name.text for a in claims.attributions(text)] == who


@pytest.mark.parametrize(
    "text, negated",
    [
        ("The answer is either yes or no, or alternately either 1 or 0.", []),
        ("La réponse est oui ou non.", []),
        ("Kiev would face no new restrictions.", ["no"]),
        ("Mme Singh n'a pas confirmé.", ["pas"]),
    ],
)
def test_yes_or_no_names_the_two_answers_and_negates_nothing(text, negated):
    assert [n.marker for n in claims.negations(text)] == negated


def test_a_passive_answer_is_not_refused_for_its_subject_not_speaking():
    article = [
        Sentence("a:1", "a", 1, "Le temple de Rome est un édifice religieux.", 0, 43),
        Sentence("a:2", "a", 2, "Sa construction a été annoncée le 4 octobre 2008 par Thomas S. Monson.", 44, 114),
    ]
    v = verify("La construction du temple de Rome a été annoncée le 4 octobre 2008 par Thomas S. Monson [2].", article)
    assert not any("who speaks or acts" in r for s in v.sentences for r in s.reasons), v.reason


def test_an_answer_saying_seven_times_is_backed_by_a_sentence_saying_a_sept_reprises():
    article = [Sentence("a:1", "a", 1, "Le Milan AC a remporté la C1 à sept reprises.", 0, 45)]
    assert verify("Le Milan AC a remporté la C1 sept fois [1].", article).supported
    assert not verify("Le Milan AC a remporté la C1 huit fois [1].", article).supported


def test_names_acronyms_and_sentence_openers():
    found = [m.text for m in claims.names("Selon l'OTAN, Mark Rutte a rencontré la Corée du Nord à Moscou.")]
    assert found == ["OTAN", "Mark Rutte", "Corée du Nord", "Moscou"]
    assert [m.text for m in claims.names("According to the article, NATO's chief met Kim Jong-un.")] == [
        "NATO",
        "Kim Jong-un",
    ]
    assert claims.names("Environ dix mille soldats", common={"environ"}) == []


def test_who_speaks_in_the_seed_sentences():
    def who(n: int) -> list[str]:
        return [a.name.text for a in claims.attributions(ARTICLE[n - 1].text)]

    assert set(who(1)) == {"OTAN", "Mark Rutte", "ABC News"}  # apposition + source
    assert "Sergueï Lavrov" in who(10) and "OTAN" not in who(10)  # "Commentant les accusations de l'OTAN"
    assert who(14) == ["M. Lavrov"]  # "…, a déclaré M. Lavrov"
    assert set(who(7)) == {"Mme Singh", "Reuters"}  # inverted speaker, "citée par"
    assert claims.refers_back(ARTICLE[1].text) and not claims.refers_back(ARTICLE[0].text)


@pytest.mark.parametrize(
    "question, yes_no",
    [
        ("Le Pentagone a-t-il confirmé que les Nord-Coréens participaient aux combats ?", True),
        ("Est-ce que Kiev aura des restrictions ?", True),
        ("Did NATO say North Korean soldiers had fought?", True),
        ("Is that agreement secret, according to Lavrov?", True),
        ("Où a-t-il tenu sa conférence de presse ?", False),
        ("Et qu'a-t-il exigé de Moscou ?", False),
        ("Le représentant s'était-il exprimé avant ou après la confirmation ?", False),
        ("Who is the NATO secretary general?", False),
    ],
)
def test_yes_no_questions(question, yes_no):
    assert claims.asks_yes_no(question) is yes_no


def test_negations_and_what_they_bear_on():
    assert [n.words for n in claims.negations("Mme Singh n'a pas confirmé que les troupes combattaient")] == [
        ("confirme",)
    ]
    assert claims.negations("ne servent à rien d'autre qu'à justifier ce qu'ils ont déjà fait") == []
    assert [n.words for n in claims.negations("No, Kyiv would face no new restrictions")] == [("new", "restrictions")]


# -- each check ------------------------------------------------------------------------------


def test_a_right_answer_is_supported():
    v = check("Mme Singh n'a pas confirmé que les troupes nord-coréennes combattaient contre l'Ukraine [6].")
    assert v.supported and v.reason == "every sentence is supported"
    assert v.sentences[0].cited == (6,)


def test_a_name_the_article_never_mentions_fails():
    v = check("Le secrétaire général de l'OSCE est Mark Rutte [1].")
    assert not v.supported
    assert "'OSCE' is not in the cited sentences [1]" in v.reason
    v = check("Le secrétaire général de l'OTAN est Jens Stoltenberg [1].")
    assert "'Jens Stoltenberg' is not in the cited sentences [1]" in v.reason


def test_a_name_in_the_question_is_allowed():
    # "Alliance atlantique" is the question's, not the article's
    v = check(
        "L'Alliance atlantique est dirigée par son secrétaire général, Mark Rutte [1].",
        "Qui dirige l'Alliance atlantique ?",
    )
    assert v.supported, v.reason


def test_a_changed_number_or_date_fails():
    assert "20000 not in the cited sentences" in check("Environ 20 000 soldats ont été envoyés en Russie [5].").reason
    assert "novembre" in check("L'OTAN l'a confirmé le 28 novembre [1].").reason
    assert check("Environ dix mille soldats nord-coréens ont été envoyés en Russie [5].").supported


def test_a_sentence_that_refers_back_lends_the_previous_speaker():
    # [2] opens on "Le responsable": Mark Rutte is named in [1]
    assert check(
        "Selon Mark Rutte, la Corée du Nord viole les résolutions du Conseil de sécurité de l'ONU [2]."
    ).supported
    v = check("Selon Sergueï Lavrov, la Corée du Nord viole les résolutions du Conseil de sécurité de l'ONU [2].")
    assert not v.supported and "Lavrov" in v.reason


def test_who_did_what():
    v = check(
        "Selon l'OTAN, des mercenaires, des volontaires et des entraîneurs occidentaux combattent pour l'Ukraine [10]."
    )
    assert not v.supported and "'OTAN' is not who speaks or acts in the cited sentence(s) [10]" in v.reason
    assert check("Selon Sergueï Lavrov, des mercenaires et des volontaires combattent pour l'Ukraine [10].").supported
    v = check("Moscou se bat aux côtés des Ukrainiens [10].")
    assert not v.supported and "only a place" in v.reason


@pytest.mark.parametrize(
    "answer",
    [
        "Oui, Mme Singh a confirmé que les troupes nord-coréennes combattaient contre l'Ukraine [6].",  # removed
        "Mark Rutte n'a pas appelé la Russie et la Corée du Nord à cesser leurs actions [4].",  # added
        "Selon Lavrov, l'accord est public et viole le droit international [13].",  # removed
    ],
)
def test_a_flipped_negation_fails(answer):
    v = check(answer)
    assert not v.supported and "negat" in v.reason


def test_a_changed_quote_fails():
    assert check("Il a refusé de commenter ce qu'il a appelé des « rumeurs sans fondement » [8].").supported
    v = check("Il a refusé de commenter ce qu'il a appelé des « informations exactes » [8].")
    assert not v.supported and "the quote 'informations exactes'" in v.reason


def test_a_right_text_citing_the_wrong_sentence_fails():
    v = check(
        "La photo montre des membres d'une école militaire nord-coréenne lors d'une démonstration d'artillerie [1]."
    )
    assert not v.supported and "closer to sentence [3]" in v.reason


@pytest.mark.parametrize(
    "question, answer, reason",
    [
        (
            "Le Pentagone a-t-il confirmé que les Nord-Coréens participaient aux combats ?",
            "La porte-parole du Pentagone, Sabrina Singh, a déclaré qu'environ 10 000 soldats nord-coréens "
            "avaient été envoyés dans l'est de la Russie [5].",
            "asks yes or no",
        ),
        (
            "Combien de soldats ont été envoyés ?",
            "Des soldats nord-coréens ont été envoyés dans l'est de la Russie [5].",
            "asks for a quantity",
        ),  # fmt: skip
        ("Quand l'OTAN l'a-t-elle confirmé ?", "Mark Rutte est le secrétaire général de l'OTAN [1].", "asks when"),
        ("Pourquoi l'OTAN s'inquiète-t-elle ?", "Mark Rutte est le secrétaire général de l'OTAN [1].", "asks why"),
    ],
)
def test_the_answer_shape_follows_the_question(question, answer, reason):
    v = check(answer, question)
    assert not v.supported and reason in v.reason
    assert v.sentences[0].supported  # the sentence itself is true
    assert check("Non, " + answer[0].lower() + answer[1:], question).supported or reason != "asks yes or no"


def test_across_languages_names_match_through_the_embedder():
    class Words(SynonymEmbedder):
        FRENCH = {**SynonymEmbedder.FRENCH, "minister": "ministre", "foreign": "étrangères", "affairs": "affaires",
                  "mercenaries": "mercenaires", "fighting": "combattaient", "western": "occidentaux"}  # fmt: skip

    e = Words()
    v = check("The Foreign Affairs minister said Western mercenaries were fighting for Ukraine [10].", embedder=e)
    assert v.supported, v.reason
    assert "'Foreign' ~ 'étrangères' (1.00)" in v.sentences[0].notes
    # names we know in both languages are matched by their names, not the embedder
    v = check("According to NATO, North Korean soldiers fought alongside Russian soldiers in Koursk [1].", embedder=e)
    assert v.supported, v.reason
    assert any("'NATO' = 'otan' (same name)" in n for n in v.sentences[0].notes)
    v = check(
        "According to the OSCE, North Korean soldiers fought alongside Russian soldiers in Koursk [1].", embedder=e
    )
    assert not v.supported and "'OSCE' is not in the cited sentences [1]" in v.reason


def test_a_country_matches_its_name_in_the_other_language_not_a_neighbour():
    """Country names come from CLDR (bot/places.py): the embedder scores Netherlands ~ Pays-Bas 0.881,
    below the name threshold, and Poland ~ Ukraine as high; a translation table tells them apart."""
    assert places.other_names("the Netherlands") == {"pays bas"}
    assert "north korea" in places.other_names("Corée du Nord")
    assert places.other_names("Rutte") == frozenset()

    class Words(SynonymEmbedder):
        FRENCH = {**SynonymEmbedder.FRENCH, "prime": "premier", "minister": "ministre", "former": "ancien"}

    question = "What was Mark Rutte before?"
    v = check("Mark Rutte is a former Prime Minister of the Netherlands [4].", question, Words())
    assert v.supported, v.reason
    assert "'Netherlands' = 'pays bas' (same country)" in v.sentences[0].notes
    v = check("Mark Rutte is a former Prime Minister of Belgium [4].", question, Words())
    assert not v.supported and "'Belgium' is not in the cited sentences [4]" in v.reason
    # a French answer citing an English sentence, the other way round
    english = [replace(ARTICLE[0], text="Mark Rutte, a former prime minister of the Netherlands, spoke.")]
    e = Words()
    english_vectors = e.embed_passages([s.text for s in english])
    v = Verifier(e.embed_queries).verify(
        "M. Rutte est un ancien Premier ministre des Pays-Bas [1].", english, None, "en", lambda _: english_vectors
    )
    assert not any("Pays-Bas" in r for r in v.sentences[0].reasons), v.reason


def test_a_nationality_adjective_stands_for_its_country_only_where_the_country_owns_something():
    """ "Dutch" / « néerlandais » for « des Pays-Bas », "US weapons" for « armes américaines »; but not
    « ukrainien » for « pour l'Ukraine » (a minister of Ukraine is not what that sentence says)."""
    rutte = "M. Rutte, ancien Premier ministre des Pays-Bas, a appelé la Russie à cesser."
    assert places.named_in("Dutch", rutte) == places.named_in("néerlandais", rutte) == "des pays bas"
    assert places.named_in("US", "l'utilisation des armes américaines") == "americaines"
    assert places.named_in("ukrainien", "des entraîneurs combattaient pour l'Ukraine") is None
    assert places.named_in("Belgian", rutte) is None and places.country("coréen") is None  # which Korea?
    v = check("Le chef de l'OTAN est Mark Rutte, ancien Premier ministre néerlandais [1][4].")
    assert v.supported, v.reason
    v = check("Le chef de l'OTAN est Mark Rutte, ancien Premier ministre belge [1][4].")
    assert not v.supported and "'belge' is not in the cited sentences [1][4]" in v.reason


def test_without_an_embedder_only_the_lexical_checks_run():
    assert verify("Mme Singh n'a pas confirmé que les troupes combattaient à Koursk [6].", ARTICLE).supported
    v = verify("NATO confirmed it [1].", ARTICLE, article_lang="fr")
    assert not v.supported  # NATO ~ OTAN needs the embedder


def test_every_sentence_gets_a_verdict_and_json_says_which_failed():
    v = check("Mark Rutte dirige l'OTAN [1]. Le secrétaire général de l'OSCE a parlé [1].")
    assert [s.supported for s in v.sentences] == [True, False]
    out = v.to_json()
    assert out["supported"] is False and len(out["sentences"]) == 2
    assert out["sentences"][1]["reasons"] and "OSCE a parlé" in out["reason"].split(":")[0]


# -- through the Bot and the CLI -------------------------------------------------------------


@pytest.fixture
def cli_env(settings, monkeypatch):
    """`bot …` in this process, on a temporary index built with the fake embedder."""
    monkeypatch.setattr("bot.pipeline.SentenceTransformerEmbedder", lambda s: FakeEmbedder())
    return ["--seeds", str(settings.seeds), "--index", str(settings.index)]


def test_bot_verify_api(fake_bot):
    v = fake_bot.verify("Le secrétaire général de l'OTAN est Mark Rutte [1].", article=SEED_ID)
    assert v.supported
    with pytest.raises(AnswerError, match="cites no sentence"):
        fake_bot.verify("Mark Rutte dirige l'OTAN.")
    with pytest.raises(AnswerError, match=r"\[15\] out of range: article .* has 14 sentences"):
        fake_bot.verify("Mark Rutte dirige l'OTAN [15].")
    with pytest.raises(ArticleError, match="unknown article"):
        fake_bot.verify("Mark Rutte dirige l'OTAN [1].", article="nope")


@pytest.mark.parametrize(
    "argv, code, out",
    [
        (["Le secrétaire général de l'OTAN est Mark Rutte [1]."], 0, "supported: every sentence"),
        (["Le secrétaire général de l'OSCE est Mark Rutte [1]."], 1, "'OSCE' is not in the cited sentences [1]"),
        (["Mark Rutte dirige l'OTAN."], 2, "cites no sentence"),
        (["Mark Rutte dirige l'OTAN [99]."], 2, "out of range"),
        (["   "], 2, "empty"),
        (["[1] [2]."], 2, "no words besides its citations"),
        (["Mark Rutte [1]. " * 4000], 2, "the limit is 50,000"),
        ([], 2, "no text given"),
        (["Mark Rutte dirige l'OTAN [1].", "--article", "nope"], 2, "unknown article"),
    ],
)
def test_cli_exit_codes(cli_env, capsys, argv, code, out):
    assert main(["verify", *argv, *cli_env]) == code
    captured = capsys.readouterr()
    assert out in captured.out + captured.err
    if code == 2:
        assert captured.err.startswith("error: ") and "Traceback" not in captured.err


def test_cli_json_and_question(cli_env, capsys):
    q = "Le Pentagone a-t-il confirmé que les Nord-Coréens participaient aux combats ?"
    text = "Mme Singh n'a pas confirmé que les troupes nord-coréennes combattaient [6]."
    assert main(["verify", text, "--question", q, "--json", *cli_env]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["supported"] is False and out["sentences"][0]["supported"] is True
    assert "asks yes or no" in out["answer_reasons"][0]
    assert main(["verify", "Non, " + text[0].lower() + text[1:], "--question", q, "--json", *cli_env]) == 0


def test_cli_reads_stdin(cli_env, capsys, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"Mark Rutte dirige l'OTAN [1].")))
    assert main(["verify", "-", *cli_env]) == 0


def test_cli_batch(cli_env, capsys, tmp_path):
    batch = tmp_path / "b.jsonl"
    batch.write_text(
        '{"id": "a", "answer": "Mark Rutte dirige l\'OTAN [1]."}\n{"id": "b", "answer": "Rien."}\nnot json\n',
        encoding="utf-8",
    )
    assert main(["verify", "--batch", str(batch), *cli_env]) == 2
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[0]["id"] == "a" and lines[0]["supported"] is True
    assert lines[1]["id"] == "b" and "cites no sentence" in lines[1]["error"]
    assert "not valid JSON" in lines[2]["error"]


# -- the LLM engine --------------------------------------------------------------------------


def test_an_llm_answer_with_an_invented_entity_is_replaced(settings):
    reply = (
        "Le secrétaire général de l'OSCE, Mark Rutte, a confirmé le 28 octobre que des soldats nord-coréens "
        "combattaient [1]."
    )
    llm = FakeLLM(settings, [reply])
    bot = Bot(settings, embedder=FakeEmbedder(), llm=llm)  # type: ignore[arg-type]
    a = bot.ask("Qu'a confirmé Mark Rutte le 28 octobre ?", engine="llm")
    assert a.engine == "extractive" and reply not in a.answer
    assert (
        a.notice and "failed the citation check" in a.notice and "'OSCE' is not in the cited sentences [1]" in a.notice
    )
    out = a.to_json()
    assert out["verification"]["supported"] is False
    assert out["verification"]["sentences"][0]["reasons"][0].startswith("'OSCE' is not in the cited sentences")
    assert {"question", "answer", "engine", "abstained", "lang", "citations", "timings_ms"} <= set(out)


def test_a_verified_llm_answer_carries_its_verdicts(settings):
    llm = FakeLLM(settings, ["Mme Singh n'a pas confirmé que les troupes nord-coréennes combattaient [6]."])
    bot = Bot(settings, embedder=FakeEmbedder(), llm=llm)  # type: ignore[arg-type]
    a = bot.ask("Mme Singh a-t-elle confirmé que les troupes combattaient ?", engine="llm")
    assert a.engine == "extractive" and "asks yes or no" in (a.notice or "")
    llm.replies.append("Non, Mme Singh n'a pas confirmé que les troupes nord-coréennes combattaient [6].")
    a = bot.ask("Mme Singh a-t-elle confirmé que les troupes combattaient ?", engine="llm")
    assert a.engine == "llm" and a.verification is not None and a.verification.supported


# -- the real model --------------------------------------------------------------------------


@pytest.mark.real_model
@pytest.mark.parametrize(
    "answer, ok",
    [
        ("According to NATO, they fought in Kursk alongside Russian forces [1].", True),
        ("According to the OSCE, they fought in Kursk alongside Russian forces [1].", False),
        ("Sergei Lavrov held his press conference in Moscow on October 28 [10].", True),
        ("Sergei Lavrov held his press conference in Minsk on October 28 [10].", False),
        ("Mark Rutte was previously Prime Minister of the Netherlands [4].", True),
        ("Mark Rutte was previously Prime Minister of Belgium [4].", False),
        ("Mark Rutte was previously Prime Minister of Poland [4].", False),
        ("The Pentagon said that about ten thousand North Korean soldiers were sent to eastern Russia [5].", True),
        ("Kim Jong-un said about 10,000 North Korean soldiers were sent to eastern Russia [5].", False),
    ],
)
def test_cross_language_names_on_the_real_model(real_bot, answer, ok):
    v = real_bot.verify(answer)
    assert v.supported is ok, v.reason


@pytest.mark.real_model
def test_the_mutation_set_meets_its_bars(tmp_path, real_bot):
    """eval/verify_mutations.py through the real `bot verify`: ≥ 95 % of mutants rejected, ≥ 90 % of originals
    kept, per kind and language pair, but for English right answers (below); the report goes to a temporary
    folder."""
    cells = run_set("mutations.jsonl", real_bot, tmp_path)
    for key, (ok, n) in cells.items():
        kind, pair, split = key.split("|")
        if split != "all":
            continue
        if (kind, pair) == ("original", "en/fr"):
            # 35 of 38 English right answers kept (92.1 %): the three rejected are in the held-out part
            # (docs/verify.md); the bar is met by one answer, so it is held at the count measured
            assert ok >= 35, (key, ok, n)
            continue
        assert ok / n >= (0.90 if kind == "original" else 0.95), (key, ok, n)


@pytest.mark.real_model
def test_the_blind_held_out_set_stays_at_its_measured_level(tmp_path, real_bot):
    """eval/verify/holdout2.jsonl, written by someone who had not seen the verifier: measured once at 24 of 30
    right answers kept (80 %, below the 90 % bar: docs/verify.md lists why) and 88 of 92 mutants rejected;
    28 of 30 kept since nationality adjectives and capitals stand for their country, 90 of 92 mutants
    rejected since organisations and capitals are matched by their names, not a cosine (no longer blind).
    Held here so that neither gets worse."""
    cells = run_set("holdout2.jsonl", real_bot, tmp_path)
    totals = {True: [0, 0], False: [0, 0]}
    for key, (ok, n) in cells.items():
        kind, _, split = key.split("|")
        if split == "all":
            totals[kind == "original"][0] += ok
            totals[kind == "original"][1] += n
    assert totals[True][0] >= 28 and totals[True][1] == 30, totals
    assert totals[False][0] >= 90 and totals[False][1] == 92, totals


@pytest.mark.real_model
def test_the_name_threshold_separates_the_written_pairs(real_bot):
    """eval/verify/name_pairs.jsonl on the real model: no different pair reaches NAME_SIMILARITY; of the
    same ones only the two spellings of the Netherlands fall below it (documented in bot/verify.py)."""
    from bot.verify import NAME_SIMILARITY

    pairs = [json.loads(x) for x in (ROOT / "eval/verify/name_pairs.jsonl").read_text(encoding="utf-8").splitlines()]
    a = real_bot.embedder.embed_queries([p["a"] for p in pairs])
    b = real_bot.embedder.embed_queries([p["b"] for p in pairs])
    scores = np.sum(a * b, axis=1)
    assert not [p for p, s in zip(pairs, scores, strict=True) if not p["same"] and s >= NAME_SIMILARITY]
    missed = {p["a"] for p, s in zip(pairs, scores, strict=True) if p["same"] and s < NAME_SIMILARITY}
    assert missed <= {"Netherlands", "Dutch"}


@pytest.mark.parametrize(
    "answer, supported",
    [  # test t-fr-05: the model's own reason, not the article's
        (
            "Lavrov a évoqué la présence de militaires occidentaux en Ukraine "
            "pour justifier ce qu'ils ont déjà fait [12].",
            False,
        ),
        (
            "Lavrov a évoqué la présence de militaires occidentaux en Ukraine en réponse à une question "
            "sur un déploiement de troupes occidentales [12].",
            True,
        ),
    ],
)
def test_a_why_answer_takes_its_reason_from_the_cited_sentences(answer, supported):
    question = "Pourquoi Lavrov a-t-il évoqué la présence de militaires occidentaux en Ukraine ?"
    v = check(answer, question)
    assert v.supported is supported, v.reason
    if not supported:
        assert "the reason it gives ('justifier', 'deja') is not in the cited sentences [12]" in v.reason
    # the same text is not judged on its reason when nobody asked why
    assert check(answer, "Qu'a dit Lavrov des militaires occidentaux ?").supported


@pytest.mark.parametrize(
    "answer, reason",
    [
        ("Ils y ont été envoyés pour être entraînés, selon le Pentagone", "être entraînés"),
        ("According to Lavrov, the army could not strike without Western experts", "Western experts"),
        ("They were sent there to be trained, according to the Pentagon", "be trained"),
        ("Mark Rutte est le secrétaire général de l'OTAN", ""),
        # found in review: a source in the middle, "parce que", a leading "Pour X,", "As reported by"
        ("Il l'a évoqué pour, selon lui, justifier ce qu'ils ont fait", "justifier ce qu'ils ont fait"),
        ("Il l'a évoqué parce que l'OTAN veut la guerre", "l'OTAN veut la guerre"),
        ("Pour la porte-parole, ils ont été envoyés afin de préparer une invasion", "de préparer une invasion"),
        ("As reported by Reuters, they were sent to be trained", "be trained"),
        ("Because, according to him, Russia lost", "Russia lost"),
        ("envoye\u0301s gra\u0302ce a\u0300 un accord", "à un accord"),  # decomposed accents
    ],
)
def test_a_reason_is_read_after_its_marker_and_before_its_source(answer, reason):
    assert claims.reason_given(answer) == reason


def test_an_invented_reason_behind_a_view_or_a_source_is_still_caught():
    question = "Pourquoi des soldats nord-coréens ont-ils été envoyés en Russie ?"
    for answer in (
        "Pour la porte-parole du Pentagone, Sabrina Singh, les soldats nord-coréens ont été envoyés dans l'est "
        "de la Russie afin d'y préparer une invasion [5].",
        "Les soldats ont été envoyés dans l'est de la Russie pour, selon Sabrina Singh, préparer une invasion [5].",
    ):
        v = check(answer, question)
        assert not v.supported and "the reason it gives" in v.reason, v.reason
    right = "Les soldats ont été envoyés dans l'est de la Russie pour, selon Sabrina Singh, y être entraînés [5]."
    assert check(right, question).supported


def test_a_capital_after_a_verb_of_addressing_is_whom_not_where():
    from bot.verify import _as_place

    assert not _as_place("Mark Rutte a demandé à Moscou et à Pyongyang de cesser", "Pyongyang")
    assert not _as_place("Rutte wrote to Moscow and to Pyongyang", "Moscow")
    assert not _as_place("Rutte called on Moscow and Pyongyang to stop", "Pyongyang")
    assert not _as_place("A Washington official said so", "Washington")  # the English "a"
    assert _as_place("La Russie a tiré des missiles sur Kiev", "Kiev")
    assert _as_place("Ils sont entraînés à Moscou et Pyongyang", "Pyongyang")
    assert _as_place("They were sent to Moscow", "Moscow")


@pytest.mark.parametrize(
    "answer, ok",
    [
        ("L'ancien Premier ministre des Pays-Bas a appelé Moscou et Pyongyang à cesser ces actions [4].", True),
        ("Mark Rutte a appelé Kiev et Pyongyang à cesser ces actions [4].", False),  # [4] has no Ukraine
        ("Les soldats nord-coréens ont été envoyés à Moscou pour y être entraînés [5].", False),  # a place
    ],
)
def test_a_capital_stands_for_its_country_where_it_is_not_a_place(answer, ok):
    """ "a appelé Moscou et Pyongyang" for « a appelé la Russie et la Corée du Nord » (holdout2 k11);
    "à Moscou" for « dans l'est de la Russie » would say which city, which [5] does not."""
    v = check(answer, "Qu'a demandé Mark Rutte ?")
    assert v.supported is ok, v.reason
    assert places.capital_of("Moscow") == places.capital_of("Moscou") == "RU"
    assert places.capital_of("Bruxelles") is None  # the EU as often as Belgium


def test_an_organisation_or_a_capital_is_matched_by_its_names_not_a_cosine():
    """holdout2 k06 and k04: "the European Union" for « auprès des Nations Unies » and "in Kyiv" for
    Koursk passed on the embedder; a table of their names in both languages says no."""
    assert places.written_in("NATO", "Le secrétaire général de l'OTAN") == "otan"
    assert places.written_in("the European Union", "auprès des Nations Unies") is None
    assert places.written_in("Kyiv", "Kiev ne serait confrontée") == "kiev"
    assert places.known_forms("Rutte") == ()
    e = SynonymEmbedder()
    ok = check("According to NATO, North Korean soldiers fought alongside Russian soldiers in Koursk [1].", embedder=e)
    assert ok.supported and any("'NATO' = 'otan' (same name)" in n for n in ok.sentences[0].notes), ok.reason
    v = check("The North Korean envoy to the European Union declined to comment on these rumours [8].", embedder=e)
    assert not v.supported and "'European Union' is not in the cited sentences [8]" in v.reason, v.reason
