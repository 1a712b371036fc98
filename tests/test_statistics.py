"""Intervals and the paired test (slamming/evaluation/statistics.py)."""
import math

import numpy as np
import pytest

from slamming.evaluation.likelihood import score_pairs
from slamming.evaluation.statistics import bootstrap_means, interval, paired_difference


def test_an_accuracys_interval_is_as_wide_as_the_binomials():
    rng = np.random.default_rng(3)
    outcomes = (rng.random(2000) < 0.7).astype(float)
    low, high = interval(outcomes)
    half = 1.96 * math.sqrt(0.7 * 0.3 / 2000)  # the normal approximation's half-width
    assert low < outcomes.mean() < high and high - low == pytest.approx(2 * half, rel=0.1)
    assert interval(outcomes) == interval(outcomes)  # seeded: the same scores, the same interval
    assert interval([]) is None


def test_voices_of_one_item_are_resampled_together():
    """Six voices of an item agree (as they nearly do on sBLIMP): resampling voices as if independent
    would make the interval look about sqrt(6) times narrower than it is."""
    rng = np.random.default_rng(4)
    per_item = (rng.random(300) < 0.6).astype(float)
    outcomes, items = np.repeat(per_item, 6), np.repeat(np.arange(300), 6)
    by_item, by_voice = interval(outcomes, items), interval(outcomes)
    assert (by_item[1] - by_item[0]) / (by_voice[1] - by_voice[0]) == pytest.approx(math.sqrt(6), rel=0.15)
    # an item with more voices weighs more, as in the plain mean over pairs
    means = bootstrap_means([1, 1, 1, 0], ["a", "a", "a", "b"], resamples=2000)
    assert set(np.round(np.unique(means), 6)) <= {0.0, 0.75, 1.0}


def test_the_paired_test_finds_a_real_difference_and_not_a_tie():
    rng = np.random.default_rng(5)
    shared = rng.random(400)
    a, b = (shared < 0.75).astype(float), (shared < 0.65).astype(float)  # a is right wherever b is, and more
    result = paired_difference(a, b)
    assert result["difference"] == pytest.approx(a.mean() - b.mean()) and result["p_value"] < 0.001
    assert result["difference_ci95"][0] > 0
    same = paired_difference(a, a)
    assert same["difference"] == 0 and same["p_value"] == 1.0
    noise = paired_difference((rng.random(400) < 0.7).astype(float), (rng.random(400) < 0.7).astype(float))
    assert noise["p_value"] > 0.01 and noise["difference_ci95"][0] < 0 < noise["difference_ci95"][1]
    with pytest.raises(ValueError):
        paired_difference([1, 0], [1])


def test_a_benchmarks_summary_carries_its_interval():
    scores = {f"{i}{side}": (-1.0 if (side == "+") == (i % 4 != 0) else -2.0, 1) for i in range(40) for side in "+-"}
    pairs = [{"id": str(i), "positive_id": f"{i}+", "negative_id": f"{i}-"} for i in range(40)]
    rows, summary = score_pairs(pairs, scores)
    assert summary["accuracy"] == 0.75 and summary["accuracy_ci95"][0] < 0.75 < summary["accuracy_ci95"][1]
    assert "bootstrap over items" in summary["interval"] and rows[0]["item"] == "0"


def test_two_runs_are_compared_on_the_pairs_both_scored(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from slamming.evaluation.reporting import comparisons

    rng = np.random.default_rng(6)
    shared = rng.random(300)
    for run, threshold, ids in (("better", 0.8, range(300)), ("worse", 0.6, range(10, 300))):
        folder = tmp_path / "results" / run / "eval"
        folder.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist([{"id": f"p{i}", "item": f"i{i // 2}", "correct_mean": float(shared[i] < threshold)}
                                             for i in ids]), folder / "sblimp.parquet")
    tables = [(run, str(tmp_path / "results" / run / "eval" / "sblimp.parquet")) for run in ("worse", "better")]
    (row,) = comparisons(tables)
    assert (row["benchmark"], row["run_a"], row["run_b"], row["pairs"], row["pairs_not_shared"]) == ("sblimp", "better", "worse", 290, 10)
    assert row["difference"] == pytest.approx(row["accuracy_a"] - row["accuracy_b"]) and row["p_value"] < 0.001


def test_the_zerospeech_protocol_averages_an_items_voices_first():
    """sLM21's sBLIMP: an item spoken in several voices. The official toolkit's accuracy is the plain mean
    over pairs; ZeroSpeech 2021's averages each id's voices, then the ids (gold_csv_pairs' item)."""
    scores = {"a1+": (-1.0, 1), "a1-": (-2.0, 1), "a2+": (-1.0, 1), "a2-": (-2.0, 1), "a3+": (-1.0, 1), "a3-": (-2.0, 1),
              "b1+": (-3.0, 1), "b1-": (-2.0, 1)}
    pairs = [{"id": f"{item}/{voice}", "item": item, "positive_id": f"{item}{voice}+", "negative_id": f"{item}{voice}-"}
             for item, voices in (("a", "123"), ("b", "1")) for voice in voices]
    assert [p["positive_id"] for p in pairs] == ["a1+", "a2+", "a3+", "b1+"]
    _, summary = score_pairs(pairs, scores)
    assert summary["accuracy"] == 0.75 and summary["accuracy_zerospeech"] == 0.5


def test_the_protocol_setting_chooses_the_headline_and_metrics_json_says_which(tmp_path):
    import json

    from slamming.evaluation.reporting import collect

    scores = {"a1+": (-1.0, 1), "a1-": (-2.0, 1), "a2+": (-1.0, 1), "a2-": (-2.0, 1), "a3+": (-1.0, 1), "a3-": (-2.0, 1),
              "b1+": (-3.0, 1), "b1-": (-2.0, 1)}
    pairs = [{"id": f"{item}/{voice}", "item": item, "group": "g", "positive_id": f"{item}{voice}+", "negative_id": f"{item}{voice}-"}
             for item, voices in (("a", "123"), ("b", "1")) for voice in voices]
    _, summary = score_pairs(pairs, scores)
    (tmp_path / "sblimp.json").write_text(json.dumps({**summary, "benchmark": "sblimp", "pairs_left_out": 0}))
    for protocol, headline in (("official", 0.75), ("zerospeech", 0.5)):
        metrics = collect("r", "d", None, [str(tmp_path / "sblimp.json")], None, None, None, [], [], protocol=protocol)
        result = metrics["likelihood"]["sblimp"]
        assert (result["accuracy"], result["protocol"], result["accuracy_official"]) == (headline, protocol, 0.75)
        assert result["accuracy_by_group"] == {"g": headline} and len(result["accuracy_by_group_ci95"]["g"]) == 2
    assert metrics["generation_out_of_domain"] is None


def test_the_out_of_domain_generation_has_its_own_section(tmp_path):
    import json

    from slamming.evaluation.reporting import collect

    scores = {"genppl": {"genppl": 180.0, "empty": 1}, "genppl_ci95": [150.0, 220.0], "genppl_continuation": {"genppl": 300.0},
              "samples": 1000, "auto_bleu": 0.05, "auto_bleu_ci95": [0.04, 0.06]}
    (tmp_path / "scores.json").write_text(json.dumps(scores))
    metrics = collect("r", "d", None, [], None, None, None, [], [], out_of_domain=str(tmp_path / "scores.json"))
    assert metrics["generation_out_of_domain"] == {"genppl": 180.0, "genppl_ci95": [150.0, 220.0], "genppl_continuation": 300.0,
                                                   "samples": 1000, "empty_transcripts": 1, "auto_bleu": 0.05,
                                                   "auto_bleu_ci95": [0.04, 0.06]}


def test_a_zerospeech_submission_has_one_line_per_utterance_named_by_its_file():
    from slamming.evaluation.likelihood import zerospeech_submission

    scores = {"a+": (-4.0, 4), "a-": (-6.0, 4), "b+": (-0.5, 1)}
    pairs = [{"id": "a", "positive_id": "a+", "negative_id": "a-", "positive_path": "x/aaa_1.wav", "negative_path": "x/aaa_0.wav"},
             {"id": "b", "positive_id": "b+", "negative_id": "a+", "positive_path": "x/bbb_1.flac", "negative_path": "x/aaa_1.wav"}]
    rows, _ = score_pairs(pairs, scores)
    # an utterance in two pairs is one line; the score is the mean log-probability (higher: more probable)
    assert zerospeech_submission(rows) == "aaa_0 -1.5\naaa_1 -1.0\nbbb_1 -0.5\n"
