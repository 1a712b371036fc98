# The Slam recipe (Maimon, Elmakies, Adi 2025) as a Snakemake workflow.
# Targets are results/<run>/...; a run is a recipe in config/recipes/<run>.yaml. See README.md.
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")
sys.path.insert(0, workflow.basedir)  # the library, also when the package is not installed

from slamming.workflow.config import ConfigError, load_yaml

try:  # a YAML error in the workflow's own config: one line with its file and line, no traceback
    load_yaml(Path(workflow.basedir) / "config" / "config.yaml")
except ConfigError as error:
    sys.exit(str(error))


configfile: Path(workflow.basedir) / "config" / "config.yaml"


include: "rules/common.smk"


wildcard_constraints:
    run=one_of(RUNS),
    recipe=one_of(PLAN.seeded_recipes),
    generation=one_of([paths.IN_DOMAIN, paths.OUT_OF_DOMAIN]),
    source=one_of(config["sources"]),
    corpus=one_of(config["corpora"]),
    shard=r"\d+",
    tokeniser=one_of(PLAN.tokeniser_of_key),
    vocoder=one_of(config["vocoders"]),
    benchmark=one_of(PLAN.benchmarks),
    mix=r"ctx\d+-[0-9a-f]{8}",
    name=one_of(config["text_corpora"]),
    text_lm=r"[A-Za-z0-9_.-]+",


include: "rules/sources.smk"
include: "rules/corpus.smk"
include: "rules/units.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/studies.smk"


report: "report/workflow.rst"


onstart:
    # Before any job: every source this run still has to download must be reachable, or the
    # workflow stops now with one line per missing source, instead of failing hours in.
    from slamming.data.sources import reachability_problems

    missing = PLAN.sources_to_fetch({job.wildcards["source"] for job in workflow.dag.needrun_jobs()
                                     if job.rule.name == "materialise_source"})
    if missing:
        problems = reachability_problems(missing, paths.SOURCES)
        if problems:
            print("\n".join(problems), file=sys.stderr)
            raise SystemExit(1)


rule all:
    input:
        PLAN.default_targets(),  # config's default_runs: metrics, report and models (a deleted model is made again)
    default_target: True
