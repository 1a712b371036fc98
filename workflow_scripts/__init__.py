"""The stages of the Slamming workflow. Each module is one stage (or the library beside it) and runs
on its own: ``python -m workflow_scripts.<stage> --help``."""
