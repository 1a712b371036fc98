"""Load, merge and validate the workflow's configuration.

The configuration has two layers:

* ``config/config.yaml``: the defaults, the registries of named sources, voices and corpora, and
  ``run_defaults``, the settings every run starts from;
* ``config/recipes/<run>.yaml``: one file per run (recipe). A recipe may name another with ``base:``
  and then holds only what differs from it.

Everything is checked against ``config/schema.yaml`` (JSON Schema) before any job starts; a problem
is reported as one line that names the file, the key and what is expected.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

# The schema machinery is its own module (stages import it alone); these names are also used from here.
from slamming.workflow.schema import (ConfigError, deep_merge, fill_defaults, load_schema, load_yaml,  # noqa: F401
                                      typed_scalars, validate, with_defaults)


# The text LM the workflow trains itself (the config's demo_text_lm section): a run may name it
# wherever it names a text LM (its base model, its GenPPL scorer, its text topline) instead of a source.
WORKFLOW_TEXT_LM = "demo_text_lm"

# The parts of the schema that describe a run: run_defaults may leave their required values to recipes.
RUN_DEFINITIONS = ("run", "pretrain", "dpo", "generation", "budget")


def _without_required(node):
    """``node`` with every ``required`` list dropped."""
    if isinstance(node, dict):
        return {k: _without_required(v) for k, v in node.items() if k != "required"}
    if isinstance(node, list):
        return [_without_required(v) for v in node]
    return node


def load_recipes(recipes_dir: str | Path) -> dict[str, tuple[dict, Path]]:
    recipes_dir = Path(recipes_dir)
    if not recipes_dir.is_dir():
        raise ConfigError(f"config error: recipes_dir: folder {recipes_dir} not found; point recipes_dir at the folder of <run>.yaml files")
    return {p.stem: (load_yaml(p), p) for p in sorted(recipes_dir.glob("*.yaml"))}


def resolve_recipe(name: str, recipes: dict[str, tuple[dict, Path]], seen: tuple = ()) -> dict:
    """The recipe ``name`` with its chain of ``base:`` recipes merged underneath it."""
    recipe, path = recipes[name]
    if not isinstance(recipe, dict):
        raise ConfigError(f"config error in {path}: (top level): expected a mapping of settings")
    base = recipe.get("base")
    body = {k: v for k, v in recipe.items() if k != "base"}
    if base is None:
        return body
    if base in seen or base == name:
        raise ConfigError(f"config error in {path}: base: recipes {' -> '.join(seen + (name, base))} form a cycle")
    if base not in recipes:
        raise ConfigError(f"config error in {path}: base: no recipe named {base!r} (expected one of: {', '.join(sorted(recipes))})")
    merged = deep_merge(resolve_recipe(base, recipes, seen + (name,)), body)
    # A data mix and a set of benchmarks are each one choice, not a set of settings: a recipe's
    # replaces its base's whole (the demo does not inherit the full recipe's benchmarks).
    for choice in ("pretrain", "benchmarks"):
        if choice in body.get("data", {}):
            merged["data"][choice] = copy.deepcopy(body["data"][choice])
    return merged


def check_references(document: dict, origin: str) -> None:
    """Names that must point at entries of the registries (sources, voices, corpora)."""
    sources = document.get("sources", {})
    voices = document.get("voices", {})
    corpora = document.get("corpora", {})

    def need(name, registry, registry_name, key):
        if name not in registry:
            raise ConfigError(
                f"config error in {origin}: {key}: no {registry_name} entry named {name!r} "
                f"(expected one of: {', '.join(sorted(registry)) or 'none defined'})"
            )

    for name, voice in voices.items():
        need(voice["model"], sources, "sources", f"voices.{name}.model")
    tokenisers = document.get("tokenisers", {})
    for name, source in sources.items():
        if "demo" in source:
            need(source["demo"]["corpus"], corpora, "corpora", f"sources.{name}.demo.corpus")
    for name, tokeniser in tokenisers.items():
        for kind in ("hubert", "whisper"):
            if kind in tokeniser["encoder"]:
                need(tokeniser["encoder"][kind], sources, "sources", f"tokenisers.{name}.encoder.{kind}")
        if "source" in tokeniser["kmeans"]:
            need(tokeniser["kmeans"]["source"], sources, "sources", f"tokenisers.{name}.kmeans.source")
            if "sha256" not in sources[tokeniser["kmeans"]["source"]]:
                raise ConfigError(f"config error in {origin}: tokenisers.{name}.kmeans.source: a k-means pickle must be "
                                  "a url source with its sha256 (it is opened only after the checksum matches)")
        for i, corpus in enumerate(tokeniser["kmeans"].get("fit", {}).get("corpora", [])):
            need(corpus, corpora, "corpora", f"tokenisers.{name}.kmeans.fit.corpora[{i}]")
    vocoders, asr_models = document.get("vocoders", {}), document.get("asr_models", {})
    for name, vocoder in vocoders.items():
        need(vocoder["tokeniser"], tokenisers, "tokenisers", f"vocoders.{name}.tokeniser")
        for key in ("checkpoint", "config"):
            if key in vocoder:
                need(vocoder[key], sources, "sources", f"vocoders.{name}.{key}")
        if "checkpoint" in vocoder and "sha256" not in sources[vocoder["checkpoint"]]:
            raise ConfigError(f"config error in {origin}: vocoders.{name}.checkpoint: a pickled checkpoint must be a url "
                              "source with its sha256 (it is opened only after the checksum matches)")
        if "train" in vocoder:
            need(vocoder["train"]["corpus"], corpora, "corpora", f"vocoders.{name}.train.corpus")
            need(vocoder["train"]["asr"], asr_models, "asr_models", f"vocoders.{name}.train.asr")
    for name, asr in asr_models.items():
        need(asr["model"], sources, "sources", f"asr_models.{name}.model")
    for name, corpus in corpora.items():
        if "synthesise" in corpus:
            for i, voice in enumerate(corpus["synthesise"]["voices"]):
                need(voice, voices, "voices", f"corpora.{name}.synthesise.voices[{i}]")
        if "audio_folder" in corpus:
            need(corpus["audio_folder"]["source"], sources, "sources", f"corpora.{name}.audio_folder.source")
        for kind in ("hub_audio", "hub_triples", "hub_pairs"):
            if kind in corpus:
                need(corpus[kind]["source"], sources, "sources", f"corpora.{name}.{kind}.source")
        if "librispeech" in corpus:
            for split in ("train", "valid"):
                for i, source in enumerate(corpus["librispeech"][split]):
                    need(source, sources, "sources", f"corpora.{name}.librispeech.{split}[{i}]")
        if "librilight" in corpus:
            for i, source in enumerate(corpus["librilight"]["sources"]):
                need(source, sources, "sources", f"corpora.{name}.librilight.sources[{i}]")
            need(corpus["librilight"]["vad_model"], sources, "sources", f"corpora.{name}.librilight.vad_model")
        if "source" in corpus.get("lhotse", {}):
            need(corpus["lhotse"]["source"], sources, "sources", f"corpora.{name}.lhotse.source")


# The methods that make a corpus: each corpus has exactly one.
CORPUS_KINDS = ("synthesise", "audio_folder", "librispeech", "librilight", "hub_audio", "hub_triples", "hub_pairs", "lhotse")
# Corpus kinds whose manifest reads file headers only (too large to decode twice): their samples are
# not measured, so a check on the samples cannot run there.
HEADER_ONLY_KINDS = ("librispeech",)


def corpus_kind(corpus: dict) -> str:
    """The method that makes a corpus (a key of its config entry)."""
    return next(kind for kind in CORPUS_KINDS if kind in corpus)


def corpus_audio_checks(config: dict, name: str) -> dict:
    """The audio checks of corpus ``name``: its kind's, with its own merged over them. A benchmark's
    audio is never checked: each of its pairs must be scored as published."""
    corpus = config["corpora"][name]
    if "benchmark_pairs" in corpus:
        return {}
    return {**config["audio_checks"][corpus_kind(corpus)], **corpus.get("audio_checks", {})}


def _bounds_problem(checks: dict) -> str | None:
    low, high = checks.get("min_seconds"), checks.get("max_seconds")
    if low is not None and high is not None and low > high:
        return f"min_seconds {low} is above max_seconds {high}, so every file would be rejected; make min_seconds the smaller"
    return None


def check_audio_checks(config: dict, origin: str) -> None:
    for kind, checks in config.get("audio_checks", {}).items():
        problem = _bounds_problem(checks)
        if problem:
            raise ConfigError(f"config error in {origin}: audio_checks.{kind}: {problem}")
    for name, corpus in config.get("corpora", {}).items():
        if "benchmark_pairs" in corpus and "audio_checks" in corpus:
            raise ConfigError(f"config error in {origin}: corpora.{name}.audio_checks: a benchmark's audio is never checked "
                              "(every pair is scored as published); remove audio_checks")
        checks = corpus_audio_checks(config, name)
        problem = _bounds_problem(checks)
        if problem:  # the kind's bounds are whole (above): one of the corpus's own is out of order
            raise ConfigError(f"config error in {origin}: corpora.{name}.audio_checks: {problem}")
        if corpus_kind(corpus) in HEADER_ONLY_KINDS and (checks.get("max_clipped_fraction") is not None or checks.get("reject_silent")):
            raise ConfigError(f"config error in {origin}: corpora.{name}.audio_checks: max_clipped_fraction and reject_silent "
                              f"need every file decoded, and a {corpus_kind(corpus)} manifest reads headers only; set them "
                              "null and false")


# A unit vocoder turns one frame of units into this many samples at 16 kHz (25 Hz units); HuBERT
# tokenisers say their own rate in the model's config, read when the vocoder trains.
SAMPLES_PER_25HZ_FRAME = 640


def check_models(config: dict, origin: str) -> None:
    """Model shapes the schema cannot check, refused before any job instead of by the job that builds them."""
    lm = config.get(WORKFLOW_TEXT_LM)
    if lm:
        heads, kv_heads = lm["num_attention_heads"], lm["num_key_value_heads"]
        if heads % kv_heads:
            raise ConfigError(f"config error in {origin}: {WORKFLOW_TEXT_LM}.num_key_value_heads: {kv_heads} does not divide "
                              f"num_attention_heads {heads}; choose a divisor of {heads}")
        if lm["hidden_size"] % heads:
            raise ConfigError(f"config error in {origin}: {WORKFLOW_TEXT_LM}.hidden_size: {lm['hidden_size']} is not a multiple "
                              f"of num_attention_heads {heads}")
    for name, vocoder in config.get("vocoders", {}).items():
        train, tokeniser = vocoder.get("train"), config.get("tokenisers", {}).get(vocoder["tokeniser"], {})
        if not train or "hubert" in tokeniser.get("encoder", {}):
            continue
        if math.prod(train["upsample_rates"]) != SAMPLES_PER_25HZ_FRAME:
            raise ConfigError(f"config error in {origin}: vocoders.{name}.train.upsample_rates: their product is "
                              f"{math.prod(train['upsample_rates'])}, but one 25 Hz frame of {vocoder['tokeniser']} units is "
                              f"{SAMPLES_PER_25HZ_FRAME} samples at 16 kHz (for example [8, 8, 5, 2])")
        if len(train["upsample_kernel_sizes"]) != len(train["upsample_rates"]):
            raise ConfigError(f"config error in {origin}: vocoders.{name}.train.upsample_kernel_sizes: one per upsample rate "
                              f"({len(train['upsample_rates'])})")


def unresolved_run_references(document: dict) -> list[str]:
    """What a run names that the configuration does not define."""
    corpora = document.get("corpora", {})
    data = document["run"]["data"]
    problems = []
    if document["run"]["tokeniser"] not in document.get("tokenisers", {}):
        problems.append(f"tokeniser: no tokenisers entry named {document['run']['tokeniser']!r} "
                        f"(expected one of: {', '.join(sorted(document.get('tokenisers', {})))})")
    evaluation = document["run"]["evaluation"]
    vocoder = document.get("vocoders", {}).get(evaluation["vocoder"])
    if vocoder is None:
        problems.append(f"evaluation.vocoder: no vocoders entry named {evaluation['vocoder']!r}")
    elif vocoder["tokeniser"] != document["run"]["tokeniser"]:
        problems.append(f"evaluation.vocoder: {evaluation['vocoder']!r} speaks {vocoder['tokeniser']} units, "
                        f"not the run's {document['run']['tokeniser']}")
    if evaluation["asr"] not in document.get("asr_models", {}):
        problems.append(f"evaluation.asr: no asr_models entry named {evaluation['asr']!r}")
    if evaluation.get("mos") and evaluation["mos"] not in document.get("sources", {}):
        problems.append(f"evaluation.mos: {evaluation['mos']!r} is not a source (the MOS predictor's checkpoint, e.g. ssl_mos_w2vsmall)")
    for key in ("scorer", "text_topline"):
        name = evaluation.get(key)
        if name and name != WORKFLOW_TEXT_LM and name not in document.get("sources", {}):
            problems.append(f"evaluation.{key}: {name!r} is neither {WORKFLOW_TEXT_LM} nor a source")
    base = document["run"]["pretrain"]["base_model"]
    if base != WORKFLOW_TEXT_LM and base not in document.get("sources", {}):
        problems.append(f"pretrain.base_model: {base!r} is neither {WORKFLOW_TEXT_LM} nor a source")
    named = [(f"data.pretrain.{name}", name) for name, weight in data["pretrain"].items() if weight > 0]
    if data.get("dpo"):
        named.append(("data.dpo", data["dpo"]))
    named += [(f"data.benchmarks.{name}", corpus) for name, corpus in data.get("benchmarks", {}).items()]
    if evaluation.get("out_of_domain_prompts"):
        named.append(("evaluation.out_of_domain_prompts", evaluation["out_of_domain_prompts"]))
    problems += [f"{key}: no corpora entry named {name!r} (define it under corpora in config/config.yaml)"
                 for key, name in named if name not in corpora]
    if data.get("dpo") in corpora and not corpora[data["dpo"]].get("pairs"):
        problems.append(f"data.dpo: corpus {data['dpo']!r} has no `pairs` (its table of preference triples), so it cannot "
                        "train DPO; name a corpus with pairs (as spokenswag) or set data.dpo: null")
    interleaving = document["run"].get("interleaving")
    if document["run"]["generation"].get("prompt_modality") == "text" and not interleaving:
        problems.append("generation.prompt_modality: text prompts need an interleaved run (interleaving); set it to speech")
    if document["run"]["generation"].get("prompt_modality") == "text" and evaluation.get("mos"):
        problems.append("evaluation.mos: text prompts have no spoken prompt to resynthesise and rate; set evaluation.mos: null "
                        "or generation.prompt_modality: speech")
    if evaluation.get("cross_modal"):
        if not interleaving:
            problems.append("evaluation.cross_modal: only an interleaved run (interleaving) has text to score; set it to null")
        elif "audio_folder" not in corpora.get(evaluation["cross_modal"], {}):
            problems.append(f"evaluation.cross_modal: {evaluation['cross_modal']!r} is not an audio_folder corpus "
                            "(cross-modal StoryCloze's <n>_mutual / _correct / _incorrect .wav and .txt files)")
    if interleaving:
        for corpus, aligner in interleaving["corpora"].items():
            if corpus not in corpora:
                problems.append(f"interleaving.corpora.{corpus}: no corpora entry named {corpus!r}")
            elif aligner == "tts" and "synthesise" not in corpora[corpus]:
                problems.append(f"interleaving.corpora.{corpus}: tts alignments are made only for a corpus the workflow "
                                "synthesises; align it with an asr_models entry (e.g. whisper_large_v3_turbo)")
            elif aligner != "tts" and aligner not in document.get("asr_models", {}):
                problems.append(f"interleaving.corpora.{corpus}: {aligner!r} is neither tts nor an asr_models entry")
        problems += [f"interleaving.text.{name}: no text_corpora entry named {name!r}"
                     for name in interleaving["text"] if name not in document.get("text_corpora", {})]
    for benchmark, name in data.get("benchmarks", {}).items():
        if name in corpora and benchmark not in corpora[name].get("benchmark_pairs", {}):
            problems.append(f"data.benchmarks.{benchmark}: corpus {name!r} has no benchmark_pairs.{benchmark} (how its "
                            f"utterances pair up), so it cannot be scored as {benchmark}")
    return problems


def check_run(run: dict) -> list[str]:
    """What the schema cannot say about a run's settings, found before any job instead of at the
    training job hours later."""
    problems = []
    if not any(weight > 0 for weight in run["data"]["pretrain"].values()):
        problems.append("data.pretrain: every corpus has weight 0; give at least one a weight above 0")
    for stage in ("pretrain", "dpo"):
        section = run[stage]
        per_step = section["per_device_batch_size"] * section["gpus"]
        if section["global_batch_size"] % per_step:
            problems.append(f"{stage}.global_batch_size: {section['global_batch_size']} is not a multiple of per_device_batch_size "
                            f"{section['per_device_batch_size']} x gpus {section['gpus']} = {per_step}; make it "
                            f"{per_step * max(1, round(section['global_batch_size'] / per_step))}")
        if all(section["budget"].get(limit) is None for limit in ("hours", "max_tokens", "epochs", "max_steps", "max_flops", "flops_of")):
            problems.append(f"{stage}.budget: every limit is null; set at least one of hours, max_tokens, epochs, max_steps, "
                            "max_flops, flops_of")
        if section["lr_scheduler"] == "inverse_sqrt" and section.get("warmup_ratio"):
            problems.append(f"{stage}.warmup_ratio: inverse_sqrt warms up by steps (as Hugging Face's); set warmup_steps "
                            "and warmup_ratio: 0")
    if run["dpo"]["budget"].get("flops_of"):
        problems.append("dpo.budget.flops_of: only pretraining's budget can be another run's FLOPs; set max_flops or steps")
    return problems


def check_equal_compute(runs: dict[str, dict]) -> None:
    """A budget's flops_of and an interleaving's compare_with name runs that train, and never the run itself."""
    for name, document in runs.items():
        run = document["run"]
        other = run["pretrain"]["budget"].get("flops_of")
        if other and (other == name or other not in runs or document.get("evaluated_model")):
            raise ConfigError(f"config error: config/recipes/{name}.yaml: pretrain.budget.flops_of: {other!r} is "
                              f"{'the run itself' if other == name else 'not a run'}; name the run whose pretraining's FLOPs "
                              f"this one spends (one of: {', '.join(sorted(n for n in runs if n != name))})")
        if other and runs[other]["run"]["pretrain"]["budget"].get("flops_of"):
            raise ConfigError(f"config error: config/recipes/{name}.yaml: pretrain.budget.flops_of: {other!r} takes its own "
                              "budget from another run; name a run with a budget of its own")
        compared = (run.get("interleaving") or {}).get("compare_with")
        if compared and (compared == name or compared not in runs):
            raise ConfigError(f"config error: config/recipes/{name}.yaml: interleaving.compare_with: {compared!r} is not "
                              "another run; name the speech-only run to compare with")


EVALUATED = "eval"  # results/eval/<name>/: the speech LMs of the speech_lms registry, evaluated without training


def evaluation_runs(config: dict, runs: dict[str, dict]) -> dict[str, dict]:
    """A run ``eval/<name>`` for each speech LM of the registry: the recipe ``evaluate_with``'s evaluation
    (benchmarks, generation, judge) of the model under the registry's tokeniser, with no training. Its
    document says ``evaluated_model: <name>``."""
    where = "config/config.yaml (with any --configfile/--config): speech_lms"
    evaluated = {}
    for name, entry in config["speech_lms"].items():
        if name in runs:
            raise ConfigError(f"config error: {where}.{name}: a run has this name (config/recipes/{name}.yaml); give the "
                              "evaluated model another, so results/eval/<name> and results/<run> are never confused")
        for key, registry in (("checkpoint", "sources"), ("tokeniser", "tokenisers"), ("vocoder", "vocoders")):
            if entry[key] is not None and entry[key] not in config[registry]:
                raise ConfigError(f"config error: {where}.{name}.{key}: no {registry} entry named {entry[key]!r}")
        if entry["evaluate_with"] not in runs:
            raise ConfigError(f"config error: {where}.{name}.evaluate_with: {entry['evaluate_with']!r} is not a run; "
                              f"name one of {', '.join(sorted(runs))}")
        document = copy.deepcopy(runs[entry["evaluate_with"]])
        run = document["run"]
        run["tokeniser"], run["description"] = entry["tokeniser"], entry["description"] or f"{name}, evaluated"
        run["data"]["dpo"] = None
        run["seeds"] = None  # one model, evaluated once
        if entry["vocoder"]:
            run["evaluation"]["vocoder"] = entry["vocoder"]
        document["evaluated_model"] = name
        evaluated[f"{EVALUATED}/{name}"] = document
    return evaluated


def seeded_run(recipe: str, seed: int, own_seed: int) -> str:
    """The run that trains ``recipe`` under ``seed``: the recipe's own run for its own seed, else <recipe>_seed<k>."""
    return recipe if seed == own_seed else f"{recipe}_seed{seed}"


def seeded_runs(runs: dict[str, dict]) -> dict[str, dict]:
    """For each recipe with ``seeds``, a run per seed other than its own: the same document but for its seed.
    Each says ``seeded_from: <recipe>``; the recipe's own run keeps ``seeds``, which names the whole set."""
    seeded = {}
    for name, document in runs.items():
        run = document["run"]
        for seed in run.get("seeds") or ():
            member = seeded_run(name, seed, run["seed"])
            if member == name:
                continue
            if member in runs:
                raise ConfigError(f"config error: config/recipes/{name}.yaml: seeds: the run for seed {seed} is named {member}, "
                                  f"and config/recipes/{member}.yaml is a recipe too; rename that recipe")
            member_document = copy.deepcopy(document)
            member_document["run"].update(seed=seed, seeds=None, description=f"{run['description']} (seed {seed})")
            member_document["seeded_from"] = name
            seeded[member] = member_document
    return seeded


def load_runs(config: dict, workflow_dir: str | Path, schema: dict | None = None) -> dict[str, dict]:
    """Validate ``config`` (Snakemake's, after --configfile/--config) and every recipe.

    Returns ``{run: full config}``, where each full config is the global configuration with the
    resolved recipe under the key ``run``.

    After validation, the schema's defaults are filled in (``fill_defaults``): into ``config`` itself,
    in place, so that Snakemake's ``config`` that the rules read is complete, and into every run. Code
    then reads every setting as ``settings["key"]``, and a default lives in one place only: a run's in
    run_defaults, every other in the schema.
    """
    schema = schema or load_schema()
    base_schema = copy.deepcopy(schema)
    for name in RUN_DEFINITIONS:
        base_schema["$defs"][name] = _without_required(schema["$defs"][name])
    typed_scalars(config, base_schema, base_schema)
    validate(config, base_schema, "config/config.yaml (with any --configfile/--config)")
    fill_defaults(config, base_schema)
    check_references(config, "config/config.yaml (with any --configfile/--config)")
    check_audio_checks(config, "config/config.yaml (with any --configfile/--config)")
    check_models(config, "config/config.yaml (with any --configfile/--config)")

    recipes_dir = Path(config["recipes_dir"])
    if not recipes_dir.is_absolute():
        recipes_dir = Path(workflow_dir) / recipes_dir
    recipes = load_recipes(recipes_dir)
    if not recipes:
        raise ConfigError(f"config error: recipes_dir: no <run>.yaml recipe files in {recipes_dir}")

    runs = {}
    globals_ = {k: v for k, v in config.items() if k != "run_defaults"}
    for name, (_, path) in recipes.items():
        run = deep_merge(config.get("run_defaults", {}), resolve_recipe(name, recipes))
        document = {**globals_, "run": run}
        validate(document, schema, str(path))
        fill_defaults(run, schema, schema["properties"]["run"])  # the rest of the document is config's, filled above
        check_references(document, str(path))
        problems = unresolved_run_references(document) + check_run(run)
        if problems:
            raise ConfigError(f"config error in {path}: run.{problems[0]}")
        runs[name] = document
    runs.update(seeded_runs(runs))
    studies = study_runs(config, runs, recipes, workflow_dir, schema, globals_)
    runs.update(evaluation_runs(config, runs))
    check_equal_compute(runs)
    unknown = [name for name in config["default_runs"] if name not in runs]
    if unknown:
        raise ConfigError(f"config error: default_runs: {unknown[0]!r} is not a run (no {unknown[0]}.yaml in "
                          f"{recipes_dir}); name one of {', '.join(sorted(runs))}")
    return Runs(runs, studies)


class Runs(dict):
    """``{run: full config}``, and ``studies``: each study's variants (``slamming.workflow.studies.expand``)."""

    def __init__(self, runs: dict, studies: dict | None = None):
        super().__init__(runs)
        self.studies = studies or {}


def study_runs(config: dict, runs: dict, recipes: dict, workflow_dir, schema: dict, globals_: dict) -> dict:
    """Add to ``runs`` every study's variants and their seeds' runs (config/studies/<name>.yaml); return the
    studies. A variant that changes nothing is its base recipe's run; one whose name a recipe has must be it."""
    from slamming.workflow.studies import expand, load_studies

    studies_dir = Path(config["studies_dir"])
    if not studies_dir.is_absolute():
        studies_dir = Path(workflow_dir) / studies_dir
    studies = {}
    for name, (study, path) in load_studies(studies_dir, schema).items():
        expanded = expand(name, study, path, {recipe: runs[recipe]["run"] for recipe in recipes})
        for variant in expanded["variants"]:
            base_seed = variant["document"]["seed"]
            for seed, member in variant["members"].items():
                run = copy.deepcopy(variant["document"])
                run.update(seed=seed, seeds=None)
                changed = {**variant["changed"], **({"seed": seed} if seed != base_seed else {})}
                if changed:
                    run["description"] += f" - study {name}: " + ", ".join(f"{k} {v}" for k, v in changed.items())
                if member in runs:
                    same = [{k: v for k, v in r.items() if k not in ("description", "seeds")} for r in (runs[member]["run"], run)]
                    if same[0] != same[1]:
                        raise ConfigError(f"config error in {path}: variant {member} is also a recipe's run with other "
                                          f"settings; rename config/recipes/{member}.yaml")
                    continue
                document = {**globals_, "run": run}
                validate(document, schema, f"{path} (variant {member})")
                fill_defaults(run, schema, schema["properties"]["run"])
                problems = unresolved_run_references(document) + check_run(run)
                if problems:
                    raise ConfigError(f"config error in {path} (variant {member}): run.{problems[0]}")
                runs[member] = {**document, "study": name}
            variant.pop("document")
        studies[name] = expanded
    return studies
