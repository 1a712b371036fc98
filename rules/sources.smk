# External models and data sets: each is materialised once into resources/sources/<name>/.


rule materialise_source:
    output:
        record="resources/sources/{source}.json",
    params:
        spec=lambda wc: as_json(config["sources"][wc.source]),
    log:
        "logs/sources/{source}.log",
    conda:
        "../envs/workflow.yaml"
    shell:
        "python -m workflow_scripts.materialise_source {wildcards.source} --spec {params.spec:q}"
        " --root resources/sources --record {output.record} --log-file {log}"
