"""Scoring checkpoints with EvalScope against their endpoints, and `evalscope perf` for throughput.

config.py writes the task configs, local_sets.py checks local sets, run.py runs them, results.py reads the scores."""
