# Corpora: text for the demo, speech synthesis, audio folders, manifests and statistics.

DEMO_SETS = ["stories", "swag", "storycloze", "blimp"]


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
        "../envs/workflow.yaml"
    shell:
        "python -m workflow_scripts.demo_text {wildcards.set} --settings {params.settings:q}"
        " --out-dir results/text/demo --log {log}"


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
    threads: 1
    conda:
        "../envs/synthesis.yaml"
    shell:
        "python -m workflow_scripts.synthesise --text {input.text} --settings {params.settings:q}"
        " --sources resources/sources --corpus {wildcards.corpus} --shard {wildcards.shard}"
        " --out {output.manifest} --audio-dir {output.audio} --threads {threads} --log {log}"


rule merge_synthesised_corpus:
    input:
        lambda wc: synthesis_shards(wc.corpus),
    output:
        manifest="results/corpora/{corpus}/manifest.parquet",
        rejected="results/corpora/{corpus}/rejected.parquet",
    wildcard_constraints:
        corpus=one_of(SYNTHESISED),
    log:
        "logs/corpora/{corpus}_merge.log",
    conda:
        "../envs/workflow.yaml"
    shell:
        "python -m workflow_scripts.manifest merge --shards {input} --out {output.manifest}"
        " --rejected-out {output.rejected} 2> {log}"


rule scan_audio_folder:
    input:
        lambda wc: source_record(config["corpora"][wc.corpus]["audio_folder"]["source"]),
    output:
        manifest="results/corpora/{corpus}/manifest.parquet",
        rejected="results/corpora/{corpus}/rejected.parquet",
    wildcard_constraints:
        corpus=one_of(AUDIO_FOLDERS),
    params:
        folder=lambda wc: source_dir(config["corpora"][wc.corpus]["audio_folder"]["source"]),
        settings=lambda wc: as_json(config["corpora"][wc.corpus]["audio_folder"]),
        checks=as_json(config["audio_checks"]),
    log:
        "logs/corpora/{corpus}_scan.log",
    benchmark:
        "benchmarks/corpora/{corpus}_scan.tsv"
    conda:
        "../envs/workflow.yaml"
    shell:
        "python -m workflow_scripts.manifest scan-folder --folder {params.folder} --corpus {wildcards.corpus}"
        " --settings {params.settings:q} --checks {params.checks:q}"
        " --out {output.manifest} --rejected-out {output.rejected} 2> {log}"


rule corpus_stats:
    input:
        manifest="results/corpora/{corpus}/manifest.parquet",
        rejected="results/corpora/{corpus}/rejected.parquet",
    output:
        "results/corpora/{corpus}/stats.csv",
    log:
        "logs/corpora/{corpus}_stats.log",
    conda:
        "../envs/workflow.yaml"
    shell:
        "python -m workflow_scripts.corpus_stats corpus --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --rejected {input.rejected} --out {output} > {log} 2>&1"


rule run_corpora_table:
    input:
        lambda wc: [f"results/corpora/{corpus}/stats.csv" for corpus in run_corpora(wc.run)],
    output:
        "results/{run}/corpora.csv",
    log:
        "logs/{run}/corpora.log",
    conda:
        "../envs/workflow.yaml"
    shell:
        "python -m workflow_scripts.corpus_stats table --stats {input} --out {output} > {log} 2>&1"
