# External models and data sets: each is materialised once into resources/sources/<name>/.


rule materialise_source:
    output:
        record="resources/sources/{source}.json",
    wildcard_constraints:
        source=one_of(FETCHED_SOURCES),
    params:
        spec=lambda wc: as_json(config["sources"][wc.source]),
    log:
        "logs/sources/{source}.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.materialise_source {wildcards.source} --spec {params.spec:q}"
        " --root resources/sources --record {output.record} --log-file {log}"


rule build_demo_source:
    input:
        manifest=lambda wc: f"results/corpora/{demo_source(wc.source)['corpus']}/manifest.parquet",
        table=lambda wc: text_tables(demo_source(wc.source).get("table")),
    output:
        record="resources/sources/{source}.json",
        folder=directory("resources/sources/{source}"),
    wildcard_constraints:
        source=one_of(DEMO_SOURCES),
    params:
        layout=lambda wc: demo_source(wc.source)["layout"],
        settings=lambda wc: as_json(demo_source(wc.source)),
        table=lambda wc: " ".join(f"--table {t}" for t in text_tables(demo_source(wc.source).get("table"))),
    log:
        "logs/sources/{source}.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.build_demo_source {wildcards.source} --layout {params.layout} --manifest {input.manifest}"
        " {params.table} --settings {params.settings:q} --root resources/sources --log-file {log}"
