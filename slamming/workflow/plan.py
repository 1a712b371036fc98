"""The workflow's plan: where every artifact lives and what each job is given, as functions of the
validated configuration. ``rules/*.smk`` hold only rules that call these, so what a rule reads, writes
and is told is Python a unit test reaches (tests/test_plan.py), with no Snakemake needed.

Paths come from ``slamming.workflow.paths``; ``Plan`` gives what follows from the configuration: the names
each wildcard may take, each job's settings (canonical JSON, so that only a real change re-runs a
job), its inputs and its resources.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shlex
from pathlib import Path

from slamming.training import what_it_computes
from slamming.units.packing import array_names
from slamming.workflow.config import WORKFLOW_TEXT_LM, ConfigError, corpus_audio_checks, corpus_kind, seeded_run
from slamming.workflow.paths import (IN_DOMAIN, OUT_OF_DOMAIN, corpus_audio, corpus_shard, corpus_shard_triples,
                                     corpus_shard_words, generation_file, interleaved_vocabulary, judge_summary,
                                     lhotse_download_dir, lhotse_download_record, likelihood_summary, manifest,
                                     metrics_file, model_config, model_dir, packed_dir, packed_files, packing_report,
                                     pairs_file, recordings_rejected, resynthesis_report, run_file, run_of, seeds_pairs,
                                     seeds_summary, source_dir, source_record, text_corpus, text_file, timings, tokenizer, topline_summary,
                                     training_log, training_summary, units_shard, units_table, vocabulary, vocoder_config,
                                     vocoder_weights, weights, word_alignment_shard, word_alignments)

# --- the plan of a configuration --------------------------------------------------------------

# Corpus kinds made in shards (one job each, merged into one table), and the key of their count.
SHARDED_KINDS = ("synthesise", "librilight", "hub_audio", "hub_triples", "lhotse")

# A tokeniser's artifacts live under its key: its name, with a suffix when it extracts in another
# precision than float32 (the reference's), so units of two precisions are never mixed or shared.
DTYPE_SUFFIX = {"float32": "", "bfloat16": "-bf16"}

# A training job's time limit on a cluster: its budget (which does not count validation and
# checkpoints) with room for them and for start-up; a budget in epochs, tokens or steps only gets a
# day. A job stopped at its limit resumes from its checkpoint when the workflow runs again.
TRAINING_OVERHEAD = 1.05
TRAINING_STARTUP_MINUTES = 30
UNTIMED_TRAINING_MINUTES = 24 * 60

ENCODER_KINDS = ("hubert", "whisper", "mfcc")


class PlanError(ConfigError):
    """A target the configuration cannot make, said in one line."""


def as_json(value) -> str:
    """A job's settings as a parameter: canonical JSON, so only a real change re-runs the job."""
    return json.dumps(value, sort_keys=True)


def one_of(names) -> str:
    """A wildcard pattern that matches exactly these names (and nothing when there are none)."""
    return "|".join(re.escape(n) for n in sorted(names)) if names else "(?!x)x"


class Plan:
    """What the workflow makes for one validated configuration.

    ``config`` is Snakemake's (config/config.yaml with any --configfile/--config), ``runs`` what
    ``slamming.workflow.config.load_runs`` made of it: ``{run: config with the resolved recipe under "run"}``.
    ``nvidia_smi``: whether this machine has a GPU driver (GPU jobs then take the one local ``gpu``
    slot, so they run one at a time).
    """

    def __init__(self, config: dict, runs: dict[str, dict], nvidia_smi: bool = False):
        self.config, self.runs = config, runs
        gpu_jobs = config["gpu_jobs"]
        # On a cluster (gpu_jobs: yes, which profiles/slurm sets) a GPU job asks SLURM for its GPUs as
        # generic resources (--gres=gpu:N, which srun steps inherit): a `gpu` request would be cut to
        # the local profile's limit of one, which Snakemake also applies to cluster runs.
        self.cluster_gpus = gpu_jobs in ("yes", True)
        self.local_gpu = gpu_jobs == "auto" and nvidia_smi
        corpora = config["corpora"]
        self.benchmarks = sorted({name for corpus in corpora.values() for name in corpus.get("benchmark_pairs", {})})
        self.sharded = sorted(name for kind in SHARDED_KINDS for name in self.corpora_of_kind(kind))
        self.demo_sources = sorted(name for name, spec in config["sources"].items() if "demo" in spec)
        self.fetched_sources = sorted(name for name in config["sources"] if name not in self.demo_sources)
        self.tokeniser_of_key = {self.tokeniser_key(name): name for name in config["tokenisers"]}
        self.mixes = {self.mix_key(self.mix_settings(run)): self.mix_settings(run) for run in runs}
        # What a vocoder trains on (and the k-means it needs) is made first: its training then runs on
        # one core beside the rest of the synthesis instead of after it. A priority only orders jobs
        # that are ready at the same time; it never changes what is made.
        self.early_corpora = {spec["train"]["corpus"] for spec in config["vocoders"].values() if "train" in spec} | {
            corpus for spec in config["tokenisers"].values() for corpus in spec["kmeans"].get("fit", {}).get("corpora", [])}

    # --- runs ---------------------------------------------------------------------------------

    def run(self, run: str) -> dict:
        """A run's resolved recipe."""
        return self.runs[run]["run"]

    def evaluated_model(self, run: str) -> str | None:
        """The speech_lms entry a run ``eval/<name>`` evaluates; None for a run that trains its model."""
        return self.runs[run].get("evaluated_model")

    @property
    def evaluated_runs(self) -> list[str]:
        return sorted(run for run in self.runs if self.evaluated_model(run))

    @property
    def seeded_recipes(self) -> list[str]:
        """Recipes trained under several seeds (their ``seeds``)."""
        return sorted(run for run in self.runs if self.run(run).get("seeds"))

    def seed_members(self, recipe: str) -> dict[int, str]:
        """The run of each of a recipe's seeds: the recipe's own for its own seed, <recipe>_seed<k> for the others."""
        run = self.run(recipe)
        return {seed: seeded_run(recipe, seed, run["seed"]) for seed in run["seeds"]}

    def seeds_pairs(self, recipe: str) -> list[str]:
        return [seeds_pairs(recipe, benchmark) for benchmark in sorted(self.run(recipe)["data"]["benchmarks"])]

    def speech_lm_entry(self, run: str) -> dict:
        return self.config["speech_lms"][self.evaluated_model(run)]

    def run_data_outputs(self, run: str) -> list[str]:
        """A run's data.json (its corpora and packing); an evaluated model has none."""
        return [] if self.evaluated_model(run) else [run_file(run, "data.json")]

    def run_corpora(self, run: str) -> list[str]:
        """Every corpus a run reads: its pretraining mix, its DPO set and its benchmarks."""
        data = self.run(run)["data"]
        names = list(data["pretrain"])  # a weight of 0 too: it is validated on
        names += [data["dpo"]] if data["dpo"] else []
        names += list(data["benchmarks"].values())
        return sorted(set(names))

    # --- corpora ------------------------------------------------------------------------------

    def corpora_of_kind(self, kind: str) -> list[str]:
        """The corpora made by one method (synthesise, audio_folder, librispeech ...)."""
        return sorted(name for name, corpus in self.config["corpora"].items() if corpus_kind(corpus) == kind)

    def corpus_section(self, corpus: str, kind: str) -> dict:
        return self.config["corpora"][corpus][kind]

    def synthesis_settings(self, corpus: str) -> str:
        """All that decides a synthesised corpus's audio: its section and its voices (not the audio
        checks, which run afterwards on what was spoken)."""
        section = self.corpus_section(corpus, "synthesise")
        return as_json({"synthesise": section, "voices": {name: self.config["voices"][name] for name in section["voices"]}})

    def synthesis_text(self, corpus: str) -> str:
        return text_file(self.corpus_section(corpus, "synthesise")["text"])

    def voice_sources(self, corpus: str) -> list[str]:
        return sorted({source_record(self.config["voices"][name]["model"])
                       for name in self.corpus_section(corpus, "synthesise")["voices"]})

    def audio_folder(self, corpus: str) -> tuple[Path, str]:
        """The folder an audio_folder corpus reads, and the pattern of its files."""
        section = self.corpus_section(corpus, "audio_folder")
        return self.source_folder(section["source"]), section["glob"]

    def source_folder(self, source: str) -> Path:
        """Where a source's files are: its ``local:`` folder, or where it was materialised."""
        spec = self.config["sources"][source]
        return Path(os.path.expanduser(spec["local"])) if "local" in spec else Path(source_dir(source))

    def data_sources(self, corpus: str) -> list[tuple[str, Path, str | None]]:
        """(source, folder, pattern or None for every file) of each source a corpus's first job reads:
        what ``slamming.workflow.contents`` keys that job on. None for a synthesised corpus."""
        entry = self.config["corpora"][corpus]
        kind = corpus_kind(entry)
        if kind == "audio_folder":
            folder, pattern = self.audio_folder(corpus)
            return [(entry[kind]["source"], folder, pattern)]
        if kind == "librilight":
            names = entry[kind]["sources"]
        elif kind == "librispeech":
            names = [s for split in ("train", "valid") for s in entry[kind][split]]
        elif kind in ("hub_audio", "hub_triples", "hub_pairs"):
            names = [entry[kind]["source"]]
        elif kind == "lhotse" and "source" not in entry[kind]:
            return [(f"lhotse_{corpus}", Path(lhotse_download_dir(corpus)), None)]  # what its recipe downloaded
        elif kind == "lhotse":
            names = [entry[kind]["source"]]
        else:
            names = []
        return [(name, self.source_folder(name), None) for name in names]

    def synthesised_audio(self, corpora: list[str]) -> list[tuple[str, Path, None]]:
        """The audio folders of the synthesised ones among ``corpora``, keyed like sources for the jobs
        that read them (units, k-means): a spoken file overwritten in a folder Snakemake made is then
        seen. VAD chunks and hub audio are cut from sources keyed themselves; at Libri-Light's size
        listing them at every plan would cost more than it saves."""
        return [(f"corpus_{corpus}_audio", Path(corpus_audio(corpus)), None) for corpus in corpora
                if corpus_kind(self.config["corpora"][corpus]) == "synthesise"]

    def audio_checks(self, corpus: str) -> str:
        """The audio checks a corpus's files must pass (none for a benchmark's)."""
        return as_json(corpus_audio_checks(self.config, corpus))

    def corpus_shards(self, corpus: str) -> list[str]:
        """The manifest shards of a corpus made in shards."""
        return [corpus_shard(corpus, shard) for shard in range(self.shard_count(corpus))]

    def shard_count(self, corpus: str) -> int:
        """How many jobs make a corpus made in shards."""
        return self.corpus_section(corpus, corpus_kind(self.config["corpora"][corpus]))["shards"]

    def rejected_before_shards(self, corpus: str) -> list[str]:
        """Rejected tables of what a sharded corpus is cut from (Libri-Light's recordings), so that the
        corpus's rejected table lists every file it did not use."""
        return [recordings_rejected(corpus)] if corpus_kind(self.config["corpora"][corpus]) == "librilight" else []

    # --- corpora of lhotse's recipes (slamming.data.lhotse_corpora) --------------------------------

    @property
    def lhotse_downloads(self) -> list[str]:
        """The lhotse corpora that its recipe downloads (those without a source of their own)."""
        return [name for name in self.corpora_of_kind("lhotse") if "source" not in self.corpus_section(name, "lhotse")]

    def lhotse_input(self, corpus: str) -> str:
        """What a lhotse corpus's prepare waits for: its source's record, or its download's."""
        section = self.corpus_section(corpus, "lhotse")
        return source_record(section["source"]) if "source" in section else lhotse_download_record(corpus)

    def lhotse_folder(self, corpus: str) -> str:
        """The folder a lhotse corpus's prepare reads when no download record names one: its source's."""
        section = self.corpus_section(corpus, "lhotse")
        return source_dir(section["source"]) if "source" in section else lhotse_download_dir(corpus)

    def lhotse_settings(self, corpus: str, step: str) -> str:
        """What decides a lhotse corpus's download, prepare or shards (and nothing else, so that a new
        shard count re-runs no download or prepare)."""
        section = self.corpus_section(corpus, "lhotse")
        keys = {"download": ("recipe", "download"), "prepare": ("recipe", "prepare", "splits", "audio_backend"),
                "shard": ("recipe", "audio_backend")}[step]
        return as_json({key: section[key] for key in keys})

    def corpus_shard_words(self, corpus: str) -> list[str]:
        """The word timings of a synthesised corpus's shards, as its TTS spoke them."""
        return [corpus_shard_words(corpus, shard) for shard in range(self.shard_count(corpus))]

    def corpus_shard_triples(self, corpus: str) -> list[str]:
        return [corpus_shard_triples(corpus, shard) for shard in range(self.shard_count(corpus))]

    def corpus_priority(self, corpus: str) -> int:
        return 1 if corpus in self.early_corpora else 0

    def demo_source(self, name: str) -> dict:
        return self.config["sources"][name]["demo"]

    def demo_source_tables(self, name: str) -> list[str]:
        table = self.demo_source(name).get("table")
        return [text_file(table)] if table else []

    # --- units --------------------------------------------------------------------------------

    def tokeniser_key(self, name: str) -> str:
        return name + DTYPE_SUFFIX[self.config["tokenisers"][name]["dtype"]]

    def tokenisers_with_kmeans(self, how: str) -> list[str]:
        """Keys of the tokenisers whose k-means is fitted here (``fit``) or imported (``source``)."""
        return sorted(key for key, name in self.tokeniser_of_key.items() if how in self.config["tokenisers"][name]["kmeans"])

    def tokeniser(self, key: str) -> dict:
        """The config entry of the tokeniser whose artifacts are under ``key``."""
        return self.config["tokenisers"][self.tokeniser_of_key[key]]

    def run_tokeniser(self, run: str) -> str:
        """The key of a run's tokeniser."""
        return self.tokeniser_key(self.run(run)["tokeniser"])

    def encoder_source(self, key: str) -> str | None:
        """The source holding a tokeniser's encoder model, or None (an encoder without a model: mfcc)."""
        spec = self.tokeniser(key)["encoder"]
        kind = next(k for k in ENCODER_KINDS if k in spec)
        return spec[kind] if kind != "mfcc" else None

    def encoder_files(self, key: str) -> list[str]:
        """What must exist before the encoder can be loaded."""
        source = self.encoder_source(key)
        return [source_record(source)] if source else []

    def encoder_settings(self, key: str) -> str:
        """What loads a tokeniser's encoder (``slamming.units.encoder.load_encoder``): its section, its model
        folder (null for mfcc) and its precision."""
        source = self.encoder_source(key)
        return as_json({"encoder": self.tokeniser(key)["encoder"], "folder": source_dir(source) if source else None,
                        "dtype": self.tokeniser(key)["dtype"]})

    def kmeans_pickle(self, key: str) -> str:
        from slamming.data.sources import url_filename

        source = self.tokeniser(key)["kmeans"]["source"]
        return f"{source_dir(source)}/{url_filename(self.config['sources'][source]['url'])}"

    def units_shards(self, corpus: str) -> int:
        return self.config["corpora"][corpus]["units_shards"]

    def units_shard_files(self, key: str, corpus: str) -> list[str]:
        return [units_shard(key, corpus, shard) for shard in range(self.units_shards(corpus))]

    # --- packing ------------------------------------------------------------------------------

    def mix_settings(self, run: str) -> dict:
        """All that decides a run's packed windows or chunks; runs that agree on it share them."""
        recipe = self.run(run)
        return {
            "tokeniser": self.tokeniser_key(recipe["tokeniser"]),
            # a corpus of weight 0 is not trained on, but validated on (packing.mixed_documents)
            "corpora": dict(sorted(recipe["data"]["pretrain"].items())),
            "context": recipe["pretrain"]["context_length"],
            "seed": recipe["seed"],
            "packing": recipe["pretrain"]["packing"],  # official (pack_chunks) or windows (pack_windows)
            "interleaving": self.interleaving_settings(run),
        }

    def interleaving_settings(self, run: str) -> dict | None:
        """What decides an interleaved run's mixture besides its speech mix (None for a speech-only run)."""
        recipe = self.run(run)
        interleaving = recipe.get("interleaving")
        if not interleaving:
            return None
        return {"text_lm": recipe["pretrain"]["base_model"], "corpora": dict(sorted(interleaving["corpora"].items())),
                "text": dict(sorted(interleaving["text"].items())), "speech_share": interleaving["speech_share"],
                "span_mean": interleaving["span_mean"], "shares": interleaving["shares"]}

    def mix_vocabulary(self, mix: str) -> str:
        """The vocabulary a mix is packed in: its tokeniser's, or for an interleaved mix its text LM's with the units."""
        settings = self.mixes[mix]
        if settings["interleaving"]:
            return interleaved_vocabulary(settings["tokeniser"], settings["interleaving"]["text_lm"])
        return vocabulary(settings["tokeniser"])

    def run_vocabulary(self, run: str) -> str:
        return self.mix_vocabulary(self.mix_key(self.mix_settings(run)))

    def interleaved_vocabularies(self) -> list[str]:
        return sorted({self.mix_vocabulary(key) for key, mix in self.mixes.items() if mix["interleaving"]})

    def mix_interleaving_inputs(self, mix: str) -> list[str]:
        """The files an interleaved mix reads besides its speech mix's units: word alignments, the interleaved
        corpora's units, the filtered text corpora and the text LM (its tokenizer)."""
        settings = self.mixes[mix]
        interleaving = settings["interleaving"]
        if not interleaving:
            return []
        files = [word_alignments(aligner, corpus) for corpus, aligner in interleaving["corpora"].items()]
        files += [units_table(settings["tokeniser"], corpus) for corpus in interleaving["corpora"]]
        files += [text_corpus(name) for name in interleaving["text"]]
        return files + self.text_lm_files(interleaving["text_lm"])

    def mix_interleaving(self, mix: str) -> str:
        """The --interleaving argument of the packing: the mixture's files and settings (its speech is --mix)."""
        settings = self.mixes[mix]
        interleaving = settings["interleaving"]
        if not interleaving:
            return ""
        spec = {"interleaved": {corpus: {"words": word_alignments(aligner, corpus), "units": units_table(settings["tokeniser"], corpus)}
                                for corpus, aligner in interleaving["corpora"].items()},
                "text": {name: {"documents": text_corpus(name), "weight": weight} for name, weight in interleaving["text"].items()},
                "text_lm": self.text_lm_dir(interleaving["text_lm"]),
                **{key: interleaving[key] for key in ("speech_share", "span_mean", "shares")}}
        return "--interleaving " + shlex.quote(as_json(spec))

    def flops_budget_summary(self, run: str) -> list[str]:
        """The training summary of the run whose pretraining FLOPs are this run's budget (pretrain.budget.flops_of)."""
        other = self.run(run)["pretrain"]["budget"]["flops_of"]
        return [training_summary(model_dir(other, "pretrained"))] if other else []

    @property
    def compared_interleaved_runs(self) -> list[str]:
        """Interleaved runs compared with a speech-only run at equal compute (interleaving.compare_with)."""
        return sorted(run for run in self.runs if (self.run(run).get("interleaving") or {}).get("compare_with"))

    def equal_compute_tables(self, run: str) -> list[str]:
        """Both runs' per-pair tables of the benchmarks they share."""
        other = self.run(run)["interleaving"]["compare_with"]
        shared = sorted(set(self.run(run)["data"]["benchmarks"]) & set(self.run(other)["data"]["benchmarks"]))
        return [run_file(name, f"eval/{benchmark}.parquet") for benchmark in shared for name in (other, run)]

    def word_alignment_shards(self, aligner: str, corpus: str) -> list[str]:
        """The shards a corpus's word alignments are merged from: its synthesis shards' (tts), or align_words'."""
        if aligner == "tts":
            return self.corpus_shard_words(corpus)
        return [word_alignment_shard(aligner, corpus, shard) for shard in range(self.units_shards(corpus))]

    @staticmethod
    def mix_key(settings: dict) -> str:
        return f"ctx{settings['context']}-{hashlib.sha1(as_json(settings).encode()).hexdigest()[:8]}"

    def mixes_packed_by(self, packing: str) -> list[str]:
        return sorted(key for key, mix in self.mixes.items() if mix["packing"] == packing)

    def run_packed_dir(self, run: str) -> str:
        settings = self.mix_settings(run)
        return packed_dir(settings["tokeniser"], self.mix_key(settings))

    def run_packed_files(self, run: str) -> list[str]:
        """The arrays a run trains on, declared so that Snakemake sees one missing or changed."""
        settings = self.mix_settings(run)
        return packed_files(settings["tokeniser"], self.mix_key(settings), array_names(settings["packing"]))

    def run_packing_report(self, run: str) -> str:
        settings = self.mix_settings(run)
        return packing_report(settings["tokeniser"], self.mix_key(settings))

    def mix_units(self, tokeniser: str, mix: str) -> dict:
        return {corpus: {"units": units_table(tokeniser, corpus), "weight": weight}
                for corpus, weight in self.mixes[mix]["corpora"].items()}

    def mix_unit_tables(self, tokeniser: str, mix: str) -> list[str]:
        return [units_table(tokeniser, corpus) for corpus in self.mixes[mix]["corpora"]]

    # --- models -------------------------------------------------------------------------------

    @staticmethod
    def text_lm_dir(name: str) -> str:
        return model_dir(WORKFLOW_TEXT_LM) if name == WORKFLOW_TEXT_LM else source_dir(name)

    @staticmethod
    def text_lm_files(name: str) -> list[str]:
        """What must exist before the text LM can be loaded."""
        if name == WORKFLOW_TEXT_LM:
            folder = model_dir(WORKFLOW_TEXT_LM)
            return [model_config(folder), weights(folder), tokenizer(folder)]
        return [source_record(name)]

    def speech_lm_settings(self, run: str) -> str:
        """What makes a run's initial speech LM from its base model (``slamming.training.speech_lm``)."""
        pretrain = self.run(run)["pretrain"]
        return as_json({"init": pretrain["init"], "rope_theta": pretrain["rope_theta"], "dropout": pretrain["dropout"],
                        "fresh_embeddings": pretrain["fresh_embeddings"], "seed": self.run(run)["seed"]})

    @staticmethod
    def launcher(gpus: int) -> str:
        """One process, or one per GPU under torchrun; the training code is the same."""
        return f"torchrun --standalone --nproc_per_node {gpus} -m" if gpus > 1 else "python -m"

    def training_runtime(self, run: str, stage: str) -> int:
        """Minutes a pretraining or DPO job asks for (Snakemake's ``runtime`` resource)."""
        hours = self.run(run)[stage]["budget"].get("hours")
        if hours is None:
            return UNTIMED_TRAINING_MINUTES
        return math.ceil(hours * 60 * TRAINING_OVERHEAD) + TRAINING_STARTUP_MINUTES

    def dpo_inputs(self, run: str) -> dict:
        corpus = self.run(run)["data"]["dpo"]
        if not corpus:
            raise PlanError(f"run {run!r} has no DPO corpus (data.dpo is null): its model is {model_dir(run, 'pretrained')}")
        pairs = self.config["corpora"][corpus].get("pairs")
        if not pairs:
            raise PlanError(f"corpora.{corpus}: a DPO corpus needs `pairs`, its table of preference triples")
        return {"units": units_table(self.run_tokeniser(run), corpus), "pairs": text_file(pairs)}

    def training_settings(self, run: str, stage: str) -> str:
        """What a training stage (pretrain, dpo) computes: its settings less slamming.training.HOW_NOT_WHAT.
        The rule's `settings` param, which Snakemake compares; the stage itself reads them all (``stage_settings``)."""
        return as_json(what_it_computes(self.run(run)[stage]))

    def stage_settings(self, run: str, stage: str) -> str:
        return as_json(self.run(run)[stage])

    def training_stages(self, run: str) -> list[str]:
        if self.evaluated_model(run):
            return []
        return ["pretrained", "dpo"] if self.run(run)["data"]["dpo"] else ["pretrained"]

    def final_model(self, run: str) -> str:
        """The model a run evaluates: after DPO, or after pretraining when the run has no DPO; for a model of
        the speech_lms registry, the folder rule prepare_speech_lm makes of it."""
        if self.evaluated_model(run):
            return model_dir(run, "evaluated")
        return model_dir(run, self.training_stages(run)[-1])

    def products(self, run: str) -> list[str]:
        """What a run delivers besides its metrics: each trained model's weights and config, and the vocoder's
        files. Snakemake makes a missing intermediate again only when something that reads it must re-run, so a
        model a killed, forced training removed would stay gone under metrics that describe it; as targets of
        the default rule (`snakemake` with no target) they are made again, and what reads them re-runs."""
        models = [model_dir(run, stage) for stage in self.training_stages(run)]
        return [f for m in models for f in (weights(m), model_config(m))] + self.vocoder_files(run)

    def default_targets(self) -> list[str]:
        """The files of `snakemake` with no target (rule all): each default run's metrics, report and products,
        and the table of every run's metrics."""
        files = ["results/metrics.csv", "results/comparisons.csv"]
        for run in self.config["default_runs"]:
            files += [metrics_file(run), run_file(run, "report/training_curves.svg"), run_file(run, "report/samples"),
                      *self.products(run)]
            if self.run(run).get("seeds"):  # and the other seeds' runs, through their spread
                files += [seeds_summary(run), *(f for member in self.seed_members(run).values() for f in self.products(member))]
        return files

    # --- GPUs ---------------------------------------------------------------------------------

    def gpu_slot(self, count: int = 1) -> int:
        """The local ``gpu`` resource of a job using ``count`` GPUs (0 or 1): on a machine with a GPU,
        GPU jobs take the one slot of profiles/default and run one at a time; on a CPU-only machine
        they take none and run in parallel."""
        return 1 if self.local_gpu and count else 0

    def gpu_gres(self, count: int = 1) -> str:
        """The SLURM generic resources of a job using ``count`` GPUs ("" when not on a GPU cluster)."""
        return f"gpu:{count}" if self.cluster_gpus and count else ""

    # --- evaluation ---------------------------------------------------------------------------

    def pair_settings(self, corpus: str, benchmark: str) -> dict:
        settings = self.config["corpora"][corpus].get("benchmark_pairs", {}).get(benchmark)
        if settings is None:
            raise PlanError(f"corpora.{corpus}.benchmark_pairs has no {benchmark!r}: say how its utterances pair up")
        return settings

    def pair_tables(self, corpus: str, benchmark: str) -> list[str]:
        """The items table a benchmark's pairs come from, when they come from one."""
        table = self.pair_settings(corpus, benchmark).get("table")
        return [text_file(table)] if table else []

    def pairing(self, corpus: str, benchmark: str) -> str:
        """How a benchmark's utterances pair up (``slamming.evaluation.likelihood``): its settings, with the
        path of sBLIMP's gold.csv in its audio folder or of the items table."""
        settings = dict(self.pair_settings(corpus, benchmark))
        if "gold_csv" in settings:
            folder = source_dir(self.corpus_section(corpus, "audio_folder")["source"])
            settings["gold_csv"] = f"{folder}/{settings['gold_csv']}"
        if "table" in settings:
            settings["table"] = text_file(settings["table"])
        return as_json(settings)

    def is_official(self, corpus: str, benchmark: str) -> bool:
        """A published benchmark is scored on every pair or not at all."""
        return self.pair_settings(corpus, benchmark)["official"]

    def benchmark_corpus(self, run: str, benchmark: str) -> str:
        return self.run(run)["data"]["benchmarks"][benchmark]

    def run_pairs(self, run: str, benchmark: str) -> str:
        return pairs_file(self.benchmark_corpus(run, benchmark), benchmark)

    def generations(self, run: str) -> list[str]:
        """A run's generation folders: in domain (sStoryCloze prompts), and out of domain when the recipe names a corpus."""
        return [IN_DOMAIN] + ([OUT_OF_DOMAIN] if self.run(run)["evaluation"]["out_of_domain_prompts"] else [])

    def prompt_pairs(self, run: str, generation: str = IN_DOMAIN) -> str:
        """Generation prompts: the positive (correct) utterances of the run's sStoryCloze pairs; out of domain,
        the manifest of the corpus evaluation.out_of_domain_prompts names."""
        if generation == OUT_OF_DOMAIN:
            return manifest(self.run(run)["evaluation"]["out_of_domain_prompts"])
        benchmarks = self.run(run)["data"]["benchmarks"]
        if "sstorycloze" not in benchmarks:
            raise PlanError(f"run {run!r}: generation takes its prompts from data.benchmarks.sstorycloze, which is not set")
        return pairs_file(benchmarks["sstorycloze"], "sstorycloze")

    def mos_outputs(self, run: str) -> list[str]:
        """The MOS proxy's summary, when the recipe names a predictor (evaluation.mos)."""
        return [generation_file(run, IN_DOMAIN, "mos.json")] if self.run(run)["evaluation"]["mos"] else []

    def out_of_domain_outputs(self, run: str) -> list[str]:
        """The out-of-domain generation's GenPPL and auto-BLEU, when the recipe has one."""
        return [generation_file(run, OUT_OF_DOMAIN, "scores.json")] if OUT_OF_DOMAIN in self.generations(run) else []

    # --- studies -----------------------------------------------------------------------------

    @property
    def studies(self) -> dict[str, dict]:
        """Each study's variants (config/studies/<name>.yaml, expanded by ``slamming.workflow.studies``)."""
        return getattr(self.runs, "studies", {})

    def study_members(self, name: str) -> list[str]:
        return [run for variant in self.studies[name]["variants"] for run in variant["members"].values()]

    def study_inputs(self, name: str) -> list[str]:
        """What a study's table reads: each member run's metrics.json, its per-pair tables of the study's
        benchmarks, and its pretraining log."""
        from slamming.workflow.studies import PAIRED

        files = []
        for run in self.study_members(name):
            files.append(metrics_file(run))
            files += [run_file(run, f"eval/{b}.parquet") for b in self.studies[name]["metrics"]
                      if b in PAIRED and b in self.run(run)["data"]["benchmarks"]]
            files.append(training_log(model_dir(run, "pretrained")))
        return files

    def study_json(self, name: str) -> str:
        study = self.studies[name]
        return as_json({"name": name, "description": study["description"], "metrics": study["metrics"],
                        "variants": [{"run": v["run"], "settings": v["settings"], "members": {str(k): r for k, r in v["members"].items()}}
                                     for v in study["variants"]]})

    def study_cost(self, name: str) -> list[str]:
        """A line per variant: its runs and what their training budgets add up to (GPU-hours where the budget is
        hours, else its steps or FLOPs), said before a study starts."""
        lines = []
        for variant in self.studies[name]["variants"]:
            runs = list(variant["members"].values())
            budgets = {stage: self.run(runs[0])[stage]["budget"] for stage in ("pretrain", "dpo")
                       if stage == "pretrain" or self.run(runs[0])["data"]["dpo"]}
            hours = sum(b["hours"] for b in budgets.values() if b.get("hours"))
            other = ", ".join(f"{stage} {k} {b[k]}" for stage, b in budgets.items()
                              for k in ("max_steps", "epochs", "max_tokens", "max_flops", "flops_of")
                              if b.get(k) is not None and not b.get("hours"))
            cost = f"{hours * len(runs):.1f} GPU-hours of training" if hours else "a budget of " + other
            lines.append(f"study {name}: {variant['run']} x {len(runs)} seed(s): {cost}"
                         + (f" ({', '.join(f'{k} {v}' for k, v in variant['changed'].items())})" if variant["changed"] else " (the base)"))
        return lines

    def text_prompt_lm(self, run: str) -> str:
        """The generate job's --text-lm argument: the base LM's folder, for text prompts (generation.prompt_modality)."""
        if self.run(run)["generation"]["prompt_modality"] != "text":
            return ""
        return f"--text-lm {self.text_lm_dir(self.run(run)['pretrain']['base_model'])}"

    def cross_modal_outputs(self, run: str) -> list[str]:
        return [run_file(run, "eval/cross_modal.json")] if self.run(run)["evaluation"]["cross_modal"] else []

    def asr_model(self, name: str) -> dict:
        return self.config["asr_models"][name]

    def vocoder_training(self, vocoder: str) -> dict:
        return self.config["vocoders"][vocoder]["train"]

    def vocoder_training_inputs(self, vocoder: str) -> dict:
        key = self.tokeniser_key(self.config["vocoders"][vocoder]["tokeniser"])
        corpus = self.vocoder_training(vocoder)["corpus"]
        return {"units": units_table(key, corpus), "manifest": manifest(corpus), "vocabulary": vocabulary(key)}

    def vocoder_evaluation_inputs(self, vocoder: str) -> dict:
        """The held-out utterances a trained vocoder speaks again, and the recogniser that hears them."""
        asr = self.asr_model(self.vocoder_training(vocoder)["asr"])["model"]
        return {**self.vocoder_training_inputs(vocoder), "asr": source_record(asr)}

    def run_vocoder(self, run: str) -> tuple[str, dict]:
        name = self.run(run)["evaluation"]["vocoder"]
        return name, self.config["vocoders"][name]

    def vocoder_files(self, run: str) -> list[str]:
        name, vocoder = self.run_vocoder(run)
        if "train" in vocoder:
            return [vocoder_weights(name), vocoder_config(name)]
        return [source_record(vocoder["checkpoint"]), source_record(vocoder["config"])]

    def vocoder_settings(self, run: str) -> str:
        """Where a run's vocoder's weights and architecture are (``slamming.evaluation.vocoder.load_vocoder``), and
        the sha256 a pickled checkpoint must have before it is opened (null for a trained one)."""
        from slamming.data.sources import url_filename

        name, vocoder = self.run_vocoder(run)
        if "train" in vocoder:
            return as_json({"checkpoint": vocoder_weights(name), "config": vocoder_config(name), "sha256": None})
        weights, architecture = self.config["sources"][vocoder["checkpoint"]], self.config["sources"][vocoder["config"]]
        return as_json({"checkpoint": f"{source_dir(vocoder['checkpoint'])}/{url_filename(weights['url'])}",
                        "config": f"{source_dir(vocoder['config'])}/{url_filename(architecture['url'])}",
                        "sha256": weights["sha256"]})

    def trained_vocoder_report(self, run: str) -> list[str]:
        name, vocoder = self.run_vocoder(run)
        return [resynthesis_report(name)] if "train" in vocoder else []

    def likelihood_outputs(self, run: str) -> list[str]:
        return [likelihood_summary(run, benchmark) for benchmark in self.run(run)["data"]["benchmarks"]]

    def topline_outputs(self, run: str) -> list[str]:
        """The text toplines of a run's benchmarks, when the recipe names a text LM for them."""
        if not self.run(run)["evaluation"]["text_topline"]:
            return []
        return [topline_summary(run, benchmark) for benchmark in self.run(run)["data"]["benchmarks"]]

    def judge_outputs(self, run: str) -> list[str]:
        """The judge's summary, when the recipe sets a judge."""
        return [judge_summary(run)] if self.run(run)["evaluation"]["judge"] else []

    def judge_key_present(self, run: str, environ=os.environ) -> bool:
        """Whether the judge's API key is in the environment now: a parameter of the judge's job, so
        that the job that could not run without its key is planned again once the key is there."""
        judge = self.run(run)["evaluation"]["judge"]
        return bool(judge and environ.get(judge["api_key_env"]))

    def training_summaries(self, run: str) -> list[str]:
        return [training_summary(model_dir(run, stage)) for stage in self.training_stages(run)]

    def training_logs(self, run: str) -> list[str]:
        return [training_log(model_dir(run, stage)) for stage in self.training_stages(run)]

    def run_timings(self, run: str) -> list[str]:
        """Timings of the run's own jobs: training and evaluation (shared pre-processing is not
        counted, as in the paper)."""
        recipe = self.run(run)
        jobs = [] if self.evaluated_model(run) else ["pretrain"] + (["dpo"] if recipe["data"]["dpo"] else [])
        jobs += [f"eval_{benchmark}" for benchmark in recipe["data"]["benchmarks"]]
        jobs += [f"{generation}/{job}" for generation in self.generations(run)
                 for job in ("generate", "vocode", "transcribe", "score_generations")]
        jobs += ["judge"] if recipe["evaluation"]["judge"] else []
        jobs += ["mos"] if recipe["evaluation"]["mos"] else []
        return [timings(f"{run}/{job}") for job in jobs]

    def metrics_runs(self, targets: list[str], made=os.path.exists) -> list[str]:
        """Runs in the table across runs: those whose metrics exist already, and those this call makes
        (the runs of its targets; config's default_runs, when it has none and makes the default target)."""
        existing = {run for run in self.runs if made(metrics_file(run))}
        return [metrics_file(run) for run in sorted(existing | self.asked_runs(targets))]

    def asked_runs(self, targets: list[str]) -> set[str]:
        """The runs a call makes: those of its targets, or config's default_runs; with a recipe's seeds.json (or
        a seeded default run), the run of each of its seeds too."""
        if not targets:
            runs = set(self.config["default_runs"])
            return runs | {member for run in runs if self.run(run).get("seeds") for member in self.seed_members(run).values()}
        runs = set()
        for target in targets:
            run = run_of(target)
            if run not in self.runs:
                continue
            runs.add(run)
            if self.run(run).get("seeds") and str(target).startswith(run_file(run, "seeds")):
                runs |= set(self.seed_members(run).values())
        return runs

    def packed_arrays_problem(self, targets: list[str]) -> str | None:
        """Before the plan: one line when a packed array of a run this call makes is not the size its
        packing.json records. Snakemake sees a file's time; an array truncated with its time put back (or
        copied over with ``cp -p``) would otherwise be trained on, or stand under metrics it never made."""
        from slamming.artifacts import size_problem

        runs = self.asked_runs(targets)
        for run in sorted(r for r in runs if r in self.runs and not self.evaluated_model(r)):
            report = Path(self.run_packing_report(run))
            try:
                records = json.loads(report.read_text()).get("files", {})
            except (OSError, ValueError):
                continue  # not packed yet, or broken: the training's own check names it
            problem = size_problem(report.parent, records, report)
            if problem:
                return f"error: {problem}"
        return None

    def compared_tables(self, targets: list[str], made=os.path.exists) -> list[str]:
        """The per-pair tables of the runs in the table across runs (``metrics_runs``): what the paired
        comparisons of results/comparisons.csv read."""
        runs = [run_of(path) for path in self.metrics_runs(targets, made)]
        tables = [str(Path(summary).with_suffix(".parquet")) for run in runs for summary in self.likelihood_outputs(run)]
        # and a recipe's outcomes averaged over its seeds, once made or asked for (or with rule all)
        asked = set(targets) if targets else set(self.default_targets())
        return tables + [table for recipe in self.seeded_recipes if made(seeds_summary(recipe)) or seeds_summary(recipe) in asked
                         for table in self.seeds_pairs(recipe)]

    def sources_to_fetch(self, names) -> dict[str, dict]:
        """The config entries of the sources named (those the planned jobs will materialise)."""
        return {name: self.config["sources"][name] for name in names}
