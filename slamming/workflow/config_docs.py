"""Write config/README.md's reference of every configuration key from config/schema.yaml.

    python -m slamming.workflow.config_docs > config/README.md

A test checks that the committed README equals what this prints, so the two never drift apart.
"""

from __future__ import annotations

import json
import sys

from slamming.workflow.schema import SCHEMA_PATH, _resolve_ref, load_schema

HEADER = """\
# Configuration

The workflow reads `config/config.yaml` (defaults and the registries of sources, voices and corpora),
then every recipe `config/recipes/<run>.yaml`, each merged onto `run_defaults`. A recipe may say
`base: <other recipe>` and then holds only what differs from it; its `data.pretrain` mix and its
`data.benchmarks` replace the base's whole. `snakemake results/<run>/...` picks the recipe by name.

Everything is validated against `config/schema.yaml` before any job starts. An unknown key, a wrong
type or a missing value stops the workflow with one line naming the file, the key and what is expected.

Change a setting in `config/config.yaml`, in a recipe, or for one call with
`--configfile my_overrides.yaml` (merged key by key) or `--config key=value`. A nested value works
too, in YAML's flow style and quoted for the shell: `--config 'demo_text={stories: {train: 150}}'`
(Snakemake leaves its numbers strings; they are read as the schema wants). A `--configfile` that
does not exist stops Snakemake itself, before the workflow is read, with a traceback whose last line
names the file; one that is not valid YAML stops it there too, with "Config file is not valid JSON or
YAML" and no file named (`python -c "import yaml; yaml.safe_load(open('my_overrides.yaml'))"` shows the
line). Each rule sees only its own slice of the configuration, so a change re-runs only what depends
on it.

Every key follows; `<name>` stands for a name you choose. The keys under `run.` are what a recipe
file holds at its top level (beside `base:`), and what `run_defaults` may hold. This reference is
generated from the schema (`python -m slamming.workflow.config_docs > config/README.md`).

Each setting's default has one home. A run's settings start from `run_defaults` in
`config/config.yaml`; every other key's default is the `default` of its property in the schema, shown
in its row ("Default: ..."), and filled into the loaded configuration before any rule reads it.

**The paper's official code.** Where a measurement or training convention could go two ways, the
default is what the paper's official code does, and the other way is a setting: Whisper's language
and whitespace (`asr_models.<name>.language`, `.strip`), whether a benchmark must be scored whole
(`corpora.<name>.benchmark_pairs.<name>.official`), the precision of unit extraction
(`tokenisers.<name>.dtype`), Hugging Face's `inverse_sqrt` (`run.dpo.lr_scheduler`, `warmup_steps`),
training precision (`run.pretrain.precision: pure`; `mixed` is bfloat16 autocast over float32 weights),
what a corpus keeps of its audio (`audio_checks.<kind>`), and a budget in the paper's optimiser steps
(`run.pretrain.budget.max_steps`, the run `slam_paper_steps`). The main README's section "Where we
differ from the official code, and why" says why for each.

| key | type | description |
|---|---|---|
"""


def _type(node: dict) -> str:
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    kind = node.get("type", "object" if "properties" in node else "")
    return " or ".join(kind) if isinstance(kind, list) else kind


def _value(value) -> str:
    return f"`{value}`" if isinstance(value, str) and value else f"`{json.dumps(value)}`"


def _branch_label(branch: dict) -> str:
    """How a oneOf/anyOf branch is told apart: its constants (``layout librilight``) or what it requires."""
    consts = [f"{key} {value['const']}" for key, value in branch.get("properties", {}).items()
              if isinstance(value, dict) and "const" in value]
    if consts:
        return ", ".join(consts)
    return "with " + ", ".join(branch.get("required", [])) if branch.get("required") else "otherwise"


def _default_text(node: dict, key: str, child: dict, resolved: dict) -> str:
    """The default of property ``key`` of ``node``, from the schema's ``default`` (the one home of a
    default outside run_defaults): on the property, or per branch of the object's oneOf/anyOf."""
    for candidate in (child, resolved):
        if "default" in candidate:
            return f"Default: {_value(candidate['default'])}."
    per_branch = [f"{_value(branch['properties'][key]['default'])} ({_branch_label(branch)})"
                  for keyword in ("oneOf", "anyOf") for branch in node.get(keyword, [])
                  if isinstance(branch.get("properties", {}).get(key), dict) and "default" in branch["properties"][key]]
    return f"Default: {', '.join(per_branch)}." if per_branch else ""


def _rows(schema: dict, node: dict, prefix: str):
    node = _resolve_ref(schema, node)
    for key, child in node.get("properties", {}).items():
        path = f"{prefix}.{key}" if prefix else key
        resolved = _resolve_ref(schema, child)
        description = child.get("description") or (resolved.get("description") or "")
        default = _default_text(node, key, child, resolved)
        if default:
            description = f"{description} {default}" if description else default
        yield path, _type(resolved), description
        if resolved.get("properties"):
            if key in ("run_defaults",):  # the same keys as run, documented once
                continue
            yield from _rows(schema, resolved, path)
        elif isinstance(resolved.get("additionalProperties"), dict):
            item = _resolve_ref(schema, resolved["additionalProperties"])
            if item.get("properties"):
                yield from _rows(schema, item, f"{path}.<name>")


def render(schema: dict) -> str:
    lines = [HEADER]
    for path, kind, description in _rows(schema, schema, ""):
        text = " ".join(description.split()).replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
        lines.append(f"| `{path}` | {kind} | {text} |\n")
    return "".join(lines)


def main() -> int:
    sys.stdout.write(render(load_schema(SCHEMA_PATH)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
