# Corpora: text for the demo, speech synthesis, audio folders, manifests and statistics.

from slamming.data.demo_text import SETS as DEMO_SETS, settings_for as demo_text_settings


rule demo_text:
    output:
        table=paths.text_file("demo/{set}"),
        utterances=paths.text_file("demo/{set}_utterances"),
    wildcard_constraints:
        set="|".join(DEMO_SETS),
    params:
        code=STAGE_CODE.digest("demo_text"),
        # only the part of demo_text this set depends on: a change elsewhere leaves it alone
        settings=lambda wc: as_json(demo_text_settings(wc.set, config["demo_text"])),
    log:
        "logs/text/demo_{set}.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.demo_text {wildcards.set} --settings {params.settings:q}"
        " --table {output.table} --utterances {output.utterances} --log-file {log}"


rule synthesise_shard:
    input:
        text=lambda wc: PLAN.synthesis_text(wc.corpus),
        voices=lambda wc: PLAN.voice_sources(wc.corpus),
    output:
        manifest=paths.corpus_shard("{corpus}", "{shard}"),
        rejected=paths.corpus_shard_rejected("{corpus}", "{shard}"),
        words=paths.corpus_shard_words("{corpus}", "{shard}"),
        audio=directory(paths.corpus_shard_audio("{corpus}", "{shard}")),
    wildcard_constraints:
        corpus=one_of(PLAN.corpora_of_kind("synthesise")),
    params:
        code=STAGE_CODE.digest("synthesise_shard"),
        settings=lambda wc: PLAN.synthesis_settings(wc.corpus),
        sources=paths.SOURCES,
    log:
        "logs/synthesise/{corpus}/{shard}.log",
    benchmark:
        paths.timings("synthesise/{corpus}/{shard}")
    priority: corpus_priority
    threads: 1
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.synthesise_shard --text {input.text} --settings {params.settings:q}"
        " --sources {params.sources} --corpus {wildcards.corpus} --shard {wildcards.shard}"
        " --out {output.manifest} --words-out {output.words} --audio-dir {output.audio} --threads {threads} --log-file {log}"


# A corpus's words with their times: as its TTS spoke them, for a synthesised corpus (the paper takes
# sTinyStories' alignment from its TTS), or by an ASR model's word timestamps (rule align_words): what
# interleaving puts a word's units in place of its text with.
rule merge_word_alignments:
    input:
        lambda wc: PLAN.word_alignment_shards(wc.aligner, wc.corpus),
    output:
        paths.word_alignments("{aligner}", "{corpus}"),
    wildcard_constraints:
        aligner=one_of(["tts", *config["asr_models"]]),
    params:
        code=STAGE_CODE.digest("merge_word_alignments"),
    log:
        "logs/alignments/{aligner}/{corpus}.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.merge_word_alignments --shards {input} --out {output} --log-file {log}"


# A shard of a corpus's words timed by an ASR model (Whisper's word timestamps; the paper's Whisper large-v3-turbo).
rule align_words:
    input:
        manifest=paths.manifest("{corpus}"),
        asr=lambda wc: paths.source_record(PLAN.asr_model(wc.aligner)["model"]),
    output:
        paths.word_alignment_shard("{aligner}", "{corpus}", "{shard}"),
    wildcard_constraints:
        aligner=one_of(config["asr_models"]),
    params:
        code=STAGE_CODE.digest("align_words"),
        spec=lambda wc: as_json(PLAN.asr_model(wc.aligner)),
        model=lambda wc: paths.source_dir(PLAN.asr_model(wc.aligner)["model"]),
        shards=lambda wc: PLAN.units_shards(wc.corpus),
    log:
        "logs/alignments/{aligner}/{corpus}/{shard}.log",
    benchmark:
        paths.timings("alignments/{aligner}/{corpus}/{shard}")
    priority: corpus_priority
    resources:
        gpu=PLAN.gpu_slot(),
        gres=PLAN.gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.align_words --manifest {input.manifest} --shard {wildcards.shard} --shards {params.shards}"
        " --spec {params.spec:q} --model {params.model} --out {output} --log-file {log}"


rule merge_corpus_shards:
    input:
        shards=lambda wc: PLAN.corpus_shards(wc.corpus),
        rejected_before=lambda wc: PLAN.rejected_before_shards(wc.corpus),
    output:
        manifest=paths.candidates("{corpus}"),
        rejected=paths.candidates_rejected("{corpus}"),
    wildcard_constraints:
        corpus=one_of(PLAN.sharded),
    params:
        code=STAGE_CODE.digest("merge_corpus_shards"),
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
        lambda wc: paths.source_record(PLAN.corpus_section(wc.corpus, "audio_folder")["source"]),
    output:
        manifest=paths.candidates("{corpus}"),
        rejected=paths.candidates_rejected("{corpus}"),
    wildcard_constraints:
        corpus=one_of(PLAN.corpora_of_kind("audio_folder")),
    params:
        code=STAGE_CODE.digest("scan_audio_folder"),
        folder=lambda wc: paths.source_dir(PLAN.corpus_section(wc.corpus, "audio_folder")["source"]),
        settings=lambda wc: as_json(PLAN.corpus_section(wc.corpus, "audio_folder")),
        contents=source_contents,  # not passed to the job: what its source holds now
    log:
        "logs/corpora/{corpus}_scan.log",
    benchmark:
        paths.timings("corpora/{corpus}_scan")
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.scan_audio_folder --folder {params.folder} --corpus {wildcards.corpus}"
        " --settings {params.settings:q}"
        " --out {output.manifest} --rejected-out {output.rejected} --log-file {log}"


rule apply_audio_checks:
    input:
        candidates=paths.candidates("{corpus}"),
        rejected=paths.candidates_rejected("{corpus}"),
    output:
        manifest=paths.manifest("{corpus}"),
        rejected=paths.rejected("{corpus}"),
    params:
        code=STAGE_CODE.digest("apply_audio_checks"),
        # the corpus's checks alone: a changed check re-runs this, never what made the audio
        checks=lambda wc: PLAN.audio_checks(wc.corpus),
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
        manifest=rules.apply_audio_checks.output.manifest,
        rejected=rules.apply_audio_checks.output.rejected,
    output:
        paths.corpus_stats("{corpus}"),
    params:
        code=STAGE_CODE.digest("corpus_stats"),
    log:
        "logs/corpora/{corpus}_stats.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.corpus_stats --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --rejected {input.rejected} --out {output} --log-file {log}"


rule units_stats:
    input:
        paths.units_table("{tokeniser}", "{corpus}"),
    output:
        paths.units_stats("{tokeniser}", "{corpus}"),
    params:
        code=STAGE_CODE.digest("units_stats"),
    log:
        "logs/units/{tokeniser}/{corpus}/stats.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.units_stats --corpus {wildcards.corpus} --units {input}"
        " --out {output} --log-file {log}"


rule run_corpora_table:
    input:
        stats=lambda wc: [paths.corpus_stats(corpus) for corpus in PLAN.run_corpora(wc.run)],
        tokens=lambda wc: [paths.units_stats(PLAN.run_tokeniser(wc.run), corpus) for corpus in PLAN.run_corpora(wc.run)],
    output:
        paths.run_file("{run}", "corpora.csv"),
    params:
        code=STAGE_CODE.digest("run_corpora_table"),
    log:
        "logs/{run}/corpora.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.run_corpora_table --stats {input.stats} --tokens {input.tokens}"
        " --out {output} --log-file {log}"


# --- the full recipe's corpora ---------------------------------------------------------------


rule librispeech_manifest:
    input:
        lambda wc: [paths.source_record(s) for split in ("train", "valid") for s in PLAN.corpus_section(wc.corpus, "librispeech")[split]],
    output:
        manifest=paths.candidates("{corpus}"),
        rejected=paths.candidates_rejected("{corpus}"),
    wildcard_constraints:
        corpus=one_of(PLAN.corpora_of_kind("librispeech")),
    params:
        code=STAGE_CODE.digest("librispeech_manifest"),
        contents=source_contents,  # not passed to the job: what its sources hold now
        train=lambda wc: [paths.source_dir(s) for s in PLAN.corpus_section(wc.corpus, "librispeech")["train"]],
        valid=lambda wc: [paths.source_dir(s) for s in PLAN.corpus_section(wc.corpus, "librispeech")["valid"]],
    log:
        "logs/corpora/{corpus}_manifest.log",
    benchmark:
        paths.timings("corpora/{corpus}_manifest")
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.librispeech_manifest --train {params.train} --valid {params.valid}"
        " --out {output.manifest} --rejected-out {output.rejected} --log-file {log}"


rule librilight_recordings:
    input:
        lambda wc: [paths.source_record(s) for s in PLAN.corpus_section(wc.corpus, "librilight")["sources"]],
    output:
        manifest=paths.recordings("{corpus}"),
        rejected=paths.recordings_rejected("{corpus}"),
    wildcard_constraints:
        corpus=one_of(PLAN.corpora_of_kind("librilight")),
    params:
        code=STAGE_CODE.digest("librilight_recordings"),
        contents=source_contents,  # not passed to the job: what its sources hold now
        roots=lambda wc: [paths.source_dir(s) for s in PLAN.corpus_section(wc.corpus, "librilight")["sources"]],
        valid_fraction=lambda wc: PLAN.corpus_section(wc.corpus, "librilight")["valid_fraction"],
        seed=lambda wc: PLAN.corpus_section(wc.corpus, "librilight")["seed"],
        glob=lambda wc: PLAN.corpus_section(wc.corpus, "librilight")["glob"],
    log:
        "logs/corpora/{corpus}_recordings.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.librilight_recordings --roots {params.roots}"
        " --valid-fraction {params.valid_fraction} --seed {params.seed} --glob {params.glob:q}"
        " --out {output.manifest} --rejected-out {output.rejected} --log-file {log}"


rule vad_chunk_shard:
    input:
        recordings=rules.librilight_recordings.output.manifest,
        vad=lambda wc: paths.source_record(PLAN.corpus_section(wc.corpus, "librilight")["vad_model"]),
    output:
        manifest=paths.corpus_shard("{corpus}", "{shard}"),
        rejected=paths.corpus_shard_rejected("{corpus}", "{shard}"),
        audio=directory(paths.corpus_shard_audio("{corpus}", "{shard}")),
    wildcard_constraints:
        corpus=one_of(PLAN.corpora_of_kind("librilight")),
    params:
        code=STAGE_CODE.digest("vad_chunk_shard"),
        vad=lambda wc: paths.source_dir(PLAN.corpus_section(wc.corpus, "librilight")["vad_model"]),
        settings=lambda wc: as_json(PLAN.corpus_section(wc.corpus, "librilight")["vad"]),
        shards=lambda wc: PLAN.corpus_section(wc.corpus, "librilight")["shards"],
    log:
        "logs/corpora/{corpus}/vad_{shard}.log",
    benchmark:
        paths.timings("corpora/{corpus}/vad_{shard}")
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.vad_chunk_shard --manifest {input.recordings} --shard {wildcards.shard}"
        " --shards {params.shards} --vad {params.vad} --settings {params.settings:q}"
        " --out {output.manifest} --audio-dir {output.audio} --log-file {log}"


rule hub_audio_shard:
    input:
        lambda wc: paths.source_record(PLAN.corpus_section(wc.corpus, "hub_audio")["source"]),
    output:
        manifest=paths.corpus_shard("{corpus}", "{shard}"),
        rejected=paths.corpus_shard_rejected("{corpus}", "{shard}"),
        audio=directory(paths.corpus_shard_audio("{corpus}", "{shard}")),
    wildcard_constraints:
        corpus=one_of(PLAN.corpora_of_kind("hub_audio")),
    params:
        code=STAGE_CODE.digest("hub_audio_shard"),
        contents=source_contents,  # not passed to the job: what its sources hold now
        folder=lambda wc: paths.source_dir(PLAN.corpus_section(wc.corpus, "hub_audio")["source"]),
        settings=lambda wc: as_json(PLAN.corpus_section(wc.corpus, "hub_audio")),
        shards=lambda wc: PLAN.corpus_section(wc.corpus, "hub_audio")["shards"],
    log:
        "logs/corpora/{corpus}/hub_{shard}.log",
    benchmark:
        paths.timings("corpora/{corpus}/hub_{shard}")
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.hub_audio_shard --folder {params.folder} --settings {params.settings:q}"
        " --shard {wildcards.shard} --shards {params.shards} --audio-dir {output.audio} --corpus {wildcards.corpus}"
        " --out {output.manifest} --rejected-out {output.rejected} --log-file {log}"


# A corpus of a lhotse recipe: lhotse's download (unless it names a source of its own), its prepare once,
# then its segments cut into FLAC files in shards (slamming/data/lhotse_corpora.py).
rule lhotse_download:
    output:
        record=paths.lhotse_download_record("{corpus}"),
    wildcard_constraints:
        corpus=one_of(PLAN.lhotse_downloads),
    params:
        code=STAGE_CODE.digest("lhotse_download"),
        settings=lambda wc: PLAN.lhotse_settings(wc.corpus, "download"),
        folder=lambda wc: paths.lhotse_download_dir(wc.corpus),
    log:
        "logs/corpora/{corpus}_lhotse_download.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.lhotse_download --settings {params.settings:q} --folder {params.folder}"
        " --record {output.record} --log-file {log}"


rule lhotse_prepare:
    input:
        lambda wc: PLAN.lhotse_input(wc.corpus),
    output:
        recordings=paths.lhotse_manifest("{corpus}", "recordings"),
        supervisions=paths.lhotse_manifest("{corpus}", "supervisions"),
    wildcard_constraints:
        corpus=one_of(PLAN.corpora_of_kind("lhotse")),
    params:
        code=STAGE_CODE.digest("lhotse_prepare"),
        contents=source_contents,  # not passed to the job: what its source or download holds now
        settings=lambda wc: PLAN.lhotse_settings(wc.corpus, "prepare"),
        folder=lambda wc: PLAN.lhotse_folder(wc.corpus),
        prepared=lambda wc: paths.lhotse_prepared_dir(wc.corpus),
    log:
        "logs/corpora/{corpus}_lhotse_prepare.log",
    benchmark:
        paths.timings("corpora/{corpus}_lhotse_prepare")
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.lhotse_prepare --record {input} --folder {params.folder} --settings {params.settings:q}"
        " --prepared {params.prepared} --recordings-out {output.recordings} --supervisions-out {output.supervisions}"
        " --log-file {log}"


rule lhotse_shard:
    input:
        recordings=paths.lhotse_manifest("{corpus}", "recordings"),
        supervisions=paths.lhotse_manifest("{corpus}", "supervisions"),
    output:
        manifest=paths.corpus_shard("{corpus}", "{shard}"),
        rejected=paths.corpus_shard_rejected("{corpus}", "{shard}"),
        audio=directory(paths.corpus_shard_audio("{corpus}", "{shard}")),
    wildcard_constraints:
        corpus=one_of(PLAN.corpora_of_kind("lhotse")),
    params:
        code=STAGE_CODE.digest("lhotse_shard"),
        settings=lambda wc: PLAN.lhotse_settings(wc.corpus, "shard"),
        shards=lambda wc: PLAN.shard_count(wc.corpus),
    log:
        "logs/corpora/{corpus}/lhotse_{shard}.log",
    benchmark:
        paths.timings("corpora/{corpus}/lhotse_{shard}")
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.lhotse_shard --recordings {input.recordings} --supervisions {input.supervisions}"
        " --settings {params.settings:q} --shard {wildcards.shard} --shards {params.shards} --audio-dir {output.audio}"
        " --out {output.manifest} --rejected-out {output.rejected} --log-file {log}"


rule hub_triples_shard:
    input:
        lambda wc: paths.source_record(PLAN.corpus_section(wc.corpus, "hub_triples")["source"]),
    output:
        manifest=paths.corpus_shard("{corpus}", "{shard}"),
        rejected=paths.corpus_shard_rejected("{corpus}", "{shard}"),
        pairs=paths.corpus_shard_triples("{corpus}", "{shard}"),
        audio=directory(paths.corpus_shard_audio("{corpus}", "{shard}")),
    wildcard_constraints:
        corpus=one_of(PLAN.corpora_of_kind("hub_triples")),
    params:
        code=STAGE_CODE.digest("hub_triples_shard"),
        contents=source_contents,  # not passed to the job: what its sources hold now
        folder=lambda wc: paths.source_dir(PLAN.corpus_section(wc.corpus, "hub_triples")["source"]),
        settings=lambda wc: as_json(PLAN.corpus_section(wc.corpus, "hub_triples")),
        shards=lambda wc: PLAN.corpus_section(wc.corpus, "hub_triples")["shards"],
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
        lambda wc: PLAN.corpus_shard_triples(wc.corpus),
    output:
        paths.text_file("{corpus}/pairs"),
    wildcard_constraints:
        corpus=one_of(PLAN.corpora_of_kind("hub_triples")),
    params:
        code=STAGE_CODE.digest("merge_preference_triples"),
    log:
        "logs/corpora/{corpus}_pairs.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.merge_preference_triples --tables {input} --out {output} --log-file {log}"


rule hub_pairs_corpus:
    input:
        lambda wc: paths.source_record(PLAN.corpus_section(wc.corpus, "hub_pairs")["source"]),
    output:
        manifest=paths.candidates("{corpus}"),
        rejected=paths.candidates_rejected("{corpus}"),
        item_table=paths.text_file("{corpus}/items"),
        audio=directory(paths.corpus_audio("{corpus}")),
    wildcard_constraints:
        corpus=one_of(PLAN.corpora_of_kind("hub_pairs")),
    params:
        code=STAGE_CODE.digest("hub_pairs_corpus"),
        contents=source_contents,  # not passed to the job: what its sources hold now
        folder=lambda wc: paths.source_dir(PLAN.corpus_section(wc.corpus, "hub_pairs")["source"]),
        settings=lambda wc: as_json(PLAN.corpus_section(wc.corpus, "hub_pairs")),
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
        paths.source_record("tinystories_text"),
    output:
        paths.text_file("tinystories/stories_utterances"),
    params:
        code=STAGE_CODE.digest("tinystories_text"),
        folder=lambda wc, input: input[0].removesuffix(".json"),
    log:
        "logs/text/tinystories.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.tinystories_text --folder {params.folder} --out {output} --log-file {log}"


rule swag_text:
    input:
        paths.source_record("swag_text"),
    output:
        triples=paths.text_file("swag/spokenswag"),
        utterances=paths.text_file("swag/spokenswag_utterances"),
    params:
        code=STAGE_CODE.digest("swag_text"),
        folder=lambda wc, input: input[0].removesuffix(".json"),
        seed=config["swag_text"]["seed"],
    log:
        "logs/text/swag.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.swag_text --folder {params.folder} --seed {params.seed}"
        " --triples {output.triples} --utterances {output.utterances} --log-file {log}"


# A text corpus for interleaving: its documents after the Gopher rules (text_corpora), the rejected kept.
rule filter_text:
    input:
        tables=lambda wc: [paths.text_file(table) for table in config["text_corpora"][wc.name].get("tables", [])],
        source=lambda wc: [paths.source_record(spec["files"]["source"]) for spec in [config["text_corpora"][wc.name]] if "files" in spec],
    output:
        documents=paths.text_corpus("{name}"),
        rejected=paths.text_corpus("{name}", "_rejected.parquet"),
        report=paths.text_corpus("{name}", ".json"),
    wildcard_constraints:
        name=one_of(config["text_corpora"]),
    params:
        code=STAGE_CODE.digest("filter_text"),
        settings=lambda wc: as_json(config["text_corpora"][wc.name]),
        folder=lambda wc, input: f"--folder {input.source[0].removesuffix('.json')}" if input.source else "",
    log:
        "logs/text_corpora/{name}.log",
    benchmark:
        paths.timings("text_corpora/{name}")
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.filter_text --settings {params.settings:q} --tables {input.tables} {params.folder}"
        " --out {output.documents} --rejected-out {output.rejected} --report {output.report} --log-file {log}"
