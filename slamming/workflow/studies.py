"""Studies: the paper's ablations as first-class objects of the workflow (``config/studies/<name>.yaml``).

A study names a base recipe, the settings to vary - a ``grid`` (every combination) or a list of
``variants`` - the seeds and the metrics to compare. Each variant is an ordinary run: the base recipe with
the variant's settings merged on top, named ``<base>--<setting>_<value>...`` after the settings that
differ from the base (a variant that changes nothing is the base recipe's own run), so that variants share
every upstream artifact the workflow already shares between runs (units, packing, the text LM), and each
seed k other than the run's own is the run ``<variant>_seed<k>``, as a recipe's ``seeds`` makes them.
``results/studies/<name>/table.csv`` compares them (rule study_table).
"""

from __future__ import annotations

import copy
import itertools
import re
from pathlib import Path

from slamming.evaluation.reporting import metric_at  # a dotted path into a nested mapping
from slamming.workflow.schema import ConfigError, deep_merge, fill_defaults, load_yaml, validate

# What a study can compare: a name to where it is in a run's metrics.json.
METRICS = {
    "sblimp": "likelihood.sblimp.accuracy", "sstorycloze": "likelihood.sstorycloze.accuracy",
    "tstorycloze": "likelihood.tstorycloze.accuracy", "swuggy": "likelihood.swuggy.accuracy",
    "salmon": "likelihood.salmon.accuracy", "genppl": "generation.genppl", "auto_bleu": "generation.auto_bleu",
    "valid_loss": "training.pretrained.valid_loss", "dpo_preference": "training.dpo.held_out.after.preference",
    "training_flops": "training.pretrained.training_flops",
}
# The metrics that are accuracies over benchmark pairs: each variant is tested against the reference on them.
PAIRED = ("sblimp", "sstorycloze", "tstorycloze", "swuggy", "salmon")


def nested(dotted: dict) -> dict:
    """{"pretrain.init": "random"} as {"pretrain": {"init": "random"}}."""
    out: dict = {}
    for key, value in dotted.items():
        node = out
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = copy.deepcopy(value)
    return out


def known_setting(schema: dict, dotted: str) -> bool:
    """Whether ``dotted`` names a setting of a run (following the run schema's properties, $refs, and any
    section whose keys are free, such as a data mix's corpora)."""
    node = schema["$defs"]["run"]
    for part in dotted.split("."):
        while "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        properties = node.get("properties", {})
        if part in properties:
            node = properties[part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return False
    return True


def variant_settings(study: dict) -> list[dict]:
    """Each variant's settings (dotted keys): every combination of the grid, or the variants as listed."""
    if study.get("grid"):
        keys = list(study["grid"])
        return [dict(zip(keys, values)) for values in itertools.product(*(study["grid"][k] for k in keys))]
    return [dict(v) for v in study["variants"]]


def _slug(value) -> str:
    text = str(value).lower() if isinstance(value, bool) or value is None else str(value)
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_") or "none"


def variant_name(base: str, changed: dict) -> str:
    """The run of a variant: the base recipe's name, then each setting that differs from it - its section and
    last key (pretrain.budget.max_steps: pretrain_max_steps) - and its value."""
    if not changed:
        return base
    def label(key: str) -> str:
        parts = key.split(".")
        return parts[0] if len(parts) == 1 else f"{parts[0]}_{parts[-1]}"
    return base + "--" + "--".join(f"{label(key)}_{_slug(value)}" for key, value in changed.items())


def load_studies(studies_dir: str | Path, schema: dict) -> dict[str, tuple[dict, Path]]:
    """Every study file of ``studies_dir``, validated (an unknown setting or metric refused in one line)."""
    studies = {}
    for path in sorted(Path(studies_dir).glob("*.yaml")) if Path(studies_dir).is_dir() else []:
        study = load_yaml(path)
        validate(study, {**schema["$defs"]["study"], "$defs": schema["$defs"]}, str(path))
        fill_defaults(study, schema, schema["$defs"]["study"])
        if bool(study.get("grid")) == bool(study.get("variants")):
            raise ConfigError(f"config error in {path}: give the settings to vary as grid or as variants, one of them")
        for dotted in [k for v in variant_settings(study) for k in v]:
            if not known_setting(schema, dotted):
                raise ConfigError(f"config error in {path}: {dotted}: not a setting of a run (see config/README.md); "
                                  "name one as its section and key, e.g. pretrain.init")
        unknown = [m for m in study["metrics"] if m not in METRICS]
        if unknown:
            raise ConfigError(f"config error in {path}: metrics: {unknown[0]!r} is not a metric a study compares "
                              f"(one of: {', '.join(METRICS)})")
        studies[path.stem] = (study, path)
    return studies


def expand(name: str, study: dict, path: Path, recipes: dict[str, dict]) -> dict:
    """A study's variants: for each, its settings, what differs from the base, its run and its seed members' runs.
    ``recipes``: each recipe's resolved run (run_defaults merged)."""
    from slamming.workflow.config import seeded_run

    base = study["base"]
    if base not in recipes:
        raise ConfigError(f"config error in {path}: base: no recipe named {base!r} (expected one of: {', '.join(sorted(recipes))})")
    variants = []
    for settings in variant_settings(study):
        run = deep_merge(recipes[base], nested(settings))
        changed = {k: v for k, v in settings.items() if metric_at(recipes[base], k) != v}
        run_name = variant_name(base, changed)
        seeds = study["seeds"] or [run["seed"]]
        variants.append({"settings": settings, "changed": changed, "run": run_name, "document": run,
                         "members": {seed: seeded_run(run_name, seed, run["seed"]) for seed in seeds}})
    names = [v["run"] for v in variants]
    if len(set(names)) < len(names):
        raise ConfigError(f"config error in {path}: two variants are the same run ({sorted(n for n in names if names.count(n) > 1)[0]})")
    return {"name": name, "base": base, "variants": variants, "metrics": study["metrics"],
            "description": study["description"], "reference": variants[0]["run"]}
