"""The workflow's plan: the configuration, its validation and documentation, the paths and the jobs."""
