"""The configuration: recipes carry the paper's tables, and bad configs stop with one clear line."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import REPO, snakemake

from slamming.workflow.config import ConfigError, load_recipes, load_runs, load_schema, load_yaml, resolve_recipe
from slamming.workflow.config_docs import render


@pytest.fixture(scope="module")
def base_config() -> dict:
    return load_yaml(REPO / "config" / "config.yaml")


@pytest.fixture(scope="module")
def runs(base_config) -> dict:
    return load_runs(base_config, REPO)


def test_every_recipe_is_valid(runs):
    # and each released model of the speech_lms registry is a run of its own, evaluated without training
    # (the studies' variants are runs too: tests/test_studies.py)
    assert {name for name, document in runs.items() if "study" not in document} == {
        "demo", "demo_4_1", "demo_interleaved", "slam", "slam_4_1", "slam_4_2", "slam_interleaved", "slam_paper_steps", "slam_scaled", "slam_large", "twist_350m",
        "eval/slprl_slam", "eval/slprl_slam_scaled"}


def test_an_evaluated_model_is_its_recipes_evaluation_under_its_tokeniser(runs, base_config):
    evaluated, recipe = runs["eval/slprl_slam"], runs["slam"]
    assert evaluated["evaluated_model"] == "slprl_slam" and evaluated["run"]["data"]["dpo"] is None
    assert evaluated["run"]["data"]["benchmarks"] == recipe["run"]["data"]["benchmarks"]
    assert evaluated["run"]["generation"] == recipe["run"]["generation"]
    for name, change, message in (
            ("slam", {}, "a run has this name"),
            ("mine", {"tokeniser": "nope"}, "speech_lms.mine.tokeniser: no tokenisers entry named 'nope'"),
            ("mine", {"evaluate_with": "nope"}, "speech_lms.mine.evaluate_with: 'nope' is not a run")):
        config = copy.deepcopy(base_config)
        config["speech_lms"] = {name: {"checkpoint": "slprl_slam", "tokeniser": "mhubert25hz_km500", **change}}
        with pytest.raises(ConfigError) as raised:
            load_runs(config, REPO)
        assert message in str(raised.value) and "\n" not in str(raised.value)


def test_slam_carries_tables_4_5_and_6(runs):
    run = runs["slam"]["run"]
    pretrain, dpo, generation = run["pretrain"], run["dpo"], run["generation"]
    # Table 4
    assert pretrain["base_model"] == "qwen2_5_0_5b" and pretrain["init"] == "twist"
    assert set(run["data"]["pretrain"]) == {"librilight", "librispeech", "stinystories"}
    assert pretrain["budget"]["hours"] == 23.5
    assert pretrain["rope_theta"] == 10000 and pretrain["context_length"] == 1024
    # Table 4's 8 per device x 16 accumulation = 128 chunks, as the official code cuts and batches them
    assert pretrain["per_device_batch_size"] == 8 and pretrain["global_batch_size"] == 8 * 16 and pretrain["packing"] == "official"
    assert pretrain["learning_rate"] == 1e-3 and pretrain["warmup_ratio"] == 0.01
    assert pretrain["optimizer"] == "adamw" and pretrain["lr_scheduler"] == "cosine"
    assert pretrain["min_learning_rate"] == 5e-5 and pretrain["max_grad_norm"] == 0.5
    assert pretrain["dtype"] == "bfloat16" and pretrain["dropout"] == 0.0
    # Table 5
    assert run["data"]["dpo"] == "spokenswag" and dpo["max_auto_bleu"] == 0.3
    assert dpo["budget"]["hours"] == 0.5 and dpo["rope_theta"] == 10000 and dpo["context_length"] == 1024
    assert dpo["per_device_batch_size"] == 4 and dpo["global_batch_size"] == 4 * 16
    assert dpo["learning_rate"] == 5e-5 and dpo["optimizer"] == "adamw" and dpo["lr_scheduler"] == "inverse_sqrt"
    assert dpo["max_grad_norm"] == 0.5 and dpo["dtype"] == "bfloat16" and dpo["beta"] == 0.1
    assert dpo["warmup_steps"] == 100 and dpo["warmup_ratio"] == 0.0  # the official code's default warmup
    assert pretrain["precision"] == dpo["precision"] == "pure"  # Dtype bfloat16, as the official code trains
    # Table 6
    assert generation["temperature"] == 0.8 and generation["top_k"] == 25
    assert generation["max_new_tokens"] == 150 and generation["repetition_penalty"] == 1.1


def test_scaled_recipes_change_only_what_the_paper_changes(runs):
    slam, scaled, large = (runs[r]["run"] for r in ("slam", "slam_scaled", "slam_large"))
    assert scaled["pretrain"]["gpus"] == 2 and scaled["pretrain"]["global_batch_size"] == 2 * slam["pretrain"]["global_batch_size"]
    assert scaled["dpo"]["budget"]["epochs"] == 2
    assert scaled["pretrain"]["learning_rate"] == slam["pretrain"]["learning_rate"]
    assert large["pretrain"]["base_model"] == "qwen2_5_1_5b"
    assert {**large["pretrain"], "base_model": None} == {**scaled["pretrain"], "base_model": None}


def test_slam_paper_steps_is_slam_bounded_by_the_papers_step_counts(runs):
    slam, steps = runs["slam"]["run"], runs["slam_paper_steps"]["run"]
    assert steps["pretrain"]["budget"] == {**slam["pretrain"]["budget"], "hours": None, "max_steps": 17625}  # Table 4
    assert steps["dpo"]["budget"] == {**slam["dpo"]["budget"], "hours": None, "max_steps": 813}  # Table 5
    for stage in ("pretrain", "dpo"):
        assert {**steps[stage], "budget": None} == {**slam[stage], "budget": None}
    assert {k: v for k, v in steps.items() if k not in ("pretrain", "dpo", "description")} == \
        {k: v for k, v in slam.items() if k not in ("pretrain", "dpo", "description")}


def test_a_recipe_data_mix_replaces_its_base_mix(runs):
    assert runs["demo"]["run"]["data"]["pretrain"] == {"demo_librilight": 1.0, "demo_tinystories": 1.0, "demo_grammar": 1.0}
    assert runs["twist_350m"]["run"]["data"]["pretrain"] == {"librilight": 1.0, "librispeech": 1.0}


def test_config_readme_is_generated_from_the_schema():
    readme = (REPO / "config" / "README.md").read_text()
    assert readme == render(load_schema()), "regenerate: python -m slamming.workflow.config_docs > config/README.md"
    for key in ("sources.<name>.sha256", "voices.<name>.length_scale", "run.pretrain.budget.hours"):
        assert f"`{key}`" in readme


def _error(config: dict) -> str:
    with pytest.raises(ConfigError) as raised:
        load_runs(config, REPO)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_unknown_key_names_the_key_and_the_known_ones(base_config):
    config = copy.deepcopy(base_config)
    config["voices"]["joe"]["lenght_scale"] = 1.2
    message = _error(config)
    assert "voices.joe.lenght_scale: unknown key" in message and "length_scale" in message


def test_wrong_type_names_the_key_and_the_expected_type(base_config):
    config = copy.deepcopy(base_config)
    config["corpora"]["demo_stories"]["synthesise"]["shards"] = "four"
    assert "corpora.demo_stories.synthesise.shards: expected integer, got \"four\"" in _error(config)


def test_missing_value_names_the_key(base_config):
    config = copy.deepcopy(base_config)
    del config["demo_text"]["seed"]
    assert "demo_text.seed: missing value" in _error(config)


def test_source_with_two_origins_is_refused(base_config):
    config = copy.deepcopy(base_config)
    config["sources"]["piper_joe"]["url"] = "https://example.org/x.onnx"
    assert "sources.piper_joe" in _error(config)


def test_a_default_run_that_is_not_a_run_is_refused_in_one_line(base_config):
    config = copy.deepcopy(base_config)
    config["default_runs"] = ["demo", "slamm"]
    with pytest.raises(ConfigError) as raised:
        load_runs(config, REPO)
    assert str(raised.value).startswith("config error: default_runs: 'slamm' is not a run") and "\n" not in str(raised.value)


def test_unknown_voice_reference(base_config):
    config = copy.deepcopy(base_config)
    config["corpora"]["demo_stories"]["synthesise"]["voices"] = ["jim"]
    assert "corpora.demo_stories.synthesise.voices[0]: no voices entry named 'jim'" in _error(config)


def _edited(base_config: dict, edit) -> dict:
    config = copy.deepcopy(base_config)
    edit(config)
    return config


@pytest.mark.parametrize("edit, expected", [
    (lambda c: c["demo_text_lm"].update(num_key_value_heads=3),
     "demo_text_lm.num_key_value_heads: 3 does not divide num_attention_heads 4; choose a divisor of 4"),
    (lambda c: c["demo_text_lm"].update(hidden_size=130), "demo_text_lm.hidden_size: 130 is not a multiple of num_attention_heads 4"),
    (lambda c: c["vocoders"]["demo_vocoder"]["train"].update(upsample_rates=[8, 8, 5, 4]),
     "vocoders.demo_vocoder.train.upsample_rates: their product is 1280, but one 25 Hz frame of demo_mfcc_km100 units is 640"),
    (lambda c: c["vocoders"]["demo_vocoder"]["train"].update(upsample_kernel_sizes=[16, 16, 11]),
     "vocoders.demo_vocoder.train.upsample_kernel_sizes: one per upsample rate (4)"),
    (lambda c: c["audio_checks"]["audio_folder"].update(min_seconds=700.0),
     "audio_checks.audio_folder: min_seconds 700.0 is above max_seconds 600.0"),
    (lambda c: c["corpora"]["demo_stories"].update(audio_checks={"min_seconds": 5.0, "max_seconds": 2.0}),
     "corpora.demo_stories.audio_checks: min_seconds 5.0 is above max_seconds 2.0"),
])
def test_shapes_and_bounds_the_schema_cannot_check_are_refused_before_any_job(base_config, edit, expected):
    assert expected in _error(_edited(base_config, edit))


def test_a_run_whose_dpo_corpus_has_no_pairs_or_whose_benchmark_cannot_be_paired_is_refused(tmp_path, base_config):
    config = dict(base_config, recipes_dir=str(_recipes(tmp_path, mine="base: demo\ndata:\n  dpo: demo_stories\n")))
    assert ("mine.yaml: run.data.dpo: corpus 'demo_stories' has no `pairs` (its table of preference triples), so it cannot "
            "train DPO") in _error(config)
    config = dict(base_config, recipes_dir=str(_recipes(tmp_path / "b", mine="base: demo\ndata:\n  benchmarks:\n"
                                                                          "    sblimp: demo_sstorycloze\n")))
    assert "run.data.benchmarks.sblimp: corpus 'demo_sstorycloze' has no benchmark_pairs.sblimp" in _error(config)


def test_nested_values_from_the_command_line_are_typed_as_the_schema_wants(base_config):
    """`--config 'audio_checks={audio_folder: {min_seconds: 0.1}}'` leaves "0.1" a string: it is read as YAML."""
    config = copy.deepcopy(base_config)
    config["audio_checks"]["audio_folder"].update(min_seconds="0.1", max_seconds="null", reject_silent="false")
    config["demo_text"]["stories"]["train"] = "150"
    config["corpora"]["demo_stories"]["synthesise"]["voices"] = ["joe"]
    runs = load_runs(config, REPO)
    assert config["audio_checks"]["audio_folder"] == {"min_seconds": 0.1, "max_seconds": None, "max_clipped_fraction": 0.001,
                                                      "reject_silent": False}
    assert config["demo_text"]["stories"]["train"] == 150 and runs["demo"]["demo_text"]["stories"]["train"] == 150
    config = copy.deepcopy(base_config)
    config["demo_text"]["stories"]["train"] = "many"  # not a number: still refused, naming the key
    assert 'demo_text.stories.train: expected integer, got "many"' in _error(config)
    config = copy.deepcopy(base_config)
    config["demo_text"]["stories"]["train"] = "true"  # a boolean is not an integer
    assert "demo_text.stories.train: expected integer" in _error(config)


def test_snakemake_takes_a_nested_number_from_config(tmp_path):
    result = snakemake(tmp_path, "-n", "--config", "demo_text={stories: {train: 150, valid: 16}}", check=False)
    assert result.returncode == 0 and "config error" not in result.stderr, result.stderr[-2000:]


def _recipes(tmp_path: Path, **edits) -> Path:
    folder = tmp_path / "recipes"
    shutil.copytree(REPO / "config" / "recipes", folder)
    for name, text in edits.items():
        (folder / f"{name}.yaml").write_text(text)
    return folder


def test_recipe_errors_name_the_recipe_file(tmp_path, base_config):
    config = dict(base_config, recipes_dir=str(_recipes(tmp_path, mine="base: slam\npretrain:\n  learning_rate: fast\n")))
    message = _error(config)
    assert "mine.yaml" in message and "run.pretrain.learning_rate: expected number" in message


def test_recipe_missing_value(tmp_path, base_config):
    recipe = yaml.safe_load((REPO / "config" / "recipes" / "slam.yaml").read_text())
    del recipe["pretrain"]["context_length"]
    config = dict(base_config, recipes_dir=str(_recipes(tmp_path, slam=yaml.safe_dump(recipe))))
    assert "slam.yaml: run.pretrain.context_length: missing value" in _error(config)


def test_recipe_base_cycle(tmp_path):
    folder = _recipes(tmp_path, a="base: b\n", b="base: a\n")
    with pytest.raises(ConfigError, match="form a cycle"):
        resolve_recipe("a", load_recipes(folder))


@pytest.mark.parametrize("override, expected", [
    ("voices:\n  joe:\n    lenght_scale: 1.2\n", "voices.joe.lenght_scale: unknown key"),
    ("demo_text:\n  stories:\n    train: many\n", "demo_text.stories.train: expected integer"),
    ("audio_checks:\n  audio_folder:\n    min_seconds: short\n", "audio_checks.audio_folder.min_seconds: expected number or null"),
    ("audio_checks:\n  librispeech:\n    max_clipped_fraction: 0.001\n",
     "corpora.librispeech.audio_checks: max_clipped_fraction and reject_silent need every file decoded"),
    ("corpora:\n  sblimp:\n    audio_checks: {min_seconds: 0.5}\n", "corpora.sblimp.audio_checks: a benchmark's audio is never checked"),
])
def test_snakemake_stops_with_one_line(tmp_path, override, expected):
    (tmp_path / "bad.yaml").write_text(override)
    result = snakemake(tmp_path, "-n", configfiles=[tmp_path / "bad.yaml"], check=False)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("config error")]
    assert len(errors) == 1 and expected in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def test_snakemake_missing_value_stops_with_one_line(tmp_path):
    recipe = yaml.safe_load((REPO / "config" / "recipes" / "slam.yaml").read_text())
    del recipe["description"]
    folder = _recipes(tmp_path, slam=yaml.safe_dump(recipe))
    (tmp_path / "override.yaml").write_text(f"recipes_dir: {folder}\n")
    result = snakemake(tmp_path, "-n", configfiles=[tmp_path / "override.yaml"], check=False)
    assert result.returncode != 0
    assert "slam.yaml: run.description: missing value" in result.stderr and "Traceback" not in result.stderr


# The JSON Schema keywords config/schema.yaml uses; any other key beside a description is the tail of
# a description cut at a comma inside a YAML flow map ({type: integer, description: Jobs, they ...}).
SCHEMA_KEYWORDS = {"type", "description", "properties", "additionalProperties", "required", "items", "enum", "minimum",
                   "maximum", "exclusiveMinimum", "exclusiveMaximum", "$ref", "$defs", "oneOf", "anyOf", "default",
                   "minItems", "maxItems", "uniqueItems", "minProperties", "pattern", "const", "not", "$schema", "title"}


def test_every_schema_description_is_whole():
    cut = []

    def walk(node, path):
        if isinstance(node, dict):
            if path and path[-1] not in ("properties", "$defs"):
                cut.extend(f"{'.'.join(path)}: {key!r}" for key in node if key not in SCHEMA_KEYWORDS)
            for key, value in node.items():
                walk(value, [*path, str(key)])
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, [*path, str(i)])

    walk(load_schema(), ["schema"])
    assert not cut, "descriptions cut at a comma (quote them): " + "; ".join(cut)


# --- defaults: one home each (run_defaults for a run's settings, the schema's `default` for the rest) ---

def _schema_property_names(node, names=None) -> set[str]:
    names = set() if names is None else names
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            names.update(node["properties"])
        for value in node.values():
            _schema_property_names(value, names)
    elif isinstance(node, list):
        for value in node:
            _schema_property_names(value, names)
    return names


def test_no_code_keeps_a_default_of_a_setting():
    """A setting's default lives in run_defaults or in the schema, never in a `.get("key", default)` of the
    code: the loaded configuration is complete. (`.get("key")` stays for keys whose absence means none.)"""
    import ast

    names = _schema_property_names(load_schema())
    found = []
    for path in sorted((REPO / "slamming").rglob("*.py")) + sorted((REPO / "workflow_scripts").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                    and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant) and node.args[0].value in names
                    and isinstance(node.args[1], ast.Constant) and node.args[1].value is not None):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "give the setting a default in the schema (or run_defaults) and read it as settings[key]: " + "; ".join(found)


DEFAULTS_SCHEMA = {
    "$defs": {
        "entry": {
            "type": "object",
            "properties": {"size": {"type": "integer", "default": 1},
                           "inner": {"type": "object", "default": {}, "properties": {"depth": {"type": "integer", "default": 2}}},
                           "kind": {"enum": ["a", "b"]}},
            "oneOf": [{"properties": {"kind": {"const": "a"}, "speed": {"default": 3}}, "required": ["kind"]},
                      {"properties": {"kind": {"const": "b"}, "volume": {"default": 4}}, "required": ["kind"]}],
        },
    },
    "type": "object",
    "properties": {
        "registry": {"type": "object", "additionalProperties": {"$ref": "#/$defs/entry"}},
        "items": {"type": "array", "items": {"$ref": "#/$defs/entry"}},
        "flag": {"type": "boolean", "default": False},
    },
}


def test_fill_defaults_follows_refs_registries_items_and_only_the_matching_branch():
    from slamming.workflow.config import fill_defaults

    document = {"registry": {"x": {"kind": "a"}, "y": {"kind": "b", "size": 7, "inner": {"depth": 5}}},
                "items": [{"kind": "b"}]}
    assert fill_defaults(document, DEFAULTS_SCHEMA) is document  # in place
    assert document == {
        "flag": False,
        "registry": {"x": {"kind": "a", "size": 1, "inner": {"depth": 2}, "speed": 3},          # a default's own defaults too
                     "y": {"kind": "b", "size": 7, "inner": {"depth": 5}, "volume": 4}},        # given values stay
        "items": [{"kind": "b", "size": 1, "inner": {"depth": 2}, "volume": 4}],
    }
    # Each filled default is a copy: filling one entry never changes another's.
    document["registry"]["x"]["inner"]["depth"] = 9
    assert document["items"][0]["inner"]["depth"] == 2 and DEFAULTS_SCHEMA["$defs"]["entry"]["properties"]["inner"]["default"] == {}


def test_with_defaults_completes_a_section_from_run_defaults_or_the_schema():
    from slamming.workflow.config import with_defaults

    pretrain = with_defaults("run.pretrain", {"dtype": "bfloat16"})
    assert pretrain["precision"] == "pure" and pretrain["packing"] == "official" and pretrain["dtype"] == "bfloat16"
    judge = with_defaults("run.evaluation.judge", {"base_url": "u", "model": "m", "retries": 0})
    assert judge == {"base_url": "u", "model": "m", "retries": 0, "api_key_env": "OPENAI_API_KEY",
                     "timeout_seconds": 60.0, "parallel_requests": 8}
    assert with_defaults("voices.<name>", {"backend": "kokoro", "voice": "af_heart"})["speed"] == 1.0
    assert "speed" not in with_defaults("voices.<name>", {"backend": "piper"})
    assert with_defaults("sources.<name>", {"hub": "a/b", "revision": "main"})["repo_type"] == "model"
    assert "repo_type" not in with_defaults("sources.<name>", {"url": "file:///x", "sha256": "0" * 64})


def test_the_loaded_configuration_and_every_run_are_complete(runs, base_config):
    """load_runs fills the schema's defaults into Snakemake's config (in place) and into every run."""
    assert "units_shards" not in load_yaml(REPO / "config" / "config.yaml")["corpora"]["demo_stories"]
    assert base_config["corpora"]["demo_stories"]["units_shards"] == 1
    assert base_config["corpora"]["librispeech"]["units_shards"] == 32  # a given value stays
    assert base_config["tokenisers"]["demo_mfcc_km100"]["dtype"] == "float32"
    assert base_config["gpu_jobs"] == "auto"
    assert base_config["asr_models"]["whisper_tiny_en"]["strip"] is False
    assert base_config["sources"]["demo_sstorycloze_audio"]["demo"]["pause_seconds"] == 0.4   # storycloze's default
    assert base_config["sources"]["demo_librilight_audio"]["demo"]["pause_seconds"] == 1.5
    assert base_config["demo_text_lm"]["train"]["precision"] == "pure"
    demo = runs["demo"]
    assert demo["corpora"]["demo_sblimp"]["audio_folder"]["valid_fraction"] == 0.0
    assert demo["tokenisers"]["demo_mfcc_km100"]["dtype"] == "float32"
    assert demo["run"]["pretrain"]["packing"] == "official" and demo["run"]["dpo"]["min_learning_rate"] == 0.0
