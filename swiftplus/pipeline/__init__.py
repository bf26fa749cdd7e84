"""The whole recipe: plan.py (what would run), run.py (`swiftplus run`), report.py (the run report)."""
