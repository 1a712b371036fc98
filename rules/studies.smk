# Studies (config/studies/<name>.yaml): a recipe's variants as runs, compared in one table and plot.


rule study_table:
    input:
        lambda wc: PLAN.study_inputs(wc.study),
    output:
        # each study a page of the report: its table and its plot
        table=report("results/studies/{study}/table.csv", caption="../report/study.rst", category="Studies",
                     subcategory="{study}", labels={"study": "{study}", "item": "table"}),
        markdown="results/studies/{study}/table.md",
        plot=report("results/studies/{study}/plot.svg", caption="../report/study.rst", category="Studies",
                    subcategory="{study}", labels={"study": "{study}", "item": "plot"}),
    wildcard_constraints:
        study=one_of(PLAN.studies),
    params:
        code=STAGE_CODE.digest("study_table"),
        study=lambda wc: PLAN.study_json(wc.study),
        out=lambda wc, output: Path(output.table).parent,
    log:
        "logs/studies/{study}.log",
    conda:
        "../envs/slamming.yaml"
    shell:
        "python -m workflow_scripts.study_table --study {params.study:q} --out-dir {params.out} --log-file {log}"
