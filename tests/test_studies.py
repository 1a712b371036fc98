"""Studies (config/studies/<name>.yaml): a recipe's variants as runs that share what they can, a table with
intervals, seeds' min and max and paired tests, and one-line refusals of a bad study file."""

from __future__ import annotations

import copy
import csv
import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import REPO, snakemake

from slamming.workflow.config import ConfigError, load_runs, load_yaml


@pytest.fixture(scope="module")
def base_config() -> dict:
    return load_yaml(REPO / "config" / "config.yaml")


def with_study(base_config: dict, tmp_path, text: str) -> dict:
    (tmp_path / "studies").mkdir(exist_ok=True)
    (tmp_path / "studies" / "mine.yaml").write_text(text)
    return {**copy.deepcopy(base_config), "studies_dir": str(tmp_path / "studies")}


def test_a_grid_expands_into_runs_named_after_what_they_change_with_a_run_per_seed(base_config, tmp_path):
    config = with_study(base_config, tmp_path, "description: d\nbase: demo\ngrid: {pretrain.init: [twist, random], "
                        "pretrain.learning_rate: [1.0e-3, 3.0e-3]}\nseeds: [0, 1]\nmetrics: [sstorycloze]\n")
    runs = load_runs(config, REPO)
    study = runs.studies["mine"]
    # the demo's own settings are TWIST and 1e-3: that variant is the demo itself, and the reference
    assert [v["run"] for v in study["variants"]] == ["demo", "demo--pretrain_learning_rate_0.003", "demo--pretrain_init_random",
                                                     "demo--pretrain_init_random--pretrain_learning_rate_0.003"]
    assert study["reference"] == "demo" and study["variants"][0]["members"] == {0: "demo", 1: "demo_seed1"}
    random = runs["demo--pretrain_init_random_seed1"]["run"]
    assert random["pretrain"]["init"] == "random" and random["seed"] == 1 and random["pretrain"]["learning_rate"] == 1e-3
    # nothing else differs from the demo
    demo = copy.deepcopy(runs["demo"]["run"])
    changed = copy.deepcopy(runs["demo--pretrain_init_random"]["run"])
    demo["pretrain"]["init"] = changed["pretrain"]["init"] = None
    assert {k: v for k, v in demo.items() if k != "description"} == {k: v for k, v in changed.items() if k != "description"}
    assert "study mine: pretrain.init random" in runs["demo--pretrain_init_random"]["run"]["description"]


@pytest.mark.parametrize("text, message", [
    ("description: d\nbase: demo\ngrid: {pretrain.inti: [twist, random]}\nmetrics: [sblimp]\n",
     r"mine.yaml: pretrain.inti: not a setting of a run"),
    ("description: d\nbase: demo\ngrid: {pretrain.init: [twist]}\nvariants: [{pretrain.init: twist}, {pretrain.init: random}]\n"
     "metrics: [sblimp]\n", r"mine.yaml: give the settings to vary as grid or as variants, one of them"),
    ("description: d\nbase: nope\ngrid: {pretrain.init: [twist, random]}\nmetrics: [sblimp]\n", r"mine.yaml: base: no recipe named 'nope'"),
    ("description: d\nbase: demo\ngrid: {pretrain.init: [twist, random]}\nmetrics: [accuracy]\n",
     r"mine.yaml: metrics: 'accuracy' is not a metric a study compares"),
    ("description: d\nbase: demo\ngrid: {pretrain.init: [twist, sideways]}\nmetrics: [sblimp]\n",
     r"mine.yaml \(variant demo--pretrain_init_sideways\): run.pretrain.init"),
])
def test_a_bad_study_file_is_refused_in_one_line_naming_it(base_config, tmp_path, text, message):
    with pytest.raises(ConfigError, match=message) as error:
        load_runs(with_study(base_config, tmp_path, text), REPO)
    assert "\n" not in str(error.value)


def test_the_papers_demo_studies_are_valid_and_say_what_they_cost(base_config):
    from slamming.workflow.plan import Plan

    runs = load_runs(base_config, REPO)
    plan = Plan(base_config, runs)
    assert {"demo_init", "demo_dpo_share", "demo_optimiser", "demo_context_batch", "demo_data"} <= set(plan.studies)
    assert len(plan.study_cost("demo_optimiser")) == 6 and all("pretrain max_steps 200" in line
                                                              for line in plan.study_cost("demo_optimiser"))
    assert plan.study_members("demo_data") == ["demo_4_1", "demo_4_1--data_demo_tinystories_0.0"]
    cost = plan.study_cost("demo_init")
    assert cost == ["study demo_init: demo x 3 seed(s): a budget of pretrain max_steps 200, dpo epochs 3 (the base)",
                    "study demo_init: demo--pretrain_init_random x 3 seed(s): a budget of pretrain max_steps 200, dpo epochs 3 "
                    "(pretrain.init random)"]
    assert plan.study_members("demo_init") == ["demo", "demo_seed1", "demo_seed2", "demo--pretrain_init_random",
                                               "demo--pretrain_init_random_seed1", "demo--pretrain_init_random_seed2"]


# --- the table ---------------------------------------------------------------------------------------

def fake_run(root, run: str, accuracy_rng, correct_share: float, valid_loss: float):
    """A finished run's files as the table reads them: metrics.json, a per-pair table, a training log."""
    outcomes = (accuracy_rng.random(100) < correct_share).astype(float)
    (root / "results" / run / "eval").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{"id": str(i), "item": str(i), "group": None, "correct_mean": o} for i, o in enumerate(outcomes)]),
                   root / "results" / run / "eval" / "sstorycloze.parquet")
    metrics = {"run": run, "likelihood": {"sstorycloze": {"accuracy": float(outcomes.mean())}},
               "training": {"pretrained": {"valid_loss": valid_loss, "training_flops": 1e12, "tokens": 1000}}}
    (root / "results" / run / "metrics.json").write_text(json.dumps(metrics))
    model = root / "results" / "models" / run / "pretrained"
    model.mkdir(parents=True)
    with open(model / "training_log.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "split", "loss", "learning_rate", "tokens", "tokens_per_second", "elapsed_seconds", "mfu"])
        writer.writerows([[10, "valid", valid_loss + 1, 0.001, 500, "", 1, ""], [20, "valid", valid_loss, 0.001, 1000, "", 2, ""]])


def test_the_table_gives_means_min_max_intervals_and_whether_a_variant_differs(tmp_path, monkeypatch):
    from workflow_scripts.study_table import main

    rng = np.random.default_rng(0)
    for run, share, loss in (("base", 0.9, 2.0), ("base_seed1", 0.85, 2.2), ("base--x_1", 0.5, 3.0), ("base--x_1_seed1", 0.55, 3.1)):
        fake_run(tmp_path, run, rng, share, loss)
    study = {"name": "s", "description": "d", "metrics": ["sstorycloze", "valid_loss"],
             "variants": [{"run": "base", "settings": {"x": 0}, "members": {"0": "base", "1": "base_seed1"}},
                          {"run": "base--x_1", "settings": {"x": 1}, "members": {"0": "base--x_1", "1": "base--x_1_seed1"}}]}
    monkeypatch.chdir(tmp_path)
    assert main(["--study", json.dumps(study), "--out-dir", "results/studies/s"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "results/studies/s/table.csv")))
    assert [r["variant"] for r in rows] == ["base", "base--x_1"] and rows[0]["setting:x"] == "0"
    assert float(rows[0]["valid_loss"]) == pytest.approx(2.1) and float(rows[0]["valid_loss_min"]) == 2.0
    assert float(rows[0]["valid_loss_max"]) == 2.2
    low, high = json.loads(rows[1]["sstorycloze_ci95"])
    assert low < float(rows[1]["sstorycloze"]) < high
    assert rows[1]["sstorycloze_differs"] == "True" and float(rows[1]["sstorycloze_p"]) < 0.05
    assert float(rows[1]["sstorycloze_difference"]) < -0.2 and rows[0]["sstorycloze_differs"] == ""
    assert (tmp_path / "results/studies/s/plot.svg").read_text().startswith("<?xml")
    assert "| base--x_1 |" in (tmp_path / "results/studies/s/table.md").read_text()


@pytest.mark.slow
def test_a_study_shares_its_variants_upstream_work(tmp_path):
    """A dry run of the demo's initialisation study: one set of speech and units, one packing per seed (both
    variants train on the same data), six trainings, one table; its cost said before it starts."""
    result = snakemake(tmp_path, "-n", "results/studies/demo_init/table.csv")
    jobs = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", result.stdout.split("Job stats:")[1], re.M)
            if m.group(1) != "total"}
    alone = snakemake(tmp_path, "-n", "results/demo/metrics.json")
    demo = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", alone.stdout.split("Job stats:")[1], re.M)
            if m.group(1) != "total"}
    for shared in ("synthesise_shard", "extract_units_shard", "fit_kmeans", "train_demo_text_lm", "train_vocoder"):
        assert jobs[shared] == demo[shared], shared
    assert jobs["pack_chunks"] == 3 and jobs["pretrain"] == 6 and jobs["dpo"] == 6 and jobs["study_table"] == 1
    assert "study demo_init: demo--pretrain_init_random x 3 seed(s)" in result.stderr


@pytest.mark.slow
def test_every_paper_study_is_planned_at_paper_size(tmp_path):
    """The paper's studies on one GPU: each variant a full training, sharing the speech and units of Slam, and
    a variant two studies have in common (section 4.1's base; OPT-350M, SmolLM2-360M and Pythia-410M under
    TWIST) trained once."""
    names = sorted(p.stem for p in (REPO / "config" / "studies").glob("paper_*.yaml"))
    assert {"paper_init", "paper_family", "paper_optimiser", "paper_data", "paper_context_batch", "paper_dpo_share"} <= set(names)
    result = snakemake(tmp_path, "-n", *[f"results/studies/{name}/table.csv" for name in names])
    jobs = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", result.stdout.split("Job stats:")[1], re.M)
            if m.group(1) != "total"}
    studies = load_runs(load_yaml(REPO / "config" / "config.yaml"), REPO).studies
    runs = {v["run"] for name in names for v in studies[name]["variants"]}
    # Figure 2: 4 families x 2 inits; Figure 3: 3 more models; Figure 4: 5 more; Table 9: 3 more; Figure 5: Slam
    # and 3; Table 1: 2 models x with and without diverse and synthetic data
    assert len(runs) == jobs["pretrain"] == 8 + 3 + 5 + 3 + 4 + 8
    assert jobs["study_table"] == len(names)
    assert jobs["dpo"] == 3  # the DPO-share variants that keep DPO; section 4.1 has none
    assert jobs["vad_chunk_shard"] == 1024 + 16  # Libri-Light cut once for all of them, and SWC's articles
    assert jobs["lhotse_shard"] == 16 + 32 and jobs["lhotse_prepare"] == 2  # TED-LIUM and VoxPopuli by lhotse's recipes
    # section 4.1's mix at two contexts, Slam's (Table 1's reference too) and Table 1's three others, each packed
    # once for both of its models
    assert jobs["pack_chunks"] == 2 + 1 + 3
    for source in ("opt_125m", "smollm2_135m", "smollm2_360m", "pythia_160m", "pythia_410m"):
        assert f"study paper_family: slam_4_1--pretrain_base_model_{source} x 1 seed(s): 23.5 GPU-hours" in result.stderr
    assert "study paper_optimiser: slam_4_1--pretrain_lr_scheduler_cosine--pretrain_optimizer_ademamix" in result.stderr
    assert "study paper_dpo_share: slam--pretrain_hours_22.0--dpo_hours_2.0 x 1 seed(s): 24.0 GPU-hours" in result.stderr
    assert "study paper_data: slam_4_2--data_stinystories_0.0 x 1 seed(s): 23.5 GPU-hours" in result.stderr

