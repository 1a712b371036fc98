"""The stages of the Slamming workflow: one module per Snakemake rule, named as the rule, each a small
command line around the library (``slamming``). A stage never imports another stage; each runs on
its own: ``python -m workflow_scripts.<rule> --help``."""
