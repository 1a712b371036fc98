"""The benchmarks' official layouts, written here as they arrive, paired and scored by both protocols,
and checked against each benchmark's own evaluation: sLM21's sWUGGY and sBLIMP (gold.csv, several
voices, ties), SALMon as the hub's Parquet and as its own folders of wav files."""

from __future__ import annotations

import csv
import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from slamming.data.corpora import hub_pairs
from slamming.data.manifests import MANIFEST_SCHEMA, write_table
from slamming.evaluation.likelihood import (frequency_band, gold_csv_pairs, make_pairs, score_pairs, suffix_pairs, write_pairs,
                                            zerospeech_submission)
from slamming.logs import StageError

log = logging.getLogger("test")


def manifest_of(tmp_path, paths: list[str], root: str = "/"):
    """A manifest as scan_audio_folder writes it: an utterance's id is its path below the folder, "/" as "__"."""
    rows = [{"id": path.removeprefix(root).rsplit(".", 1)[0].replace("/", "__"), "path": path, "duration": 1.0, "sample_rate": 16000,
             "num_samples": 16000, "split": "test", "text": None, "source": "t"} for path in paths]
    write_table(rows, MANIFEST_SCHEMA, tmp_path / "manifest.parquet")
    return tmp_path / "manifest.parquet"


def through_the_pairs_file(tmp_path, pairs, manifest):
    """The pairs as score_likelihood reads them: written by benchmark_pairs, read back."""
    write_pairs(pairs, {}, "bench", manifest, True, tmp_path / "pairs.parquet", log)
    return pq.read_table(tmp_path / "pairs.parquet").to_pylist()


# sWUGGY's gold.csv: per id one word and one non-word, each in two voices; the word's frequency in
# LibriSpeech (0: out of vocabulary); utterance scores (mean log-probability) chosen per file
LEXICAL = [
    # filename, word, id, voice, frequency, correct, score
    ("aaa1", "brick", "1", "Alex", "120", "1", -1.0), ("aaa0", "", "1", "Alex", "", "0", -2.0),
    ("bbb1", "brick", "1", "Bob", "120", "1", -2.0), ("bbb0", "", "1", "Bob", "", "0", -1.0),    # the voices disagree
    ("ccc1", "flimp", "2", "Alex", "0", "1", -1.5), ("ccc0", "", "2", "Alex", "", "0", -1.5),    # a tie, an oov word
    ("ddd1", "flimp", "2", "Bob", "0", "1", -3.0), ("ddd0", "", "2", "Bob", "", "0", -1.0),
    ("eee1", "house", "3", "Alex", "7", "1", -1.0), ("eee0", "", "3", "Alex", "", "0", -3.0),
    ("fff1", "house", "3", "Bob", "7", "1", -1.0), ("fff0", "", "3", "Bob", "", "0", -3.0),
    ("ggg1", "cat", "4", "Alex", "3", "1", -1.0), ("ggg0", "", "4", "Alex", "", "0", -2.0),      # one voice only
]


def write_lexical_gold(tmp_path):
    with open(tmp_path / "gold.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["filename", "word", "phones", "id", "voice", "frequency", "length", "correct"])
        for name, word, item, voice, frequency, correct, _ in LEXICAL:
            writer.writerow([name, word, "b r i k", item, voice, frequency, "4", correct])
    return tmp_path / "gold.csv"


def test_swuggy_pairs_from_gold_csv_score_both_protocols_and_the_in_vocabulary_words(tmp_path):
    gold = write_lexical_gold(tmp_path)
    manifest = manifest_of(tmp_path, [f"/slm21/lexical/dev/{row[0]}.wav" for row in reversed(LEXICAL)], "/slm21/")
    pairs, missing = gold_csv_pairs(gold, manifest)
    assert not missing and len(pairs) == 7
    pairs = through_the_pairs_file(tmp_path, pairs, manifest)  # the item and the frequency survive the file
    assert {(p["id"], p["item"], p["frequency"], p["group"]) for p in pairs} >= {("1/Alex", "1", 120, ">100"), ("2/Bob", "2", 0, "oov")}
    rows, summary = score_pairs(pairs, {f"lexical__dev__{name}": (score, 1) for name, *_, score in LEXICAL})
    # pairs: 1, 0, 0.5, 0, 1, 1, 1 -> 4.5 / 7; per id: 0.5, 0.25, 1, 1 -> 2.75 / 4
    assert summary["accuracy"] == pytest.approx(4.5 / 7)
    assert summary["accuracy_zerospeech"] == pytest.approx(2.75 / 4)
    # in vocabulary (frequency >= 1): ids 1, 3 and 4
    assert summary["in_vocabulary"]["pairs"] == 5
    assert summary["in_vocabulary"]["accuracy"] == pytest.approx(4 / 5)
    assert summary["in_vocabulary"]["accuracy_zerospeech"] == pytest.approx(2.5 / 3)
    assert summary["groups"]["oov"]["accuracy"] == 0.25 and summary["groups"][">100"]["accuracy"] == 0.5


def zerospeech_lexical_evaluation(gold_csv, submission) -> tuple[float, float]:
    """ZeroSpeech 2021's own lexical evaluation (its evaluation tool's steps, as pandas): a word and its
    non-word joined on (id, voice), 1 / 0.5 / 0, averaged over voices per id; all = the mean over ids,
    in-vocabulary = the frequency bands other than oov, weighted by their counts."""
    gold = pd.read_csv(gold_csv, header=0, index_col="filename").astype({"frequency": pd.Int64Dtype()})
    score = pd.read_csv(submission, sep=" ", header=None, names=["filename", "score"], index_col="filename")
    data = pd.merge(gold, score, on="filename", how="inner").reset_index()
    words = data.loc[data["correct"] == 1].reset_index().rename(lambda x: "w_" + x, axis=1)
    non_words = data.loc[data["correct"] == 0].reset_index().rename(lambda x: "nw_" + x, axis=1)
    pairs = pd.merge(words, non_words, left_on=["w_voice", "w_id"], right_on=["nw_voice", "nw_id"])
    a, b = pairs["w_score"].to_numpy(), pairs["nw_score"].to_numpy()
    pairs["score"] = 0.5 * (a == b) + (a > b)
    by_id = pairs.groupby("w_id").agg(frequency=("w_frequency", "first"), score=("score", "mean"))
    bands = pd.cut(by_id.frequency.astype(float), [0, 1, 5, 20, 100, float("inf")], labels=["oov", "1-5", "6-20", "21-100", ">100"],
                   right=False)
    by_band = by_id.score.groupby(bands, observed=False).agg(n="count", score="mean").reset_index()
    in_vocabulary = by_band[(by_band["frequency"] != "oov") & (by_band["n"] > 0)]
    return float(by_id.score.mean()), float(np.average(in_vocabulary["score"], weights=in_vocabulary["n"]))


def test_our_swuggy_submission_file_gives_our_accuracies_under_zerospeechs_evaluation(tmp_path):
    gold = write_lexical_gold(tmp_path)
    manifest = manifest_of(tmp_path, [f"/slm21/lexical/dev/{row[0]}.wav" for row in LEXICAL], "/slm21/")
    pairs, _ = gold_csv_pairs(gold, manifest)
    rows, summary = score_pairs(through_the_pairs_file(tmp_path, pairs, manifest),
                                {f"lexical__dev__{name}": (score, 1) for name, *_, score in LEXICAL})
    (tmp_path / "dev.txt").write_text(zerospeech_submission(rows))
    every, in_vocabulary = zerospeech_lexical_evaluation(gold, tmp_path / "dev.txt")
    assert summary["accuracy_zerospeech"] == pytest.approx(every)
    assert summary["in_vocabulary"]["accuracy_zerospeech"] == pytest.approx(in_vocabulary)


def test_frequency_bands_are_zerospeechs():
    assert [frequency_band(f) for f in (0, 1, 4, 5, 19, 20, 99, 100, 10**6)] == \
        ["oov", "1-5", "1-5", "6-20", "6-20", "21-100", "21-100", ">100", ">100"]


def test_sblimp_voices_of_one_id_are_one_item_after_the_pairs_file(tmp_path):
    gold = [("s1", "1", "Alex", "binding", "principle_a", "1", "he saw himself"), ("s2", "1", "Alex", "binding", "principle_a", "0", "x"),
            ("s3", "1", "Bob", "binding", "principle_a", "1", "he saw himself"), ("s4", "1", "Bob", "binding", "principle_a", "0", "x"),
            ("s5", "2", "Alex", "binding", "principle_a", "1", "y"), ("s6", "2", "Alex", "binding", "principle_a", "0", "z")]
    with open(tmp_path / "gold.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["filename", "id", "voice", "type", "subtype", "correct", "transcription"])
        writer.writerows(gold)
    manifest = manifest_of(tmp_path, [f"/b/{g[0]}.wav" for g in gold], "/b/")
    pairs, _ = gold_csv_pairs(tmp_path / "gold.csv", manifest)
    pairs = through_the_pairs_file(tmp_path, pairs, manifest)
    assert sorted(p["item"] for p in pairs) == ["binding/principle_a/1", "binding/principle_a/1", "binding/principle_a/2"]
    # id 1: Alex right, Bob wrong (0.5); id 2: right (1)
    _, summary = score_pairs(pairs, {"s1": (-1, 1), "s2": (-2, 1), "s3": (-2, 1), "s4": (-1, 1), "s5": (-1, 1), "s6": (-2, 1)})
    assert summary["accuracy"] == pytest.approx(2 / 3) and summary["accuracy_zerospeech"] == pytest.approx(0.75)
    assert "in_vocabulary" not in summary


def test_a_file_that_is_not_a_gold_csv_is_refused_naming_it(tmp_path):
    (tmp_path / "gold.csv").write_text("name,label\na,1\n")
    with pytest.raises(StageError, match=r"gold.csv: not a ZeroSpeech 2021 gold.csv, it has no column correct, filename, id, voice"):
        gold_csv_pairs(tmp_path / "gold.csv", manifest_of(tmp_path, ["/b/a.wav"]))


SALMON_PARTS = {"sentiment_consistency": [1, 1, 0, 0.5], "speaker_consistency": [1, 0, 0, 0]}  # each pair's outcome


def salmon_score(part: str, index: int, positive: bool) -> float:
    """A score per utterance that gives each pair the outcome of SALMON_PARTS."""
    outcome = SALMON_PARTS[part][index]
    return -1.0 if positive else {1: -2.0, 0: -0.5, 0.5: -1.0}[outcome]


def test_salmon_scores_the_same_from_the_hub_parquet_and_from_its_own_folders(tmp_path):
    """SALMon arrives as the hub's Parquet (positive_audio, negative_audio, one folder per part) or as its
    own zip (<part>/sample_<n>_0.wav, the positive, and sample_<n>_1.wav): both are scored per part as its
    official code does (a tie counts 0.5, a plain mean per part)."""
    from test_full_recipe_data import audio_struct, tone

    for part, outcomes in SALMON_PARTS.items():
        (tmp_path / "hub" / part).mkdir(parents=True)
        rows = [{"ind": i, "positive_audio": audio_struct(tone(0.5), "a.flac"), "negative_audio": audio_struct(tone(0.5, 500.0), "b.flac")}
                for i in range(len(outcomes))]
        pq.write_table(pa.Table.from_pylist(rows), tmp_path / "hub" / part / "train-00000-of-00001.parquet")
    manifest, _, items = hub_pairs(tmp_path / "hub", {"positive_audio": "positive_audio", "negative_audio": "negative_audio", "id": "ind"},
                                   tmp_path / "audio", "hub:salmon")
    write_table(manifest, MANIFEST_SCHEMA, tmp_path / "hub_manifest.parquet")
    pq.write_table(pa.Table.from_pylist(items), tmp_path / "items.parquet")
    hub, missing = make_pairs(tmp_path / "items.parquet", "positive", "negative", tmp_path / "hub_manifest.parquet")
    assert not missing
    hub_scores = {f"{part}_{i}_{side}": (salmon_score(part, i, side == "positive"), 1)
                  for part, outcomes in SALMON_PARTS.items() for i in range(len(outcomes)) for side in ("positive", "negative")}

    folders = manifest_of(tmp_path, [f"/salmon/{part}/sample_{i}_{k}.wav" for part, outcomes in SALMON_PARTS.items()
                                     for i in range(len(outcomes)) for k in (1, 0)], "/salmon/")
    own, missing = suffix_pairs(folders, "0", "1", group_by_folder=True)
    # the files' names repeat in every part: a pair is matched within its folder
    assert not missing and own[0]["id"] == "sentiment_consistency/sample_0" and len(own) == 8
    own_scores = {f"{part}__sample_{i}_{k}": (salmon_score(part, i, k == 0), 1)
                  for part, outcomes in SALMON_PARTS.items() for i in range(len(outcomes)) for k in (0, 1)}
    for layout, pairs, scores in (("hub", hub, hub_scores), ("own", own, own_scores)):
        _, summary = score_pairs(through_the_pairs_file(tmp_path, pairs, tmp_path / "hub_manifest.parquet"), scores)
        assert {g: a["accuracy"] for g, a in summary["groups"].items()} == \
            {"sentiment_consistency": 0.625, "speaker_consistency": 0.25}, layout
        assert summary["pairs"] == 8


def test_cross_modal_storycloze_stories_are_found_by_their_correct_speech_and_paired_per_direction(tmp_path):
    from slamming.evaluation.cross_modal import DIRECTIONS, cross_modal_items, direction_pair

    for folder, story in (("part_a", "1"), ("part_a", "2"), ("part_b", "1")):
        (tmp_path / folder).mkdir(exist_ok=True)
        for part in ("mutual", "correct", "incorrect"):
            for kind in ("wav", "txt"):
                if (folder, story, part, kind) != ("part_a", "2", "incorrect", "txt"):
                    (tmp_path / folder / f"{story}_{part}.{kind}").write_text("x")
    items, missing = cross_modal_items(tmp_path)
    # the same story number in two parts is two stories; one with a file missing is left out, named
    assert [i["id"] for i in items] == ["part_a/1", "part_b/1"] and missing == {"part_a/2": ["2_incorrect.txt"]}
    pair = direction_pair(items[0], "speech_to_text")
    assert pair["prompt"] == ("wav", str(tmp_path / "part_a/1_mutual.wav"))
    assert pair["positive"] == ("txt", str(tmp_path / "part_a/1_correct.txt"))
    assert pair["negative"] == ("txt", str(tmp_path / "part_a/1_incorrect.txt"))
    assert direction_pair(items[1], "text_to_speech")["positive"] == ("wav", str(tmp_path / "part_b/1_correct.wav"))
    assert set(DIRECTIONS) >= {"speech_to_text", "text_to_speech", "text_to_text"}
