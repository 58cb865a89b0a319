"""bot/cite.py, pinned down where mutation testing (docs/mutation.md) found
behaviour no other test checked: the exact rewrite of citation groups, the
number and word normalisation, and every verdict and reason of
``check_support``."""

from __future__ import annotations

import pytest

from bot.cite import (
    MIN_OVERLAP,
    MIN_SIMILARITY,
    Parsed,
    Support,
    check_support,
    citations_in,
    content_words,
    fold,
    is_abstention,
    numbers,
    parse_citations,
    split_claims,
)


# -- parse_citations ---------------------------------------------------------
def test_a_citation_after_the_stop_moves_before_it():
    assert parse_citations("Ils sont à Koursk. [1]", {1}).text == "Ils sont à Koursk [1]."
    assert parse_citations("Ils sont à Koursk. [1].", {1}).text == "Ils sont à Koursk [1]."
    assert parse_citations("Vraiment ? [2][3] Oui [1].", {1, 2, 3}).text == "Vraiment [2][3]? Oui [1]."
    assert parse_citations("Oui !\t[2]", {2}).text == "Oui [2]!"


def test_groups_are_split_filtered_and_deduplicated():
    p = parse_citations("A [ 2 , 1 ;2]. B [7; 1]. C [8][7].", {1, 2})
    assert p == Parsed("A [2][1]. B [1]. C.", (2, 1), (7, 8))


def test_a_group_of_invented_numbers_leaves_no_brackets_nor_space_before_the_stop():
    assert parse_citations("Ils sont 10 000 [42] .", {1}).text == "Ils sont 10 000."
    assert parse_citations("Oui  [42] , dit-il [1] ;  non  [9] !", {1}).text == "Oui, dit-il [1]; non!"


def test_only_spaces_and_tabs_are_folded_not_line_breaks():
    assert parse_citations("  A\t\t[1]\n\nB [1]  ", {1}).text == "A [1]\n\nB [1]"


def test_citations_in_reads_every_group_in_order():
    assert citations_in("a [3] b [1, 2;4] c [ 5 ] [x] [12345]") == [3, 1, 2, 4, 5]
    assert citations_in("rien") == []


# -- normalisation -----------------------------------------------------------
def test_fold_lowercases_drops_accents_and_straightens_apostrophes():
    assert fold("L’ÉLÈVE à Noël") == "l'eleve a noel"


@pytest.mark.parametrize("text", ["10 000", "10,000", "10.000", "10\u00a0000", "10\u202f000", "10, 000", "10000"])
def test_thousands_separators_make_one_number(text):
    assert numbers(f"Ils sont {text} soldats.") == {"10000"}


def test_leading_zeros_are_dropped_but_zero_stays_zero():
    assert numbers("le 007 et 0 et 000") == {"7", "0"}
    assert numbers("3,5 % et 1.234.567") == {"35", "1234567"}
    assert numbers("aucun chiffre") == set()


def test_content_words_are_folded_stemmed_to_six_letters_without_stopwords():
    assert content_words("Les soldats nord-coréens sont arrivés à Koursk, selon l'article.") == {
        "soldat",
        "nord",
        "coreen",
        "arrive",
        "koursk",
    }
    assert content_words("Il a dit 10 000 fois : le, la, oui.") == {"dit", "fois", "oui"}


# -- split_claims ------------------------------------------------------------
def test_a_sentence_without_citations_borrows_the_next_ones_then_the_previous_ones():
    assert split_claims("Un. Deux [2]. Trois. Quatre [4]. Cinq.") == [
        ("Un.", [2]),
        ("Deux [2].", [2]),
        ("Trois.", [4]),
        ("Quatre [4].", [4]),
        ("Cinq.", [4]),
    ]
    assert split_claims("Rien ici. Ni là.") == [("Rien ici.", []), ("Ni là.", [])]
    assert split_claims("[1] ... !") == []


def test_answer_sentences_are_split_by_english_rules():
    # the French rules would cut after "Dr." (the English ones know the abbreviation)
    assert split_claims("Dr. Who spoke [1]. He left [2].") == [("Dr. Who spoke [1].", [1]), ("He left [2].", [2])]


# -- check_support -----------------------------------------------------------
CITED = {
    1: "Environ 10 000 soldats nord-coréens ont été envoyés en Russie.",
    2: "Mark Rutte dirige l'OTAN depuis octobre.",
}


def test_every_verdict_and_its_reason():
    assert check_support("", CITED) == Support(False, "empty answer")
    assert check_support("Des soldats nord-coréens.", CITED) == Support(
        False, "no citation for 'Des soldats nord-coréens.'"
    )
    assert check_support("Ils sont 12 000 et 3 [1].", CITED) == Support(
        False, "number(s) 12000, 3 not in the cited sentences"
    )
    assert check_support("Des soldats nord-coréens envoyés en Russie [1].", CITED) == Support(
        True, "every sentence is supported"
    )
    assert check_support("Les vacances à la plage sont finies [1].", CITED) == Support(
        False, "'Les vacances à la plage sont finies [1].' is not supported (overlap 0.00)"
    )


def test_the_reason_quotes_at_most_sixty_characters_of_the_claim():
    claim = "Une phrase sans aucune citation qui est bien plus longue que soixante caractères"
    assert check_support(claim, CITED).reason == f"no citation for {claim[:60]!r}"
    long = claim + " [1]."
    assert check_support(long, CITED).reason == f"{long[:60]!r} is not supported (overlap 0.00)"


def test_the_evidence_is_every_cited_sentence_joined_by_spaces():
    # "Mark" opens the second cited sentence: glued to the first one's end it would be lost
    cited = {1: "Ils ont été envoyés en Russie", 2: "Mark Rutte dirige l'OTAN."}
    assert check_support("Mark [1][2].", cited) == Support(True, "every sentence is supported")
    assert check_support("Mark [1].", cited).reason == "'Mark [1].' is not supported (overlap 0.00)"


def test_a_citation_is_cut_out_as_a_space():
    # "L'OTAN[2]" is the word "otan", and "10[1]000" the number 10 000, once the citation is out
    assert check_support("L'OTAN[2].", CITED) == Support(True, "every sentence is supported")
    assert check_support("Environ 10[1]000 soldats.", CITED) == Support(True, "every sentence is supported")


def test_citation_numbers_are_not_numbers_of_the_claim():
    # "[1]" is removed with a space: "Russie[1]" must not read as the number 1 in "Russie 1"
    assert check_support("Les soldats en Russie[1].", CITED).ok
    assert check_support("Les soldats en Russie 1 [1].", CITED).reason == "number(s) 1 not in the cited sentences"


def test_a_claim_without_content_words_passes_and_the_next_claims_are_still_checked():
    assert check_support("C'est ça [1].", CITED) == Support(True, "every sentence is supported")
    assert check_support("C'est ça [1]. Des vacances à la plage [1].", CITED) == Support(
        False, "'Des vacances à la plage [1].' is not supported (overlap 0.00)"
    )
    # a sentence of numbers alone is no claim at all
    assert check_support("10 000 [1].", CITED) == Support(False, "empty answer")


def test_the_overlap_threshold_is_inclusive_and_a_fraction_of_the_claim_words():
    assert MIN_OVERLAP == 0.5
    # two content words, one in the evidence: overlap exactly 0.5 is enough
    assert check_support("Soldats absents [1].", CITED) == Support(True, "every sentence is supported")
    # three words, one in the evidence: 0.33 is not
    assert check_support("Soldats absents partout [1].", CITED).reason.endswith("(overlap 0.33)")
    # a supported first claim does not vouch for the second
    r = check_support("Des soldats nord-coréens [1]. Des vacances à la plage [1].", CITED)
    assert r == Support(False, "'Des vacances à la plage [1].' is not supported (overlap 0.00)")


def test_the_similarity_is_asked_with_the_claim_without_its_citations_and_the_cited_numbers():
    calls = []

    def similarity(text, cited):
        calls.append((text, list(cited)))
        return MIN_SIMILARITY

    assert check_support("The troops went home [1][2].", CITED, similarity).ok
    assert calls == [("The troops went home   .", [1, 2])]


def test_the_cosine_threshold_is_inclusive_and_each_claim_needs_its_own():
    english = "The troops went home [1]. They were tired [2]."
    scores = iter([MIN_SIMILARITY, 0.5])
    r = check_support(english, CITED, lambda t, ns: next(scores))
    assert r == Support(False, "'They were tired [2].' is not supported (overlap 0.00, cosine 0.50)")
    assert check_support(english, CITED, lambda t, ns: MIN_SIMILARITY) == Support(True, "every sentence is supported")
    assert not check_support(english, CITED, lambda t, ns: MIN_SIMILARITY - 0.001).ok
    long = "The troops who went home were tired after many months at the front line [1]."
    assert check_support(long, CITED, lambda t, ns: 0.5).reason == (
        f"{long[:60]!r} is not supported (overlap 0.00, cosine 0.50)"
    )


# -- is_abstention -----------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "Je ne trouve pas cette information dans l'article.",
        "L'article ne précise pas le nombre.",
        "L’article n’indique pas la date.",
        "Il n'y a aucune information à ce sujet.",
        "L'article ne dit pas qui.",
        "L'article ne donne pas de chiffre.",
        "Ce n'est pas dans l'article.",
        "L'article ne mentionne pas son nom.",
        "I can't find that in the article.",
        "I cannot find it.",
        "I could not find it.",
        "I couldn't find it.",
        "It is not in the article.",
        "The article does not mention it.",
        "The article doesn't mention it.",
        "The article does not say.",
        "The article doesn't say.",
        "The article does not specify the date.",
        "The article doesn't specify the date.",
        "There is no information about it.",
        "His name is not mentioned.",
        "The date is not provided.",
        "The article does not provide a number.",
    ],
)
def test_every_way_of_saying_not_found(text):
    assert is_abstention(text)


def test_an_answer_is_not_an_abstention():
    assert not is_abstention("Environ 10 000 soldats [1].")
