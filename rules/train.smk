# Models: the demo's text LM, the speech LM's initialisation, pretraining and DPO.


rule train_demo_text_lm:
    input:
        stories=paths.text_file("demo/stories_utterances"),
    output:
        config=paths.model_config(paths.model_dir(WORKFLOW_TEXT_LM)),
        weights=paths.weights(paths.model_dir(WORKFLOW_TEXT_LM)),
        tokenizer=paths.tokenizer(paths.model_dir(WORKFLOW_TEXT_LM)),
    params:
        code=STAGE_CODE.digest("train_demo_text_lm"),
        settings=as_json(config["demo_text_lm"]),
        seed=config["demo_text_lm"]["seed"],
        out=lambda wc, output: Path(output.weights).parent,
    log:
        "logs/models/demo_text_lm.log",
    benchmark:
        paths.timings("models/demo_text_lm")
    threads: 1  # a small model; a job of two would wait for two free cores at once, behind every synthesis shard
    resources:
        gpu=PLAN.gpu_slot(),
        gres=PLAN.gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.train_demo_text_lm --stories {input.stories} --settings {params.settings:q}"
        " --seed {params.seed} --threads {threads} --out {params.out} --log-file {log}"


rule init_speech_lm:
    input:
        base=lambda wc: PLAN.text_lm_files(PLAN.run(wc.run)["pretrain"]["base_model"]),
        vocabulary=lambda wc: PLAN.run_vocabulary(wc.run),  # an interleaved run's keeps its text LM's ids
    output:
        config=paths.model_config(paths.model_dir("{run}", "init")),
        weights=paths.weights(paths.model_dir("{run}", "init")),
    params:
        code=STAGE_CODE.digest("init_speech_lm"),
        base=lambda wc: PLAN.text_lm_dir(PLAN.run(wc.run)["pretrain"]["base_model"]),
        settings=lambda wc: PLAN.speech_lm_settings(wc.run),
        out=lambda wc, output: Path(output.weights).parent,
    log:
        "logs/{run}/init_speech_lm.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.init_speech_lm --base {params.base} --vocabulary {input.vocabulary}"
        " --settings {params.settings:q} --out {params.out} --log-file {log}"


rule pretrain:
    input:
        init=rules.init_speech_lm.output.weights,
        packing=lambda wc: PLAN.run_packing_report(wc.run),
        arrays=lambda wc: PLAN.run_packed_files(wc.run),  # declared: Snakemake then sees one missing or changed
        flops_of=lambda wc: PLAN.flops_budget_summary(wc.run),  # pretrain.budget.flops_of: that run trains first
    output:
        config=paths.model_config(paths.model_dir("{run}", "pretrained")),
        weights=paths.weights(paths.model_dir("{run}", "pretrained")),
        training_log=paths.training_log(paths.model_dir("{run}", "pretrained")),
        summary=paths.training_summary(paths.model_dir("{run}", "pretrained")),
    params:
        code=STAGE_CODE.digest("pretrain"),
        settings=lambda wc: PLAN.training_settings(wc.run, "pretrain"),  # compared: what the model is
        # all of them, for the stage: a param computed from `threads` is one Snakemake does not compare, so a
        # new checkpoint interval or kernel (slamming.training.HOW_NOT_WHAT) re-runs nothing
        stage_settings=lambda wc, threads: PLAN.stage_settings(wc.run, "pretrain"),
        seed=lambda wc: PLAN.run(wc.run)["seed"],
        data=lambda wc: PLAN.run_packed_dir(wc.run),
        launcher=lambda wc: PLAN.launcher(PLAN.run(wc.run)["pretrain"]["gpus"]),
        flops_of=lambda wc, input: f"--flops-of {input.flops_of[0]}" if input.flops_of else "",
        init=lambda wc, input: Path(input.init).parent,
        out=lambda wc, output: Path(output.weights).parent,
    log:
        "logs/{run}/pretrain.log",
    benchmark:
        paths.timings("{run}/pretrain")
    threads: 2
    resources:
        gpu=lambda wc: PLAN.gpu_slot(PLAN.run(wc.run)["pretrain"]["gpus"]),
        gres=lambda wc: PLAN.gpu_gres(PLAN.run(wc.run)["pretrain"]["gpus"]),
        runtime=lambda wc: PLAN.training_runtime(wc.run, "pretrain"),
    conda:
        "../envs/slamming.yaml"
    shell:
        "{params.launcher} workflow_scripts.pretrain --init {params.init}"
        " --data {params.data} --settings {params.stage_settings:q} --seed {params.seed} --threads {threads}"
        " {params.flops_of} --out {params.out} --log-file {log}"


rule dpo:
    input:
        init=rules.pretrain.output.weights,
        units=lambda wc: PLAN.dpo_inputs(wc.run)["units"],
        pairs=lambda wc: PLAN.dpo_inputs(wc.run)["pairs"],
    output:
        config=paths.model_config(paths.model_dir("{run}", "dpo")),
        weights=paths.weights(paths.model_dir("{run}", "dpo")),
        training_log=paths.training_log(paths.model_dir("{run}", "dpo")),
        summary=paths.training_summary(paths.model_dir("{run}", "dpo")),
    params:
        code=STAGE_CODE.digest("dpo"),
        settings=lambda wc: PLAN.training_settings(wc.run, "dpo"),  # compared: what the model is
        # all of them, for the stage: a param computed from `threads` is one Snakemake does not compare, so a
        # new checkpoint interval or kernel (slamming.training.HOW_NOT_WHAT) re-runs nothing
        stage_settings=lambda wc, threads: PLAN.stage_settings(wc.run, "dpo"),
        seed=lambda wc: PLAN.run(wc.run)["seed"],
        launcher=lambda wc: PLAN.launcher(PLAN.run(wc.run)["dpo"]["gpus"]),
        init=lambda wc, input: Path(input.init).parent,
        out=lambda wc, output: Path(output.weights).parent,
    log:
        "logs/{run}/dpo.log",
    benchmark:
        paths.timings("{run}/dpo")
    threads: 2
    resources:
        gpu=lambda wc: PLAN.gpu_slot(PLAN.run(wc.run)["dpo"]["gpus"]),
        gres=lambda wc: PLAN.gpu_gres(PLAN.run(wc.run)["dpo"]["gpus"]),
        runtime=lambda wc: PLAN.training_runtime(wc.run, "dpo"),
    conda:
        "../envs/slamming.yaml"
    shell:
        "{params.launcher} workflow_scripts.dpo --init {params.init}"
        " --units {input.units} --pairs {input.pairs} --settings {params.stage_settings:q} --seed {params.seed}"
        " --threads {threads} --out {params.out} --log-file {log}"


rule allocation_report:
    output:
        paths.run_file("{run}", "allocation.json"),
    params:
        code=STAGE_CODE.digest("allocation_report"),
    log:
        "logs/{run}/allocation.log",
    threads: 2
    resources:
        # what the run's pretraining job asks for, so the report shows what that job will get
        gpu=lambda wc: PLAN.gpu_slot(PLAN.run(wc.run)["pretrain"]["gpus"]),
        gres=lambda wc: PLAN.gpu_gres(PLAN.run(wc.run)["pretrain"]["gpus"]),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.allocation_report --out {output} --log-file {log}"
