"""The demo's text: seeded short stories, and from the same grammar the DPO and benchmark sets.

One small grammar of six topics (farm, sea, forest, space, kitchen, school) writes everything the demo
speaks, so that what the benchmarks ask can be learned from the stories:

* ``stories``: five sentences, every one marked by its topic - a character and what it does, where
  it goes every day and what for, what it found there (a size and a colour, in English order), one
  sentence that exercises a grammatical phenomenon, and an ending that goes back to the topic's
  place and activity;
* ``storycloze``: a story without its last sentence (the prefix), its real ending, an ending that
  contradicts it (like sStoryCloze) and the ending a story of another topic would have (like
  tStoryCloze: the same characters, another topic's place and activity). Each part is spoken once;
  the benchmark files are assembled from the parts (``demo_sources``);
* ``blimp``: a grammatical sentence and a minimally different ungrammatical one, for the five
  phenomena the stories exercise (subject-verb agreement, adjective order, determiner-noun agreement,
  anaphor agreement, irregular past tense), in the very sentence forms of the stories;
* ``swag``: SWAG-like preference triples from the stories' own world - a prompt (someone went to a
  topic's place), a continuation with that topic's activity (chosen) and one with another topic's
  (rejected); a share of them is held out to measure DPO.
* ``documents``: text-only documents for speech-text interleaving - the stories, a few to a document
  (one story is shorter than the Gopher rules' 50 words), and one document of each kind of web debris
  the Gopher rules are there to reject (a line repeated, a list of bullets, a lone sentence, words
  without a sentence, a run of symbols), written from the same words, so that the filter is seen to work.

Each set is one Parquet table plus an ``<set>_utterances`` table (id, text, split) that synthesis
reads. The same seed gives the same text, byte for byte.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    venue: str                                # where one goes every day
    kinds: tuple[str, ...]                    # what the characters are
    objects: tuple[tuple[str, str], ...]      # (singular, plural): what they find
    places: tuple[str, ...]                   # where things are
    mirror: str                               # where one sees oneself
    activities: tuple[tuple[str, str], ...]   # (base form, past tense)


TOPICS = (
    Topic("farm", "the barn", ("pig", "cow", "hen", "goat"),
          (("bucket", "buckets"), ("bell", "bells"), ("egg", "eggs"), ("rope", "ropes")),
          ("in the hay", "near the pond", "by the fence"), "in the pond",
          (("feed the hens", "fed the hens"), ("milk the cow", "milked the cow"), ("pick apples", "picked apples"))),
    Topic("sea", "the beach", ("fish", "crab", "seal", "turtle"),
          (("shell", "shells"), ("net", "nets"), ("bottle", "bottles"), ("anchor", "anchors")),
          ("on the sand", "near the rocks", "in the boat"), "in a wave",
          (("swim with the fish", "swam with the fish"), ("build sandcastles", "built sandcastles"),
           ("sail the boat", "sailed the boat"))),
    Topic("forest", "the woods", ("fox", "bear", "owl", "rabbit"),
          (("acorn", "acorns"), ("stick", "sticks"), ("feather", "feathers"), ("nest", "nests")),
          ("under a tall tree", "in the bushes", "behind a log"), "in the river",
          (("climb trees", "climbed trees"), ("collect nuts", "collected nuts"), ("watch the birds", "watched the birds"))),
    Topic("space", "the rocket", ("robot", "alien", "pilot", "astronaut"),
          (("star", "stars"), ("helmet", "helmets"), ("stone", "stones"), ("button", "buttons")),
          ("on the moon", "in a crater", "behind a planet"), "in a shiny window",
          (("fly to the moon", "flew to the moon"), ("count the stars", "counted the stars"), ("fix the engine", "fixed the engine"))),
    Topic("kitchen", "the kitchen", ("cook", "mouse", "cat", "baker"),
          (("spoon", "spoons"), ("cup", "cups"), ("pan", "pans"), ("bowl", "bowls")),
          ("on the table", "under the oven", "in a drawer"), "in a big spoon",
          (("bake cakes", "baked cakes"), ("make soup", "made soup"), ("wash the dishes", "washed the dishes"))),
    Topic("school", "the classroom", ("boy", "girl", "teacher", "puppy"),
          (("book", "books"), ("pencil", "pencils"), ("ball", "balls"), ("clock", "clocks")),
          ("under a desk", "in the playground", "by the door"), "in the window",
          (("read books", "read books"), ("draw pictures", "drew pictures"), ("sing songs", "sang songs"))),
)

NAMES = (("Tom", "he"), ("Lily", "she"), ("Max", "he"), ("Mia", "she"), ("Sam", "he"), ("Anna", "she"),
         ("Ben", "he"), ("Lucy", "she"), ("Jack", "he"), ("Emma", "she"), ("Leo", "he"), ("Zoe", "she"))
OBJECT_PRONOUN = {"he": "him", "she": "her"}
REFLEXIVE = {"he": "himself", "she": "herself"}
REFLEXIVE_VERBS = ("saw", "watched", "admired")
TRAITS = ("kind", "curious", "happy", "brave", "clever", "shy")
SIZES = ("big", "little", "small")
COLOURS = ("red", "blue", "green", "yellow")
VERBS_3SG = (("sleeps", "sleep"), ("plays", "play"), ("sits", "sit"), ("hides", "hide"), ("waits", "wait"))
IRREGULAR_PAST = (("ran", "runned"), ("sat", "sitted"), ("hid", "hided"), ("slept", "sleeped"), ("sang", "singed"),
                  ("ate", "eated"))

# The phenomena of the BLIMP-like pairs, and the sentence of a story that exercises each. Subject-verb
# agreement and adjective order are in every story (its first and third sentences); the other three
# take turns as its fourth.
BLIMP_PHENOMENA = ("subject_verb_agreement", "adjective_order", "determiner_noun_agreement", "anaphor_agreement",
                   "irregular_past_tense")
FOURTH_SENTENCE = ("determiner_noun_agreement", "anaphor_agreement", "irregular_past_tense")


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _choices(rng: random.Random, topic: Topic) -> dict:
    """The slots of one story: who, where, what."""
    name, pron = rng.choice(NAMES)
    obj, objects = rng.choice(topic.objects)
    activity, activity_past = rng.choice(topic.activities)
    return {"topic": topic, "name": name, "pron": pron, "Pron": _capitalise(pron), "him": OBJECT_PRONOUN[pron],
            "self": REFLEXIVE[pron], "kind": rng.choice(topic.kinds), "trait": rng.choice(TRAITS),
            "verb": rng.choice(VERBS_3SG), "place": rng.choice(topic.places), "size": rng.choice(SIZES),
            "colour": rng.choice(COLOURS), "object": obj, "objects": objects, "activity": activity,
            "activity_past": activity_past, "irregular": rng.choice(IRREGULAR_PAST),
            "place2": rng.choice(topic.places), "looked": rng.choice(REFLEXIVE_VERBS)}


# --- the sentences, each with its ungrammatical twin where it has one -------------------------

def introduction(c: dict, good: bool = True) -> str:
    verb = c["verb"][0 if good else 1]
    return f"{c['name']} is a {c['trait']} {c['kind']} who {verb} {c['place']}."


def every_day(c: dict) -> str:
    return f"Every day, {c['pron']} goes to {c['topic'].venue} to {c['activity']}."


def found(c: dict, good: bool = True) -> str:
    adjectives = f"{c['size']} {c['colour']}" if good else f"{c['colour']} {c['size']}"
    return f"Yesterday, {c['pron']} found a {adjectives} {c['object']} {c['place2']}."


def fourth(c: dict, phenomenon: str, good: bool = True) -> str:
    if phenomenon == "determiner_noun_agreement":
        return f"{c['Pron']} also saw {'these' if good else 'this'} {c['objects']} {c['place']}."
    if phenomenon == "anaphor_agreement":
        wrong = REFLEXIVE["she" if c["pron"] == "he" else "he"]
        return f"{c['name']} {c['looked']} {c['self'] if good else wrong} {c['topic'].mirror}."
    past = c["irregular"][0 if good else 1]
    return f"Then {c['pron']} {past} {c['place']}."


def ending(c: dict, topic: Topic | None = None, activity_past: str | None = None) -> str:
    """The real ending: back to the topic's place and activity (or another topic's, for tStoryCloze)."""
    venue = (topic or c["topic"]).venue
    return f"{c['name']} took the {c['object']} home, and {c['pron']} {activity_past or c['activity_past']} at {venue}."


def contradiction(c: dict) -> str:
    """An ending the story makes impossible: the object was found."""
    return f"But {c['name']} never found the {c['object']}, so {c['pron']} went home with nothing."


def story(rng: random.Random, topic: Topic, phenomenon: str) -> dict:
    c = _choices(rng, topic)
    prefix = [introduction(c), every_day(c), found(c), fourth(c, phenomenon)]
    return {"topic": topic.name, "prefix": " ".join(prefix), "ending": ending(c), "choices": c}


def _stories(rng: random.Random, n: int, exclude: set[str] = frozenset()) -> list[dict]:
    """``n`` distinct stories; topics and fourth sentences in turn, so each is equally present."""
    out, seen = [], set(exclude)
    while len(out) < n:
        i = len(out)
        item = story(rng, TOPICS[i % len(TOPICS)], FOURTH_SENTENCE[(i // len(TOPICS)) % len(FOURTH_SENTENCE)])
        text = f"{item['prefix']} {item['ending']}"
        if text not in seen:
            seen.add(text)
            out.append({**item, "text": text})
    return out


def generate_storycloze(rng: random.Random, n: int, exclude: set[str]) -> list[dict]:
    rows = []
    for i, item in enumerate(_stories(rng, n, exclude)):
        c = item["choices"]
        other = rng.choice([t for t in TOPICS if t is not c["topic"]])
        rows.append({"id": f"sc_{i:05d}", "topic": item["topic"], "prefix": item["prefix"], "ending": item["ending"],
                     "contradiction": contradiction(c),
                     "other_topic_ending": ending(c, other, rng.choice(other.activities)[1])})
    return rows


def phenomenon_sentence(c: dict, phenomenon: str, good: bool = True) -> str:
    """The sentence of the stories that exercises ``phenomenon``: grammatical, or its minimal twin."""
    if phenomenon == "subject_verb_agreement":
        return introduction(c, good)
    if phenomenon == "adjective_order":
        return found(c, good)
    return fourth(c, phenomenon, good)


def _phenomenon_sentences(rng: random.Random, n: int, exclude: set[str]) -> list[tuple[str, dict]]:
    """``n`` (phenomenon, slots) whose grammatical sentences are distinct and not in ``exclude``; the
    phenomena in turn."""
    out, seen, tries = [], set(exclude), 0
    while len(out) < n:
        tries += 1
        if tries > 100 * (n + 1):
            raise ValueError(f"demo_text: the grammar has fewer than {n} distinct sentences of the five phenomena "
                             "beside the pretraining text; ask for fewer blimp or grammar sentences")
        phenomenon = BLIMP_PHENOMENA[len(out) % len(BLIMP_PHENOMENA)]
        c = _choices(rng, rng.choice(TOPICS))
        sentence = phenomenon_sentence(c, phenomenon)
        if sentence not in seen:
            seen.add(sentence)
            out.append((phenomenon, c))
    return out


def generate_blimp(rng: random.Random, n: int, exclude: set[str] = frozenset()) -> list[dict]:
    """``n`` pairs; none of their sentences is in ``exclude`` (the pretraining text), so that the benchmark
    asks about the grammar the stories teach, never about a sentence heard in pretraining."""
    return [{"id": f"blimp_{i:05d}", "phenomenon": phenomenon, "good": phenomenon_sentence(c, phenomenon),
             "bad": phenomenon_sentence(c, phenomenon, good=False)}
            for i, (phenomenon, c) in enumerate(_phenomenon_sentences(rng, n, exclude))]


def generate_grammar(rng: random.Random, n: int) -> list[dict]:
    """``n`` distinct grammatical sentences of the five phenomena, spoken on their own for pretraining: a
    story has a sentence of three of the phenomena, so these give each of them more examples, and in the
    position the BLIMP-like pairs are scored in (the start of an utterance)."""
    return [{"id": f"grammar_{i:05d}", "phenomenon": phenomenon, "text": phenomenon_sentence(c, phenomenon)}
            for i, (phenomenon, c) in enumerate(_phenomenon_sentences(rng, n, set()))]


def generate_swag(rng: random.Random, n: int, held_out: int) -> list[dict]:
    """SWAG-like triples in the stories' own sentences: the prompt introduces a character of one topic
    (its kind and where it is), the chosen continuation is the stories' next sentence for that topic
    (where it goes every day, and what for) and the rejected one the same sentence of another topic."""
    triples = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        c = _choices(rng, topic)
        other = rng.choice([t for t in TOPICS if t is not topic])
        elsewhere = {**c, "topic": other, "activity": rng.choice(other.activities)[0]}
        triples.append({"id": f"swag_{i:05d}", "topic": topic.name, "split": "valid" if i >= n - held_out else "train",
                        "prompt": introduction(c), "chosen": every_day(c), "rejected": every_day(elsewhere)})
    return triples


# What each set depends on in the demo_text config (besides the seed): the workflow passes each
# set's rule only these, so changing the number of SWAG triples does not re-make the stories.
SETS = {"stories": ("stories",), "grammar": ("grammar",), "swag": ("swag",), "storycloze": ("stories", "storycloze"),
        "blimp": ("stories", "grammar", "blimp"), "documents": ("stories", "documents")}
# The debris of the documents set: documents a quality filter must reject (kind -> how it is written).
DEBRIS = ("repeated_line", "bullet_list", "lone_sentence", "word_salad", "symbols")
CLOZE_PARTS = ("prefix", "ending", "contradiction", "other_topic_ending")


def _stream(seed: int, name: str) -> random.Random:
    # One independent stream per table: changing one table's size leaves the others as they were.
    return random.Random(f"{seed}/{name}")


def _story_rows(settings: dict) -> list[dict]:
    seed = settings["seed"]
    train = _stories(_stream(seed, "train"), settings["stories"]["train"])
    valid = _stories(_stream(seed, "valid"), settings["stories"]["valid"], {s["text"] for s in train})
    return ([{"id": f"story_train_{i:05d}", "split": "train", "topic": s["topic"], "text": s["text"]} for i, s in enumerate(train)]
            + [{"id": f"story_valid_{i:05d}", "split": "valid", "topic": s["topic"], "text": s["text"]} for i, s in enumerate(valid)])


def generate_debris(rng: random.Random, stories: list[dict]) -> list[dict]:
    """One document of each ``DEBRIS`` kind, from the stories' own sentences and words."""
    sentences = [sentence for story in stories for sentence in _sentences(story["text"])]
    words = sorted({w.strip(".,") for s in sentences for w in s.split()} - {"a", "the", "to", "and", "of", "is", "in", "at"})
    pick = lambda n: [rng.choice(words) for _ in range(n)]  # noqa: E731
    texts = {
        "repeated_line": "\n".join([rng.choice(sentences)] * 30),
        "bullet_list": "\n".join(f"\u2022 {' '.join(pick(4))}" for _ in range(30)),
        "lone_sentence": rng.choice(sentences),
        "word_salad": " ".join(pick(120)),
        "symbols": " ".join(f"#{w} ..." for w in pick(60)),
    }
    return [{"id": f"debris_{kind}", "split": "train", "kind": kind, "text": texts[kind]} for kind in DEBRIS]


def generate_documents(settings: dict) -> list[dict]:
    """The stories ``stories_per_document`` to a document, in their order and split, then the debris."""
    stories, size = _story_rows(settings), settings["documents"]["stories_per_document"]
    rows = []
    for split in ("train", "valid"):
        mine = [s for s in stories if s["split"] == split]
        for number, first in enumerate(range(0, len(mine), size)):
            rows.append({"id": f"document_{split}_{number:05d}", "split": split, "kind": "stories",
                         "text": "\n\n".join(s["text"] for s in mine[first:first + size])})
    return rows + generate_debris(_stream(settings["seed"], "debris"), stories)


def generate(name: str, settings: dict) -> tuple[list[dict], list[dict]]:
    """The set ``name`` as (its table, its utterances table with id, text, split)."""
    seed = settings["seed"]
    if name == "stories":
        table = _story_rows(settings)
        return table, [{"id": r["id"], "text": r["text"], "split": r["split"]} for r in table]
    if name == "swag":
        table = generate_swag(_stream(seed, "swag"), settings["swag"]["triples"], settings["swag"]["held_out"])
        return table, [{"id": f"{t['id']}_{part}", "text": t[part], "split": t["split"], "item": t["id"]}
                       for t in table for part in ("prompt", "chosen", "rejected")]
    if name == "storycloze":
        # Benchmark stories never repeat a pretraining or validation story.
        table = generate_storycloze(_stream(seed, "storycloze"), settings["storycloze"], {r["text"] for r in _story_rows(settings)})
        return table, [{"id": f"{r['id']}_{part}", "text": r[part], "split": "test"} for r in table for part in CLOZE_PARTS]
    if name == "grammar":
        table = generate_grammar(_stream(seed, "grammar"), settings["grammar"])
        return table, [{"id": r["id"], "text": r["text"], "split": "train"} for r in table]
    if name == "blimp":
        pretraining = {sentence for r in _story_rows(settings) for sentence in _sentences(r["text"])}
        pretraining |= {r["text"] for r in generate_grammar(_stream(seed, "grammar"), settings["grammar"])}
        table = generate_blimp(_stream(seed, "blimp"), settings["blimp"], pretraining)
        return table, [{"id": f"{r['id']}_{side}", "text": r[side], "split": "test"} for r in table for side in ("good", "bad")]
    if name == "documents":
        table = generate_documents(settings)
        return table, [{"id": r["id"], "text": r["text"], "split": r["split"]} for r in table]
    raise ValueError(f"unknown demo text set {name!r}; expected one of {', '.join(SETS)}")


def _sentences(text: str) -> list[str]:
    return [sentence if sentence.endswith(".") else sentence + "." for sentence in text.split(". ")]


def settings_for(name: str, settings: dict) -> dict:
    """The part of the demo_text config that set ``name`` depends on."""
    return {"seed": settings["seed"], **{key: settings[key] for key in SETS[name]}}


def vocabulary(utterances: list[dict]) -> set[str]:
    return {w.strip(".,").lower() for row in utterances for w in row["text"].split()}
