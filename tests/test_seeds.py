"""One recipe under several seeds (a recipe's ``seeds``): the runs it expands into, what they share, the
spread over seeds, and the paired test on outcomes averaged over seeds."""

from __future__ import annotations

import copy

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import REPO, snakemake

from slamming.evaluation.seeds import OUTCOME, averaged_pairs, over_seeds, spread
from slamming.workflow import paths
from slamming.workflow.config import ConfigError, load_runs, load_yaml
from slamming.workflow.plan import Plan


@pytest.fixture(scope="module")
def config():
    config = load_yaml(REPO / "config" / "config.yaml")
    config["run_defaults"]["seeds"] = [0, 1, 2]
    return config


def test_a_recipe_with_seeds_is_its_own_run_and_one_run_per_other_seed(config):
    runs = load_runs(copy.deepcopy(config), REPO)
    assert {"demo", "demo_seed1", "demo_seed2", "slam_seed2"} <= set(runs)
    assert "demo_seed0" not in runs  # the recipe's own seed is the recipe's run
    seeded = runs["demo_seed2"]
    assert (seeded["run"]["seed"], seeded["run"]["seeds"], seeded["seeded_from"]) == (2, None, "demo")
    # nothing but the seed differs
    differs = {k for k in seeded["run"] if seeded["run"][k] != runs["demo"]["run"][k]}
    assert differs == {"seed", "seeds", "description"}
    # a model evaluated from the registry is one model: no seeds
    assert runs["eval/slprl_slam"]["run"]["seeds"] is None and "eval/slprl_slam_seed1" not in runs


def test_a_seeded_runs_name_taken_by_a_recipe_is_refused_in_one_line(config, tmp_path):
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "mine.yaml").write_text("base: demo\nseeds: [0, 1]\n")
    (recipes / "mine_seed1.yaml").write_text("base: demo\n")
    for name in ("demo", "slam"):
        (recipes / f"{name}.yaml").write_text((REPO / "config" / "recipes" / f"{name}.yaml").read_text())
    config = copy.deepcopy(load_yaml(REPO / "config" / "config.yaml"))
    config["recipes_dir"] = str(recipes)
    with pytest.raises(ConfigError, match=r"mine.yaml: seeds: the run for seed 1 is named mine_seed1, and .*mine_seed1.yaml is a recipe too"):
        load_runs(config, REPO)


def test_the_seeds_of_a_recipe_share_its_units_and_train_apart(config):
    config = copy.deepcopy(config)
    config["default_runs"] = ["demo"]
    plan = Plan(config, load_runs(config, REPO))
    members = plan.seed_members("demo")
    assert members == {0: "demo", 1: "demo_seed1", 2: "demo_seed2"}
    assert len({plan.run_tokeniser(run) for run in members.values()}) == 1
    assert len({plan.run_packed_dir(run) for run in members.values()}) == 3  # the seed orders the data
    assert [plan.run(run)["seed"] for run in members.values()] == [0, 1, 2]  # the trainings' seed param
    assert plan.seeds_pairs("demo") == [paths.seeds_pairs("demo", b) for b in ("sblimp", "sstorycloze", "tstorycloze")]
    # rule all makes the spread and every seed's model
    assert {paths.seeds_summary("demo"), paths.weights(paths.model_dir("demo_seed2", "dpo"))} <= set(plan.default_targets())
    # the comparisons read the averaged outcomes once they are asked for
    assert paths.seeds_pairs("demo", "sblimp") in plan.compared_tables([paths.seeds_summary("demo")], made=lambda p: False)
    assert paths.seeds_pairs("demo", "sblimp") not in plan.compared_tables(["results/demo/metrics.json"], made=lambda p: False)
    # and the runs of every seed, which the same call makes, from its first table on
    compared = plan.compared_tables([paths.seeds_summary("demo")], made=lambda p: False)
    assert {"results/demo_seed1/eval/sblimp.parquet", "results/demo_seed2/eval/sblimp.parquet"} <= set(compared)
    assert "results/demo_seed2/metrics.json" in plan.metrics_runs([], made=lambda p: False)


def test_a_metrics_spread_over_seeds_is_its_mean_min_and_max():
    result = spread({0: 0.5, 1: 0.6, 2: 0.7})
    assert result["mean"] == pytest.approx(0.6) and (result["min"], result["max"]) == (0.5, 0.7)
    assert result["below"] == pytest.approx(0.1) and result["above"] == pytest.approx(0.1)


def test_outcomes_are_averaged_over_seeds_on_the_pairs_every_seed_scored():
    tables = {0: [{"id": "a", "item": "x", OUTCOME: 1.0}, {"id": "b", "item": "x", OUTCOME: 0.0}, {"id": "c", "item": "y", OUTCOME: 1.0}],
              1: [{"id": "a", "item": "x", OUTCOME: 0.0}, {"id": "b", "item": "x", OUTCOME: 0.5}]}
    rows, not_shared = averaged_pairs(tables)
    assert [(r["id"], r["item"], r[OUTCOME]) for r in rows] == [("a", "x", 0.5), ("b", "x", 0.25)] and not_shared == 1


def metrics(run, sblimp, genppl, loss):
    return {"run": run, "likelihood": {"sblimp": {"accuracy": sblimp}, "swuggy": {"accuracy": 0.6, "in_vocabulary": {"accuracy": 0.7}}},
            "generation": {"genppl": genppl, "auto_bleu": None}, "training": {"pretrained": {"valid_loss": loss}}}


def test_seeds_json_has_each_metrics_spread_and_the_averaged_accuracy_with_its_interval():
    summary = over_seeds("demo", {0: metrics("demo", 0.5, 100.0, 2.0), 1: metrics("demo_seed1", 0.7, 200.0, 2.2)},
                         {"sblimp": [{"id": str(i), "item": str(i), OUTCOME: 0.5 + 0.5 * (i % 2)} for i in range(40)]})
    assert summary["runs"] == {"0": "demo", "1": "demo_seed1"}
    assert summary["metrics"]["sblimp"]["mean"] == pytest.approx(0.6)
    assert summary["metrics"]["genppl"]["max"] == 200.0 and summary["metrics"]["pretrained_valid_loss"]["min"] == 2.0
    assert summary["metrics"]["swuggy_in_vocabulary"]["mean"] == pytest.approx(0.7)
    assert "auto_bleu" in summary["not_in_every_seed"] and "auto_bleu" not in summary["metrics"]
    averaged = summary["averaged_over_seeds"]["sblimp"]
    assert averaged["accuracy"] == 0.75 and averaged["accuracy_ci95"][0] < 0.75 < averaged["accuracy_ci95"][1]


def test_two_recipes_are_compared_on_their_outcomes_averaged_over_seeds(tmp_path):
    from slamming.evaluation.reporting import comparisons

    tables = []
    for recipe, outcome in (("twist", 0.9), ("random", 0.1)):
        path = tmp_path / "results" / recipe / "seeds" / "sblimp.parquet"
        path.parent.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist([{"id": str(i), "item": str(i // 2), OUTCOME: outcome if i % 3 else 0.5}
                                             for i in range(60)]), path)
        relative = str(path.relative_to(tmp_path))
        assert paths.compared_name(relative) == f"{recipe}/seeds"
        tables.append((paths.compared_name(relative), str(path)))
    (row,) = comparisons(tables)
    assert (row["run_a"], row["run_b"]) == ("random/seeds", "twist/seeds") and row["difference"] < 0 and row["p_value"] < 0.01
    assert paths.compared_name("results/demo/eval/sblimp.parquet") == "demo"


@pytest.mark.slow
def test_a_recipes_seeds_plan_one_training_each_and_share_the_rest(tmp_path):
    """The tiny demo under seeds 0 and 3: two trainings, evaluations and metrics; one text, synthesis, k-means
    and unit extraction."""
    from conftest import write_tiny_config

    configfile = write_tiny_config(tmp_path)

    def planned(*args):
        result = snakemake(tmp_path, "-n", "--quiet", "rules", *args, configfiles=[configfile])
        return {line.split()[0]: int(line.split()[1]) for line in result.stdout.splitlines()
                if len(line.split()) == 2 and line.split()[1].isdigit() and line.split()[0] != "total"}

    once = planned("--", "results/tiny/metrics.json")
    seeded = planned("--config", "run_defaults={seeds: [0, 3]}", "--", "results/tiny/seeds.json")
    for rule in ("pretrain", "dpo", "score_likelihood", "generate", "collect_metrics", "pack_chunks"):
        assert seeded[rule] == 2 * once[rule], rule
    for rule in ("synthesise_shard", "fit_kmeans", "extract_units_shard", "benchmark_pairs", "train_vocoder"):
        assert seeded[rule] == once[rule], rule
    assert seeded["collect_seeds"] == 1 and seeded["average_over_seeds"] == once["benchmark_pairs"]
