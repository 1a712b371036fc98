# Helpers shared by the rules: the validated configuration, paths of artifacts, config slices.
import json
import re
import sys

sys.path.insert(0, workflow.basedir)  # the stage scripts, also when the package is not installed

from workflow_scripts.config import ConfigError, load_runs, unresolved_run_references

# Shell commands run `python -m workflow_scripts...`: make the package importable there too
# (for instance inside a --use-conda environment, where it is not installed).
# (Braces are doubled twice: once for this f-string, once for Snakemake's own formatting.)
shell.prefix(f"export PYTHONPATH={workflow.basedir}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; ")

try:
    RUNS = load_runs(config, workflow.basedir)
except ConfigError as error:
    sys.exit(str(error))  # one line, no traceback

SYNTHESISED = sorted(name for name, corpus in config["corpora"].items() if "synthesise" in corpus)
AUDIO_FOLDERS = sorted(name for name, corpus in config["corpora"].items() if "audio_folder" in corpus)


def one_of(names):
    """A wildcard pattern that matches exactly these names (and nothing when there are none)."""
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def as_json(value):
    """A config slice as a parameter: canonical JSON, so only a real change re-runs the job."""
    return json.dumps(value, sort_keys=True)


def source_dir(name):
    return f"resources/sources/{name}"


def source_record(name):
    """The file that says source `name` is materialised (and what it is)."""
    return f"resources/sources/{name}.json"


def run_config(run):
    document = RUNS[run]
    problems = unresolved_run_references(document)
    if problems:
        raise WorkflowError(
            f"run {run!r} cannot be built yet: {'; '.join(problems)} "
            f"(define them under corpora in config/config.yaml)"
        )
    return document["run"]


def run_corpora(run):
    """Every corpus a run reads: its pretraining mix, its DPO set and its benchmarks."""
    data = run_config(run)["data"]
    names = [name for name, weight in data["pretrain"].items() if weight > 0]
    names += [data["dpo"]] if data["dpo"] else []
    names += list(data["benchmarks"].values())
    return sorted(set(names))


# --- synthesised corpora ---------------------------------------------------------------------


def synthesis(corpus):
    return config["corpora"][corpus]["synthesise"]


def text_table(corpus):
    text_set, table = synthesis(corpus)["text"].split("/", 1)
    return f"results/text/{text_set}/{table}.parquet"


def synthesis_settings(corpus):
    """All that decides a synthesised corpus's audio: its section, its voices, the audio checks."""
    section = synthesis(corpus)
    voices = {name: config["voices"][name] for name in section["voices"]}
    return as_json({"synthesise": section, "voices": voices, "audio_checks": config["audio_checks"]})


def voice_sources(corpus):
    return sorted({source_record(config["voices"][name]["model"]) for name in synthesis(corpus)["voices"]})


def synthesis_shards(corpus):
    return [f"results/corpora/{corpus}/shards/{shard}.parquet" for shard in range(synthesis(corpus)["shards"])]


def demo_text_settings(text_set):
    from workflow_scripts.demo_text import settings_for

    return settings_for(text_set, config["demo_text"])
