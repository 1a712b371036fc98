# Evaluation: likelihood benchmarks, generation, vocoding, transcription, GenPPL, metrics.json, report.


rule benchmark_pairs:
    input:
        table=lambda wc: PLAN.pair_tables(wc.corpus, wc.benchmark),
        manifest=paths.manifest("{corpus}"),
    output:
        paths.pairs_file("{corpus}", "{benchmark}"),
    params:
        code=STAGE_CODE.digest("benchmark_pairs"),
        pairing=lambda wc: PLAN.pairing(wc.corpus, wc.benchmark),
    log:
        "logs/benchmarks/{corpus}/{benchmark}.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.benchmark_pairs --pairing {params.pairing:q} --benchmark {wildcards.benchmark}"
        " --manifest {input.manifest} --out {output} --log-file {log}"


# A speech LM of the speech_lms registry, as the evaluation reads a trained one: the official toolkit's
# format converted, a Hugging Face folder checked against its tokeniser's vocabulary.
rule prepare_speech_lm:
    input:
        source=lambda wc: paths.source_record(PLAN.speech_lm_entry(wc.run)["checkpoint"]),
        vocabulary=lambda wc: paths.vocabulary(PLAN.run_tokeniser(wc.run)),
    output:
        config=paths.model_config(paths.model_dir("{run}", "evaluated")),
        weights=paths.weights(paths.model_dir("{run}", "evaluated")),
    params:
        code=STAGE_CODE.digest("prepare_speech_lm"),
        folder=lambda wc: paths.source_dir(PLAN.speech_lm_entry(wc.run)["checkpoint"]),
        format=lambda wc: PLAN.speech_lm_entry(wc.run)["format"],
        out=lambda wc, output: Path(output.weights).parent,
    wildcard_constraints:
        run=one_of(PLAN.evaluated_runs),
    log:
        "logs/{run}/prepare_speech_lm.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.prepare_speech_lm --folder {params.folder} --format {params.format}"
        " --vocabulary {input.vocabulary} --out {params.out} --log-file {log}"


rule score_likelihood:
    input:
        model=lambda wc: paths.weights(PLAN.final_model(wc.run)),
        units=lambda wc: paths.units_table(PLAN.run_tokeniser(wc.run), PLAN.benchmark_corpus(wc.run, wc.benchmark)),
        pairs=lambda wc: PLAN.run_pairs(wc.run, wc.benchmark),
    output:
        table=paths.run_file("{run}", "eval/{benchmark}.parquet"),
        summary=paths.likelihood_summary("{run}", "{benchmark}"),
        # <file> <score> per utterance, for ZeroSpeech 2021's own evaluation tool to check ours
        submission=paths.run_file("{run}", "eval/{benchmark}_zerospeech.txt"),
    params:
        code=STAGE_CODE.digest("score_likelihood"),
        model=lambda wc: PLAN.final_model(wc.run),
        official=lambda wc: "--official" if PLAN.is_official(PLAN.benchmark_corpus(wc.run, wc.benchmark), wc.benchmark) else "",
    log:
        "logs/{run}/eval/{benchmark}.log",
    benchmark:
        paths.timings("{run}/eval_{benchmark}")
    resources:
        gpu=PLAN.gpu_slot(),
        gres=PLAN.gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.score_likelihood --model {params.model} --units {input.units}"
        " --pairs {input.pairs} --benchmark {wildcards.benchmark} {params.official} --out-table {output.table}"
        " --out-json {output.summary} --out-submission {output.submission} --log-file {log}"


# An interleaved run's cross-modal StoryCloze (evaluation.cross_modal): each story speech to text, text to
# speech, text to text and speech to speech.
rule score_cross_modal:
    input:
        model=lambda wc: paths.weights(PLAN.final_model(wc.run)),
        folder=lambda wc: paths.source_record(PLAN.corpus_section(PLAN.run(wc.run)["evaluation"]["cross_modal"], "audio_folder")["source"]),
        manifest=lambda wc: paths.manifest(PLAN.run(wc.run)["evaluation"]["cross_modal"]),
        units=lambda wc: paths.units_table(PLAN.run_tokeniser(wc.run), PLAN.run(wc.run)["evaluation"]["cross_modal"]),
        text_lm=lambda wc: PLAN.text_lm_files(PLAN.run(wc.run)["pretrain"]["base_model"]),
    output:
        table=paths.run_file("{run}", "eval/cross_modal.parquet"),
        summary=paths.run_file("{run}", "eval/cross_modal.json"),
    params:
        code=STAGE_CODE.digest("score_cross_modal"),
        model=lambda wc: PLAN.final_model(wc.run),
        folder=lambda wc, input: input.folder.removesuffix(".json"),
        text_lm=lambda wc: PLAN.text_lm_dir(PLAN.run(wc.run)["pretrain"]["base_model"]),
    log:
        "logs/{run}/eval/cross_modal.log",
    benchmark:
        paths.timings("{run}/eval_cross_modal")
    resources:
        gpu=PLAN.gpu_slot(),
        gres=PLAN.gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.score_cross_modal --model {params.model} --folder {params.folder} --manifest {input.manifest}"
        " --units {input.units} --text-lm {params.text_lm} --out-table {output.table} --out-json {output.summary} --log-file {log}"


rule text_topline:
    input:
        pairs=lambda wc: PLAN.run_pairs(wc.run, wc.benchmark),
        model=lambda wc: PLAN.text_lm_files(PLAN.run(wc.run)["evaluation"]["text_topline"]),
    output:
        paths.topline_summary("{run}", "{benchmark}"),
    params:
        code=STAGE_CODE.digest("text_topline"),
        model=lambda wc: PLAN.text_lm_dir(PLAN.run(wc.run)["evaluation"]["text_topline"]),
        batch_size=lambda wc: PLAN.run(wc.run)["evaluation"]["batch_size"],
    log:
        "logs/{run}/eval/{benchmark}_text.log",
    resources:
        gpu=PLAN.gpu_slot(),
        gres=PLAN.gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.text_topline --model {params.model} --pairs {input.pairs} --benchmark {wildcards.benchmark}"
        " --batch-size {params.batch_size} --out {output} --log-file {log}"


rule train_vocoder:
    input:
        unpack(lambda wc: PLAN.vocoder_training_inputs(wc.vocoder)),
    output:
        weights=paths.vocoder_weights("{vocoder}"),
        config=paths.vocoder_config("{vocoder}"),
        report=paths.vocoder_training_report("{vocoder}"),
    params:
        code=STAGE_CODE.digest("train_vocoder"),
        settings=lambda wc: as_json(PLAN.vocoder_training(wc.vocoder)),
        out=lambda wc, output: Path(output.weights).parent,
    log:
        "logs/vocoders/{vocoder}.log",
    benchmark:
        paths.timings("vocoders/{vocoder}")
    priority: 1  # see Plan.early_corpora
    threads: 1  # beside synthesis and the other jobs of one core
    resources:
        gpu=PLAN.gpu_slot(),
        gres=PLAN.gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.train_vocoder --units {input.units} --manifest {input.manifest}"
        " --vocabulary {input.vocabulary} --settings {params.settings:q} --threads {threads} --out {params.out}"
        " --log-file {log}"


# Apart from the training: a new recogniser or its beam re-scores the vocoder, it does not train it again.
rule evaluate_vocoder:
    input:
        unpack(lambda wc: PLAN.vocoder_evaluation_inputs(wc.vocoder)),
        weights=paths.vocoder_weights("{vocoder}"),
        config=paths.vocoder_config("{vocoder}"),
        report=paths.vocoder_training_report("{vocoder}"),
    output:
        paths.resynthesis_report("{vocoder}"),
    params:
        code=STAGE_CODE.digest("evaluate_vocoder"),
        asr_spec=lambda wc: as_json(PLAN.asr_model(PLAN.vocoder_training(wc.vocoder)["asr"])),
        asr_model=lambda wc: paths.source_dir(PLAN.asr_model(PLAN.vocoder_training(wc.vocoder)["asr"])["model"]),
    log:
        "logs/vocoders/{vocoder}_resynthesis.log",
    benchmark:
        paths.timings("vocoders/{vocoder}_resynthesis")
    threads: 1
    resources:
        gpu=PLAN.gpu_slot(),
        gres=PLAN.gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.evaluate_vocoder --units {input.units} --manifest {input.manifest}"
        " --weights {input.weights} --config {input.config} --training-report {input.report}"
        " --asr-spec {params.asr_spec:q} --asr-model {params.asr_model} --threads {threads} --out {output}"
        " --log-file {log}"


# Generations in domain (generation/: sStoryCloze prompts) and, when the recipe names a corpus, out of
# domain (generation_ood/: evaluation.out_of_domain_prompts, People's Speech in the paper's appendix D.3).
rule generate:
    input:
        model=lambda wc: paths.weights(PLAN.final_model(wc.run)),
        prompts=lambda wc: PLAN.prompt_pairs(wc.run, wc.generation),
        encoder=lambda wc: PLAN.encoder_files(PLAN.run_tokeniser(wc.run)),
        centroids=lambda wc: paths.centroids(PLAN.run_tokeniser(wc.run)),
        text_lm=lambda wc: PLAN.text_lm_files(PLAN.run(wc.run)["pretrain"]["base_model"])
        if PLAN.run(wc.run)["generation"]["prompt_modality"] == "text" else [],
    output:
        units=paths.generation_file("{run}", "{generation}", "units.parquet"),
        prompts=paths.generation_file("{run}", "{generation}", "prompts.parquet"),
        prompt_audio=directory(paths.generation_file("{run}", "{generation}", "prompts")),
    params:
        code=STAGE_CODE.digest("generate"),
        model=lambda wc: PLAN.final_model(wc.run),
        encoder=lambda wc: PLAN.encoder_settings(PLAN.run_tokeniser(wc.run)),
        settings=lambda wc: as_json(PLAN.run(wc.run)["generation"]),
        seed=lambda wc: PLAN.run(wc.run)["seed"],
        batch_size=lambda wc: PLAN.run(wc.run)["evaluation"]["batch_size"],
        text_lm=lambda wc: PLAN.text_prompt_lm(wc.run),
    log:
        "logs/{run}/{generation}/generate.log",
    benchmark:
        paths.timings("{run}/{generation}/generate")
    resources:
        gpu=PLAN.gpu_slot(),
        gres=PLAN.gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.generate --model {params.model} --prompts {input.prompts} --encoder {params.encoder:q}"
        " --centroids {input.centroids} --settings {params.settings:q} --seed {params.seed}"
        " --batch-size {params.batch_size} --out {output.units} --prompt-dir {output.prompt_audio}"
        " --prompt-manifest {output.prompts} {params.text_lm} --log-file {log}"


rule vocode_generations:
    input:
        units=rules.generate.output.units,
        vocoder=lambda wc: PLAN.vocoder_files(wc.run),
    output:
        manifest=paths.generation_file("{run}", "{generation}", "audio.parquet"),
        audio=directory(paths.generation_file("{run}", "{generation}", "audio")),
    params:
        code=STAGE_CODE.digest("vocode_generations"),
        vocoder=lambda wc: PLAN.vocoder_settings(wc.run),
    log:
        "logs/{run}/{generation}/vocode.log",
    benchmark:
        paths.timings("{run}/{generation}/vocode")
    resources:
        gpu=PLAN.gpu_slot(),
        gres=PLAN.gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.vocode_generations --vocoder {params.vocoder:q} --units {input.units}"
        " --columns continuation_units full_units --out-dir {output.audio} --manifest {output.manifest} --log-file {log}"


rule transcribe_generations:
    input:
        audio=rules.vocode_generations.output.manifest,
        prompts=rules.generate.output.prompts,
        asr=lambda wc: paths.source_record(PLAN.asr_model(PLAN.run(wc.run)["evaluation"]["asr"])["model"]),
    output:
        paths.generation_file("{run}", "{generation}", "transcripts.parquet"),
    params:
        code=STAGE_CODE.digest("transcribe_generations"),
        spec=lambda wc: as_json(PLAN.asr_model(PLAN.run(wc.run)["evaluation"]["asr"])),
        model=lambda wc: paths.source_dir(PLAN.asr_model(PLAN.run(wc.run)["evaluation"]["asr"])["model"]),
    log:
        "logs/{run}/{generation}/transcribe.log",
    benchmark:
        paths.timings("{run}/{generation}/transcribe")
    resources:
        gpu=PLAN.gpu_slot(),
        gres=PLAN.gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.transcribe_generations --spec {params.spec:q} --model {params.model}"
        " --manifests {input.audio} {input.prompts} --out {output} --log-file {log}"


rule score_generations:
    input:
        transcripts=rules.transcribe_generations.output[0],
        scorer=lambda wc: PLAN.text_lm_files(PLAN.run(wc.run)["evaluation"]["scorer"]),
    output:
        table=paths.generation_file("{run}", "{generation}", "scores.parquet"),
        summary=paths.generation_file("{run}", "{generation}", "scores.json"),
    params:
        code=STAGE_CODE.digest("score_generations"),
        scorer=lambda wc: PLAN.text_lm_dir(PLAN.run(wc.run)["evaluation"]["scorer"]),
        batch_size=lambda wc: PLAN.run(wc.run)["evaluation"]["batch_size"],
    log:
        "logs/{run}/{generation}/score_generations.log",
    benchmark:
        paths.timings("{run}/{generation}/score_generations")
    resources:
        gpu=PLAN.gpu_slot(),
        gres=PLAN.gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.score_generations --transcripts {input.transcripts} --scorer {params.scorer}"
        " --batch-size {params.batch_size} --out-table {output.table} --out-json {output.summary} --log-file {log}"


# The MOS proxy (appendix D.2), when the recipe names a predictor: the generated speech, the prompts
# resynthesised from their units (what the vocoder alone loses) and the real prompts.
rule mos_generations:
    input:
        units=paths.generation_file("{run}", paths.IN_DOMAIN, "units.parquet"),
        audio=paths.generation_file("{run}", paths.IN_DOMAIN, "audio.parquet"),
        prompts=paths.generation_file("{run}", paths.IN_DOMAIN, "prompts.parquet"),
        vocoder=lambda wc: PLAN.vocoder_files(wc.run),
        predictor=lambda wc: paths.source_record(PLAN.run(wc.run)["evaluation"]["mos"]),
    output:
        table=paths.generation_file("{run}", paths.IN_DOMAIN, "mos.parquet"),
        summary=paths.generation_file("{run}", paths.IN_DOMAIN, "mos.json"),
    params:
        code=STAGE_CODE.digest("mos_generations"),
        vocoder=lambda wc: PLAN.vocoder_settings(wc.run),
        predictor=lambda wc: paths.source_dir(PLAN.run(wc.run)["evaluation"]["mos"]),
    log:
        "logs/{run}/mos.log",
    benchmark:
        paths.timings("{run}/mos")
    resources:
        gpu=PLAN.gpu_slot(),
        gres=PLAN.gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.mos_generations --predictor {params.predictor} --vocoder {params.vocoder:q}"
        " --units {input.units} --audio {input.audio} --prompts {input.prompts} --out-table {output.table}"
        " --out-json {output.summary} --log-file {log}"


rule judge_generations:
    input:
        transcripts=paths.generation_file("{run}", paths.IN_DOMAIN, "transcripts.parquet"),
    output:
        table=paths.run_file("{run}", "generation/judge.parquet"),
        summary=paths.judge_summary("{run}"),
    params:
        code=STAGE_CODE.digest("judge_generations"),
        settings=lambda wc: as_json(PLAN.run(wc.run)["evaluation"]["judge"]),
        # Not passed to the job: a change of it (the key set after a run without it) plans the job again.
        key_present=lambda wc: PLAN.judge_key_present(wc.run),
        cache=paths.run_file("{run}", "generation/judge.work"),
    log:
        "logs/{run}/judge.log",
    benchmark:
        paths.timings("{run}/judge")
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.judge_generations --transcripts {input.transcripts} --settings {params.settings:q}"
        " --cache {params.cache} --out-table {output.table} --out-json {output.summary} --log-file {log}"


rule collect_metrics:
    input:
        data=lambda wc: PLAN.run_data_outputs(wc.run),
        likelihood=lambda wc: PLAN.likelihood_outputs(wc.run),
        generation=paths.generation_file("{run}", paths.IN_DOMAIN, "scores.json"),
        out_of_domain=lambda wc: PLAN.out_of_domain_outputs(wc.run),
        mos=lambda wc: PLAN.mos_outputs(wc.run),
        cross_modal=lambda wc: PLAN.cross_modal_outputs(wc.run),
        judge=lambda wc: PLAN.judge_outputs(wc.run),
        toplines=lambda wc: PLAN.topline_outputs(wc.run),
        training=lambda wc: PLAN.training_summaries(wc.run),
        vocoder=lambda wc: PLAN.trained_vocoder_report(wc.run),
        timings=lambda wc: PLAN.run_timings(wc.run),
    output:
        paths.metrics_file("{run}"),
    params:
        code=STAGE_CODE.digest("collect_metrics"),
        description=lambda wc: PLAN.run(wc.run)["description"],
        protocol=lambda wc: PLAN.run(wc.run)["evaluation"]["protocol"],
        evaluated=lambda wc: f"--evaluated-model {PLAN.evaluated_model(wc.run)}" if PLAN.evaluated_model(wc.run) else "",
    log:
        "logs/{run}/metrics.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.collect_metrics --run {wildcards.run} --description {params.description:q}"
        " {params.evaluated} --protocol {params.protocol} --data {input.data} --likelihood {input.likelihood} --text-topline {input.toplines} --generation {input.generation}"
        " --out-of-domain-generation {input.out_of_domain} --mos {input.mos} --cross-modal {input.cross_modal}"
        " --vocoder {input.vocoder} --judge {input.judge}"
        " --training {input.training} --timings {input.timings} --out {output} --log-file {log}"


rule metrics_table:
    input:
        metrics_runs,
    output:
        report("results/metrics.csv", caption="../report/metrics.rst", category="Metrics"),
    params:
        code=STAGE_CODE.digest("metrics_table"),
    log:
        "logs/metrics_table.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.metrics_table --metrics {input} --out {output} --log-file {log}"


# A recipe trained under several seeds (its `seeds`): each pair's outcome averaged over them, which
# compare_runs compares as the run <recipe>/seeds, and each metric's mean, min and max.
rule average_over_seeds:
    input:
        tables=lambda wc: [paths.run_file(run, f"eval/{wc.benchmark}.parquet") for run in PLAN.seed_members(wc.recipe).values()],
    output:
        paths.seeds_pairs("{recipe}", "{benchmark}"),
    params:
        code=STAGE_CODE.digest("average_over_seeds"),
        seeds=lambda wc: list(PLAN.seed_members(wc.recipe)),
    log:
        "logs/{recipe}/seeds/{benchmark}.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.average_over_seeds --tables {input.tables} --seeds {params.seeds} --out {output} --log-file {log}"


rule collect_seeds:
    input:
        metrics=lambda wc: [paths.metrics_file(run) for run in PLAN.seed_members(wc.recipe).values()],
        averaged=lambda wc: PLAN.seeds_pairs(wc.recipe),
    output:
        paths.seeds_summary("{recipe}"),
    params:
        code=STAGE_CODE.digest("collect_seeds"),
        seeds=lambda wc: list(PLAN.seed_members(wc.recipe)),
    log:
        "logs/{recipe}/seeds.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.collect_seeds --recipe {wildcards.recipe} --seeds {params.seeds} --metrics {input.metrics}"
        " --averaged {input.averaged} --out {output} --log-file {log}"


# Every two runs on the same benchmark pairs: is the difference more than chance (a paired bootstrap)?
rule compare_runs:
    input:
        compared_tables,
    output:
        report("results/comparisons.csv", caption="../report/comparisons.rst", category="Metrics"),
    params:
        code=STAGE_CODE.digest("compare_runs"),
    log:
        "logs/compare_runs.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.compare_runs --tables {input} --out {output} --log-file {log}"


rule training_curves:
    input:
        logs=lambda wc: PLAN.training_logs(wc.run),
    output:
        report(paths.run_file("{run}", "report/training_curves.svg"), caption="../report/training_curves.rst", category="Training"),
    params:
        code=STAGE_CODE.digest("training_curves"),
        names=lambda wc: PLAN.training_stages(wc.run),
    log:
        "logs/{run}/training_curves.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.training_curves --logs {input.logs} --names {params.names}"
        " --out {output} --log-file {log}"


rule report_samples:
    input:
        audio=paths.generation_file("{run}", paths.IN_DOMAIN, "audio.parquet"),
    output:
        report(
            directory(paths.run_file("{run}", "report/samples")),
            patterns=["{name}.flac"],
            caption="../report/samples.rst",
            category="Generated speech",
        ),
    params:
        code=STAGE_CODE.digest("report_samples"),
        samples=3,
    log:
        "logs/{run}/report_samples.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.report_samples --manifest {input.audio} --count {params.samples}"
        " --out-dir {output} --log-file {log}"


# An interleaved run and the speech-only run it is compared with at equal compute (interleaving.compare_with).
rule equal_compute_table:
    input:
        metrics=lambda wc: [paths.metrics_file(PLAN.run(wc.run)["interleaving"]["compare_with"]), paths.metrics_file(wc.run)],
        tables=lambda wc: PLAN.equal_compute_tables(wc.run),
    output:
        csv=report(paths.run_file("{run}", "equal_compute.csv"), caption="../report/equal_compute.rst", category="Metrics"),
        markdown=paths.run_file("{run}", "equal_compute.md"),
    wildcard_constraints:
        run=one_of(PLAN.compared_interleaved_runs),
    params:
        code=STAGE_CODE.digest("equal_compute_table"),
    log:
        "logs/{run}/equal_compute.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.equal_compute_table --metrics {input.metrics} --tables {input.tables}"
        " --out {output.csv} --markdown {output.markdown} --log-file {log}"
