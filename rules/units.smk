# Speech units: the encoder, k-means, unit extraction per corpus shard, and packed training windows.


rule fit_kmeans:
    input:
        encoder=lambda wc: PLAN.encoder_files(wc.tokeniser),
        manifests=lambda wc: [paths.manifest(corpus) for corpus in PLAN.tokeniser(wc.tokeniser)["kmeans"]["fit"]["corpora"]],
    output:
        centroids=paths.centroids("{tokeniser}"),
        vocabulary=paths.vocabulary("{tokeniser}"),
    wildcard_constraints:
        tokeniser=one_of(PLAN.tokenisers_with_kmeans("fit")),
    params:
        code=STAGE_CODE.digest("fit_kmeans"),
        contents=synthesised_audio_contents,  # not passed to the job: what its spoken audio holds now
        encoder=lambda wc: PLAN.encoder_settings(wc.tokeniser),
        fit=lambda wc: PLAN.tokeniser(wc.tokeniser)["kmeans"]["fit"],
    log:
        "logs/units/{tokeniser}/kmeans.log",
    benchmark:
        paths.timings("units/{tokeniser}/kmeans")
    priority: 1  # see Plan.early_corpora
    threads: 1  # one core: a job of two would wait for both to be free at once, behind every synthesis shard
    resources:
        gpu=PLAN.gpu_slot(),
        gres=PLAN.gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.fit_kmeans --manifests {input.manifests} --encoder {params.encoder:q}"
        " --k {params.fit[k]} --max-frames {params.fit[max_frames]} --seed {params.fit[seed]}"
        " --threads {threads} --tokeniser {wildcards.tokeniser}"
        " --centroids {output.centroids} --vocabulary {output.vocabulary} --log-file {log}"


rule import_kmeans:
    input:
        encoder=lambda wc: PLAN.encoder_files(wc.tokeniser),
        kmeans=lambda wc: paths.source_record(PLAN.tokeniser(wc.tokeniser)["kmeans"]["source"]),
    output:
        centroids=paths.centroids("{tokeniser}"),
        vocabulary=paths.vocabulary("{tokeniser}"),
    wildcard_constraints:
        tokeniser=one_of(PLAN.tokenisers_with_kmeans("source")),
    params:
        code=STAGE_CODE.digest("import_kmeans"),
        encoder=lambda wc: PLAN.encoder_settings(wc.tokeniser),
        pickle=lambda wc: PLAN.kmeans_pickle(wc.tokeniser),
        sha256=lambda wc: config["sources"][PLAN.tokeniser(wc.tokeniser)["kmeans"]["source"]]["sha256"],
    log:
        "logs/units/{tokeniser}/kmeans.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.import_kmeans --pickle {params.pickle} --sha256 {params.sha256}"
        " --encoder {params.encoder:q} --tokeniser {wildcards.tokeniser}"
        " --centroids {output.centroids} --vocabulary {output.vocabulary} --log-file {log}"


rule extract_units_shard:
    input:
        manifest=paths.manifest("{corpus}"),
        centroids=paths.centroids("{tokeniser}"),
        encoder=lambda wc: PLAN.encoder_files(wc.tokeniser),
    output:
        units=paths.units_shard("{tokeniser}", "{corpus}", "{shard}"),
        rejected=paths.units_shard_rejected("{tokeniser}", "{corpus}", "{shard}"),
    params:
        code=STAGE_CODE.digest("extract_units_shard"),
        contents=synthesised_audio_contents,  # not passed to the job: what its spoken audio holds now
        encoder=lambda wc: PLAN.encoder_settings(wc.tokeniser),
        # how fast, not what: a file's units do not depend on its batch; computed from `threads`, a param
        # Snakemake does not compare, so a new batch size re-extracts nothing
        batch_seconds=lambda wc, threads: PLAN.tokeniser(wc.tokeniser)["batch_seconds"],
        shards=lambda wc: PLAN.units_shards(wc.corpus),
    log:
        "logs/units/{tokeniser}/{corpus}/{shard}.log",
    benchmark:
        paths.timings("units/{tokeniser}/{corpus}/{shard}")
    priority: corpus_priority
    threads: 1  # as fit_kmeans; on a GPU the GPU does the work
    resources:
        gpu=PLAN.gpu_slot(),
        gres=PLAN.gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.extract_units_shard --manifest {input.manifest}"
        " --shard {wildcards.shard} --shards {params.shards} --encoder {params.encoder:q}"
        " --centroids {input.centroids} --tokeniser {wildcards.tokeniser} --batch-seconds {params.batch_seconds}"
        " --threads {threads} --out {output.units} --log-file {log}"


rule merge_units:
    input:
        lambda wc: PLAN.units_shard_files(wc.tokeniser, wc.corpus),
    output:
        units=paths.units_table("{tokeniser}", "{corpus}"),
        rejected=paths.units_rejected("{tokeniser}", "{corpus}"),
    params:
        code=STAGE_CODE.digest("merge_units"),
    log:
        "logs/units/{tokeniser}/{corpus}/merge.log",
    priority: corpus_priority
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.merge_units --shards {input} --out {output.units}"
        " --rejected-out {output.rejected} --log-file {log}"


# An interleaved model's vocabulary: its text LM's ids, then the tokeniser's units and the two markers.
rule interleaved_vocabulary:
    input:
        speech=paths.vocabulary("{tokeniser}"),
        text_lm=lambda wc: PLAN.text_lm_files(wc.text_lm),
    output:
        paths.interleaved_vocabulary("{tokeniser}", "{text_lm}"),
    params:
        code=STAGE_CODE.digest("interleaved_vocabulary"),
        text_lm=lambda wc: PLAN.text_lm_dir(wc.text_lm),
    log:
        "logs/units/{tokeniser}/interleaved/{text_lm}.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.interleaved_vocabulary --speech {input.speech} --text-lm {params.text_lm}"
        " --out {output} --log-file {log}"


# A mix is packed by its run's pretrain.packing: into full windows (pack_windows) or into the official
# code's chunks (pack_chunks); the packing is part of the mix's key, so each mix has one rule.
rule pack_windows:
    input:
        units=lambda wc: PLAN.mix_unit_tables(wc.tokeniser, wc.mix),
        vocabulary=lambda wc: PLAN.mix_vocabulary(wc.mix),
        interleaving=lambda wc: PLAN.mix_interleaving_inputs(wc.mix),  # an interleaved mix's words, units, text
    output:
        report=paths.packing_report("{tokeniser}", "{mix}"),
        windows=paths.packed_files("{tokeniser}", "{mix}", array_names("windows")),
    wildcard_constraints:
        mix=one_of(PLAN.mixes_packed_by("windows")),
    params:
        code=STAGE_CODE.digest("pack_windows"),
        mix=lambda wc: as_json(PLAN.mix_units(wc.tokeniser, wc.mix)),
        context=lambda wc: PLAN.mixes[wc.mix]["context"],
        seed=lambda wc: PLAN.mixes[wc.mix]["seed"],
        interleaving=lambda wc: PLAN.mix_interleaving(wc.mix),
        out=lambda wc, output: Path(output.report).parent,
    log:
        "logs/packed/{tokeniser}/{mix}.log",
    benchmark:
        paths.timings("packed/{tokeniser}/{mix}")
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.pack_windows --mix {params.mix:q} --vocabulary {input.vocabulary}"
        " --context {params.context} --seed {params.seed} --packing windows {params.interleaving}"
        " --out-dir {params.out} --log-file {log}"


rule pack_chunks:
    input:
        units=lambda wc: PLAN.mix_unit_tables(wc.tokeniser, wc.mix),
        vocabulary=lambda wc: PLAN.mix_vocabulary(wc.mix),
        interleaving=lambda wc: PLAN.mix_interleaving_inputs(wc.mix),  # an interleaved mix's words, units, text
    output:
        report=paths.packing_report("{tokeniser}", "{mix}"),
        chunks=paths.packed_files("{tokeniser}", "{mix}", array_names("official")),
    wildcard_constraints:
        mix=one_of(PLAN.mixes_packed_by("official")),
    params:
        code=STAGE_CODE.digest("pack_windows"),
        mix=lambda wc: as_json(PLAN.mix_units(wc.tokeniser, wc.mix)),
        context=lambda wc: PLAN.mixes[wc.mix]["context"],
        seed=lambda wc: PLAN.mixes[wc.mix]["seed"],
        interleaving=lambda wc: PLAN.mix_interleaving(wc.mix),
        out=lambda wc, output: Path(output.report).parent,
    log:
        "logs/packed/{tokeniser}/{mix}.log",
    benchmark:
        paths.timings("packed/{tokeniser}/{mix}")
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.pack_windows --mix {params.mix:q} --vocabulary {input.vocabulary}"
        " --context {params.context} --seed {params.seed} --packing official {params.interleaving}"
        " --out-dir {params.out} --log-file {log}"


rule run_data:
    input:
        corpora=paths.run_file("{run}", "corpora.csv"),
        packing=lambda wc: PLAN.run_packing_report(wc.run),
    output:
        paths.run_file("{run}", "data.json"),
    params:
        code=STAGE_CODE.digest("run_data"),
    log:
        "logs/{run}/data.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.run_data --corpora {input.corpora} --packing {input.packing}"
        " --out {output} --log-file {log}"
