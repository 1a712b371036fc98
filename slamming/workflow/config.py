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
import json
import math
from pathlib import Path

import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"


class ConfigError(Exception):
    """A configuration problem, described in one line."""


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"config error: {path}: file not found") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config error: {path}{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    return data if data is not None else {}


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    return load_yaml(path)


def deep_merge(base: dict, override: dict) -> dict:
    """A copy of ``base`` with ``override`` merged in; nested mappings merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _schema_at(schema: dict, path: list) -> dict:
    """The sub-schema that describes the value at ``path`` (best effort, for error messages)."""
    node = schema
    for key in path:
        node = _resolve_ref(schema, node)
        if isinstance(key, int):
            node = node.get("items", {})
        elif key in node.get("properties", {}):
            node = node["properties"][key]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return {}
    return _resolve_ref(schema, node)



def _resolve_ref(root: dict, node: dict) -> dict:
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def _dotted(path) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out or "(top level)"


def _describe(error, schema: dict) -> str:
    """One line for a jsonschema error: the key, then what is expected."""
    path = list(error.absolute_path)
    validator = error.validator
    if validator == "additionalProperties":
        node = _schema_at(schema, path)
        known = sorted(node.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        key = _dotted(path + [unknown[0]]) if unknown else _dotted(path)
        hint = f"; expected one of: {', '.join(known)}" if known else ""
        return f"{key}: unknown key{hint}"
    if validator == "required":
        missing = error.message.split("'")[1]
        node = _schema_at(schema, path + [missing])
        what = (node.get("description") or "").split(".")[0]
        return f"{_dotted(path + [missing])}: missing value" + (f" ({what})" if what else "")
    node = _schema_at(schema, path)
    what = (node.get("description") or "").split(".")[0]
    got = json.dumps(error.instance) if not isinstance(error.instance, (dict, list)) else type(error.instance).__name__
    if validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"{_dotted(path)}: expected {expected}, got {got}" + (f" ({what})" if what else "")
    if validator == "enum":
        options = ", ".join(json.dumps(v) for v in error.validator_value)
        return f"{_dotted(path)}: expected one of {options}, got {got}"
    if validator in ("oneOf", "anyOf"):
        return f"{_dotted(path)}: {what or 'value'} must match exactly one of the documented forms, got {got}"
    return f"{_dotted(path)}: {error.message}" + (f" ({what})" if what else "")


# --- values from Snakemake's command line ----------------------------------------------------------
# `--config key=value` types a top-level value, but leaves every scalar inside a nested one a string
# (`--config 'audio_checks={audio_folder: {min_seconds: 0.1}}'` gives "0.1"). Such a string is read
# as YAML where the schema wants a number, integer, boolean or null and it reads as one.

SCALAR_TYPES = {"integer": (int,), "number": (int, float), "boolean": (bool,), "null": (type(None),)}


def _types(node, root: dict) -> set[str]:
    node = _resolve_ref(root, node)
    if not isinstance(node, dict):
        return set()
    kinds = node.get("type", [])
    found = {kinds} if isinstance(kinds, str) else set(kinds)
    for keyword in ("oneOf", "anyOf"):
        for branch in node.get(keyword, []):
            found |= _types(branch, root)
    return found


def typed_scalars(instance, node, root: dict):
    """``instance`` with its strings read as YAML scalars where the schema ``node`` wants a scalar of another
    type (in place for mappings and lists; the new value is returned)."""
    node = _resolve_ref(root, node)
    if not isinstance(node, dict):
        return instance
    if isinstance(instance, str):
        kinds = _types(node, root)
        if not kinds or "string" in kinds or not kinds & SCALAR_TYPES.keys():
            return instance
        try:
            value = yaml.safe_load(instance)
        except yaml.YAMLError:
            return instance
        for kind in kinds & SCALAR_TYPES.keys():
            if isinstance(value, SCALAR_TYPES[kind]) and not (kind in ("integer", "number") and isinstance(value, bool)):
                return value
        return instance
    if isinstance(instance, dict):
        properties, extra = node.get("properties", {}), node.get("additionalProperties")
        branches = [_resolve_ref(root, b) for keyword in ("oneOf", "anyOf") for b in node.get(keyword, [])]
        for key, value in instance.items():
            child = properties.get(key, extra if isinstance(extra, dict) else None)
            if child is None:  # the property of a oneOf branch
                child = next((b["properties"][key] for b in branches if isinstance(b, dict) and key in b.get("properties", {})), None)
            if child is not None:
                instance[key] = typed_scalars(value, child, root)
    elif isinstance(instance, list) and isinstance(node.get("items"), dict):
        instance[:] = [typed_scalars(item, node["items"], root) for item in instance]
    return instance


def validate(document: dict, schema: dict, origin: str) -> None:
    """Raise ConfigError naming ``origin`` and the first problem found in ``document``."""
    import jsonschema

    # best_match prefers the shallowest error: an unknown section explains the errors inside it.
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(document))
    if error is not None:
        raise ConfigError(f"config error in {origin}: {_describe(error, schema)}")


# --- defaults ------------------------------------------------------------------------------------
# Every setting has one home: a run's settings have theirs in run_defaults (config/config.yaml), every
# other setting's default is the ``default`` of its property in config/schema.yaml. Code reads a
# setting as ``settings["key"]``: the loaded configuration is complete (``fill_defaults``), and tests
# that call library functions with a partial section complete it with ``with_defaults``.

def _branch_matches(instance, branch: dict, root: dict) -> bool:
    """Whether ``instance`` is valid against the oneOf/anyOf ``branch`` (with the root's $defs at hand)."""
    import jsonschema

    schema = {**branch, "$defs": root.get("$defs", {})}
    return jsonschema.Draft202012Validator(schema).is_valid(instance)


def _fill(instance, node, root: dict) -> None:
    if not isinstance(node, dict):
        return
    if "$ref" in node:
        _fill(instance, _resolve_ref(root, {"$ref": node["$ref"]}), root)
        node = {k: v for k, v in node.items() if k != "$ref"}
    # The branches are chosen on the instance as it was given: a default must not change the choice.
    branches = [branch for keyword in ("oneOf", "anyOf") for branch in node.get(keyword, [])
                if isinstance(branch, dict) and _branch_matches(instance, branch, root)]
    if isinstance(instance, dict):
        properties = node.get("properties", {})
        for key, child in properties.items():
            if key not in instance and isinstance(child, dict) and "default" in child:
                instance[key] = copy.deepcopy(child["default"])
        extra = node.get("additionalProperties")
        for key, value in instance.items():
            if key in properties:
                _fill(value, properties[key], root)
            elif isinstance(extra, dict):
                _fill(value, extra, root)
    elif isinstance(instance, list) and isinstance(node.get("items"), dict):
        for item in instance:
            _fill(item, node["items"], root)
    for branch in node.get("allOf", []):
        _fill(instance, branch, root)
    for branch in branches:
        _fill(instance, branch, root)


def fill_defaults(instance, schema: dict, node: dict | None = None):
    """Fill the schema's ``default`` values into ``instance`` in place, and return it.

    Walks schema and instance together: in an object, each missing property with a ``default`` is set
    (a deep copy), then every present property is filled by its own schema (so a default's own
    defaults are filled too); ``$ref`` is followed, ``additionalProperties`` fills every other value
    (the registries' entries), ``items`` every item, ``allOf`` always, and ``oneOf``/``anyOf`` only the
    branches the instance (as given) is valid against. ``node`` is the sub-schema of ``instance``
    (default: the whole schema, for a whole document). Meant for a validated instance."""
    _fill(instance, schema if node is None else node, schema)
    return instance


def _section_schema(schema: dict, section: str) -> dict:
    path = section.split(".") if section else []
    node = schema
    for key in path:
        node = _resolve_ref(schema, node)
        if key in node.get("properties", {}):
            node = node["properties"][key]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            raise KeyError(f"the schema has no section {section!r} (no {key!r})")
    return node


def with_defaults(section: str, partial: dict | None = None, schema: dict | None = None,
                  config_path: str | Path | None = None) -> dict:
    """``partial``, a section of the configuration, completed with that section's defaults, as
    ``load_runs`` completes a loaded configuration.

    ``section`` is the dotted path of the section in a complete configuration, with any name for a
    registry's entry: ``run.pretrain``, ``run.dpo``, ``run.evaluation.judge``, ``demo_text_lm.train``,
    ``voices.joe``, ``asr_models.x``, ``sources.x``, ``corpora.x.audio_folder`` ... A run's sections
    start from run_defaults in config/config.yaml; every section then gets its schema defaults. For
    tests and tools that call library functions with a few settings of their own."""
    schema = schema or load_schema()
    result = copy.deepcopy(partial or {})
    if section.split(".")[0] == "run":
        config = load_yaml(config_path or SCHEMA_PATH.parent / "config.yaml")
        defaults = config.get("run_defaults", {})
        for key in section.split(".")[1:]:
            defaults = defaults.get(key, {}) if isinstance(defaults, dict) else {}
        if isinstance(defaults, dict):
            result = deep_merge(defaults, result)
    return fill_defaults(result, schema, _section_schema(schema, section))


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
    # A data mix is one choice, not a set of settings: a recipe's mix replaces its base's whole.
    if "pretrain" in body.get("data", {}):
        merged["data"]["pretrain"] = copy.deepcopy(body["data"]["pretrain"])
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


# The methods that make a corpus: each corpus has exactly one.
CORPUS_KINDS = ("synthesise", "audio_folder", "librispeech", "librilight", "hub_audio", "hub_triples", "hub_pairs")
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
    problems += [f"{key}: no corpora entry named {name!r} (define it under corpora in config/config.yaml)"
                 for key, name in named if name not in corpora]
    if data.get("dpo") in corpora and not corpora[data["dpo"]].get("pairs"):
        problems.append(f"data.dpo: corpus {data['dpo']!r} has no `pairs` (its table of preference triples), so it cannot "
                        "train DPO; name a corpus with pairs (as spokenswag) or set data.dpo: null")
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
        if all(section["budget"].get(limit) is None for limit in ("hours", "max_tokens", "epochs", "max_steps")):
            problems.append(f"{stage}.budget: every limit is null; set at least one of hours, max_tokens, epochs, max_steps")
        if section["lr_scheduler"] == "inverse_sqrt" and section.get("warmup_ratio"):
            problems.append(f"{stage}.warmup_ratio: inverse_sqrt warms up by steps (as Hugging Face's); set warmup_steps "
                            "and warmup_ratio: 0")
    return problems


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
    unknown = [name for name in config["default_runs"] if name not in runs]
    if unknown:
        raise ConfigError(f"config error: default_runs: {unknown[0]!r} is not a run (no {unknown[0]}.yaml in "
                          f"{recipes_dir}); name one of {', '.join(sorted(runs))}")
    return runs
