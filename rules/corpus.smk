# Corpora: text for the demo, speech synthesis, audio folders, manifests and statistics.

from slamming.demo_text import SETS as DEMO_SETS


rule demo_text:
    output:
        table="results/text/demo/{set}.parquet",
        utterances="results/text/demo/{set}_utterances.parquet",
    wildcard_constraints:
        set="|".join(DEMO_SETS),
    params:
        # only the part of demo_text this set depends on: a change elsewhere leaves it alone
        settings=lambda wc: as_json(demo_text_settings(wc.set)),
    log:
        "logs/text/demo_{set}.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.demo_text {wildcards.set} --settings {params.settings:q}"
        " --out-dir results/text/demo --log-file {log}"


rule synthesise_shard:
    input:
        text=lambda wc: text_table(wc.corpus),
        voices=lambda wc: voice_sources(wc.corpus),
    output:
        manifest="results/corpora/{corpus}/shards/{shard}.parquet",
        rejected="results/corpora/{corpus}/shards/{shard}.rejected.parquet",
        audio=directory("results/corpora/{corpus}/audio/{shard}"),
    wildcard_constraints:
        corpus=one_of(SYNTHESISED),
    params:
        settings=lambda wc: synthesis_settings(wc.corpus),
    log:
        "logs/synthesise/{corpus}/{shard}.log",
    benchmark:
        "benchmarks/synthesise/{corpus}/{shard}.tsv"
    priority: corpus_priority
    threads: 1
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.synthesise_shard --text {input.text} --settings {params.settings:q}"
        " --sources resources/sources --corpus {wildcards.corpus} --shard {wildcards.shard}"
        " --out {output.manifest} --audio-dir {output.audio} --threads {threads} --log-file {log}"


rule merge_corpus_shards:
    input:
        shards=lambda wc: corpus_shards(wc.corpus),
        rejected_before=lambda wc: rejected_before_shards(wc.corpus),
    output:
        manifest="results/corpora/{corpus}/candidates.parquet",
        rejected="results/corpora/{corpus}/candidates.rejected.parquet",
    wildcard_constraints:
        corpus=one_of(SHARDED),
    log:
        "logs/corpora/{corpus}_merge.log",
    priority: corpus_priority
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.merge_corpus_shards --shards {input.shards} --rejected-before {input.rejected_before}"
        " --out {output.manifest} --rejected-out {output.rejected} --log-file {log}"


rule scan_audio_folder:
    input:
        lambda wc: source_record(config["corpora"][wc.corpus]["audio_folder"]["source"]),
    output:
        manifest="results/corpora/{corpus}/candidates.parquet",
        rejected="results/corpora/{corpus}/candidates.rejected.parquet",
    wildcard_constraints:
        corpus=one_of(AUDIO_FOLDERS),
    params:
        folder=lambda wc: source_dir(config["corpora"][wc.corpus]["audio_folder"]["source"]),
        settings=lambda wc: as_json(config["corpora"][wc.corpus]["audio_folder"]),
        # Not passed to the job: what the folder holds now, so that a changed, added or deleted file
        # makes the manifest again (and what depends on it), never a stale one.
        listing=lambda wc: audio_folder_listing(wc.corpus),
    log:
        "logs/corpora/{corpus}_scan.log",
    benchmark:
        "benchmarks/corpora/{corpus}_scan.tsv"
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.scan_audio_folder --folder {params.folder} --corpus {wildcards.corpus}"
        " --settings {params.settings:q}"
        " --out {output.manifest} --rejected-out {output.rejected} --log-file {log}"


rule apply_audio_checks:
    input:
        candidates="results/corpora/{corpus}/candidates.parquet",
        rejected="results/corpora/{corpus}/candidates.rejected.parquet",
    output:
        manifest="results/corpora/{corpus}/manifest.parquet",
        rejected="results/corpora/{corpus}/rejected.parquet",
    params:
        # the corpus's checks alone: a changed check re-runs this, never what made the audio
        checks=lambda wc: corpus_checks(wc.corpus),
    log:
        "logs/corpora/{corpus}_checks.log",
    priority: corpus_priority
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.apply_audio_checks --candidates {input.candidates} --rejected {input.rejected}"
        " --checks {params.checks:q} --corpus {wildcards.corpus}"
        " --out {output.manifest} --rejected-out {output.rejected} --log-file {log}"


rule corpus_stats:
    input:
        manifest="results/corpora/{corpus}/manifest.parquet",
        rejected="results/corpora/{corpus}/rejected.parquet",
    output:
        "results/corpora/{corpus}/stats.csv",
    log:
        "logs/corpora/{corpus}_stats.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.corpus_stats --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --rejected {input.rejected} --out {output} > {log} 2>&1"


rule units_stats:
    input:
        "results/units/{tokeniser}/{corpus}/units.parquet",
    output:
        "results/units/{tokeniser}/{corpus}/stats.csv",
    log:
        "logs/units/{tokeniser}/{corpus}/stats.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.units_stats --corpus {wildcards.corpus} --units {input}"
        " --out {output} > {log} 2>&1"


rule run_corpora_table:
    input:
        stats=lambda wc: [f"results/corpora/{corpus}/stats.csv" for corpus in run_corpora(wc.run)],
        tokens=lambda wc: [
            f"{units_dir(run_tokeniser(wc.run))}/{corpus}/stats.csv" for corpus in run_corpora(wc.run)
        ],
    output:
        "results/{run}/corpora.csv",
    log:
        "logs/{run}/corpora.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.run_corpora_table --stats {input.stats} --tokens {input.tokens}"
        " --out {output} > {log} 2>&1"


# --- the full recipe's corpora ---------------------------------------------------------------


rule librispeech_manifest:
    input:
        lambda wc: [source_record(s) for split in ("train", "valid") for s in corpus_section(wc.corpus, "librispeech")[split]],
    output:
        manifest="results/corpora/{corpus}/candidates.parquet",
        rejected="results/corpora/{corpus}/candidates.rejected.parquet",
    wildcard_constraints:
        corpus=one_of(corpora_of_kind("librispeech")),
    params:
        train=lambda wc: [source_dir(s) for s in corpus_section(wc.corpus, "librispeech")["train"]],
        valid=lambda wc: [source_dir(s) for s in corpus_section(wc.corpus, "librispeech")["valid"]],
    log:
        "logs/corpora/{corpus}_manifest.log",
    benchmark:
        "benchmarks/corpora/{corpus}_manifest.tsv"
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.librispeech_manifest --train {params.train} --valid {params.valid}"
        " --out {output.manifest} --rejected-out {output.rejected} --log-file {log}"


rule librilight_recordings:
    input:
        lambda wc: [source_record(s) for s in corpus_section(wc.corpus, "librilight")["sources"]],
    output:
        manifest="results/corpora/{corpus}/recordings.parquet",
        rejected="results/corpora/{corpus}/recordings.rejected.parquet",
    wildcard_constraints:
        corpus=one_of(corpora_of_kind("librilight")),
    params:
        roots=lambda wc: [source_dir(s) for s in corpus_section(wc.corpus, "librilight")["sources"]],
        valid_fraction=lambda wc: corpus_section(wc.corpus, "librilight")["valid_fraction"],
        seed=lambda wc: corpus_section(wc.corpus, "librilight")["seed"],
    log:
        "logs/corpora/{corpus}_recordings.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.librilight_recordings --roots {params.roots}"
        " --valid-fraction {params.valid_fraction} --seed {params.seed}"
        " --out {output.manifest} --rejected-out {output.rejected} --log-file {log}"


rule vad_chunk_shard:
    input:
        recordings="results/corpora/{corpus}/recordings.parquet",
        vad=lambda wc: source_record(corpus_section(wc.corpus, "librilight")["vad_model"]),
    output:
        manifest="results/corpora/{corpus}/shards/{shard}.parquet",
        rejected="results/corpora/{corpus}/shards/{shard}.rejected.parquet",
        audio=directory("results/corpora/{corpus}/audio/{shard}"),
    wildcard_constraints:
        corpus=one_of(corpora_of_kind("librilight")),
    params:
        vad=lambda wc: source_dir(corpus_section(wc.corpus, "librilight")["vad_model"]),
        settings=lambda wc: as_json(corpus_section(wc.corpus, "librilight")["vad"]),
        shards=lambda wc: corpus_section(wc.corpus, "librilight")["shards"],
    log:
        "logs/corpora/{corpus}/vad_{shard}.log",
    benchmark:
        "benchmarks/corpora/{corpus}/vad_{shard}.tsv"
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.vad_chunk_shard --manifest {input.recordings} --shard {wildcards.shard}"
        " --shards {params.shards} --vad {params.vad} --settings {params.settings:q}"
        " --out {output.manifest} --audio-dir {output.audio} --log-file {log}"


rule hub_audio_shard:
    input:
        lambda wc: source_record(corpus_section(wc.corpus, "hub_audio")["source"]),
    output:
        manifest="results/corpora/{corpus}/shards/{shard}.parquet",
        rejected="results/corpora/{corpus}/shards/{shard}.rejected.parquet",
        audio=directory("results/corpora/{corpus}/audio/{shard}"),
    wildcard_constraints:
        corpus=one_of(corpora_of_kind("hub_audio")),
    params:
        folder=lambda wc: source_dir(corpus_section(wc.corpus, "hub_audio")["source"]),
        settings=lambda wc: as_json(corpus_section(wc.corpus, "hub_audio")),
        shards=lambda wc: corpus_section(wc.corpus, "hub_audio")["shards"],
    log:
        "logs/corpora/{corpus}/hub_{shard}.log",
    benchmark:
        "benchmarks/corpora/{corpus}/hub_{shard}.tsv"
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.hub_audio_shard --folder {params.folder} --settings {params.settings:q}"
        " --shard {wildcards.shard} --shards {params.shards} --audio-dir {output.audio} --corpus {wildcards.corpus}"
        " --out {output.manifest} --rejected-out {output.rejected} --log-file {log}"


rule hub_triples_shard:
    input:
        lambda wc: source_record(corpus_section(wc.corpus, "hub_triples")["source"]),
    output:
        manifest="results/corpora/{corpus}/shards/{shard}.parquet",
        rejected="results/corpora/{corpus}/shards/{shard}.rejected.parquet",
        pairs="results/corpora/{corpus}/shards/{shard}.pairs.parquet",
        audio=directory("results/corpora/{corpus}/audio/{shard}"),
    wildcard_constraints:
        corpus=one_of(corpora_of_kind("hub_triples")),
    params:
        folder=lambda wc: source_dir(corpus_section(wc.corpus, "hub_triples")["source"]),
        settings=lambda wc: as_json(corpus_section(wc.corpus, "hub_triples")),
        shards=lambda wc: corpus_section(wc.corpus, "hub_triples")["shards"],
    log:
        "logs/corpora/{corpus}/hub_{shard}.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.hub_triples_shard --folder {params.folder} --settings {params.settings:q}"
        " --shard {wildcards.shard} --shards {params.shards} --audio-dir {output.audio} --corpus {wildcards.corpus}"
        " --pairs-out {output.pairs} --out {output.manifest}"
        " --rejected-out {output.rejected} --log-file {log}"


rule merge_preference_triples:
    input:
        lambda wc: [p.replace(".parquet", ".pairs.parquet") for p in corpus_shards(wc.corpus)],
    output:
        "results/text/{corpus}/pairs.parquet",
    wildcard_constraints:
        corpus=one_of(corpora_of_kind("hub_triples")),
    log:
        "logs/corpora/{corpus}_pairs.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.merge_preference_triples --tables {input} --out {output} --log-file {log}"


rule hub_pairs_corpus:
    input:
        lambda wc: source_record(corpus_section(wc.corpus, "hub_pairs")["source"]),
    output:
        manifest="results/corpora/{corpus}/candidates.parquet",
        rejected="results/corpora/{corpus}/candidates.rejected.parquet",
        item_table="results/text/{corpus}/items.parquet",
        audio=directory("results/corpora/{corpus}/audio"),
    wildcard_constraints:
        corpus=one_of(corpora_of_kind("hub_pairs")),
    params:
        folder=lambda wc: source_dir(corpus_section(wc.corpus, "hub_pairs")["source"]),
        settings=lambda wc: as_json(corpus_section(wc.corpus, "hub_pairs")),
    log:
        "logs/corpora/{corpus}_hub_pairs.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.hub_pairs_corpus --folder {params.folder} --settings {params.settings:q}"
        " --audio-dir {output.audio} --corpus {wildcards.corpus} --items-out {output.item_table}"
        " --out {output.manifest} --rejected-out {output.rejected} --log-file {log}"


rule tinystories_text:
    input:
        source_record("tinystories_text"),
    output:
        "results/text/tinystories/stories_utterances.parquet",
    params:
        folder=lambda wc, input: input[0].removesuffix(".json"),
    log:
        "logs/text/tinystories.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.tinystories_text --folder {params.folder} --out {output} --log-file {log}"


rule swag_text:
    input:
        source_record("swag_text"),
    output:
        triples="results/text/swag/spokenswag.parquet",
        utterances="results/text/swag/spokenswag_utterances.parquet",
    params:
        folder=lambda wc, input: input[0].removesuffix(".json"),
        seed=config["swag_text"]["seed"],
    log:
        "logs/text/swag.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.swag_text --folder {params.folder} --seed {params.seed}"
        " --out-dir results/text/swag --log-file {log}"
