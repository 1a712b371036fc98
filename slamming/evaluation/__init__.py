"""Evaluation: likelihood benchmarks, generation, ASR, GenPPL, the judge, vocoders, metrics and reports."""
