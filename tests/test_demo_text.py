"""The demo text generator: seeded, every topic, and sets that ask what the stories teach."""

from __future__ import annotations

import pytest

from slamming.data.demo_text import BLIMP_PHENOMENA, SETS, TOPICS, generate, settings_for, vocabulary

SETTINGS = {"seed": 3, "stories": {"train": 60, "valid": 6}, "swag": {"triples": 30, "held_out": 6}, "storycloze": 12, "blimp": 20,
            "grammar": 40, "documents": {"stories_per_document": 3}}


def test_same_seed_same_text_and_another_seed_other_text():
    for name in SETS:
        assert generate(name, SETTINGS) == generate(name, SETTINGS)
    assert generate("stories", SETTINGS) != generate("stories", dict(SETTINGS, seed=4))


def test_stories_cover_every_topic_with_a_small_vocabulary():
    table, utterances = generate("stories", SETTINGS)
    assert {r["topic"] for r in table} == {t.name for t in TOPICS}
    assert [r["split"] for r in table].count("valid") == 6
    assert len({r["text"] for r in table}) == len(table)
    assert {"id", "text", "split"} == set(utterances[0])
    assert 120 <= len(vocabulary(utterances)) <= 400


def test_every_blimp_phenomenon_is_in_the_stories_in_the_same_sentence_form():
    """The grammatical sentence of each pair has the form of a sentence of the stories; its twin never occurs."""
    stories = " ".join(r["text"] for r in generate("stories", {**SETTINGS, "stories": {"train": 300, "valid": 1}})[0])
    table, _ = generate("blimp", SETTINGS)
    assert {r["phenomenon"] for r in table} == set(BLIMP_PHENOMENA)
    forms = {"subject_verb_agreement": " who ", "adjective_order": "Yesterday, ", "determiner_noun_agreement": " also saw ",
             "anaphor_agreement": "self ", "irregular_past_tense": "Then "}
    for r in table:
        assert forms[r["phenomenon"]] in r["good"] and forms[r["phenomenon"]] in stories
        differing = [(a, b) for a, b in zip(r["good"].split(), r["bad"].split()) if a != b]
        assert 1 <= len(differing) <= 2 and len(r["good"].split()) == len(r["bad"].split())
        assert f" {differing[0][0]} " in stories.replace(".", " ").replace(",", " ")  # the grammatical word is taught
        assert r["bad"] not in stories                                                   # the ungrammatical sentence never


def test_no_benchmark_sentence_is_in_the_pretraining_text():
    stories, _ = generate("stories", SETTINGS)
    grammar, _ = generate("grammar", SETTINGS)
    heard = " ".join([r["text"] for r in stories] + [r["text"] for r in grammar])
    assert {r["phenomenon"] for r in grammar} == set(BLIMP_PHENOMENA) and len({r["text"] for r in grammar}) == 40
    for r in generate("blimp", SETTINGS)[0]:
        assert r["good"] not in heard and r["bad"] not in heard


def test_asking_for_more_sentences_than_the_grammar_has_is_one_clear_error():
    with pytest.raises(ValueError, match="ask for fewer"):
        generate("grammar", dict(SETTINGS, grammar=3000))


def test_swag_triples_continue_a_story_opening_with_its_topic_or_another():
    table, utterances = generate("swag", SETTINGS)
    assert [t["split"] for t in table].count("valid") == 6 and len(utterances) == 3 * len(table)
    stories = " ".join(r["text"] for r in generate("stories", SETTINGS)[0])
    venue = {t.name: t.venue for t in TOPICS}
    for t in table:
        assert " who " in t["prompt"] and t["chosen"].startswith("Every day, ")
        assert t["chosen"].split()[:4] == t["rejected"].split()[:4]       # the same start: only the topic differs
        assert f" to {venue[t['topic']]} to " in t["chosen"] and f" to {venue[t['topic']]} to " not in t["rejected"]
        assert t["chosen"].split(" to ", 1)[1] in stories                  # the chosen continuation is the stories'


def test_storycloze_parts_make_three_endings_of_a_story_never_trained_on():
    table, utterances = generate("storycloze", SETTINGS)
    stories = {r["text"] for r in generate("stories", SETTINGS)[0]}
    for r in table:
        assert len({r["ending"], r["other_topic_ending"], r["contradiction"]}) == 3
        assert f"{r['prefix']} {r['ending']}" not in stories
        assert r["other_topic_ending"].split(",")[0] == r["ending"].split(",")[0]  # the same people, another topic
    assert {u["id"].split("_", 2)[2] for u in utterances} == {"prefix", "ending", "contradiction", "other_topic_ending"}


def test_a_set_depends_only_on_its_own_settings():
    changed = dict(SETTINGS, swag={"triples": 99, "held_out": 9}, blimp=7)
    for name in ("stories", "storycloze"):
        assert settings_for(name, changed) == settings_for(name, SETTINGS)
        assert generate(name, changed) == generate(name, SETTINGS)
    assert settings_for("swag", changed) != settings_for("swag", SETTINGS)
    more_grammar = dict(SETTINGS, grammar=41)
    assert generate("stories", more_grammar) == generate("stories", SETTINGS)
    assert settings_for("blimp", more_grammar) != settings_for("blimp", SETTINGS)  # it keeps out the grammar's sentences
