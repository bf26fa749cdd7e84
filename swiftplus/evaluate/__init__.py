"""EvalScope against an endpoint: config.py (task configs), local_sets.py, run.py, results.py (readers, tables),
perf.py (evalscope perf)."""
