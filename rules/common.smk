# Helpers shared by the rules: the validated configuration, paths of artifacts, config slices.
import hashlib
import json
import math
import re
import os
import shlex
import shutil
import sys
from pathlib import Path

from slamming.config import ConfigError, corpus_audio_checks, load_runs
from slamming.preflight import clear_stale_lock, folder_listing, unknown_run
from slamming.sources import reachability_problems

# Shell commands run `python -m workflow_scripts...`: make the package importable there too
# (for instance inside a --use-conda environment, where it is not installed).
# (Braces are doubled twice: once for this f-string, once for Snakemake's own formatting.)
shell.prefix(f"export PYTHONPATH={workflow.basedir}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; ")

try:
    RUNS = load_runs(config, workflow.basedir)
except ConfigError as error:
    sys.exit(str(error))  # one line, no traceback

def command_line_targets():
    """The targets on Snakemake's command line (Snakemake knows them only after this file is read)."""
    if "snakemake" not in " ".join(sys.argv[:1]):
        return []
    try:
        from snakemake.cli import get_argument_parser

        return list(get_argument_parser().parse_known_args(sys.argv[1:])[0].targets or [])
    except (SystemExit, Exception):  # an unusual command line: Snakemake will say what it makes of it
        return []


if workflow.is_main_process:  # not in the jobs that a cluster runs
    # A target under results/<run>/ must name a run: say which runs there are, instead of "no rule".
    unknown = unknown_run(command_line_targets(), RUNS)
    if unknown:
        sys.exit(unknown)
    # A Snakemake that was killed leaves its lock; when none runs here now, the lock is stale and goes,
    # so that running the same command again just works (no `snakemake --unlock` by hand).
    if clear_stale_lock(Path.cwd()):
        print("removed the lock of a snakemake that no longer runs here (it was killed)", file=sys.stderr)

def corpora_of_kind(kind):
    """Names of the corpora made by one method (synthesise, audio_folder, librispeech ...)."""
    return sorted(name for name, corpus in config["corpora"].items() if kind in corpus)


SYNTHESISED = corpora_of_kind("synthesise")
BENCHMARKS = sorted({name for corpus in config["corpora"].values() for name in corpus.get("benchmark_pairs", {})})
AUDIO_FOLDERS = corpora_of_kind("audio_folder")
# Corpora made in shards (one job each) and merged into one manifest.
SHARD_COUNT_OF = {"synthesise": "shards", "librilight": "shards", "hub_audio": "shards", "hub_triples": "shards"}
SHARDED = sorted(name for kind in SHARD_COUNT_OF for name in corpora_of_kind(kind))


def one_of(names):
    """A wildcard pattern that matches exactly these names (and nothing when there are none)."""
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def as_json(value):
    """A config slice as a parameter: canonical JSON, so only a real change re-runs the job."""
    return json.dumps(value, sort_keys=True)


# Sources the workflow fetches (hub, url, local, package), and the demo's, which it builds.
DEMO_SOURCES = sorted(name for name, spec in config["sources"].items() if "demo" in spec)
FETCHED_SOURCES = sorted(name for name in config["sources"] if name not in DEMO_SOURCES)


def demo_source(name):
    return config["sources"][name]["demo"]


def text_file(table):
    """The file of a text table named <set>/<table> (results/text/<set>/<table>.parquet)."""
    text_set, name = table.split("/", 1)
    return f"results/text/{text_set}/{name}.parquet"


def text_tables(table):
    """The files of the text table named, if one is (inputs of a rule that may have none)."""
    return [text_file(table)] if table else []


def source_dir(name):
    return f"resources/sources/{name}"


def source_record(name):
    """The file that says source `name` is materialised (and what it is)."""
    return f"resources/sources/{name}.json"


def run_config(run):
    """A run's resolved recipe (validated with its references when the workflow started)."""
    return RUNS[run]["run"]


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
    return text_file(synthesis(corpus)["text"])


def synthesis_settings(corpus):
    """All that decides a synthesised corpus's audio: its section and its voices (not the audio checks,
    which run afterwards on what was spoken)."""
    section = synthesis(corpus)
    voices = {name: config["voices"][name] for name in section["voices"]}
    return as_json({"synthesise": section, "voices": voices})


def voice_sources(corpus):
    return sorted({source_record(config["voices"][name]["model"]) for name in synthesis(corpus)["voices"]})


def corpus_section(corpus, kind):
    return config["corpora"][corpus][kind]


def audio_folder_listing(corpus):
    """What an audio_folder corpus's folder holds now (names, sizes, modification times), as a digest."""
    section = corpus_section(corpus, "audio_folder")
    spec = config["sources"][section["source"]]
    folder = Path(os.path.expanduser(spec["local"])) if "local" in spec else Path(source_dir(section["source"]))
    return folder_listing(folder, section.get("glob", "**/*"))


def corpus_checks(corpus):
    """The audio checks a corpus's files must pass (none for a benchmark's)."""
    return as_json(corpus_audio_checks(config, corpus))


def corpus_shards(corpus):
    """The manifest shards of a corpus made in shards."""
    kind = next(k for k in SHARD_COUNT_OF if k in config["corpora"][corpus])
    count = corpus_section(corpus, kind)[SHARD_COUNT_OF[kind]]
    return [f"results/corpora/{corpus}/shards/{shard}.parquet" for shard in range(count)]


def rejected_before_shards(corpus):
    """Rejected tables of what a sharded corpus is cut from (Libri-Light's recordings), so that the
    corpus's rejected table lists every file it did not use."""
    return [f"results/corpora/{corpus}/recordings.rejected.parquet"] if "librilight" in config["corpora"][corpus] else []


def demo_text_settings(text_set):
    from slamming.demo_text import settings_for

    return settings_for(text_set, config["demo_text"])


# --- speech units ----------------------------------------------------------------------------

# How GPU jobs ask for GPUs. On this machine (gpu_jobs auto, and nvidia-smi present), each takes the
# one `gpu` slot of profiles/default, so they run one at a time; on a CPU-only machine they take
# none and run in parallel. On a cluster (gpu_jobs=yes, set by profiles/slurm) each asks SLURM for
# its GPUs as generic resources (--gres=gpu:N, which srun steps inherit): a `gpu` request would be
# cut to the local profile's limit of one, which Snakemake also applies to cluster runs.
CLUSTER_GPUS = config.get("gpu_jobs", "auto") in ("yes", True)
LOCAL_GPU = config.get("gpu_jobs", "auto") == "auto" and shutil.which("nvidia-smi") is not None


def gpu_slot(count=1):
    """The local `gpu` resource of a job using `count` GPUs (0 or 1)."""
    return 1 if LOCAL_GPU and count else 0


def gpu_gres(count=1):
    """The SLURM generic resources of a job using `count` GPUs ("" when not on a GPU cluster)."""
    return f"gpu:{count}" if CLUSTER_GPUS and count else ""

# A tokeniser's artifacts live under its key: its name, with a suffix when it extracts in another
# precision than float32 (the reference's), so units of two precisions are never mixed or shared.
DTYPE_SUFFIX = {"float32": "", "bfloat16": "-bf16"}


def tokeniser_key(name):
    return name + DTYPE_SUFFIX[config["tokenisers"][name].get("dtype", "float32")]


TOKENISER_OF_KEY = {tokeniser_key(name): name for name in config["tokenisers"]}
FITTED_TOKENISERS = sorted(key for key, name in TOKENISER_OF_KEY.items() if "fit" in config["tokenisers"][name]["kmeans"])
IMPORTED_TOKENISERS = sorted(key for key, name in TOKENISER_OF_KEY.items() if "source" in config["tokenisers"][name]["kmeans"])


def tokeniser_settings(key):
    """The config entry of the tokeniser whose artifacts are under ``key``."""
    return config["tokenisers"][TOKENISER_OF_KEY[key]]


def run_tokeniser(run):
    """The key of a run's tokeniser."""
    return tokeniser_key(run_config(run)["tokeniser"])


def units_dir(key):
    return f"results/units/{key}"


def units_table(key, corpus):
    return f"{units_dir(key)}/{corpus}/units.parquet"


def vocabulary_file(key):
    return f"{units_dir(key)}/tokeniser.json"


def centroids_file(key):
    return f"{units_dir(key)}/centroids.npy"


def encoder_source(key):
    """The source holding a tokeniser's encoder model, or None (an encoder without a model: mfcc)."""
    spec = tokeniser_settings(key)["encoder"]
    kind = next(k for k in ("hubert", "whisper", "mfcc") if k in spec)
    return spec[kind] if kind != "mfcc" else None


def encoder_files(key):
    """What must exist before the encoder can be loaded."""
    source = encoder_source(key)
    return [source_record(source)] if source else []


def encoder_options(key):
    """Command-line options that load a tokeniser's encoder: its settings, its model folder, its precision."""
    settings, source = tokeniser_settings(key), encoder_source(key)
    folder = f" --encoder-dir {source_dir(source)}" if source else ""
    return f"--encoder {shlex.quote(as_json(settings['encoder']))}{folder} --dtype {settings.get('dtype', 'float32')}"


def kmeans_settings(key):
    return tokeniser_settings(key)["kmeans"]


def kmeans_pickle(key):
    from slamming.sources import url_filename

    source = kmeans_settings(key)["source"]
    return f"{source_dir(source)}/{url_filename(config['sources'][source]['url'])}"


def units_shards(corpus):
    return config["corpora"][corpus].get("units_shards", 1)


def mix_settings(run):
    """All that decides a run's packed windows or chunks; runs that agree on it share them."""
    document = RUNS[run]["run"]
    return {
        "tokeniser": tokeniser_key(document["tokeniser"]),
        "corpora": {c: w for c, w in sorted(document["data"]["pretrain"].items()) if w > 0},
        "context": document["pretrain"]["context_length"],
        "seed": document["seed"],
        "packing": document["pretrain"]["packing"],  # official (pack_chunks) or windows (pack_windows)
    }


def mix_key(settings):
    digest = hashlib.sha1(as_json(settings).encode()).hexdigest()[:8]
    return f"ctx{settings['context']}-{digest}"


# Every mix a run asks for, by key.
MIXES = {mix_key(mix_settings(run)): mix_settings(run) for run in RUNS}


def packed_dir(run):
    settings = mix_settings(run)
    return f"results/packed/{settings['tokeniser']}/{mix_key(settings)}"


def mix_units(tokeniser, mix):
    return {
        corpus: {"units": units_table(tokeniser, corpus), "weight": weight}
        for corpus, weight in MIXES[mix]["corpora"].items()
    }


# --- models ----------------------------------------------------------------------------------


# A text LM (a base model, a GenPPL scorer, a text topline) is the demo's, which the workflow trains,
# or a source.
WORKFLOW_TEXT_LM = "demo_text_lm"


def text_lm_dir(name):
    return f"results/models/{WORKFLOW_TEXT_LM}" if name == WORKFLOW_TEXT_LM else source_dir(name)


def text_lm_files(name):
    """What must exist before the text LM can be loaded."""
    if name == WORKFLOW_TEXT_LM:
        return [f"results/models/{WORKFLOW_TEXT_LM}/{f}" for f in ("config.json", "model.safetensors", "tokenizer.json")]
    return [source_record(name)]


def speech_lm_options(run):
    """Command-line options of workflow_scripts.init_speech_lm for a run's pretrain section."""
    pretrain = run_config(run)["pretrain"]
    options = [f"--init {pretrain['init']}", f"--seed {run_config(run)['seed']}"]
    if pretrain.get("rope_theta") is not None:
        options.append(f"--rope-theta {pretrain['rope_theta']}")
    if pretrain.get("dropout") is not None:
        options.append(f"--dropout {pretrain['dropout']}")
    if pretrain.get("fresh_embeddings"):
        options.append("--fresh-embeddings")
    return " ".join(options)


def launcher(gpus):
    """One process, or one per GPU under torchrun; the training code is the same."""
    if gpus > 1:
        return f"torchrun --standalone --nproc_per_node {gpus} -m"
    return "python -m"


# A training job's time limit on a cluster: its budget (which does not count validation and
# checkpoints) with room for them and for start-up; a budget in epochs or tokens only gets a day.
# A job stopped at its limit resumes from its checkpoint when the workflow runs again.
TRAINING_OVERHEAD = 1.05
TRAINING_STARTUP_MINUTES = 30
UNTIMED_TRAINING_MINUTES = 24 * 60


def training_runtime(run, stage):
    """Minutes a pretraining or DPO job asks for (Snakemake's `runtime` resource)."""
    hours = run_config(run)[stage]["budget"].get("hours")
    if hours is None:
        return UNTIMED_TRAINING_MINUTES
    return math.ceil(hours * 60 * TRAINING_OVERHEAD) + TRAINING_STARTUP_MINUTES


def dpo_inputs(run):
    corpus = run_config(run)["data"]["dpo"]
    if not corpus:
        raise WorkflowError(f"run {run!r} has no DPO corpus (data.dpo is null): its model is results/models/{run}/pretrained")
    pairs = config["corpora"][corpus].get("pairs")
    if not pairs:
        raise WorkflowError(f"corpora.{corpus}: a DPO corpus needs `pairs`, its table of preference triples")
    return {"units": units_table(run_tokeniser(run), corpus), "pairs": text_file(pairs)}


def final_model(run):
    """The model a run evaluates: after DPO, or after pretraining when the run has no DPO."""
    stage = "dpo" if run_config(run)["data"]["dpo"] else "pretrained"
    return f"results/models/{run}/{stage}"


# --- evaluation ------------------------------------------------------------------------------


def pair_settings(corpus, benchmark):
    settings = config["corpora"][corpus].get("benchmark_pairs", {}).get(benchmark)
    if settings is None:
        raise WorkflowError(f"corpora.{corpus}.benchmark_pairs has no {benchmark!r}: say how its utterances pair up")
    return settings


def pair_inputs(corpus, benchmark):
    """The items table a benchmark's pairs come from, when they come from one."""
    return text_tables(pair_settings(corpus, benchmark).get("table"))


def official_option(corpus, benchmark):
    """A published benchmark is scored on every pair or not at all."""
    return "--official" if pair_settings(corpus, benchmark).get("official") else ""


def pair_options(corpus, benchmark):
    """Command-line options of `likelihood pairs` for a benchmark."""
    settings = pair_settings(corpus, benchmark)
    official = official_option(corpus, benchmark)
    if "gold_csv" in settings:
        return f"--gold-csv {source_dir(corpus_section(corpus, 'audio_folder')['source'])}/{settings['gold_csv']} {official}"
    if "by_file_name" in settings:
        sides = settings["by_file_name"]
        return f"--by-file-name --positive {sides['positive']} --negative {sides['negative']} {official}"
    return (f"--table {pair_inputs(corpus, benchmark)[0]} --positive {settings['positive']} --negative {settings['negative']}"
            f" {official}")


def benchmark_corpus(run, benchmark):
    return run_config(run)["data"]["benchmarks"][benchmark]


def prompt_pairs(run):
    """Generation prompts: the positive (correct) utterances of the run's sStoryCloze pairs."""
    benchmarks = run_config(run)["data"]["benchmarks"]
    if "sstorycloze" not in benchmarks:
        raise WorkflowError(f"run {run!r}: generation takes its prompts from data.benchmarks.sstorycloze, which is not set")
    return f"results/benchmarks/{benchmarks['sstorycloze']}/sstorycloze/pairs.parquet"


def asr_model(name):
    return config["asr_models"][name]


def vocoder_training(vocoder):
    return config["vocoders"][vocoder]["train"]


def vocoder_training_inputs(vocoder):
    tokeniser, corpus = tokeniser_key(config["vocoders"][vocoder]["tokeniser"]), vocoder_training(vocoder)["corpus"]
    return {
        "units": units_table(tokeniser, corpus),
        "manifest": f"results/corpora/{corpus}/manifest.parquet",
        "vocabulary": vocabulary_file(tokeniser),
    }


# What a vocoder trains on (and the k-means it needs) is made first: its training then runs on one
# core beside the rest of the synthesis instead of after it (on the demo's 2 cores, minutes saved).
# A priority only orders jobs that are ready at the same time; it never changes what is made.
EARLY_CORPORA = {spec["train"]["corpus"] for spec in config["vocoders"].values() if "train" in spec} | {
    corpus for spec in config["tokenisers"].values() for corpus in spec["kmeans"].get("fit", {}).get("corpora", [])}


def corpus_priority(wildcards):
    return 1 if wildcards.corpus in EARLY_CORPORA else 0


def run_vocoder(run):
    return config["vocoders"][run_config(run)["evaluation"]["vocoder"]]


def vocoder_files(run):
    name = run_config(run)["evaluation"]["vocoder"]
    if "train" in run_vocoder(run):
        return [f"results/vocoders/{name}/generator.safetensors", f"results/vocoders/{name}/config.json"]
    return [source_record(run_vocoder(run)["checkpoint"]), source_record(run_vocoder(run)["config"])]


def vocoder_options(run):
    """Command-line options of workflow_scripts.vocode_generations for the run's vocoder."""
    from slamming.sources import url_filename

    name, vocoder = run_config(run)["evaluation"]["vocoder"], run_vocoder(run)
    if "train" in vocoder:
        return f"--checkpoint results/vocoders/{name}/generator.safetensors --config results/vocoders/{name}/config.json"
    weights, architecture = config["sources"][vocoder["checkpoint"]], config["sources"][vocoder["config"]]
    return (
        f"--checkpoint {source_dir(vocoder['checkpoint'])}/{url_filename(weights['url'])}"
        f" --sha256 {weights['sha256']}"
        f" --config {source_dir(vocoder['config'])}/{url_filename(architecture['url'])}"
    )


def trained_vocoder_report(run):
    name = run_config(run)["evaluation"]["vocoder"]
    return [f"results/vocoders/{name}/resynthesis.json"] if "train" in run_vocoder(run) else []


def topline_outputs(run):
    """The text toplines of a run's benchmarks, when the recipe names a text LM for them."""
    if not run_config(run)["evaluation"].get("text_topline"):
        return []
    return [f"results/{run}/eval/{benchmark}_text.json" for benchmark in run_config(run)["data"]["benchmarks"]]


def judge_outputs(run):
    """The judge's summary, when the recipe sets a judge."""
    return [f"results/{run}/generation/judge.json"] if run_config(run)["evaluation"]["judge"] else []


def judge_key_present(run):
    """Whether the judge's API key is in the environment now: a parameter of the judge's job, so that
    the job that could not run without its key is planned again once the key is there."""
    judge = run_config(run)["evaluation"]["judge"] or {}
    return bool(os.environ.get(judge.get("api_key_env", "OPENAI_API_KEY")))


def training_stages(run):
    return ["pretrained", "dpo"] if run_config(run)["data"]["dpo"] else ["pretrained"]


def run_benchmarks(run):
    """Benchmark files of the run's own jobs: training and evaluation (shared pre-processing is not
    counted, as in the paper)."""
    files = [f"benchmarks/{run}/pretrain.tsv"]
    files += [f"benchmarks/{run}/dpo.tsv"] if run_config(run)["data"]["dpo"] else []
    files += [f"benchmarks/{run}/eval_{b}.tsv" for b in run_config(run)["data"]["benchmarks"]]
    files += [f"benchmarks/{run}/{job}.tsv" for job in ("generate", "vocode", "transcribe", "score_generations")]
    files += [f"benchmarks/{run}/judge.tsv"] if run_config(run)["evaluation"]["judge"] else []
    return files


def metrics_runs(wildcards):
    """Runs in the table across runs: those whose metrics exist already, and those this call makes
    (the runs of its targets; the demo's, when it has none and makes the default target)."""
    made = {run for run in RUNS if os.path.exists(f"results/{run}/metrics.json")}
    targets = command_line_targets()
    asked = {Path(t).parts[1] for t in targets if len(Path(t).parts) > 2 and Path(t).parts[0] == "results"} if targets else {"demo"}
    return [f"results/{run}/metrics.json" for run in sorted(made | (asked & set(RUNS)))]


# --- before any job --------------------------------------------------------------------------


def sources_to_fetch(jobs):
    """The config entries of the sources that these jobs will materialise."""
    names = {job.wildcards["source"] for job in jobs if job.rule.name == "materialise_source"}
    return {name: config["sources"][name] for name in names}
