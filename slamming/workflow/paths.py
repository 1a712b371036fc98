"""Where every artifact of the workflow lives: a function per kind of file, from its names. Each takes
wildcard patterns as well (``manifest("{corpus}")`` is a rule's output pattern, ``manifest("demo_swag")``
a file), so that a path is written once, here, and the rules and the plan (``slamming.workflow.plan``) share it.
"""

from __future__ import annotations

from pathlib import Path

SOURCES = "resources/sources"


def source_dir(name: str) -> str:
    """The folder a source is materialised into."""
    return f"{SOURCES}/{name}"


def source_record(name: str) -> str:
    """The file that says source ``name`` is materialised (and what it is)."""
    return f"{SOURCES}/{name}.json"


LHOTSE_DOWNLOADS = "resources/lhotse"


def lhotse_download_dir(corpus: str) -> str:
    """The folder a corpus of kind lhotse is downloaded into by its recipe's ``download_<recipe>``."""
    return f"{LHOTSE_DOWNLOADS}/{corpus}"


def lhotse_download_record(corpus: str) -> str:
    """The file that says a lhotse download finished (its recipe, arguments and the corpus folder)."""
    return f"{LHOTSE_DOWNLOADS}/{corpus}.json"


def text_file(table: str) -> str:
    """The file of the text table named ``<set>/<table>``."""
    text_set, name = table.split("/", 1)
    return f"results/text/{text_set}/{name}.parquet"


def text_corpus(name: str, suffix: str = ".parquet") -> str:
    """A text corpus after its quality filter (``_rejected.parquet``: what the filter took out; ``.json``: the counts)."""
    return f"results/text_corpora/{name}{suffix}"


def interleaved_vocabulary(tokeniser: str, text_lm: str) -> str:
    """The vocabulary of an interleaved model: a text LM's ids, then a tokeniser's units and the two markers."""
    return f"{units_dir(tokeniser)}/interleaved/{text_lm}/vocabulary.json"


def corpus_dir(corpus: str) -> str:
    return f"results/corpora/{corpus}"


def candidates(corpus: str) -> str:
    """A corpus's utterances before its audio checks."""
    return f"{corpus_dir(corpus)}/candidates.parquet"


def candidates_rejected(corpus: str) -> str:
    return f"{corpus_dir(corpus)}/candidates.rejected.parquet"


def manifest(corpus: str) -> str:
    """A corpus's utterances that passed its audio checks: what every later stage reads."""
    return f"{corpus_dir(corpus)}/manifest.parquet"


def rejected(corpus: str) -> str:
    """Every file of a corpus that was not used, with the reason."""
    return f"{corpus_dir(corpus)}/rejected.parquet"


def recordings(corpus: str) -> str:
    """The long recordings a Libri-Light-like corpus is cut from by voice activity."""
    return f"{corpus_dir(corpus)}/recordings.parquet"


def recordings_rejected(corpus: str) -> str:
    return f"{corpus_dir(corpus)}/recordings.rejected.parquet"


def lhotse_manifest(corpus: str, kind: str) -> str:
    """A lhotse corpus's kept splits as prepared by its recipe: ``recordings`` or ``supervisions`` (lhotse's jsonl.gz)."""
    return f"{corpus_dir(corpus)}/lhotse/{kind}.jsonl.gz"


def lhotse_prepared_dir(corpus: str) -> str:
    """Where a lhotse recipe's prepare writes its own files (its output_dir)."""
    return f"{corpus_dir(corpus)}/lhotse/prepared"


def corpus_shard(corpus: str, shard: str | int) -> str:
    return f"{corpus_dir(corpus)}/shards/{shard}.parquet"


def corpus_shard_rejected(corpus: str, shard: str | int) -> str:
    return f"{corpus_dir(corpus)}/shards/{shard}.rejected.parquet"


def corpus_shard_words(corpus: str, shard: str | int) -> str:
    """The words of a synthesised shard, timed by the TTS that spoke them."""
    return f"{corpus_dir(corpus)}/shards/{shard}.words.parquet"


def word_alignments(aligner: str, corpus: str) -> str:
    """A corpus's words with their times, by one aligner (tts: the voice's own timing; whisper)."""
    return f"results/alignments/{aligner}/{corpus}.parquet"


def word_alignment_shard(aligner: str, corpus: str, shard: str | int) -> str:
    """A shard of a corpus's words timed by an ASR model (rule align_words)."""
    return f"results/alignments/{aligner}/{corpus}/shards/{shard}.parquet"


def corpus_shard_triples(corpus: str, shard: str | int) -> str:
    """The preference triples (prompt, chosen, rejected) of a shard of a hub_triples corpus."""
    return f"{corpus_dir(corpus)}/shards/{shard}.pairs.parquet"


def corpus_audio(corpus: str) -> str:
    """The audio files of a corpus made in one job."""
    return f"{corpus_dir(corpus)}/audio"


def corpus_shard_audio(corpus: str, shard: str | int) -> str:
    return f"{corpus_dir(corpus)}/audio/{shard}"


def corpus_stats(corpus: str) -> str:
    return f"{corpus_dir(corpus)}/stats.csv"


def units_dir(tokeniser: str) -> str:
    """The folder of a tokeniser's artifacts (its key: see ``Plan.tokeniser_key``)."""
    return f"results/units/{tokeniser}"


def centroids(tokeniser: str) -> str:
    return f"{units_dir(tokeniser)}/centroids.npy"


def vocabulary(tokeniser: str) -> str:
    """The speech vocabulary (``slamming.units.vocabulary.SpeechVocabulary``): units, frame rate, special tokens."""
    return f"{units_dir(tokeniser)}/vocabulary.json"


def units_table(tokeniser: str, corpus: str) -> str:
    return f"{units_dir(tokeniser)}/{corpus}/units.parquet"


def units_shard(tokeniser: str, corpus: str, shard: str | int) -> str:
    return f"{units_dir(tokeniser)}/{corpus}/shards/{shard}.parquet"


def units_rejected(tokeniser: str, corpus: str) -> str:
    """The utterances of a corpus that gave no units, with the reason."""
    return f"{units_dir(tokeniser)}/{corpus}/rejected.parquet"


def units_shard_rejected(tokeniser: str, corpus: str, shard: str | int) -> str:
    return f"{units_dir(tokeniser)}/{corpus}/shards/{shard}.rejected.parquet"


def units_stats(tokeniser: str, corpus: str) -> str:
    return f"{units_dir(tokeniser)}/{corpus}/stats.csv"


def packed_dir(tokeniser: str, mix: str) -> str:
    return f"results/packed/{tokeniser}/{mix}"


def packed_files(tokeniser: str, mix: str, names) -> list[str]:
    """The arrays of a packed mix (windows or chunks, per split)."""
    return [f"{packed_dir(tokeniser, mix)}/{name}" for name in names]


def packing_report(tokeniser: str, mix: str) -> str:
    """What a packing made (windows or chunks, tokens, documents): the file that stands for the mix."""
    return f"{packed_dir(tokeniser, mix)}/packing.json"


def model_dir(run: str, stage: str | None = None) -> str:
    """A run's model after a stage (init, pretrained or dpo), or a model of its own (the demo's text LM)."""
    return f"results/models/{run}/{stage}" if stage else f"results/models/{run}"


def weights(model: str) -> str:
    """A model folder's weights (safetensors)."""
    return f"{model}/model.safetensors"


def model_config(model: str) -> str:
    return f"{model}/config.json"


def tokenizer(model: str) -> str:
    """A text LM's Hugging Face tokenizer."""
    return f"{model}/tokenizer.json"


def training_log(model: str) -> str:
    """The losses and learning rate of each step of the training that made a model."""
    return f"{model}/training_log.csv"


def training_summary(model: str) -> str:
    return f"{model}/training_summary.json"


def vocoder_dir(vocoder: str) -> str:
    return f"results/vocoders/{vocoder}"


def vocoder_weights(vocoder: str) -> str:
    return f"{vocoder_dir(vocoder)}/generator.safetensors"


def vocoder_config(vocoder: str) -> str:
    return f"{vocoder_dir(vocoder)}/config.json"


def vocoder_training_report(vocoder: str) -> str:
    """Steps, time and losses of a vocoder the workflow trained."""
    return f"{vocoder_dir(vocoder)}/training.json"


def resynthesis_report(vocoder: str) -> str:
    """How well speech the vocoder makes from units is understood (WER on held-out utterances)."""
    return f"{vocoder_dir(vocoder)}/resynthesis.json"


def pairs_file(corpus: str, benchmark: str) -> str:
    """A benchmark's pairs of utterances (positive, negative) in a corpus."""
    return f"results/benchmarks/{corpus}/{benchmark}/pairs.parquet"


def run_of(path: str) -> str | None:
    """The run a path under results/<run>/ belongs to (eval/<name> for results/eval/<name>/), else None."""
    parts = Path(path).parts
    if len(parts) < 3 or parts[0] != "results":
        return None
    return f"eval/{parts[2]}" if parts[1] == "eval" and len(parts) > 3 else parts[1]


# A run's generations: from its sStoryCloze prompts (generation/), and from an out-of-domain corpus's
# (generation_ood/, evaluation.out_of_domain_prompts)
IN_DOMAIN, OUT_OF_DOMAIN = "generation", "generation_ood"


def generation_file(run: str, generation: str, name: str) -> str:
    return run_file(run, f"{generation}/{name}")


def seeds_summary(recipe: str) -> str:
    """A recipe trained under several seeds (its ``seeds``): each metric's mean, min and max over them."""
    return run_file(recipe, "seeds.json")


def seeds_pairs(recipe: str, benchmark: str) -> str:
    """Each pair's outcome averaged over a recipe's seeds."""
    return run_file(recipe, f"seeds/{benchmark}.parquet")


def compared_name(table: str) -> str:
    """The name a per-pair table is compared under in results/comparisons.csv: its run, or <recipe>/seeds for
    the outcomes averaged over a recipe's seeds."""
    parts = Path(table).parts
    return f"{parts[1]}/seeds" if len(parts) == 4 and parts[2] == "seeds" else run_of(table)


def run_file(run: str, name: str) -> str:
    """A file of a run's own results: its evaluation (eval/), generations (generation/), report (report/)."""
    return f"results/{run}/{name}"


def likelihood_summary(run: str, benchmark: str) -> str:
    return run_file(run, f"eval/{benchmark}.json")


def topline_summary(run: str, benchmark: str) -> str:
    """The text LM's accuracy on the text of a benchmark's pairs."""
    return run_file(run, f"eval/{benchmark}_text.json")


def judge_summary(run: str) -> str:
    return run_file(run, "generation/judge.json")


def metrics_file(run: str) -> str:
    return run_file(run, "metrics.json")


def timings(job: str) -> str:
    """Snakemake's time and memory record of a job (its ``benchmark:`` file)."""
    return f"timings/{job}.tsv"
