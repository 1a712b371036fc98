"""The configuration's schema (``config/schema.yaml``, JSON Schema): loading YAML, validating a document with
one line per problem, and filling in defaults. Apart from the workflow's own checks (``config.py``): a stage
that completes its settings by hand (``with_defaults``) imports only this, so an edit to those checks
re-runs no stage (``slamming/workflow/code.py`` keys each rule on the modules its stage imports).
"""

from __future__ import annotations

import copy
import json
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
