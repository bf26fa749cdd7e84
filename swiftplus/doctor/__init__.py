"""Will this recipe run on this machine? GPUs and processes, packages, device memory and disk, estimated from
configs and checked in seconds (`swiftplus doctor RECIPE`, and the preflight before every launching verb).

estimate.py, models.py and needs.py size each stage from config.json; checks.py compares needs with the facts probe.py
reads from the machine; run.py renders the report and raises one UserError for every unmet need.
"""
