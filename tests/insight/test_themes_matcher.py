"""Theme matching per language: folding, stems, phrases, wildcards, typos, negation, overlap,
language choice and determinism (daemon/insight/themes/text.py and matcher.py)."""

from __future__ import annotations

import pytest

from closedloop.daemon.insight.themes import Theme, ThemeMatcher, default_themes
from closedloop.daemon.insight.themes.matcher import MAX_GAP
from closedloop.daemon.insight.themes.text import fold, language_of, lexicon, tokenize, words

MATCHER = ThemeMatcher(default_themes())


def one(name: str, **terms: tuple[str, ...]) -> ThemeMatcher:
    """A dictionary of one theme, to pin a single rule."""
    return ThemeMatcher([Theme(name, name, terms)])


def test_fold_lowercases_and_strips_accents() -> None:
    assert [fold(w) for w in ("Rückerstattung", "LIVRÉ", "Ønsket", "Straße", "Æble")] == [
        "ruckerstattung", "livre", "onsket", "strasse", "aeble"]


def test_words_split_contractions_and_elisions() -> None:
    """English n't becomes "not"; French elisions split; punctuation is a clause break."""
    assert words("Didn't arrive, l'attente!") == ["Did", "not", "arrive", ".", "l", "attente",
                                                 "."]


def test_negation_reaches_three_content_words_within_the_clause() -> None:
    """"not" marks the next content words (stop words do not count) up to the third; a comma
    or "but" ends its reach."""
    marks = [(t.folded, t.negated) for t in tokenize("not the first second third fourth", "en")]
    assert marks == [("not", False), ("the", True), ("first", True), ("second", True),
                     ("third", True), ("fourth", False)]
    assert [t.negated for t in tokenize("not fast, slow", "en")] == [False, True, False]
    assert [t.negated for t in tokenize("not fast but slow", "en")] == [False, True, False,
                                                                        False]


def test_negation_cues_are_never_stop_words() -> None:
    for lang in ("en", "fr", "nb", "de", "es"):
        lex = lexicon(lang)
        assert lex.negation & lex.stop == set(), lang


def test_language_codes_of_crms() -> None:
    assert [language_of(c) for c in ("nb-NO", "no", "nn", "fr_CA", "EN", "sv", None, "")] == [
        "nb", "nb", "nb", "fr", "en", None, None, None]


@pytest.mark.parametrize(("language", "comment", "themes"), [
    ("en", "The DELIVERY was late!!!", ("delivery", "wait_time")),
    ("fr", "Livraison rapide", ("delivery", "wait_time")),
    ("fr", "livraison rapide sans accents: remboursement recu", ("delivery", "wait_time",
                                                                 "refund_return")),
    ("nb", "Leveringen kom frem i tide", ("delivery",)),
    ("de", "Die Lieferung kam nie an", ("delivery",)),
    ("de", "Die RÜCKERSTATTUNG fehlt", ("refund_return",)),
    ("de", "Die Ruckerstattung fehlt", ("refund_return",)),
    ("es", "La entrega fue rápida", ("delivery", "wait_time")),
])
def test_the_pinned_synonyms_match_in_each_language(language: str, comment: str,
                                                    themes: tuple[str, ...]) -> None:
    """delivery = livraison = levering = Lieferung = entrega, whatever the case or accents."""
    assert MATCHER.assign(comment, language) == themes


def test_stems_match_inflections_and_not_other_words() -> None:
    matcher = one("refund", en=("refund",))
    assert [matcher.assign(c, "en") for c in ("refunds", "Refunded!", "refuse")] == [
        ("refund",), ("refund",), ()]


def test_phrases_allow_at_most_max_gap_stop_words_between_words() -> None:
    """"money back" matches with MAX_GAP stop words between its words, not one more, and a
    content word between them breaks it."""
    matcher = one("refund", en=("money back",))
    gap_ok = "money " + " ".join(["the"] * MAX_GAP) + " back"
    too_far = "money " + " ".join(["the"] * (MAX_GAP + 1)) + " back"
    assert matcher.assign(gap_ok, "en") == ("refund",)
    assert matcher.assign(too_far, "en") == ()
    assert matcher.assign("money was sent back", "en") == ()  # "sent" is not a stop word
    assert matcher.assign("back money", "en") == ()  # order matters


def test_phrases_do_not_cross_sentences() -> None:
    matcher = one("refund", en=("money back",))
    assert matcher.assign("I want my money. Back to you", "en") == ()


def test_wildcards_prefix_suffix_infix() -> None:
    matcher = ThemeMatcher([Theme("a", "a", {"de": ("liefer*",)}),
                            Theme("b", "b", {"de": ("*zeit",)}),
                            Theme("c", "c", {"de": ("*paket*",)})])
    assert matcher.assign("Lieferant", "de") == ("a",)
    assert matcher.assign("Wartezeit", "de") == ("b",)
    assert matcher.assign("Paketdienst Sammelpaketbox", "de") == ("c",)
    assert matcher.assign("geliefert Zeitung", "de") == ()


def test_one_typo_is_forgiven_in_stems_of_six_letters_or_more() -> None:
    """A stem of six letters takes one typo; a shorter one must be exact (staff/stuff)."""
    matcher = ThemeMatcher([Theme("refund", "r", {"en": ("refund",)}),
                            Theme("staff", "s", {"en": ("staff",)})])
    assert matcher.assign("refnud", "en") == ("refund",)
    assert matcher.assign("refudn", "en") == ("refund",)
    assert matcher.assign("stuff", "en") == ()
    assert matcher.assign("staff", "en") == ("staff",)


def test_a_replaced_letter_is_not_a_typo() -> None:
    """One letter replaced by another makes another word ("contento" is not "contestar"),
    so only a missing, extra or swapped letter is forgiven."""
    matcher = one("follow_up", es=("contestar",))
    assert matcher.assign("Muy contento", "es") == ()
    assert matcher.assign("no me quisieron contstar", "es") == ("follow_up",)


def test_hyphenated_compounds_stay_one_word() -> None:
    """"e-posten" (the e-mail) is not "posten" (the Norwegian post)."""
    matcher = one("delivery", nb=("posten",))
    assert matcher.assign("svar på e-posten", "nb") == ()
    assert matcher.assign("sendt med Posten", "nb") == ("delivery",)


def test_a_negated_entry_needs_the_negation() -> None:
    """"not solved" matches "wasn't solved" and "never got solved", not "solved"."""
    matcher = one("open", en=("not solved",))
    assert matcher.assign("it wasn't solved", "en") == ("open",)
    assert matcher.assign("never really solved", "en") == ("open",)
    assert matcher.assign("it was solved", "en") == ()
    assert matcher.assign("not happy, solved anyway", "en") == ()  # the comma ends its reach


def test_negation_keeps_the_topic() -> None:
    """"No problem with the delivery" is still about delivery (themes are topics)."""
    assert MATCHER.assign("No problem with the delivery", "en") == ("delivery",)


def test_a_longer_phrase_of_another_theme_hides_the_shorter_match() -> None:
    matcher = ThemeMatcher([Theme("follow_up", "f", {"en": ("call back",)}),
                            Theme("phone", "p", {"en": ("call",)})])
    assert matcher.assign("please call back", "en") == ("follow_up",)
    assert matcher.assign("please call", "en") == ("phone",)


def test_the_language_read_is_the_best_evidenced_one() -> None:
    """The survey's language wins ties; a comment clearly in another language is read in it."""
    assert MATCHER.explain("Fast delivery!", "nb")[0] == "en"
    assert MATCHER.explain("Mauvaise expérience", "fr")[0] == "fr"
    assert MATCHER.explain("Schnell", "de")[0] == "de"
    assert MATCHER.explain("Le colis est arrivé en retard et il est cassé", "en")[0] == "fr"
    assert MATCHER.explain("ok", None)[0] == "en"


def test_empty_and_missing_comments_have_no_theme() -> None:
    assert [MATCHER.assign(c, "en") for c in (None, "", "   ", "!!!", "Thanks!")] == [
        (), (), (), (), ()]


def test_assignment_is_deterministic_and_in_dictionary_order() -> None:
    """The same comment always gives the same tuple, in the dictionary's order, whatever
    order the mentions come in; a fresh matcher agrees."""
    comment = "Rude staff, slow delivery and a refund that never came"
    first = MATCHER.assign(comment, "en")
    assert first == ThemeMatcher(default_themes()).assign(comment, "en")
    assert first == ("delivery", "wait_time", "staff", "refund_return")
    assert list(first) == [n for n in MATCHER.names if n in first]


def test_every_built_in_theme_has_every_language() -> None:
    """The dictionary pins each theme in the five languages (no theme is English-only)."""
    for theme in default_themes():
        assert sorted(lang for lang, terms in theme.terms.items() if terms) == [
            "de", "en", "es", "fr", "nb"], theme.name
