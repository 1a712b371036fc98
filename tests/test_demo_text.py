"""The demo text generator: seeded, several topics, and sets that test what they claim to."""

from __future__ import annotations

from slamming.demo_text import SETS, TOPICS, generate, settings_for, vocabulary

SETTINGS = {"seed": 3, "stories": {"train": 60, "valid": 6}, "swag": 30, "storycloze": 12, "blimp": 20}


def test_same_seed_same_text_and_another_seed_other_text():
    for name in SETS:
        assert generate(name, SETTINGS) == generate(name, SETTINGS)
    assert generate("stories", SETTINGS) != generate("stories", dict(SETTINGS, seed=4))


def test_stories_cover_every_topic_with_a_few_hundred_words():
    table, utterances = generate("stories", SETTINGS)
    assert {r["topic"] for r in table} == {t.name for t in TOPICS}
    assert [r["split"] for r in table].count("valid") == 6
    assert len({r["text"] for r in table}) == len(table)
    assert {"id", "text", "split"} == set(utterances[0])
    assert 150 <= len(vocabulary(utterances)) <= 600


def test_swag_triples_differ_only_in_the_ending():
    table, utterances = generate("swag", SETTINGS)
    for t in table:
        assert t["chosen"] != t["rejected"]
        assert t["chosen"].split()[:2] == t["rejected"].split()[:2]  # the shared opener, like SWAG's sent2
    assert len(utterances) == 3 * len(table)


def test_storycloze_endings():
    table, utterances = generate("storycloze", SETTINGS)
    stories = {r["text"] for r in generate("stories", SETTINGS)[0]}
    for r in table:
        assert len({r["ending"], r["other_topic_ending"], r["contradicting_ending"]}) == 3
        assert f"{r['prefix']} {r['ending']}" not in stories  # never a training story
    assert {u["id"].split("_", 2)[2] for u in utterances} == {"ending", "other_topic_ending", "contradicting_ending"}


def test_blimp_pairs_are_minimal():
    table, _ = generate("blimp", SETTINGS)
    assert len({r["phenomenon"] for r in table}) == 5
    for r in table:
        good, bad = r["good"].split(), r["bad"].split()
        differing = sum(a != b for a, b in zip(good, bad))
        assert len(good) == len(bad) and 1 <= differing <= 2, r


def test_a_set_depends_only_on_its_own_settings():
    changed = dict(SETTINGS, swag=99, blimp=7)
    for name in ("stories", "storycloze"):
        assert settings_for(name, changed) == settings_for(name, SETTINGS)
        assert generate(name, changed) == generate(name, SETTINGS)
    assert settings_for("swag", changed) != settings_for("swag", SETTINGS)
