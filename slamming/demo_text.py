"""The demo's text: seeded short stories, and from the same generator the DPO and benchmark sets.

One small grammar of six topics (farm, sea, forest, space, kitchen, school), a few hundred words,
writes everything the demo needs to speak:

* ``stories``: six-sentence stories (a character finds an object, has a problem, a friend helps);
* ``swag``: SWAG-like preference triples - a prompt sentence, a plausible continuation (an activity
  of the prompt's topic) and an implausible one (an activity of another topic), sharing a first word;
* ``storycloze``: a story without its last sentence, with its real ending, the ending of a story of
  another topic (like tStoryCloze) and an ending that contradicts the story (like sStoryCloze);
* ``blimp``: a grammatical sentence and a minimally different ungrammatical one, for five phenomena.

Each set is one Parquet table plus an ``<set>_utterances`` table (id, text, split) that the
synthesise stage reads. The same seed gives the same text, byte for byte.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Topic:
    name: str
    home: str                            # where the main character lives
    venue: str                           # a place one goes to (SWAG prompts)
    kinds: tuple[str, ...]               # what the characters are
    objects: tuple[str, ...]             # what they find
    places: tuple[str, ...]              # where they find it
    activities: tuple[tuple[str, str], ...]  # (base form, past tense)


TOPICS = (
    Topic("farm", "on a big farm", "the barn", ("pig", "cow", "hen", "goat", "farmer"),
          ("bucket", "bell", "egg", "hat", "rope"),
          ("in the hay", "near the barn", "by the pond", "under the tractor"),
          (("feed the hens", "fed the hens"), ("ride the tractor", "rode the tractor"),
           ("pick apples", "picked apples"), ("milk the cow", "milked the cow"))),
    Topic("sea", "in a small house by the sea", "the beach", ("fish", "crab", "seal", "sailor", "turtle"),
          ("shell", "net", "map", "bottle", "anchor"),
          ("on the sand", "under a wave", "near the rocks", "in the boat"),
          (("swim with the fish", "swam with the fish"), ("build sandcastles", "built sandcastles"),
           ("sail the boat", "sailed the boat"), ("look for shells", "looked for shells"))),
    Topic("forest", "in a quiet forest", "the woods", ("fox", "bear", "owl", "rabbit", "squirrel"),
          ("acorn", "stick", "feather", "nest", "lamp"),
          ("under a tall tree", "in the bushes", "by the river", "behind a log"),
          (("climb trees", "climbed trees"), ("collect nuts", "collected nuts"),
           ("watch the birds", "watched the birds"), ("walk in the woods", "walked in the woods"))),
    Topic("space", "on a bright space station", "the rocket", ("robot", "astronaut", "alien", "pilot"),
          ("star", "helmet", "stone", "button", "key"),
          ("on the moon", "near the rocket", "in a crater", "behind a planet"),
          (("fly the rocket", "flew the rocket"), ("count the stars", "counted the stars"),
           ("visit the moon", "visited the moon"), ("fix the engine", "fixed the engine"))),
    Topic("kitchen", "in a warm little house", "the kitchen", ("cook", "mouse", "cat", "baker"),
          ("spoon", "cup", "pan", "cookie", "bowl"),
          ("on the table", "under the oven", "in a drawer", "behind the sink"),
          (("bake cakes", "baked cakes"), ("make soup", "made soup"),
           ("eat cookies", "ate cookies"), ("wash the dishes", "washed the dishes"))),
    Topic("school", "near a busy school", "the classroom", ("boy", "girl", "teacher", "student", "puppy"),
          ("book", "pencil", "ball", "bag", "clock"),
          ("under a desk", "in the playground", "by the door", "on a shelf"),
          (("read books", "read books"), ("draw pictures", "drew pictures"),
           ("play ball", "played ball"), ("sing songs", "sang songs"))),
)

NAMES = (("Tom", "he"), ("Lily", "she"), ("Max", "he"), ("Mia", "she"), ("Sam", "he"), ("Anna", "she"),
         ("Ben", "he"), ("Lucy", "she"), ("Jack", "he"), ("Emma", "she"), ("Leo", "he"), ("Zoe", "she"),
         ("Finn", "he"), ("Ruby", "she"), ("Oscar", "he"), ("Ella", "she"))
OBJECT_PRONOUN = {"he": "him", "she": "her"}
REFLEXIVE = {"he": "himself", "she": "herself"}
COLOURS = ("red", "blue", "green", "yellow", "shiny", "old", "little", "big")
TRAITS = ("kind", "curious", "happy", "brave", "small", "clever", "shy", "friendly")

# (problem, how a friend solves it); {obj} is the main character as an object pronoun.
PROBLEMS = (
    ("it was too heavy to lift", "helped {obj} carry it"),
    ("it was stuck in the mud", "pulled it out"),
    ("it was broken", "fixed it with some string"),
    ("it was too high to reach", "lifted {obj} up to get it"),
    ("it was covered in dirt", "helped {obj} wash it"),
)

INTROS = ("Once upon a time, there was a {trait} {kind} named {name}.",
          "There once was a {trait} {kind} called {name}.",
          "{name} was a {trait} little {kind}.")
HOMES = ("{Pron} lived {home} and loved to {activity}.",
         "Every day, {pron} liked to {activity} {home}.")
FINDS = ("One day, {name} found a {colour} {object} {place}.",
         "One morning, {name} saw a {colour} {object} {place}.")
WANTS = ("{Pron} wanted to take it home, but {problem}.",
         "{Pron} tried to pick it up, but {problem}.")
HELPS = ("{friend} the {friend_kind} came by and {solution}.",
         "Then {friend} the {friend_kind} saw {obj} and {solution}.")
ENDINGS = ("{name} thanked {friend}, and they {activity_past} together all afternoon.",
           "{name} smiled at {friend}, and then they {activity_past} together.")
CONTRADICTIONS = ("{name} was sad, because nobody came to help {obj}.",
                  "{name} was angry that {friend} did not help {obj} at all.",
                  "In the end, {name} could not get the {object}, so {pron} left it there.")

# BLIMP-like phenomena: (grammatical, ungrammatical) from one set of choices.
IRREGULAR_PAST = (("ran", "runned"), ("ate", "eated"), ("saw", "seed"), ("went", "goed"), ("made", "maked"),
                  ("found", "finded"), ("sang", "singed"), ("drew", "drawed"), ("flew", "flied"), ("swam", "swimmed"))
VERBS_3SG = (("sleeps", "sleep"), ("runs", "run"), ("sings", "sing"), ("jumps", "jump"), ("plays", "play"),
             ("waits", "wait"), ("hides", "hide"), ("sits", "sit"))
PLURALS = {"bucket": "buckets", "bell": "bells", "egg": "eggs", "hat": "hats", "rope": "ropes", "shell": "shells",
           "net": "nets", "map": "maps", "bottle": "bottles", "anchor": "anchors", "acorn": "acorns",
           "stick": "sticks", "feather": "feathers", "nest": "nests", "lamp": "lamps", "star": "stars",
           "helmet": "helmets", "stone": "stones", "button": "buttons", "key": "keys", "spoon": "spoons",
           "cup": "cups", "pan": "pans", "cookie": "cookies", "bowl": "bowls", "book": "books",
           "pencil": "pencils", "ball": "balls", "bag": "bags", "clock": "clocks"}
BLIMP_PHENOMENA = ("subject_verb_agreement", "determiner_noun_agreement", "anaphor_agreement",
                   "irregular_past_tense", "adjective_order")


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _story(rng: random.Random, topic: Topic) -> dict:
    """One story as its sentences and the choices behind them."""
    name, pron = rng.choice(NAMES)
    friend, _ = rng.choice([n for n in NAMES if n[0] != name])
    kind = rng.choice(topic.kinds)
    activity, _ = rng.choice(topic.activities)
    _, activity_past = rng.choice(topic.activities)
    problem, solution = rng.choice(PROBLEMS)
    slots = {
        "name": name, "pron": pron, "Pron": _capitalise(pron), "obj": OBJECT_PRONOUN[pron],
        "friend": friend, "friend_kind": rng.choice([k for k in topic.kinds if k != kind]),
        "kind": kind, "trait": rng.choice(TRAITS), "home": topic.home, "activity": activity,
        "activity_past": activity_past, "colour": rng.choice(COLOURS), "object": rng.choice(topic.objects),
        "place": rng.choice(topic.places), "problem": problem,
    }
    slots["solution"] = solution.format(**slots)
    body = [rng.choice(t).format(**slots) for t in (INTROS, HOMES, FINDS, WANTS, HELPS)]
    return {"topic": topic.name, "body": body, "ending": rng.choice(ENDINGS).format(**slots),
            "contradiction": rng.choice(CONTRADICTIONS).format(**slots)}


def generate_stories(rng: random.Random, n: int, exclude: set[str] = frozenset()) -> list[dict]:
    """``n`` distinct stories, topics in turn so every topic is equally present."""
    stories, seen = [], set(exclude)
    while len(stories) < n:
        story = _story(rng, TOPICS[len(stories) % len(TOPICS)])
        text = " ".join(story["body"] + [story["ending"]])
        if text not in seen:
            seen.add(text)
            stories.append({**story, "text": text})
    return stories


def generate_swag(rng: random.Random, n: int) -> list[dict]:
    triples = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        other = rng.choice([t for t in TOPICS if t is not topic])
        name, pron = rng.choice(NAMES)
        _, gold = rng.choice(topic.activities)
        _, wrong = rng.choice(other.activities)
        opener = rng.choice(("Then {pron}", "After that, {pron}", "Soon {pron}")).format(pron=pron)
        triples.append({
            "id": f"swag_{i:05d}", "topic": topic.name,
            "prompt": f"{name} went to {topic.venue}.",
            "chosen": f"{opener} {gold}.", "rejected": f"{opener} {wrong}.",
        })
    return triples


def generate_storycloze(rng: random.Random, n: int, exclude: set[str]) -> list[dict]:
    stories = generate_stories(rng, n, exclude)
    rows = []
    for i, story in enumerate(stories):
        other = rng.choice([s for s in stories if s["topic"] != story["topic"]])
        rows.append({
            "id": f"sc_{i:05d}", "topic": story["topic"], "prefix": " ".join(story["body"]),
            "ending": story["ending"], "other_topic_ending": other["ending"],
            "contradicting_ending": story["contradiction"],
        })
    return rows


def _blimp_pair(rng: random.Random, phenomenon: str) -> tuple[str, str]:
    topic = rng.choice(TOPICS)
    name, pron = rng.choice(NAMES)
    obj = rng.choice(topic.objects)
    place = rng.choice(topic.places)
    if phenomenon == "subject_verb_agreement":
        good, bad = rng.choice(VERBS_3SG)
        kind = rng.choice(topic.kinds)
        return f"The {kind} {good} {place}.", f"The {kind} {bad} {place}."
    if phenomenon == "determiner_noun_agreement":
        return f"{name} found these {PLURALS[obj]} {place}.", f"{name} found this {PLURALS[obj]} {place}."
    if phenomenon == "anaphor_agreement":
        wrong = {"he": "she", "she": "he"}[pron]
        return f"{name} saw {REFLEXIVE[pron]} in the water.", f"{name} saw {REFLEXIVE[wrong]} in the water."
    if phenomenon == "irregular_past_tense":
        good, bad = rng.choice(IRREGULAR_PAST)
        return f"Yesterday {name} {good} {place}.", f"Yesterday {name} {bad} {place}."
    # adjective_order: size before colour in English ("a big red ball", not "a red big ball").
    size, colour = rng.choice(("big", "little", "small")), rng.choice(("red", "blue", "green", "yellow"))
    return f"{name} has a {size} {colour} {obj}.", f"{name} has a {colour} {size} {obj}."


def generate_blimp(rng: random.Random, n: int) -> list[dict]:
    rows, seen = [], set()
    while len(rows) < n:
        phenomenon = BLIMP_PHENOMENA[len(rows) % len(BLIMP_PHENOMENA)]
        good, bad = _blimp_pair(rng, phenomenon)
        if good in seen:
            continue
        seen.add(good)
        rows.append({"id": f"blimp_{len(rows):05d}", "phenomenon": phenomenon, "good": good, "bad": bad})
    return rows


# What each set depends on in the demo_text config (besides the seed): the workflow passes each
# set's rule only these, so changing the number of SWAG triples does not re-make the stories.
SETS = {"stories": ("stories",), "swag": ("swag",), "storycloze": ("stories", "storycloze"), "blimp": ("blimp",)}


def _stream(seed: int, name: str) -> random.Random:
    # One independent stream per table: changing one table's size leaves the others as they were.
    return random.Random(f"{seed}/{name}")


def _stories(settings: dict) -> list[dict]:
    seed = settings["seed"]
    train = generate_stories(_stream(seed, "train"), settings["stories"]["train"])
    valid = generate_stories(_stream(seed, "valid"), settings["stories"]["valid"], {s["text"] for s in train})
    return ([{"id": f"story_train_{i:05d}", "split": "train", "topic": s["topic"], "text": s["text"]} for i, s in enumerate(train)]
            + [{"id": f"story_valid_{i:05d}", "split": "valid", "topic": s["topic"], "text": s["text"]} for i, s in enumerate(valid)])


def generate(name: str, settings: dict) -> tuple[list[dict], list[dict]]:
    """The set ``name`` as (its table, its utterances table with id, text, split)."""
    seed = settings["seed"]
    if name == "stories":
        table = _stories(settings)
        return table, [{"id": r["id"], "text": r["text"], "split": r["split"]} for r in table]
    if name == "swag":
        table = generate_swag(_stream(seed, "swag"), settings["swag"])
        return table, [{"id": f"{t['id']}_{part}", "text": t[part], "split": "train"}
                       for t in table for part in ("prompt", "chosen", "rejected")]
    if name == "storycloze":
        # Benchmark stories never repeat a pretraining or validation story.
        table = generate_storycloze(_stream(seed, "storycloze"), settings["storycloze"], {r["text"] for r in _stories(settings)})
        return table, [{"id": f"{r['id']}_{ending}", "text": f"{r['prefix']} {r[ending]}", "split": "test"}
                       for r in table for ending in ("ending", "other_topic_ending", "contradicting_ending")]
    if name == "blimp":
        table = generate_blimp(_stream(seed, "blimp"), settings["blimp"])
        return table, [{"id": f"{r['id']}_{side}", "text": r[side], "split": "test"} for r in table for side in ("good", "bad")]
    raise ValueError(f"unknown demo text set {name!r}; expected one of {', '.join(SETS)}")


def settings_for(name: str, settings: dict) -> dict:
    """The part of the demo_text config that set ``name`` depends on."""
    return {"seed": settings["seed"], **{key: settings[key] for key in SETS[name]}}


def vocabulary(utterances: list[dict]) -> set[str]:
    return {w.strip(".,").lower() for row in utterances for w in row["text"].split()}
