"""The workflow's plan (slamming/workflow/plan.py, slamming/workflow/paths.py) on the project's own configuration: what
each job reads, writes, is told and asks for, without Snakemake."""

from __future__ import annotations

import copy
import json
import math
import os
import socket

import pytest
from conftest import REPO

from slamming.workflow import paths
from slamming.workflow.config import ConfigError, load_runs, load_yaml
from slamming.workflow.plan import Plan, PlanError, one_of
from slamming.workflow.preflight import before_dag, command_line_takes_lock, command_line_targets


@pytest.fixture(scope="module")
def config():
    return load_yaml(REPO / "config" / "config.yaml")


@pytest.fixture(scope="module")
def plan(config):
    config = copy.deepcopy(config)
    return Plan(config, load_runs(config, REPO))


def test_a_path_is_a_pattern_or_a_file():
    assert paths.manifest("{corpus}") == "results/corpora/{corpus}/manifest.parquet"
    assert paths.manifest("demo_swag") == "results/corpora/demo_swag/manifest.parquet"
    assert paths.units_table("{tokeniser}", "{corpus}").format(tokeniser="t", corpus="c") == paths.units_table("t", "c")
    assert paths.text_file("demo/storycloze") == "results/text/demo/storycloze.parquet"
    assert paths.vocabulary("k") == "results/units/k/vocabulary.json"  # not tokeniser.json beside a tokenizer.json
    assert paths.timings("demo/pretrain") == "timings/demo/pretrain.tsv"


def test_wildcards_match_exactly_the_names():
    import re

    pattern = re.compile(f"^(?:{one_of(['a', 'ab', 'x.y'])})$")
    assert all(pattern.match(name) for name in ("a", "ab", "x.y"))
    assert not any(pattern.match(name) for name in ("b", "xzy", "abc"))
    assert not re.match(f"^(?:{one_of([])})$", "")


def test_a_tokeniser_in_bfloat16_has_artifacts_of_its_own(config):
    config = copy.deepcopy(config)
    config["tokenisers"]["mhubert25hz_km500"]["dtype"] = "bfloat16"
    plan = Plan(config, load_runs(config, REPO))
    assert plan.run_tokeniser("slam") == "mhubert25hz_km500-bf16"
    assert plan.tokeniser("mhubert25hz_km500-bf16") is config["tokenisers"]["mhubert25hz_km500"]
    assert json.loads(plan.encoder_settings("mhubert25hz_km500-bf16"))["dtype"] == "bfloat16"


def test_the_encoder_settings_name_its_model_folder(plan):
    hubert = json.loads(plan.encoder_settings("mhubert25hz_km500"))
    assert hubert == {"encoder": {"hubert": "mhubert_base_25hz", "layer": 11}, "folder": "resources/sources/mhubert_base_25hz",
                      "dtype": "float32"}
    assert json.loads(plan.encoder_settings("demo_mfcc_km100"))["folder"] is None
    assert plan.encoder_files("demo_mfcc_km100") == []
    assert plan.encoder_files("demo_whisper_km100") == ["resources/sources/whisper_tiny_en.json"]
    assert plan.tokenisers_with_kmeans("source") == ["mhubert25hz_km500"]
    assert "demo_mfcc_km100" in plan.tokenisers_with_kmeans("fit")


def test_training_declares_the_arrays_it_reads(plan):
    packed = plan.run_packed_dir("demo")
    assert plan.run_packed_files("demo") == [f"{packed}/{split}_chunk_{array}.npy" for split in ("train", "valid")
                                             for array in ("tokens", "offsets")]


def test_the_first_job_of_every_kind_of_corpus_is_keyed_on_its_sources_contents(plan):
    assert [(name, str(folder), pattern) for name, folder, pattern in plan.data_sources("librilight")] == [
        (name, f"resources/sources/{name}", None) for name in ("librilight_small", "librilight_medium", "librilight_large")]
    librispeech = plan.config["corpora"]["librispeech"]["librispeech"]
    assert [name for name, _, _ in plan.data_sources("librispeech")] == librispeech["train"] + librispeech["valid"]
    for corpus, source in (("stinystories", "stinystories_hub"), ("spokenswag", "spokenswag_hub"), ("salmon", "salmon_hub")):
        assert [name for name, _, _ in plan.data_sources(corpus)] == [source]
    assert plan.data_sources("demo_sblimp")[0][0] == "demo_slm21" and plan.data_sources("demo_sblimp")[0][2] == "syntactic/dev/*.wav"
    assert plan.data_sources("demo_stories") == []  # synthesised: made here, from its text


def test_runs_that_agree_on_their_data_share_its_packing(plan):
    assert plan.run_packed_dir("slam") == plan.run_packed_dir("slam_paper_steps")  # the same mix, other budgets
    assert plan.run_packed_dir("slam") != plan.run_packed_dir("demo")
    assert plan.run_packing_report("demo") == plan.run_packed_dir("demo") + "/packing.json"
    key = plan.run_packed_dir("demo").rsplit("/", 1)[1]
    assert plan.mixes[key]["packing"] == "official" and key in plan.mixes_packed_by("official")
    assert set(plan.mix_units("demo_mfcc_km100", key)) == {"demo_librilight", "demo_tinystories", "demo_grammar"}


def test_a_changed_mix_setting_changes_the_key(plan):
    settings = plan.mix_settings("demo")
    assert Plan.mix_key({**settings, "seed": 1}) != Plan.mix_key(settings)
    assert Plan.mix_key({**settings, "packing": "windows"}) != Plan.mix_key(settings)
    assert Plan.mix_key(dict(reversed(list(settings.items())))) == Plan.mix_key(settings)  # canonical JSON


def test_gpu_jobs_take_a_local_slot_or_ask_slurm(config):
    config = copy.deepcopy(config)
    runs = load_runs(config, REPO)  # fills the config's defaults in place
    local = Plan({**config, "gpu_jobs": "auto"}, runs, nvidia_smi=True)
    assert (local.gpu_slot(), local.gpu_slot(0), local.gpu_gres()) == (1, 0, "")
    cpu_only = Plan({**config, "gpu_jobs": "auto"}, runs, nvidia_smi=False)
    assert cpu_only.gpu_slot() == 0
    cluster = Plan({**config, "gpu_jobs": "yes"}, runs, nvidia_smi=True)
    assert (cluster.gpu_slot(), cluster.gpu_gres(2), cluster.gpu_gres(0)) == (0, "gpu:2", "")


def test_a_training_job_asks_for_its_budget_and_room(plan):
    hours = plan.run("slam")["pretrain"]["budget"]["hours"]
    assert plan.training_runtime("slam", "pretrain") == math.ceil(hours * 60 * 1.05) + 30
    assert plan.training_runtime("slam_paper_steps", "pretrain") == 24 * 60  # steps, not hours: a day
    assert plan.launcher(1) == "python -m" and plan.launcher(2).startswith("torchrun --standalone --nproc_per_node 2")


def test_what_a_run_trains_and_evaluates(plan):
    assert plan.training_stages("slam") == ["pretrained", "dpo"] and plan.final_model("slam") == "results/models/slam/dpo"
    assert plan.training_stages("twist_350m") == ["pretrained"]
    assert plan.final_model("twist_350m") == "results/models/twist_350m/pretrained"
    with pytest.raises(PlanError, match="twist_350m.*no DPO corpus"):
        plan.dpo_inputs("twist_350m")
    assert plan.dpo_inputs("demo") == {"units": "results/units/demo_mfcc_km100/demo_swag/units.parquet",
                                       "pairs": paths.text_file(plan.config["corpora"]["demo_swag"]["pairs"])}
    assert plan.prompt_pairs("demo") == "results/benchmarks/demo_sstorycloze/sstorycloze/pairs.parquet"
    assert "demo_librilight" in plan.run_corpora("demo") and "demo_sblimp" in plan.run_corpora("demo")
    timings = plan.run_timings("demo")
    assert "timings/demo/pretrain.tsv" in timings and "timings/demo/eval_sblimp.tsv" in timings
    assert "timings/demo/generation/generate.tsv" in timings
    assert "timings/demo/judge.tsv" not in timings and plan.judge_outputs("demo") == []


def test_out_of_domain_prompts_are_a_second_generation(plan):
    """The paper's appendix D.3: GenPPL from People's Speech's test prompts, beside the sStoryCloze ones."""
    assert plan.generations("slam") == ["generation", "generation_ood"] and plan.generations("demo") == ["generation"]
    assert plan.prompt_pairs("slam", "generation_ood") == paths.manifest("peoples_speech_test")
    assert plan.out_of_domain_outputs("slam") == ["results/slam/generation_ood/scores.json"]
    assert plan.out_of_domain_outputs("demo") == []
    assert "timings/slam/generation_ood/generate.tsv" in plan.run_timings("slam")
    assert plan.config["sources"]["peoples_speech_hub"]["revision"] == "8d77a944269cf6ba8bb86551b491a526c530380d"


def test_the_mos_proxy_is_off_unless_a_recipe_names_its_predictor(plan, config):
    assert plan.mos_outputs("slam") == []
    config = copy.deepcopy(config)
    config["run_defaults"]["evaluation"]["mos"] = "ssl_mos_w2vsmall"
    plan = Plan(config, load_runs(config, REPO))
    assert plan.mos_outputs("slam") == ["results/slam/generation/mos.json"] and "timings/slam/mos.tsv" in plan.run_timings("slam")
    config["run_defaults"]["evaluation"]["mos"] = "no_such_source"
    with pytest.raises(ConfigError, match="evaluation.mos: 'no_such_source' is not a source"):
        load_runs(config, REPO)


def test_how_a_training_runs_is_not_what_it_computes(plan):
    """The settings Snakemake compares leave out the checkpoint interval, reporting and kernels; the stage
    still gets them all."""
    compared, given = (json.loads(plan.training_settings("slam", "pretrain")),
                       json.loads(plan.stage_settings("slam", "pretrain")))
    assert {"checkpoint_every_minutes", "report_to", "compile", "attention"} <= given.keys()
    assert not {"checkpoint_every_minutes", "report_to", "compile", "attention"} & compared.keys()
    assert compared == {k: v for k, v in given.items() if k in compared} and "learning_rate" in compared


def test_the_speech_lm_settings_come_from_the_recipe(plan):
    settings = json.loads(plan.speech_lm_settings("slam"))
    pretrain = plan.run("slam")["pretrain"]
    assert settings["init"] == pretrain["init"] and settings["rope_theta"] == pretrain["rope_theta"]
    assert settings["seed"] == plan.run("slam")["seed"] and settings["fresh_embeddings"] is False


def test_each_benchmark_says_how_its_pairs_are_made(plan):
    gold = json.loads(plan.pairing("sblimp", "sblimp"))
    assert gold == {"gold_csv": "resources/sources/slm21/syntactic/dev/gold.csv", "official": True}
    assert plan.is_official("sblimp", "sblimp") and not plan.is_official("demo_sblimp", "sblimp")
    by_name = json.loads(plan.pairing("demo_sstorycloze", "sstorycloze"))
    assert set(by_name["by_file_name"]) == {"positive", "negative"} and by_name["official"] is False
    with pytest.raises(PlanError, match="benchmark_pairs has no 'sblimp'"):
        plan.pair_settings("demo_sstorycloze", "sblimp")
    assert plan.run_pairs("slam", "sblimp") == paths.pairs_file("sblimp", "sblimp")


def test_a_trained_vocoder_and_a_checked_pickle(plan):
    trained = json.loads(plan.vocoder_settings("demo"))
    assert trained == {"checkpoint": "results/vocoders/demo_vocoder/generator.safetensors",
                       "config": "results/vocoders/demo_vocoder/config.json", "sha256": None}
    assert plan.trained_vocoder_report("demo") == ["results/vocoders/demo_vocoder/resynthesis.json"]
    published = json.loads(plan.vocoder_settings("slam"))
    assert published["sha256"] == plan.config["sources"]["twist_vocoder"]["sha256"]
    assert published["checkpoint"].startswith("resources/sources/twist_vocoder/")
    assert plan.vocoder_files("slam") == ["resources/sources/twist_vocoder.json", "resources/sources/twist_vocoder_config.json"]
    assert plan.trained_vocoder_report("slam") == []


def test_corpora_in_shards_and_what_they_are_cut_from(plan):
    shards = plan.config["corpora"]["demo_stories"]["synthesise"]["shards"]
    assert plan.corpus_shards("demo_stories") == [paths.corpus_shard("demo_stories", i) for i in range(shards)]
    assert plan.rejected_before_shards("demo_librilight") == ["results/corpora/demo_librilight/recordings.rejected.parquet"]
    assert plan.rejected_before_shards("demo_stories") == []
    assert set(plan.sharded) >= {"demo_stories", "demo_librilight", "demo_tinystories"}
    assert "demo_sblimp" in plan.corpora_of_kind("audio_folder") and "demo_sblimp" not in plan.sharded
    # the vocoder's corpus (and the k-means') is made first
    assert plan.corpus_priority("demo_stories") == 1 and plan.corpus_priority("demo_swag") == 0
    assert json.loads(plan.audio_checks("demo_sblimp")) == {}  # a benchmark's audio is never checked


def test_a_judge_key_plans_the_judge_again(config):
    config = copy.deepcopy(config)
    config["run_defaults"]["evaluation"]["judge"] = {"base_url": "http://localhost:1", "model": "m", "api_key_env": "KEY"}
    plan = Plan(config, load_runs(config, REPO))
    assert plan.judge_outputs("demo") == ["results/demo/generation/judge.json"]
    assert "timings/demo/judge.tsv" in plan.run_timings("demo")
    assert plan.judge_key_present("demo", environ={}) is False
    assert plan.judge_key_present("demo", environ={"KEY": "x"}) is True


def test_the_table_across_runs_lists_what_exists_and_what_is_asked(plan):
    assert plan.metrics_runs([], made=lambda path: False) == ["results/demo/metrics.json"]
    made = {"results/slam/metrics.json"}
    assert plan.metrics_runs(["results/twist_350m/metrics.json"], made=made.__contains__) == [
        "results/slam/metrics.json", "results/twist_350m/metrics.json"]
    assert plan.metrics_runs(["results/nope/metrics.json"], made=lambda path: False) == []


def test_the_default_target_makes_the_default_runs_models_too(config):
    config = copy.deepcopy(config)
    config["default_runs"] = ["demo", "slam"]
    plan = Plan(config, load_runs(config, REPO))
    targets = plan.default_targets()
    assert "results/metrics.csv" in targets and "results/slam/metrics.json" in targets
    # a deleted model is a missing target: Snakemake trains it again, and what reads it re-runs
    assert {"results/models/demo/pretrained/model.safetensors", "results/models/demo/dpo/model.safetensors",
            "results/models/slam/dpo/config.json", "results/vocoders/demo_vocoder/generator.safetensors"} <= set(targets)
    assert plan.metrics_runs([], made=lambda path: False) == ["results/demo/metrics.json", "results/slam/metrics.json"]


def test_before_the_dag_an_unknown_run_stops_and_a_stale_lock_goes(tmp_path):
    error, note = before_dag(["results/slamm/metrics.json"], {"slam": {}, "demo": {}}, tmp_path)
    assert error.startswith("error: results/slamm/metrics.json: there is no run 'slamm'") and note is None
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("x")
    (tmp_path / ".snakemake" / "lock_owner.json").write_text(json.dumps({"host": socket.gethostname(), "pid": 2**22 + 7}))
    assert before_dag(["results/slam/metrics.json"], {"slam": {}}, tmp_path) == (
        None, "removed the lock of a snakemake that no longer runs here (it was killed)")
    assert not locks.exists()
    owner = json.loads((tmp_path / ".snakemake" / "lock_owner.json").read_text())  # this run's, for the next to read
    assert owner["host"] == socket.gethostname() and owner["pid"] == os.getpid()


def test_the_targets_come_from_snakemakes_command_line():
    assert command_line_targets(["/x/bin/snakemake", "--cores", "2", "results/demo/metrics.json"]) == ["results/demo/metrics.json"]
    assert command_line_targets(["/x/bin/python", "-m", "pytest"]) == []
    assert command_line_targets([]) == []
    assert command_line_takes_lock(["/x/bin/snakemake", "--cores", "2"])
    assert not command_line_takes_lock(["/x/bin/snakemake", "-n", "--cores", "2"])
    assert not command_line_takes_lock(["/x/bin/snakemake", "--unlock"])
    assert not command_line_takes_lock(["/x/bin/snakemake", "--nolock", "--cores", "2"])
    assert not command_line_takes_lock(["/x/bin/python", "-m", "pytest"])


def test_every_rule_has_a_log_its_stage_writes():
    """One logging convention: each rule's stage is told its log with --log-file (never a shell redirect)."""
    import re

    text = "".join(path.read_text() for path in sorted((REPO / "rules").glob("*.smk")))
    rules = re.split(r"^rule ", text, flags=re.M)[1:]
    assert len(rules) > 40
    for rule in rules:
        name = rule.split(":", 1)[0]
        assert "\n    log:\n" in rule and "--log-file {log}" in rule, name
        assert "> {log}" not in rule and "2>&1" not in rule, name


def test_the_library_imports_run_one_way_along_the_pipeline():
    """slamming/ is grouped by the pipeline's parts; a part imports only the parts before it (and the
    shared logs.py and artifacts.py), so the folder tree reads in the order the workflow runs."""
    import ast

    order = ["data", "units", "training", "evaluation", "workflow"]
    backwards = []
    for path in sorted((REPO / "slamming").rglob("*.py")):
        parts = path.relative_to(REPO / "slamming").parts
        if len(parts) < 2:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for module in modules:
                names = module.split(".")
                if names[0] == "slamming" and len(names) > 2 and names[1] in order \
                        and order.index(names[1]) > order.index(parts[0]):
                    backwards.append(f"{path.relative_to(REPO)} imports {module}")
    assert set(order) == {p.name for p in (REPO / "slamming").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert not backwards, backwards


def test_a_packed_array_truncated_with_its_time_put_back_stops_the_plan(plan, tmp_path, monkeypatch):
    """Snakemake sees times, not contents: the plan compares each packed array's size with packing.json."""
    monkeypatch.chdir(tmp_path)
    report = tmp_path / plan.run_packing_report("demo")
    report.parent.mkdir(parents=True)
    array = report.parent / "train_chunk_tokens.npy"
    array.write_bytes(b"x" * 100)
    report.write_text(json.dumps({"files": {"train_chunk_tokens.npy": {"bytes": 100, "sha256": "-"}}}))
    assert plan.packed_arrays_problem([]) is None and plan.packed_arrays_problem(["results/demo/metrics.json"]) is None
    stat = array.stat()
    array.write_bytes(b"x" * 50)
    os.utime(array, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    problem = plan.packed_arrays_problem(["results/demo/metrics.json"])
    assert problem.startswith(f"error: {report.parent.relative_to(tmp_path)}/train_chunk_tokens.npy has 50 bytes where")
    assert f"snakemake -f {plan.run_packing_report('demo')}" in problem and "\n" not in problem
    assert plan.packed_arrays_problem(["results/slam/metrics.json"]) is None  # another run's arrays: not this call's


def test_an_evaluated_models_targets_name_its_run():
    from slamming.workflow.preflight import unknown_run

    runs = {"slam": {}, "eval/slprl_slam": {}}
    for target in ("results/eval/slprl_slam/metrics.json", "results/models/eval/slprl_slam/evaluated/model.safetensors",
                   "results/models/slam/dpo/model.safetensors", "results/comparisons.csv",
                   "results/alignments/tts/demo_stories.parquet"):  # shared by runs, as the units are
        assert unknown_run([target], runs) is None, target
    assert "there is no run 'eval/nope'" in unknown_run(["results/models/eval/nope/evaluated/config.json"], runs)
