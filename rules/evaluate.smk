# Evaluation: likelihood benchmarks, generation, vocoding, transcription, GenPPL, metrics.json, report.


rule benchmark_pairs:
    input:
        table=lambda wc: pair_inputs(wc.corpus, wc.benchmark),
        manifest="results/corpora/{corpus}/manifest.parquet",
    output:
        "results/benchmarks/{corpus}/{benchmark}/pairs.parquet",
    params:
        pairing=lambda wc: pair_options(wc.corpus, wc.benchmark),
    log:
        "logs/benchmarks/{corpus}/{benchmark}.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.benchmark_pairs {params.pairing} --benchmark {wildcards.benchmark}"
        " --manifest {input.manifest} --out {output} --log-file {log}"


rule score_likelihood:
    input:
        model=lambda wc: f"{final_model(wc.run)}/model.safetensors",
        units=lambda wc: units_table(run_tokeniser(wc.run), benchmark_corpus(wc.run, wc.benchmark)),
        pairs=lambda wc: f"results/benchmarks/{benchmark_corpus(wc.run, wc.benchmark)}/{wc.benchmark}/pairs.parquet",
    output:
        table="results/{run}/eval/{benchmark}.parquet",
        summary="results/{run}/eval/{benchmark}.json",
    params:
        model=lambda wc: final_model(wc.run),
        official=lambda wc: official_option(benchmark_corpus(wc.run, wc.benchmark), wc.benchmark),
    log:
        "logs/{run}/eval/{benchmark}.log",
    benchmark:
        "benchmarks/{run}/eval_{benchmark}.tsv"
    resources:
        gpu=gpu_slot(),
        gres=gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.score_likelihood --model {params.model} --units {input.units}"
        " --pairs {input.pairs} --benchmark {wildcards.benchmark} {params.official} --out-table {output.table}"
        " --out-json {output.summary} --log-file {log}"


rule text_topline:
    input:
        pairs=lambda wc: f"results/benchmarks/{benchmark_corpus(wc.run, wc.benchmark)}/{wc.benchmark}/pairs.parquet",
        model=lambda wc: text_lm_files(run_config(wc.run)["evaluation"]["text_topline"]),
    output:
        "results/{run}/eval/{benchmark}_text.json",
    params:
        model=lambda wc: text_lm_dir(run_config(wc.run)["evaluation"]["text_topline"]),
        batch_size=lambda wc: run_config(wc.run)["evaluation"]["batch_size"],
    log:
        "logs/{run}/eval/{benchmark}_text.log",
    resources:
        gpu=gpu_slot(),
        gres=gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.text_topline --model {params.model} --pairs {input.pairs} --benchmark {wildcards.benchmark}"
        " --batch-size {params.batch_size} --out {output} --log-file {log}"


rule train_vocoder:
    input:
        units=lambda wc: vocoder_training_inputs(wc.vocoder)["units"],
        manifest=lambda wc: vocoder_training_inputs(wc.vocoder)["manifest"],
        vocabulary=lambda wc: vocoder_training_inputs(wc.vocoder)["vocabulary"],
        asr=lambda wc: source_record(asr_model(vocoder_training(wc.vocoder)["asr"])["model"]),
    output:
        weights="results/vocoders/{vocoder}/generator.safetensors",
        config="results/vocoders/{vocoder}/config.json",
        resynthesis="results/vocoders/{vocoder}/resynthesis.json",
    params:
        settings=lambda wc: as_json(vocoder_training(wc.vocoder)),
        asr_spec=lambda wc: as_json(asr_model(vocoder_training(wc.vocoder)["asr"])),
        asr_model=lambda wc: source_dir(asr_model(vocoder_training(wc.vocoder)["asr"])["model"]),
    log:
        "logs/vocoders/{vocoder}.log",
    benchmark:
        "benchmarks/vocoders/{vocoder}.tsv"
    priority: 1  # see EARLY_CORPORA
    threads: 1  # beside synthesis and the other jobs of one core
    resources:
        gpu=gpu_slot(),
        gres=gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.train_vocoder --units {input.units} --manifest {input.manifest}"
        " --vocabulary {input.vocabulary} --settings {params.settings:q} --asr-spec {params.asr_spec:q}"
        " --asr-model {params.asr_model} --threads {threads} --out results/vocoders/{wildcards.vocoder} --log-file {log}"


rule generate:
    input:
        model=lambda wc: f"{final_model(wc.run)}/model.safetensors",
        pairs=lambda wc: prompt_pairs(wc.run),
        encoder=lambda wc: encoder_files(run_tokeniser(wc.run)),
        centroids=lambda wc: centroids_file(run_tokeniser(wc.run)),
    output:
        units="results/{run}/generation/units.parquet",
        prompts="results/{run}/generation/prompts.parquet",
        prompt_audio=directory("results/{run}/generation/prompts"),
    params:
        model=lambda wc: final_model(wc.run),
        encoder=lambda wc: encoder_options(run_tokeniser(wc.run)),
        settings=lambda wc: as_json(run_config(wc.run)["generation"]),
        seed=lambda wc: run_config(wc.run)["seed"],
        batch_size=lambda wc: run_config(wc.run)["evaluation"]["batch_size"],
    log:
        "logs/{run}/generate.log",
    benchmark:
        "benchmarks/{run}/generate.tsv"
    resources:
        gpu=gpu_slot(),
        gres=gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.generate --model {params.model} --pairs {input.pairs} {params.encoder}"
        " --centroids {input.centroids} --settings {params.settings:q} --seed {params.seed}"
        " --batch-size {params.batch_size} --out {output.units} --prompt-dir {output.prompt_audio}"
        " --prompt-manifest {output.prompts} --log-file {log}"


rule vocode_generations:
    input:
        units="results/{run}/generation/units.parquet",
        vocoder=lambda wc: vocoder_files(wc.run),
    output:
        manifest="results/{run}/generation/audio.parquet",
        audio=directory("results/{run}/generation/audio"),
    params:
        vocoder=lambda wc: vocoder_options(wc.run),
    log:
        "logs/{run}/vocode.log",
    benchmark:
        "benchmarks/{run}/vocode.tsv"
    resources:
        gpu=gpu_slot(),
        gres=gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.vocode_generations {params.vocoder} --units {input.units}"
        " --columns continuation_units full_units --out-dir {output.audio} --manifest {output.manifest} --log-file {log}"


rule transcribe_generations:
    input:
        audio="results/{run}/generation/audio.parquet",
        prompts="results/{run}/generation/prompts.parquet",
        asr=lambda wc: source_record(asr_model(run_config(wc.run)["evaluation"]["asr"])["model"]),
    output:
        "results/{run}/generation/transcripts.parquet",
    params:
        spec=lambda wc: as_json(asr_model(run_config(wc.run)["evaluation"]["asr"])),
        model=lambda wc: source_dir(asr_model(run_config(wc.run)["evaluation"]["asr"])["model"]),
    log:
        "logs/{run}/transcribe.log",
    benchmark:
        "benchmarks/{run}/transcribe.tsv"
    resources:
        gpu=gpu_slot(),
        gres=gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.transcribe_generations --spec {params.spec:q} --model {params.model}"
        " --manifests {input.audio} {input.prompts} --out {output} --log-file {log}"


rule score_generations:
    input:
        transcripts="results/{run}/generation/transcripts.parquet",
        scorer=lambda wc: text_lm_files(run_config(wc.run)["evaluation"]["scorer"]),
    output:
        table="results/{run}/generation/scores.parquet",
        summary="results/{run}/generation/scores.json",
    params:
        scorer=lambda wc: text_lm_dir(run_config(wc.run)["evaluation"]["scorer"]),
        batch_size=lambda wc: run_config(wc.run)["evaluation"]["batch_size"],
    log:
        "logs/{run}/score_generations.log",
    benchmark:
        "benchmarks/{run}/score_generations.tsv"
    resources:
        gpu=gpu_slot(),
        gres=gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.score_generations --transcripts {input.transcripts} --scorer {params.scorer}"
        " --batch-size {params.batch_size} --out-table {output.table} --out-json {output.summary} --log-file {log}"


rule judge_generations:
    input:
        transcripts="results/{run}/generation/transcripts.parquet",
    output:
        table="results/{run}/generation/judge.parquet",
        summary="results/{run}/generation/judge.json",
    params:
        settings=lambda wc: as_json(run_config(wc.run)["evaluation"]["judge"]),
        # Not passed to the job: a change of it (the key set after a run without it) plans the job again.
        key_present=lambda wc: judge_key_present(wc.run),
    log:
        "logs/{run}/judge.log",
    benchmark:
        "benchmarks/{run}/judge.tsv"
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.judge_generations --transcripts {input.transcripts} --settings {params.settings:q}"
        " --cache results/{wildcards.run}/generation/judge.work --out-table {output.table} --out-json {output.summary}"
        " --log-file {log}"


rule collect_metrics:
    input:
        data="results/{run}/data.json",
        likelihood=lambda wc: [f"results/{wc.run}/eval/{b}.json" for b in run_config(wc.run)["data"]["benchmarks"]],
        generation="results/{run}/generation/scores.json",
        judge=lambda wc: judge_outputs(wc.run),
        toplines=lambda wc: topline_outputs(wc.run),
        training=lambda wc: [f"results/models/{wc.run}/{stage}/training_summary.json" for stage in training_stages(wc.run)],
        vocoder=lambda wc: trained_vocoder_report(wc.run),
        benchmarks=lambda wc: run_benchmarks(wc.run),
    output:
        "results/{run}/metrics.json",
    params:
        description=lambda wc: run_config(wc.run)["description"],
        vocoder=lambda wc: " ".join(f"--vocoder {f}" for f in trained_vocoder_report(wc.run)),
        judge=lambda wc: " ".join(f"--judge {f}" for f in judge_outputs(wc.run)),
    log:
        "logs/{run}/metrics.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.collect_metrics --run {wildcards.run} --description {params.description:q}"
        " --data {input.data} --likelihood {input.likelihood} --text-topline {input.toplines} --generation {input.generation}"
        " {params.vocoder} {params.judge}"
        " --training {input.training} --benchmarks {input.benchmarks} --out {output} > {log} 2>&1"


rule metrics_table:
    input:
        metrics_runs,
    output:
        report("results/metrics.csv", caption="../report/metrics.rst", category="Metrics"),
    log:
        "logs/metrics_table.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.metrics_table --metrics {input} --out {output} > {log} 2>&1"


rule training_curves:
    input:
        logs=lambda wc: [f"results/models/{wc.run}/{stage}/training_log.csv" for stage in training_stages(wc.run)],
    output:
        report("results/{run}/report/training_curves.svg", caption="../report/training_curves.rst", category="Training"),
    params:
        names=lambda wc: training_stages(wc.run),
    log:
        "logs/{run}/training_curves.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.training_curves --logs {input.logs} --names {params.names}"
        " --out {output} > {log} 2>&1"


rule report_samples:
    input:
        audio="results/{run}/generation/audio.parquet",
    output:
        report(
            directory("results/{run}/report/samples"),
            patterns=["{name}.flac"],
            caption="../report/samples.rst",
            category="Generated speech",
        ),
    params:
        samples=3,
    log:
        "logs/{run}/report_samples.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.report_samples --manifest {input.audio} --count {params.samples}"
        " --out-dir {output} > {log} 2>&1"
