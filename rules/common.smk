# The validated configuration and its plan (slamming/workflow/plan.py: paths, settings and resources of every
# job, unit-tested); the rules call PLAN and slamming.workflow.paths, nothing here decides anything.
import shutil
import sys
from pathlib import Path

import slamming.workflow.paths as paths
from slamming.units.packing import array_names
from slamming.workflow.config import WORKFLOW_TEXT_LM, ConfigError, load_runs
from slamming.workflow.code import StageCode
from slamming.workflow.contents import SourceContents
from slamming.workflow.plan import Plan, as_json, one_of
from slamming.workflow.preflight import before_dag, command_line_takes_lock, command_line_targets

# Shell commands run `python -m workflow_scripts...`: make the package importable there too (also
# where it is not installed). Braces are doubled twice: once for this f-string, once for Snakemake.
shell.prefix(f"export PYTHONPATH={workflow.basedir}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; ")

try:
    RUNS = load_runs(config, workflow.basedir)
except ConfigError as error:
    sys.exit(str(error))  # one line, no traceback
PLAN = Plan(config, RUNS, nvidia_smi=shutil.which("nvidia-smi") is not None)
# Every rule's `code` param: the digest of the stage it runs and the modules that stage imports, so an
# edited statement there re-runs its jobs (slamming/workflow/code.py).
STAGE_CODE = StageCode(workflow.basedir)
TARGETS = command_line_targets(sys.argv)

if workflow.is_main_process:  # not in the jobs that a cluster runs
    error, note = before_dag(TARGETS, RUNS, Path.cwd(), command_line_takes_lock(sys.argv))
    error = error or PLAN.packed_arrays_problem(TARGETS)
    if error:
        sys.exit(error)
    if note:
        print(note, file=sys.stderr)
    for study in PLAN.studies:  # what a study asked for will cost, before it starts
        if any(target.startswith(f"results/studies/{study}/") for target in TARGETS):
            print("\n".join(PLAN.study_cost(study)), file=sys.stderr)


# What the data sources hold now (slamming/workflow/contents.py): a param of the first job reading them.
SOURCE_CONTENTS = SourceContents(".snakemake/slamming/contents", log="logs/sources.log")


def source_contents(wildcards):
    """The contents of a corpus's data sources as digests: a replaced, added or deleted file re-runs the job."""
    return " ".join(SOURCE_CONTENTS.digest(*source) for source in PLAN.data_sources(wildcards.corpus))


def synthesised_audio_contents(wildcards):
    """The same for the spoken audio a units job reads (its corpus, or the corpora k-means is fitted on)."""
    corpora = [wildcards.corpus] if "corpus" in wildcards.keys() else PLAN.tokeniser(wildcards.tokeniser)["kmeans"]["fit"]["corpora"]
    return " ".join(SOURCE_CONTENTS.digest(*folder) for folder in PLAN.synthesised_audio(corpora))


def corpus_priority(wildcards):
    return PLAN.corpus_priority(wildcards.corpus)


def metrics_runs(wildcards):
    return PLAN.metrics_runs(TARGETS)


def compared_tables(wildcards):
    return PLAN.compared_tables(TARGETS)
