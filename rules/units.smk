# Speech units: the encoder, k-means, unit extraction per corpus shard, and packed training windows.


rule fit_kmeans:
    input:
        encoder=lambda wc: encoder_files(wc.tokeniser),
        manifests=lambda wc: [
            f"results/corpora/{corpus}/manifest.parquet"
            for corpus in kmeans_settings(wc.tokeniser)["fit"]["corpora"]
        ],
    output:
        centroids="results/units/{tokeniser}/centroids.npy",
        vocabulary="results/units/{tokeniser}/tokeniser.json",
    wildcard_constraints:
        tokeniser=one_of(FITTED_TOKENISERS),
    params:
        encoder=lambda wc: encoder_options(wc.tokeniser),
        fit=lambda wc: kmeans_settings(wc.tokeniser)["fit"],
    log:
        "logs/units/{tokeniser}/kmeans.log",
    benchmark:
        "benchmarks/units/{tokeniser}/kmeans.tsv"
    priority: 1  # see EARLY_CORPORA
    threads: 1  # one core: a job of two would wait for both to be free at once, behind every synthesis shard
    resources:
        gpu=gpu_slot(),
        gres=gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.fit_kmeans --manifests {input.manifests} {params.encoder}"
        " --k {params.fit[k]} --max-frames {params.fit[max_frames]} --seed {params.fit[seed]}"
        " --threads {threads} --tokeniser {wildcards.tokeniser}"
        " --out-dir results/units/{wildcards.tokeniser} --log-file {log}"


rule import_kmeans:
    input:
        encoder=lambda wc: encoder_files(wc.tokeniser),
        kmeans=lambda wc: source_record(kmeans_settings(wc.tokeniser)["source"]),
    output:
        centroids="results/units/{tokeniser}/centroids.npy",
        vocabulary="results/units/{tokeniser}/tokeniser.json",
    wildcard_constraints:
        tokeniser=one_of(IMPORTED_TOKENISERS),
    params:
        encoder=lambda wc: encoder_options(wc.tokeniser),
        pickle=lambda wc: kmeans_pickle(wc.tokeniser),
        sha256=lambda wc: config["sources"][kmeans_settings(wc.tokeniser)["source"]]["sha256"],
    log:
        "logs/units/{tokeniser}/kmeans.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.import_kmeans --pickle {params.pickle} --sha256 {params.sha256}"
        " {params.encoder} --tokeniser {wildcards.tokeniser}"
        " --out-dir results/units/{wildcards.tokeniser} --log-file {log}"


rule extract_units_shard:
    input:
        manifest="results/corpora/{corpus}/manifest.parquet",
        centroids="results/units/{tokeniser}/centroids.npy",
        encoder=lambda wc: encoder_files(wc.tokeniser),
    output:
        units="results/units/{tokeniser}/{corpus}/shards/{shard}.parquet",
        rejected="results/units/{tokeniser}/{corpus}/shards/{shard}.rejected.parquet",
    params:
        encoder=lambda wc: encoder_options(wc.tokeniser),
        batch_seconds=lambda wc: tokeniser_settings(wc.tokeniser)["batch_seconds"],
        shards=lambda wc: units_shards(wc.corpus),
    log:
        "logs/units/{tokeniser}/{corpus}/{shard}.log",
    benchmark:
        "benchmarks/units/{tokeniser}/{corpus}/{shard}.tsv"
    priority: corpus_priority
    threads: 1  # as fit_kmeans; on a GPU the GPU does the work
    resources:
        gpu=gpu_slot(),
        gres=gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.extract_units_shard --manifest {input.manifest}"
        " --shard {wildcards.shard} --shards {params.shards} {params.encoder}"
        " --centroids {input.centroids} --tokeniser {wildcards.tokeniser} --batch-seconds {params.batch_seconds}"
        " --threads {threads} --out {output.units} --log-file {log}"


rule merge_units:
    input:
        lambda wc: [
            f"{units_dir(wc.tokeniser)}/{wc.corpus}/shards/{shard}.parquet"
            for shard in range(units_shards(wc.corpus))
        ],
    output:
        units="results/units/{tokeniser}/{corpus}/units.parquet",
        rejected="results/units/{tokeniser}/{corpus}/rejected.parquet",
    log:
        "logs/units/{tokeniser}/{corpus}/merge.log",
    priority: corpus_priority
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.merge_units --shards {input} --out {output.units}"
        " --rejected-out {output.rejected} --log-file {log}"


# A mix is packed by its run's pretrain.packing: into full windows (pack_windows) or into the official
# code's chunks (pack_chunks); the packing is part of the mix's key, so each mix has one rule.
rule pack_windows:
    input:
        units=lambda wc: [
            units_table(wc.tokeniser, corpus) for corpus in MIXES[wc.mix]["corpora"]
        ],
        vocabulary="results/units/{tokeniser}/tokeniser.json",
    output:
        report="results/packed/{tokeniser}/{mix}/packing.json",
        windows=multiext("results/packed/{tokeniser}/{mix}/", "train_tokens.npy", "train_segments.npy",
                         "train_continued.npy", "valid_tokens.npy", "valid_segments.npy", "valid_continued.npy"),
    wildcard_constraints:
        mix=one_of([key for key, mix in MIXES.items() if mix["packing"] == "windows"]),
    params:
        mix=lambda wc: as_json(mix_units(wc.tokeniser, wc.mix)),
        context=lambda wc: MIXES[wc.mix]["context"],
        seed=lambda wc: MIXES[wc.mix]["seed"],
    log:
        "logs/packed/{tokeniser}/{mix}.log",
    benchmark:
        "benchmarks/packed/{tokeniser}/{mix}.tsv"
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.pack_windows --mix {params.mix:q} --vocabulary {input.vocabulary}"
        " --context {params.context} --seed {params.seed} --packing windows"
        " --out-dir results/packed/{wildcards.tokeniser}/{wildcards.mix} --log-file {log}"


rule pack_chunks:
    input:
        units=lambda wc: [
            units_table(wc.tokeniser, corpus) for corpus in MIXES[wc.mix]["corpora"]
        ],
        vocabulary="results/units/{tokeniser}/tokeniser.json",
    output:
        report="results/packed/{tokeniser}/{mix}/packing.json",
        chunks=multiext("results/packed/{tokeniser}/{mix}/", "train_chunk_tokens.npy", "train_chunk_offsets.npy",
                        "valid_chunk_tokens.npy", "valid_chunk_offsets.npy"),
    wildcard_constraints:
        mix=one_of([key for key, mix in MIXES.items() if mix["packing"] == "official"]),
    params:
        mix=lambda wc: as_json(mix_units(wc.tokeniser, wc.mix)),
        context=lambda wc: MIXES[wc.mix]["context"],
        seed=lambda wc: MIXES[wc.mix]["seed"],
    log:
        "logs/packed/{tokeniser}/{mix}.log",
    benchmark:
        "benchmarks/packed/{tokeniser}/{mix}.tsv"
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.pack_windows --mix {params.mix:q} --vocabulary {input.vocabulary}"
        " --context {params.context} --seed {params.seed} --packing official"
        " --out-dir results/packed/{wildcards.tokeniser}/{wildcards.mix} --log-file {log}"


rule run_data:
    input:
        corpora="results/{run}/corpora.csv",
        packing=lambda wc: f"{packed_dir(wc.run)}/packing.json",
    output:
        "results/{run}/data.json",
    log:
        "logs/{run}/data.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.run_data --corpora {input.corpora} --packing {input.packing}"
        " --out {output} > {log} 2>&1"
