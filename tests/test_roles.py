"""Roles and titles (bot/roles.py) and the verifier's two checks that read them: a role an answer gives
must be one the cited sentences (or the article, for a person they name) give; a how-many answer's
number must count what the question asks. Fast tests on hand-made answers about the seed article with
the fake embedder; the role sets on the real model at the end."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import roles
from bot.ingest import read_article
from bot.verify import Verifier

from .conftest import SEED, FakeEmbedder
from .verify_sets import run_set

ROOT = Path(__file__).resolve().parents[1]
ARTICLE = read_article(SEED).sentences


def check(answer: str, question: str | None = None):
    e = FakeEmbedder()
    passages = e.embed_passages([s.text for s in ARTICLE])
    return Verifier(e.embed_queries).verify(answer, ARTICLE, question, "fr", lambda _: passages)


@pytest.mark.parametrize(
    "text, labels",
    [
        ("Le secrétaire général de l'OTAN, Mark Rutte,", ["secretary general"]),
        ("M. Rutte, ancien Premier ministre des Pays-Bas", ["former prime minister"]),
        ("le ministre russe des Affaires étrangères Sergueï Lavrov", ["minister (foreign)"]),
        ("Le chef de la diplomatie a également souligné", ["minister (foreign)"]),
        ("Russia's deputy foreign minister", ["deputy minister (foreign)"]),
        ("the minister of defence and the home secretary", ["minister (defence)", "minister (interior)"]),
        ("Mark Rutte est le secrétaire général adjoint de l'OTAN", ["deputy secretary general"]),
        ("Mark Rutte, actuel Premier ministre", ["current prime minister"]),
        ("la porte-parole du Pentagone, Sabrina Singh", ["spokesperson"]),
        ("Pentagon spokeswoman Sabrina Singh", ["spokesperson"]),
        ("the North Korean general who commands the troops", ["general"]),
        ("une générale du Pentagone", ["general"]),
        ("un général nord-coréen", ["general"]),
        ("chef de l'armée", ["commander"]),
        ("the chief of the general staff", ["general staff"]),
        ("le patron de l'OTAN", ["head"]),
        ("des mercenaires, des volontaires et des entraîneurs occidentaux", ["instructor"]),
        ("Vice-President Harris", ["deputy president"]),
        ("secrétaire d'État américain Antony Blinken", ["minister (foreign)"]),
        ("le secrétaire américain à la Défense Lloyd Austin", ["minister (defence)"]),
        ("the Secretary of State for Defence", ["minister (defence)"]),
        ("le vice-Premier ministre", ["deputy prime minister"]),
        ("The foreign minister spoke of the war", ["minister (foreign)"]),
        ("the prime minister's office", ["prime minister"]),
        # a modifier right before its role only (or with a nationality between)
        ("a former comedian turned president", ["president"]),
        ("Auparavant, un représentant nord-coréen", ["representative"]),
        ("placées sous l'autorité du ministre de la Défense", ["minister (defence)"]),
        # not roles
        ("The UN General Assembly adopted it", []),
        ("General Motors", []),
        ("TSMC est le leader mondial des puces", []),
        ("représentant 2 % des effectifs", []),
        ("a representative sample", []),
        ("the chief reason", []),
        ("C'est en général vrai", []),
        ("a general escalation of the conflict", []),
        ("l'Assemblée générale de l'ONU", []),
        ("the defence cooperation agreement", []),
        ("le ministère américain de la Défense", []),
        ("ils ont été entraînés", []),
        ("she shook her head", []),
    ],
)
def test_roles_are_read_in_both_languages(text, labels):
    assert [r.label for r in roles.find(text)] == labels


def test_a_role_covers_what_it_is_and_not_more():
    (sg,) = roles.find("le secrétaire général de l'OTAN")
    (former_pm,) = roles.find("ancien Premier ministre")
    (foreign,) = roles.find("le chef de la diplomatie")
    (head,) = roles.find("the head of NATO")
    assert roles.covers(sg, head)  # a head is any leader
    assert roles.covers(foreign, roles.find("a Russian diplomat")[0])
    assert roles.covers(foreign, roles.find("the minister")[0])  # no portfolio claimed: any
    assert not roles.covers(foreign, roles.find("the interior minister")[0])
    assert roles.covers(former_pm, roles.find("former prime minister")[0])
    assert roles.covers(former_pm, roles.find("prime minister")[0])  # the answer does not say: allowed
    assert not roles.covers(former_pm, roles.find("current prime minister")[0])
    assert not roles.covers(sg, roles.find("former secretary general")[0])
    assert not roles.covers(sg, roles.find("deputy secretary general")[0])
    assert not roles.covers(sg, roles.find("a general")[0])


def test_a_deputy_minister_of_foreign_affairs_is_a_diplomat():
    (vice,) = roles.find("le vice-ministre russe des Affaires étrangères")
    assert roles.covers(vice, roles.find("Russian diplomat Sergei Ryabkov")[0])
    assert not roles.covers(vice, roles.find("the foreign minister")[0])


def test_holders_tie_a_role_to_the_nearest_person():
    from bot import claims

    text = ARTICLE[4].text  # "… la porte-parole du Pentagone, Sabrina Singh, a déclaré …"
    people = [m for m in claims.names(text) if len(m.words) > 1]
    assert {(r.kind, m.text) for r, m in roles.holders(text, people)} == {("spokesperson", "Sabrina Singh")}
    text = "Le secrétaire général de l'OTAN, Mark Rutte, a rencontré le président ukrainien Volodymyr Zelensky."
    people = [m for m in claims.names(text) if len(m.words) > 1]
    assert {(r.kind, m.text) for r, m in roles.holders(text, people)} == {
        ("secretary general", "Mark Rutte"),
        ("president", "Volodymyr Zelensky"),
    }


def _role_failures(v) -> list[str]:
    return [r for s in v.sentences for r in s.reasons if "is not a role the cited sentences" in r]


@pytest.mark.parametrize(
    "answer",
    [
        "The North Korean general who commands the troops sent to Russia is Mark Rutte [1].",  # test t-en-u03
        "Mark Rutte est le porte-parole de l'OTAN [1].",
        "Sergei Lavrov is Russia's interior minister [10].",
        "Sergei Lavrov is Russia's deputy foreign minister [10].",
        "Mark Rutte, actuel Premier ministre des Pays-Bas, a appelé la Russie et la Corée du Nord à cesser [4].",
        "It was Mark Rutte, NATO's former secretary general [1].",
        "Sergueï Lavrov, le secrétaire général de l'OTAN, a parlé de mercenaires occidentaux [10].",
        "En tant que chef de l'armée, il a assuré que cet accord est public [13].",
    ],
)
def test_a_role_the_cited_sentences_do_not_give_fails(answer):
    v = check(answer)
    assert not v.supported and _role_failures(v), v.reason


@pytest.mark.parametrize(
    "answer",
    [
        "Mark Rutte est le secrétaire général de l'OTAN [1].",
        "Mark Rutte, the former Dutch prime minister, called on Russia and North Korea to stop [4].",
        "Le chef de la diplomatie russe a souligné que l'accord est public [13].",
        "Le patron de l'OTAN a appelé la Russie et la Corée du Nord à cesser ces actions [4].",
        # the role is not in [7], but the article gives it to Mme Singh, whom [7] names
        "La porte-parole du Pentagone a averti que Kiev ne serait confrontée à aucune nouvelle restriction [7].",
        "Sabrina Singh, the Pentagon spokeswoman, warned of no new restriction for Kyiv [7].",
    ],
)
def test_a_role_the_article_gives_passes(answer):
    v = check(answer)
    assert not _role_failures(v), v.reason


def test_a_role_is_not_lent_to_someone_else_named_in_the_cited_sentence():
    # [10] names the OTAN (its accusations) and Lavrov: the OTAN's secretary general is Rutte, in [1]
    v = check("Sergueï Lavrov, le secrétaire général de l'OTAN, a parlé de mercenaires [10].")
    assert any("secrétaire général" in r for r in _role_failures(v))


@pytest.mark.parametrize(
    "question, answer, fails",
    [
        # test t-en-u01: the number counts those sent; those who moved are only "some"
        (
            "How many of the North Korean soldiers have moved close to Ukraine?",
            "10,000 North Korean soldiers have been sent to the east of Russia to be trained "
            "and some have moved near Ukraine [5].",
            True,
        ),
        (
            "Combien de soldats nord-coréens se sont déplacés près de l'Ukraine ?",
            "Environ 10 000 soldats nord-coréens ont été envoyés dans l'est de la Russie et certains se sont "
            "déplacés près de l'Ukraine [5].",
            True,
        ),
        # the number counts what is asked
        (
            "Combien de soldats nord-coréens ont été envoyés en Russie ?",
            "Environ 10 000 soldats nord-coréens ont été envoyés dans l'est de la Russie et certains se sont "
            "déplacés près de l'Ukraine [5].",
            False,
        ),
        # who says it is not what is asked
        (
            "How many North Korean soldiers were sent to Russia, according to the Pentagon spokeswoman?",
            "According to the Pentagon spokeswoman, several of them trained in Russia, and about 10,000 North "
            "Korean soldiers were sent there [5].",
            False,
        ),
        # "et" between two verbs is no second clause
        (
            "Combien de soldats nord-coréens sont en Russie ?",
            "Selon Mme Singh, environ 10 000 soldats ont été envoyés et entraînés en Russie [5].",
            False,
        ),
    ],
)
def test_a_how_many_answer_counts_what_is_asked(question, answer, fails):
    v = check(answer, question)
    assert any("the answer's number is in" in r for r in v.answer_reasons) == fails, v.answer_reasons


# -- what the second blind set (eval/verify/roles2.jsonl) showed, beside the roles ---------------


def test_a_title_the_article_gives_the_person_lends_its_names():
    # [7] names Mme Singh; "Pentagone" is in her title in [5]
    v = check("Sabrina Singh, the Pentagon's spokeswoman, warned that Kyiv would face no new restrictions [7].")
    assert not any("'Pentagon'" in r for s in v.sentences for r in s.reasons), v.reason
    v = check(
        "Le ministre russe des Affaires étrangères, Sergueï Lavrov, estime que l'armée ukrainienne ne pourrait pas "
        "utiliser de missiles sans les experts occidentaux [11]."
    )
    assert not any("'russe'" in r for s in v.sentences for r in s.reasons), v.reason
    # not to someone else: the OTAN is in Rutte's title, not in Singh's
    v = check("Sabrina Singh, the NATO spokeswoman, warned that Kyiv would face no new restrictions [7].")
    assert not v.supported and "NATO" in v.reason


def test_a_name_is_lent_only_inside_the_answer_s_own_title():
    # 'OTAN' is in Rutte's title in [1], but here it is whom he addresses, not his title
    v = check("M. Rutte a appelé l'OTAN et la Corée du Nord à cesser immédiatement ces actions [4].")
    assert not v.supported and "'OTAN' is not in the cited sentences [4]" in v.reason


def test_a_month_beside_its_day_is_a_date_not_a_name():
    from bot import claims

    assert [m.text for m in claims.names("On October 28 he held a press conference in Moscow.")] == ["Moscow"]
    assert [m.text for m in claims.names("Theresa May met Mark Rutte.")] == ["Theresa May", "Mark Rutte"]
    v = check("Sergei Lavrov is Russia's foreign minister; on October 28 he held a press conference in Moscow [10].")
    assert not any("'October' is not" in r for s in v.sentences for r in s.reasons), v.reason
    v = check("Sergei Lavrov held a press conference in Moscow on November 28 [10].")
    assert not v.supported  # the month is still checked, as a date


def test_parce_que_opens_a_sentence_without_being_a_name():
    v = check("Parce que, selon lui, elle ne pourrait pas utiliser de missiles sans les experts occidentaux [11].")
    assert not any("'Parce'" in r for s in v.sentences for r in s.reasons), v.reason


def test_zero_answers_a_how_many_question():
    q = "How many new restrictions would Kyiv face on using US weapons if North Korean troops joined the fighting?"
    # the fake embedder cannot read English against French, so the support check is left out here
    assert not check("None: Kyiv would face no new restrictions on using American weapons [7].", q).answer_reasons
    assert not check("Kyiv would face no new restrictions on using American weapons [7].", q).answer_reasons
    assert "asks for a quantity" in check("Kyiv would be able to use American weapons [7].", q).answer_reasons[0]
    # zero only where the cited sentences deny something: [5] has 10 000 soldiers sent
    q5 = "Combien de soldats nord-coréens ont été envoyés dans l'est de la Russie ?"
    v = check("Aucun : des soldats nord-coréens ont été envoyés dans l'est de la Russie [5].", q5)
    assert "asks for a quantity" in v.answer_reasons[0]
    v = check("No soldiers were sent to eastern Russia [5].", "How many soldiers were sent to eastern Russia?")
    assert "asks for a quantity" in v.answer_reasons[0]
    # "None:" answers the question; "no new restrictions" is still a negation the cited sentence must have
    from bot import claims

    said = claims.negations("None: Kyiv would face no new restrictions on using American weapons.")
    assert [(n.marker, n.words) for n in said] == [("no", ("new", "restrictions"))]


def _cells(name: str, bot, tmp_path: Path) -> dict[str, tuple[int, int]]:
    return {k.rsplit("|", 1)[0]: v for k, v in run_set(name, bot, tmp_path).items() if k.endswith("|all")}


@pytest.mark.real_model
def test_the_role_set_stays_at_its_measured_level(tmp_path, real_bot):
    """eval/verify/roles.jsonl (written by a helper who had not seen the role check; run once before it
    was built: 11 of 46 role mutants rejected) at the level measured after: 45 of 46 rejected (the one
    through inverts a relation, "représentant des Nations Unies auprès de la Corée du Nord"), 15 of 16
    right answers kept (the one refused fails on a negation across languages, not on its role)."""
    cells = _cells("roles.jsonl", real_bot, tmp_path)
    assert cells["role|en/fr"][0] >= 22 and cells["role|fr/fr"][0] >= 23, cells
    assert cells["original|en/fr"][0] >= 7 and cells["original|fr/fr"][0] == 8, cells


@pytest.mark.real_model
def test_the_second_blind_role_set_stays_at_its_measured_level(tmp_path, real_bot):
    """eval/verify/roles2.jsonl (written blind, with two right answers a group, one of them borrowing a
    title from another sentence), run once as written with the role check built: 23 of 24 role
    mutants rejected ("military cadets" for soldiers is no title the lexicon has), 18 of 24 right answers
    kept, none of the six refused on a role. After the fixes it showed (a title's names lent by the
    article, a month beside its day, "Parce que", zero as a count, "None:" as an answer; no longer
    blind): 23 of 24 kept (the one refused answers a why-question without a reason)."""
    cells = _cells("roles2.jsonl", real_bot, tmp_path)
    assert cells["role|en/fr"][0] + cells["role|fr/fr"][0] >= 23, cells
    assert cells["original|en/fr"][0] >= 11 and cells["original|fr/fr"][0] == 12, cells
