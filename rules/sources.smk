# External models and data sets: each is materialised once into resources/sources/<name>/.


rule materialise_source:
    output:
        record=paths.source_record("{source}"),
    wildcard_constraints:
        source=one_of(PLAN.fetched_sources),
    params:
        code=STAGE_CODE.digest("materialise_source"),
        spec=lambda wc: as_json(config["sources"][wc.source]),
        root=lambda wc, output: Path(output.record).parent,
    log:
        "logs/sources/{source}.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.materialise_source {wildcards.source} --spec {params.spec:q}"
        " --root {params.root} --record {output.record} --log-file {log}"


rule build_demo_source:
    input:
        manifest=lambda wc: paths.manifest(PLAN.demo_source(wc.source)["corpus"]),
        table=lambda wc: PLAN.demo_source_tables(wc.source),
    output:
        record=paths.source_record("{source}"),
        folder=directory(paths.source_dir("{source}")),
    wildcard_constraints:
        source=one_of(PLAN.demo_sources),
    params:
        code=STAGE_CODE.digest("build_demo_source"),
        layout=lambda wc: PLAN.demo_source(wc.source)["layout"],
        settings=lambda wc: as_json(PLAN.demo_source(wc.source)),
        root=lambda wc, output: Path(output.record).parent,
    log:
        "logs/sources/{source}.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.build_demo_source {wildcards.source} --layout {params.layout} --manifest {input.manifest}"
        " --table {input.table} --settings {params.settings:q} --root {params.root} --log-file {log}"
