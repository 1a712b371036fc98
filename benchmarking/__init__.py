"""Speed benchmarks: each compares a stage's way with a fair baseline in the same run and prints its
figures (``python -m benchmarking.<name> --help``): ``training``, ``units``, ``synthesis``, ``vocoder``."""
