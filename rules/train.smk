# Models: the demo's text LM, the speech LM's initialisation, pretraining and DPO.


rule train_demo_text_lm:
    input:
        stories="results/text/demo/stories_utterances.parquet",
    output:
        config="results/models/demo_text_lm/config.json",
        weights="results/models/demo_text_lm/model.safetensors",
        tokenizer="results/models/demo_text_lm/tokenizer.json",
    params:
        settings=as_json(config["demo_text_lm"]),
        seed=config["demo_text_lm"]["seed"],
    log:
        "logs/models/demo_text_lm.log",
    benchmark:
        "benchmarks/models/demo_text_lm.tsv"
    threads: 1  # a small model; a job of two would wait for two free cores at once, behind every synthesis shard
    resources:
        gpu=gpu_slot(),
        gres=gpu_gres(),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.train_demo_text_lm --stories {input.stories} --settings {params.settings:q}"
        " --seed {params.seed} --threads {threads} --out results/models/demo_text_lm --log-file {log}"


rule init_speech_lm:
    input:
        base=lambda wc: text_lm_files(run_config(wc.run)["pretrain"]["base_model"]),
        vocabulary=lambda wc: vocabulary_file(run_tokeniser(wc.run)),
    output:
        config="results/models/{run}/init/config.json",
        weights="results/models/{run}/init/model.safetensors",
    params:
        base=lambda wc: text_lm_dir(run_config(wc.run)["pretrain"]["base_model"]),
        options=lambda wc: speech_lm_options(wc.run),
    log:
        "logs/{run}/init_speech_lm.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.init_speech_lm --base {params.base} --vocabulary {input.vocabulary}"
        " {params.options} --out results/models/{wildcards.run}/init --log-file {log}"


rule pretrain:
    input:
        init="results/models/{run}/init/model.safetensors",
        windows=lambda wc: f"{packed_dir(wc.run)}/packing.json",
    output:
        config="results/models/{run}/pretrained/config.json",
        weights="results/models/{run}/pretrained/model.safetensors",
        training_log="results/models/{run}/pretrained/training_log.csv",
        summary="results/models/{run}/pretrained/training_summary.json",
    params:
        settings=lambda wc: as_json(run_config(wc.run)["pretrain"]),
        seed=lambda wc: run_config(wc.run)["seed"],
        data=lambda wc: packed_dir(wc.run),
        launcher=lambda wc: launcher(run_config(wc.run)["pretrain"]["gpus"]),
    log:
        "logs/{run}/pretrain.log",
    benchmark:
        "benchmarks/{run}/pretrain.tsv"
    threads: 2
    resources:
        gpu=lambda wc: gpu_slot(run_config(wc.run)["pretrain"]["gpus"]),
        gres=lambda wc: gpu_gres(run_config(wc.run)["pretrain"]["gpus"]),
        runtime=lambda wc: training_runtime(wc.run, "pretrain"),
    conda:
        "../envs/slamming.yaml"
    shell:
        "{params.launcher} workflow_scripts.pretrain --init results/models/{wildcards.run}/init"
        " --data {params.data} --settings {params.settings:q} --seed {params.seed} --threads {threads}"
        " --out results/models/{wildcards.run}/pretrained --log-file {log}"


rule dpo:
    input:
        init="results/models/{run}/pretrained/model.safetensors",
        units=lambda wc: dpo_inputs(wc.run)["units"],
        pairs=lambda wc: dpo_inputs(wc.run)["pairs"],
    output:
        config="results/models/{run}/dpo/config.json",
        weights="results/models/{run}/dpo/model.safetensors",
        training_log="results/models/{run}/dpo/training_log.csv",
        summary="results/models/{run}/dpo/training_summary.json",
    params:
        settings=lambda wc: as_json(run_config(wc.run)["dpo"]),
        seed=lambda wc: run_config(wc.run)["seed"],
        launcher=lambda wc: launcher(run_config(wc.run)["dpo"]["gpus"]),
    log:
        "logs/{run}/dpo.log",
    benchmark:
        "benchmarks/{run}/dpo.tsv"
    threads: 2
    resources:
        gpu=lambda wc: gpu_slot(run_config(wc.run)["dpo"]["gpus"]),
        gres=lambda wc: gpu_gres(run_config(wc.run)["dpo"]["gpus"]),
        runtime=lambda wc: training_runtime(wc.run, "dpo"),
    conda:
        "../envs/slamming.yaml"
    shell:
        "{params.launcher} workflow_scripts.dpo --init results/models/{wildcards.run}/pretrained"
        " --units {input.units} --pairs {input.pairs} --settings {params.settings:q} --seed {params.seed}"
        " --threads {threads} --out results/models/{wildcards.run}/dpo --log-file {log}"


rule allocation_report:
    output:
        "results/{run}/allocation.json",
    log:
        "logs/{run}/allocation.log",
    threads: 2
    resources:
        # what the run's pretraining job asks for, so the report shows what that job will get
        gpu=lambda wc: gpu_slot(run_config(wc.run)["pretrain"]["gpus"]),
        gres=lambda wc: gpu_gres(run_config(wc.run)["pretrain"]["gpus"]),
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.allocation_report --out {output} > {log} 2>&1"
